from mage_project.utils import builds
from mage_project.utils.report import write_report
from mage_project.utils.settings import report_path

if 'data_exporter' not in globals():
    from mage_ai.data_preparation.decorators import data_exporter
if 'test' not in globals():
    from mage_ai.data_preparation.decorators import test


@data_exporter
def export_answers_report(*args, **kwargs) -> str:
    """Write this run's answers and one bar chart per question to an HTML report that opens
    without Mage (REPORT_DIR, default reports/answers.html). Output: the report's path."""
    path = write_report(report_path(), builds.ensure_owned().schema)
    print(f'report written to {path}')
    return str(path)


@test
def test_report_has_every_question(output, *args) -> None:
    from pathlib import Path

    text = Path(output).read_text()
    for question_id in ('Q1', 'Q2', 'Q3', 'Q4'):
        assert f'<h2>{question_id}.' in text, f'the report lacks {question_id}'
    assert text.count('<svg') == 4, 'the report should carry one chart per question'
