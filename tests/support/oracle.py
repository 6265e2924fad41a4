"""An independent reading of a dataset with pandas, computing what the analytics tables must
hold by the README's definitions. It shares no code with the pipeline."""
from __future__ import annotations

import re
from pathlib import Path

import pandas as pd


def read(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    options = dict(header=None, quotechar="'", skipinitialspace=True, dtype=str, keep_default_na=False)
    users = pd.read_csv(folder / 'users.csv', names=['user_id', 'age', 'country'], **options)
    events = pd.read_csv(folder / 'user_interaction.csv',
                         names=['event_id', 'user_id', 'event_type', 'event_time'], **options)
    users['user_id'] = users.user_id.astype(int)
    events['user_id'] = events.user_id.astype(int)
    return users, events


def expected_tables(folder: Path) -> dict[str, dict]:
    users, events = read(folder)
    known = set(users.user_id)
    events['is_orphan'] = ~events.user_id.isin(known)
    distinct = events.drop_duplicates(subset=['event_id', 'user_id', 'event_type', 'event_time'])
    surplus = events.groupby(events.event_time.str[:10]).size() - \
        distinct.groupby(distinct.event_time.str[:10]).size()

    # A user_id whose lines disagree has no country or age: left out of q3 and q4.
    lines = users.drop_duplicates()
    settled = lines[~lines.user_id.duplicated(keep=False)]
    known_distinct = distinct[~distinct.is_orphan].merge(settled, on='user_id')
    by_country = known_distinct.groupby('country').agg(visitors=('user_id', 'nunique'), events=('user_id', 'size'))

    per_user = known_distinct.pivot_table(index='user_id', columns='event_type', aggfunc='size', fill_value=0)
    views = per_user.get('VIEW', pd.Series(0, index=per_user.index))
    clicks = per_user.get('CLICK', pd.Series(0, index=per_user.index))
    valuable = set(per_user.index[(views >= 5) & (clicks >= 10)])
    valuable_by_age = settled[settled.user_id.isin(valuable)].groupby('age').size()

    return {
        'orphan_events_by_type': events[events.is_orphan].groupby('event_type').size().to_dict(),
        'duplicate_events_by_date': {d: int(n) for d, n in surplus.items() if n > 0},
        'visitors_by_country': {c: {'visitors': int(r.visitors), 'events': int(r.events)}
                                for c, r in by_country.iterrows()},
        'valuable_users_by_age_group': {a: int(n) for a, n in valuable_by_age.items()},
    }


def question_group(label: str) -> str | None:
    """The question's group a label 'a-b' lies wholly inside, if any."""
    low, high = map(int, re.fullmatch(r'\s*(\d+)\s*-\s*(\d+)\s*', label).groups())
    if low >= 18 and high <= 49:
        return '18-49'
    if low >= 50 and high <= 80:
        return '50-80'
    return None
