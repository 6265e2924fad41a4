import pandas as pd
from psycopg2 import sql

from mage_project.answers.publishing import publish_run
from mage_project.builds.lifecycle import ensure_owned
from mage_project.catalog import QUESTION_IDS
from mage_project.core import db

if 'data_exporter' not in globals():
    from mage_ai.data_preparation.decorators import data_exporter
if 'test' not in globals():
    from mage_ai.data_preparation.decorators import test


@data_exporter
def publish_analytics(*args, **kwargs) -> pd.DataFrame:
    """Check the data contracts on this run's build schema, apply its changes to the state (the
    Postgres pipeline: builds/state.py) and repoint the published views of raw, staging,
    intermediate and analytics in one transaction (builds/publish.py). Another run's publish since
    this run built: its models run again first, on the state as it is then. Nothing new: nothing is
    published. Shared by both pipelines; each publishes its own set (catalog.published_by). Output:
    the answers published, one row per business question."""
    build = ensure_owned()
    ending = publish_run(build, kwargs, kwargs.get('pipeline_uuid'))
    with db.transaction() as conn:
        answers = db.fetch_frame(conn, sql.SQL('select * from {}.answers order by question_id').format(
            sql.Identifier(build.schema if ending == 'published' else 'analytics')))
    print(f'run {build.run_id} ' + ('published from ' + build.schema if ending == 'published' else
                                    'had nothing new: nothing published, analytics.* unchanged'))
    return answers


@test
def test_answers_cover_every_question(output, *args) -> None:
    assert tuple(output.question_id) == QUESTION_IDS, f'analytics.answers has questions {list(output.question_id)}'
    empty = output[output.answer.fillna('').str.strip() == ''].question_id.tolist()
    assert not empty, f'questions without an answer: {empty}'
