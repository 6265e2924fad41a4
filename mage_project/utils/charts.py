"""One chart per question, defined once: which analytics table it draws, its labels and values,
and which rows are bars. The chart widgets in the editor (mage_project/charts/), the HTML report
and the tests all take their bars from here."""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from mage_project.utils.sentences import AGE_PLACES

MAX_BARS = 15


@dataclass(frozen=True)
class Chart:
    table: str
    label: str
    value: str
    title: str
    only_positive: bool = False  # rows with a zero value are not drawn (dates without copies)


CHARTS = {
    'q1': Chart('orphan_events_by_type', 'event_type', 'orphan_events', 'Orphan events per event type'),
    'q2': Chart('duplicate_events_by_date', 'event_date', 'surplus_copies',
                'Surplus copies of exact duplicates per date', only_positive=True),
    'q3': Chart('visitors_by_country', 'country', 'visitors', 'Visitors per country'),
    'q4': Chart('valuable_users_by_age_group', 'age_group', 'valuable_users', 'Valuable users per stored age label'),
}
# The editor's chart widgets, by uuid.
WIDGETS = {f'chart_{chart.table}': question_id for question_id, chart in CHARTS.items()}


def bars(question_id: str, table: pd.DataFrame) -> pd.DataFrame:
    """The rows of a question's table that are drawn, top first: at most MAX_BARS by rank."""
    chart = CHARTS[question_id]
    frame = table.sort_values('rank')
    if chart.only_positive:
        frame = frame[frame[chart.value] > 0]
    return frame.head(MAX_BARS)


def labels(question_id: str, frame: pd.DataFrame) -> list[str]:
    """Bar labels; an age label also says where it falls against the question's groups."""
    chart = CHARTS[question_id]
    names = [str(value) if str(value).strip() else '(empty)' for value in frame[chart.label]]
    if 'question_age_group' in frame:
        names = [f'{name} → {AGE_PLACES[place][0]}' for name, place in zip(names, frame['question_age_group'])]
    return names


def widget_xy(question_id: str, table: pd.DataFrame) -> tuple[list[str], list[int]]:
    """x and y of a chart widget, from its upstream block's output."""
    frame = bars(question_id, table)
    return labels(question_id, frame), [int(value) for value in frame[CHARTS[question_id].value]]
