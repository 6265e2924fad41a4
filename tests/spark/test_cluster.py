"""The Spark pipeline through `mage run` on a real standalone cluster (a master, a worker, the
worker's executor: three JVMs besides the driver), against the Postgres pipeline on the same files:
the published analytics tables and the load's evidence are the same, and every process the test
started is gone afterwards."""
from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from tests.support import compose
from tests.support.cases import ROW_LEVEL, bad_lines
from tests.support.spark_cluster import Cluster

pytestmark = [pytest.mark.spark, pytest.mark.mage]

ANALYTICS = ('orphan_events_by_type', 'duplicate_events_by_date', 'visitors_by_country',
             'valuable_users_by_age_group', 'answers')
EVIDENCE = {
    'raw.rejected_rows': 'select source_file, line_number, raw_line, reason from raw.rejected_rows',
    'raw.adjusted_values': 'select source_file, line_number, column_name, raw_value, loaded_value, reason '
                           'from raw.adjusted_values',
    'raw.load_audit': 'select source_file, target_table, lines_read, rows_loaded, rows_rejected, values_adjusted '
                      'from raw.load_audit',
}


def published(database) -> dict[str, list]:
    tables = {name: database.rows(f'select * from analytics.{name} order by 1') for name in ANALYTICS}
    return tables | {name: sorted(database.rows(query)) for name, query in EVIDENCE.items()}


@pytest.fixture(scope='module')
def cluster(tmp_path_factory):
    cluster = Cluster(tmp_path_factory.mktemp('spark-cluster')).start()
    yield cluster
    cluster.stop()
    assert not cluster.running(), 'a process of the Spark cluster outlived the tests'


def test_the_spark_pipeline_on_a_cluster_publishes_what_the_postgres_pipeline_does(
        cluster, run_pipeline, database, original_dataset, tmp_path):
    spark = {'SPARK_MASTER': cluster.master_url, 'SPARK_LOCAL_IP': '127.0.0.1', 'PYSPARK_PYTHON': sys.executable}
    catalogue = tmp_path / 'catalogue'
    shutil.copytree(original_dataset, catalogue)
    bad_lines(catalogue)
    for folder in (original_dataset, catalogue):
        run_pipeline(folder)
        expected = published(database)
        run_pipeline(folder, spark, pipeline='event_analytics_spark')
        assert published(database) == expected
        # Only the Postgres pipeline publishes raw events and staging; a Spark run drops those views.
        assert database.rows("select count(*) from pg_views where schemaname in ('staging', 'raw') "
                             "and viewname in ('users', 'user_interaction', 'stg_users')") == [(0,)]
    assert len(expected['raw.rejected_rows']) == len(ROW_LEVEL)
    apps = cluster.status()['completedapps']
    assert len(apps) == 2 and {app['name'] for app in apps} == {'mage_project'}, apps
    # Each application's executor ran as a JVM of its own, started by the worker.
    assert len(list((cluster.folder / 'work').glob('app-*/0/stderr'))) == 2


@pytest.mark.parametrize('service', ['spark-master', 'spark-worker'])
def test_the_compose_healthchecks_pass_on_a_live_cluster(cluster, service):
    """docker-compose.yml's healthcheck of each Spark service, pointed at this cluster's master."""
    test = compose.load()['services'][service]['healthcheck']['test']
    code = test[-1].replace('localhost:8080', f'127.0.0.1:{cluster.ui_port}').replace(
        'spark-master:8080', f'127.0.0.1:{cluster.ui_port}')
    assert test[1:3] == ['python3', '-c']
    assert subprocess.run([sys.executable, '-c', code], timeout=30).returncode == 0
