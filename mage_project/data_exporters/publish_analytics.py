import pandas as pd
from psycopg2 import sql

from mage_project.builds.contracts import failed_contracts
from mage_project.builds.lifecycle import ensure_owned
from mage_project.builds.publish import publish
from mage_project.catalog import QUESTION_IDS, published_by
from mage_project.core import db
from mage_project.core.settings import analytics_reader_roles, publish_wait_seconds

if 'data_exporter' not in globals():
    from mage_ai.data_preparation.decorators import data_exporter
if 'test' not in globals():
    from mage_ai.data_preparation.decorators import test


@data_exporter
def publish_analytics(*args, **kwargs) -> pd.DataFrame:
    """Check the data contracts on this run's build schema, then repoint the published views of
    raw, staging, intermediate and analytics at it in one short transaction (builds.publish).
    Shared by both pipelines; each publishes its own set (catalog.published_by). Output: the answers
    this run published, one row per business question."""
    build = ensure_owned()
    published = published_by(kwargs.get('pipeline_uuid'))
    with db.transaction() as conn:
        failures = failed_contracts(conn, build.schema, published)
    if failures:
        raise AssertionError('not published, the previous tables stay: ' + '; '.join(failures))
    publish(build, analytics_reader_roles(), publish_wait_seconds(), published=published)
    with db.transaction() as conn:
        answers = db.fetch_frame(conn, sql.SQL('select * from {}.answers order by question_id').format(
            sql.Identifier(build.schema)))
    print(f'run {build.run_id} published from {build.schema}')
    return answers


@test
def test_answers_cover_every_question(output, *args) -> None:
    assert tuple(output.question_id) == QUESTION_IDS, f'analytics.answers has questions {list(output.question_id)}'
    empty = output[output.answer.fillna('').str.strip() == ''].question_id.tolist()
    assert not empty, f'questions without an answer: {empty}'
