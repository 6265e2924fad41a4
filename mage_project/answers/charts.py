"""One chart per question, as the catalog defines it (the analytics table it draws, its labels and
values, which rows are bars). The chart widgets in the editor (mage_project/charts/), the HTML report
and the tests all take their bars from here."""
from __future__ import annotations

import pandas as pd

from mage_project.catalog import QUESTIONS_BY_ID, age_places, numbers

MAX_BARS = 15
# The editor's chart widgets, by uuid.
WIDGETS = {f'chart_{question.table}': question.id for question in QUESTIONS_BY_ID.values()}


def bars(question_id: str, table: pd.DataFrame) -> pd.DataFrame:
    """The rows of a question's table that are drawn, top first: at most MAX_BARS by position."""
    question = QUESTIONS_BY_ID[question_id]
    frame = table.sort_values('position')
    if question.only_positive:
        frame = frame[frame[question.value] > 0]
    return frame.head(MAX_BARS)


def labels(question_id: str, frame: pd.DataFrame) -> list[str]:
    """Bar labels; an age label also says where it falls against the question's groups (the
    pipeline's; a label placed against other groups is shown as placed)."""
    question = QUESTIONS_BY_ID[question_id]
    names = [str(value) if str(value).strip() else '(empty)' for value in frame[question.label]]
    if 'question_age_group' in frame:
        places = age_places(numbers())
        names = [f'{name} → {places.get(place, (place,))[0]}' for name, place in zip(names, frame['question_age_group'])]
    return names


def widget_xy(question_id: str, table: pd.DataFrame) -> tuple[list[str], list[int]]:
    """x and y of a chart widget, from its upstream block's output."""
    frame = bars(question_id, table)
    return labels(question_id, frame), [int(value) for value in frame[QUESTIONS_BY_ID[question_id].value]]
