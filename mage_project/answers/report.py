"""A static HTML report of the answers: one bar chart per question, with no JavaScript and no
dependencies, so it opens anywhere without Mage. Written by the export_answers_report block from
the Jinja2 template templates/report.html."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import jinja2
import pandas as pd
from psycopg2 import sql

from mage_project.answers.charts import bars, labels
from mage_project.catalog import QUESTION_TABLES, QUESTIONS_BY_ID
from mage_project.core import db

BAR_HEIGHT, BAR_GAP, LABEL_WIDTH, CHART_WIDTH = 22, 6, 300, 400
TEMPLATES = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).with_name('templates')),
                               autoescape=True, undefined=jinja2.StrictUndefined)


def render_report(answers: pd.DataFrame, tables: dict[str, pd.DataFrame], source: str) -> str:
    """The report page: for each question its answer, definition and chart (horizontal bars, top
    first; tied bars orange and marked), rendered from templates/report.html."""
    sections = []
    for row in answers.sort_values('question_id').itertuples():
        question = QUESTIONS_BY_ID[row.question_id]
        frame = bars(row.question_id, tables[question.table])
        sections.append(dict(
            question_id=row.question_id, question=row.question, answer=row.answer, definition=row.definition,
            title=question.chart_title, table=question.table, more=len(tables[question.table]) - len(frame),
            bars=[dict(label=label, value=int(value), tied=bool(tied)) for label, value, tied in
                  zip(labels(row.question_id, frame), frame[question.value], frame['is_tied'])]))
    return TEMPLATES.get_template('report.html').render(
        sections=sections, source=source, bar_height=BAR_HEIGHT, bar_gap=BAR_GAP, label_width=LABEL_WIDTH,
        chart_width=CHART_WIDTH) + '\n'


def write_report(path: Path, schema: str) -> Path:
    """Read a run's answers, question tables and load counts from its build ``schema`` and write
    the report to ``path``."""
    def table(name: str) -> pd.DataFrame:
        return db.fetch_frame(conn, sql.SQL('select * from {}.{}').format(sql.Identifier(schema), sql.Identifier(name)))

    with db.transaction(application_name='report') as conn:
        answers = table('answers')
        tables = {name: table(name) for name in QUESTION_TABLES}
        audit = table('load_audit').sort_values('source_file', ascending=False)
    source = '; '.join(f'{r.source_file}: {r.lines_read} lines, {r.rows_loaded} loaded, {r.rows_rejected} rejected'
                       for r in audit.itertuples())
    text = render_report(answers, tables, source)
    path.parent.mkdir(parents=True, exist_ok=True)
    # A temporary file beside it, then a rename: a full or read-only disk leaves the previous report.
    temporary = tempfile.NamedTemporaryFile('w', dir=path.parent, prefix=f'.{path.name}.', delete=False)
    try:
        with temporary:
            temporary.write(text)
            temporary.flush()
            os.fsync(temporary.fileno())
        os.chmod(temporary.name, 0o644)
        os.replace(temporary.name, path)
    except BaseException:
        Path(temporary.name).unlink(missing_ok=True)
        raise
    return path
