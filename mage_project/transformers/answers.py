from mage_project.answers.write import build_answers
from mage_project.builds.lifecycle import ensure_owned
from mage_project.catalog import QUESTION_IDS, numbers
from mage_project.core import db

if 'transformer' not in globals():
    from mage_ai.data_preparation.decorators import transformer
if 'test' not in globals():
    from mage_ai.data_preparation.decorators import test


@transformer
def answers(*args, **kwargs):
    """Write analytics.answers (in this run's build schema): one row per question (q1..q4), the
    answer as a sentence that names ties, mismatches and what was left out, and its definition,
    with the run's numbers (the pipeline's variables). The sentences are built by
    mage_project.answers.sentences from the four question tables."""
    build = ensure_owned()
    with db.transaction() as conn:
        return build_answers(conn, build.schema, numbers(kwargs))


@test
def test_every_question_has_an_answer(output, *args) -> None:
    assert tuple(output.question_id) == QUESTION_IDS, f'questions: {list(output.question_id)}'
    empty = output[output.answer.str.strip() == ''].question_id.tolist()
    assert not empty, f'questions without an answer: {empty}'
