from mage_project.utils.answers import build_answers

if 'transformer' not in globals():
    from mage_ai.data_preparation.decorators import transformer
if 'test' not in globals():
    from mage_ai.data_preparation.decorators import test


@transformer
def answers(*args, **kwargs):
    """Write analytics.answers (in this run's build schema): one row per question (q1..q4), the
    answer as a sentence that names ties, mismatches and what was left out, and its definition.
    The sentences are built by mage_project.utils.sentences from the four question tables."""
    return build_answers()


@test
def test_every_question_has_an_answer(output, *args) -> None:
    assert list(output.question_id) == ['q1', 'q2', 'q3', 'q4'], f'questions: {list(output.question_id)}'
    empty = output[output.answer.str.strip() == ''].question_id.tolist()
    assert not empty, f'questions without an answer: {empty}'
