import pandas as pd

from mage_project.utils import db
from mage_project.utils.contracts import failed_contracts
from mage_project.utils.settings import analytics_reader_roles

if 'data_exporter' not in globals():
    from mage_ai.data_preparation.decorators import data_exporter
if 'test' not in globals():
    from mage_ai.data_preparation.decorators import test


@data_exporter
def publish_analytics(*args, **kwargs) -> pd.DataFrame:
    """Check that the run still holds the run lock and that the data contracts hold on this run's
    build schemas, then swap them into raw, staging and analytics in one transaction and release
    the lock. Output: analytics.answers, one row per business question."""
    try:
        db.ensure_run_lock()
        with db.transaction() as conn:
            failures = failed_contracts(conn)
            if failures:
                raise AssertionError('not published, the previous tables stay: ' + '; '.join(failures))
            db.publish_build_schemas(conn, analytics_reader_roles())
        with db.transaction() as conn:
            answers = db.fetch_frame(conn, 'select * from analytics.answers order by question_id')
    finally:
        db.release_run_lock()
    for row in answers.itertuples():
        print(f'{row.question_id}: {row.answer}')
    return answers


@test
def test_answers_cover_every_question(output, *args) -> None:
    assert list(output.question_id) == ['q1', 'q2', 'q3', 'q4'], \
        f'analytics.answers has questions {list(output.question_id)}'
    empty = output[output.answer.fillna('').str.strip() == ''].question_id.tolist()
    assert not empty, f'questions without an answer: {empty}'
