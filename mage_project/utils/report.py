"""A static HTML report of the answers: one bar chart per question, with no JavaScript and no
dependencies, so it opens anywhere without Mage. Written by the export_answers_report block."""
from __future__ import annotations

import html
from pathlib import Path

import pandas as pd
from psycopg2 import sql

from mage_project.utils import db
from mage_project.utils.sentences import AGE_PLACES

# question id -> (analytics table, label column, value column, chart title)
CHARTS = {
    'q1': ('orphan_events_by_type', 'event_type', 'orphan_events', 'Orphan events per event type'),
    'q2': ('duplicate_events_by_date', 'event_date', 'surplus_copies', 'Surplus copies of exact duplicates per date'),
    'q3': ('visitors_by_country', 'country', 'visitors', 'Visitors per country'),
    'q4': ('valuable_users_by_age_group', 'age_group', 'valuable_users', 'Valuable users per stored age label'),
}
MAX_BARS = 15
BAR_HEIGHT, BAR_GAP, LABEL_WIDTH, CHART_WIDTH = 22, 6, 300, 400


def bar_chart_svg(labels: list[str], values: list[int], tied: list[bool], title: str) -> str:
    """Horizontal bars, longest first as given; tied bars are drawn hatched-orange and say so."""
    top = max(values, default=0) or 1
    height = len(values) * (BAR_HEIGHT + BAR_GAP) + 10
    rows = []
    for i, (label, value, is_tied) in enumerate(zip(labels, values, tied)):
        y = 5 + i * (BAR_HEIGHT + BAR_GAP)
        width = max(int(CHART_WIDTH * value / top), 1 if value else 0)
        colour = '#e8912d' if is_tied else '#3b6ea5'
        note = ' (tie)' if is_tied else ''
        rows.append(
            f'<text x="{LABEL_WIDTH - 8}" y="{y + 15}" text-anchor="end">{html.escape(label)}</text>'
            f'<rect x="{LABEL_WIDTH}" y="{y}" width="{width}" height="{BAR_HEIGHT}" fill="{colour}"/>'
            f'<text x="{LABEL_WIDTH + width + 6}" y="{y + 15}">{value}{note}</text>'
        )
    return (f'<svg role="img" aria-label="{html.escape(title)}" width="{LABEL_WIDTH + CHART_WIDTH + 90}" '
            f'height="{height}" font-family="sans-serif" font-size="13">{"".join(rows)}</svg>')


def render_report(answers: pd.DataFrame, tables: dict[str, pd.DataFrame], source: str) -> str:
    """The report page: for each question its answer, definition and chart."""
    sections = []
    for row in answers.sort_values('question_id').itertuples():
        table, label, value, title = CHARTS[row.question_id]
        full = tables[table].sort_values('rank')
        frame = full.head(MAX_BARS)
        if value == 'surplus_copies':  # dates without duplicates would be empty bars
            frame = frame[frame[value] > 0]
        labels = [str(v) for v in frame[label]]
        if 'question_age_group' in frame:
            labels = [f'{a} → {AGE_PLACES[q][0]}' for a, q in zip(labels, frame['question_age_group'])]
        chart = bar_chart_svg(labels, [int(v) for v in frame[value]], [bool(v) for v in frame['is_tied']], title)
        more = len(full) - len(frame)
        sections.append(
            f'<section><h2>{html.escape(row.question_id.upper())}. {html.escape(row.question)}</h2>'
            f'<p class="answer">{html.escape(row.answer)}</p>'
            f'<p class="definition">{html.escape(row.definition)}</p>'
            f'<h3>{html.escape(title)}</h3>{chart}'
            + (f'<p class="more">{more} more rows (not drawn) in analytics.{table}.</p>' if more > 0 else '')
            + '</section>'
        )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<title>Event log analytics: answers</title><style>'
        'body{font-family:sans-serif;max-width:820px;margin:2em auto;color:#222}'
        '.answer{font-size:1.1em}.definition,.more,footer{color:#666;font-size:.9em}'
        'section{border-top:1px solid #ddd;padding:.5em 0 1em}</style></head><body>'
        '<h1>Event log analytics: answers</h1>'
        f'<p>Dataset: {html.escape(source)}. Tied bars are orange.</p>'
        + ''.join(sections)
        + '<footer>Written by the event_analytics pipeline (export_answers_report) from the analytics '
        'tables of the run.</footer>'
        '</body></html>\n'
    )


def write_report(path: Path) -> Path:
    """Read the published analytics tables and write the report to ``path``."""
    with db.transaction(application_name='report') as conn:
        answers = db.fetch_frame(conn, 'select * from analytics.answers')
        tables = {table: db.fetch_frame(conn, sql.SQL('select * from analytics.{}').format(sql.Identifier(table)))
                  for table, *_ in CHARTS.values()}
        audit = db.fetch_frame(conn, 'select * from raw.load_audit order by source_file desc')
    source = '; '.join(f'{r.source_file}: {r.lines_read} lines, {r.rows_loaded} loaded, {r.rows_rejected} rejected'
                       for r in audit.itertuples())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_report(answers, tables, source))
    return path
