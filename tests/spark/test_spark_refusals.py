"""A feed unfit to publish, through both pipelines with `mage run`: the Spark run stops with the
Postgres run's message, keeps the same evidence in its build, and the previous tables stay."""
from __future__ import annotations

import sys

import pytest
from psycopg2 import sql

from tests.support.cases import trapped
from tests.support.database import snapshot
from tests.support.project import REPO, output

pytestmark = [pytest.mark.spark, pytest.mark.mage]

MESSAGE = ('user_interaction.csv: 1500 lines read, 1200 loaded, 300 rejected (most common reasons: user_id is not '
           'an integer (300)): 20.0% rejected is over the limit of 10.0%')


def rejected_rows(database, build_schema: str) -> list[tuple]:
    return database.rows(sql.SQL('select source_file, line_number, raw_line, reason from {}.rejected_rows '
                                 'order by 1, 2').format(sql.Identifier(build_schema)))


def test_a_feed_unfit_to_publish_stops_the_spark_run_with_the_same_message_and_evidence(
        run_pipeline, database, tmp_path):
    run_pipeline(REPO / 'dataset')
    before = snapshot(database)
    data = trapped(tmp_path, 'some-rejected')
    postgres = run_pipeline(data, check=False)
    spark = run_pipeline(data, {'PYSPARK_PYTHON': sys.executable}, check=False, pipeline='event_analytics_spark')
    for process in (postgres, spark):
        assert process.returncode != 0 and MESSAGE in ' '.join(output(process).split()), output(process)[-3000:]
    assert snapshot(database) == before
    # The Spark run's start found the Postgres run's process gone and recorded it; both builds stay.
    builds = database.rows("select build_schema from audit.pipeline_runs where status in ('building', 'abandoned') "
                           'order by started_at')
    assert len(builds) == 2
    # The Postgres run kept the refused file's rejected lines beside its load; the Spark run, in its build.
    postgres_rows = database.rows("select r.source_file, r.line_number, r.raw_line, r.reason from store.rejected_rows r "
                                  "join audit.file_loads f using (load_id) where f.status = 'refused' order by 1, 2")
    spark_rows = rejected_rows(database, builds[1][0])
    assert len(spark_rows) == 300 and spark_rows == postgres_rows
