from mage_project.answers.report import write_report
from mage_project.builds.lifecycle import ensure_owned
from mage_project.catalog import QUESTION_IDS
from mage_project.core.settings import report_path

if 'data_exporter' not in globals():
    from mage_ai.data_preparation.decorators import data_exporter
if 'test' not in globals():
    from mage_ai.data_preparation.decorators import test


@data_exporter
def export_answers_report(*args, **kwargs) -> str:
    """Write this run's answers and one bar chart per question to an HTML report that opens
    without Mage (REPORT_DIR, default reports/answers.html). Output: the report's path."""
    path = write_report(report_path(), ensure_owned().schema)
    print(f'report written to {path}')
    return str(path)


@test
def test_report_has_every_question(output, *args) -> None:
    from pathlib import Path

    text = Path(output).read_text()
    for question_id in QUESTION_IDS:
        assert f'<h2>{question_id.upper()}.' in text, f'the report lacks {question_id}'
    assert text.count('<svg') == len(QUESTION_IDS), 'the report should carry one chart per question'
