"""Generate a dataset in the take-home's exact format, at any size, with planted anomalies.

    python -m tools.datagen OUT --users N --events M --seed S [--trap NAME ...]

writes OUT/tables.sql, OUT/users.csv, OUT/user_interaction.csv and OUT/truths.json. The same
arguments always give the same bytes. What is planted:

- orphan events (user_ids not in users), most of them of the chosen ``orphan_types``;
- exact duplicate rows (all four columns equal), most of them on ``duplicate_date``;
- a ``top_country`` that most users come from;
- valuable users (at least the question's 5 VIEW and 10 CLICK events, the pipeline's variables)
  only in ``valuable_age``: every other user has fewer VIEW events.

truths.json holds the answers counted from what was written, in the shape of the analytics
tables, so tests compare whole tables rather than only the winners. Everything is drawn as numpy
arrays and written in chunks, so 10M events take well under a minute and about 1 GB.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np

from mage_project.catalog import DDL_FILE, PROJECT_DIR, numbers

EVENT_TYPES = ('VIEW', 'CLICK', 'EXIT')
VIEW, CLICK, EXIT = range(3)
AGE_LABELS = ('18-45', '46-80')  # the take-home's labels, which straddle the question's 18-49/50-80
COUNTRIES = ('DE', 'UK', 'FR', 'NL', 'PL', 'ES', 'IT', 'SE')
# The raw tables (the take-home's two tables and column types): the sample's own tables.sql, copied.
DDL_SOURCE = PROJECT_DIR.parent / 'dataset' / DDL_FILE
START = np.datetime64('2019-05-01T00:00:00', 's')
DAYS = 120
ORPHAN_IDS = 50  # orphan events use user_ids N+1 .. N+ORPHAN_IDS
CHUNK = 200_000


@dataclass
class Plan:
    users: int = 200
    events: int = 5000
    seed: int = 42
    orphan_share: float = 0.03
    orphan_types: tuple[str, ...] = ('VIEW',)
    duplicate_share: float = 0.02
    duplicate_date: str = '2019-07-04'
    top_country: str = 'DE'
    valuable_age: str = '18-45'
    valuable_users: int = 10


@dataclass
class Truths:
    plan: dict
    lines: dict = field(default_factory=dict)
    orphan_events_by_type: dict = field(default_factory=dict)
    duplicate_events_by_date: dict = field(default_factory=dict)
    visitors_by_country: dict = field(default_factory=dict)
    valuable_users_by_age_group: dict = field(default_factory=dict)


def quote(value) -> str:
    """A value in the take-home's notation: strings and timestamps in single quotes (a quote
    inside doubled), numbers bare."""
    if isinstance(value, datetime):
        value = f'{value:%Y-%m-%d %H:%M:%S}'
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return str(value)


def format_line(values) -> str:
    """One line of a dataset file: the values, quoted, separated by a comma and a space."""
    return ', '.join(quote(value) for value in values)


def _draw_users(rng: np.random.Generator, plan: Plan) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Country and age label indexes per user (index i is user_id i + 1), and the valuable users."""
    n = plan.users
    others = [i for i, c in enumerate(COUNTRIES) if c != plan.top_country]
    country = np.where(rng.random(n) < 0.4, COUNTRIES.index(plan.top_country),
                       np.array(others)[rng.integers(0, len(others), n)])
    age = rng.integers(0, len(AGE_LABELS), n)
    in_group = np.flatnonzero(age == AGE_LABELS.index(plan.valuable_age))
    if len(in_group) < plan.valuable_users:
        raise ValueError(f'only {len(in_group)} users have age {plan.valuable_age}')
    valuable = np.sort(rng.choice(in_group, plan.valuable_users, replace=False))
    return country, age, valuable


def _draw_events(rng: np.random.Generator, plan: Plan, valuable: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """user_id and type index of every distinct event, in a random order. A valuable user has the
    question's numbers of VIEWs and CLICKs (catalog.numbers) and up to 3 and 5 more."""
    n = plan.users
    wanted = numbers()
    views = wanted.min_views + rng.integers(0, 4, len(valuable))
    clicks = wanted.min_clicks + rng.integers(0, 6, len(valuable))
    users = [np.repeat(valuable + 1, views), np.repeat(valuable + 1, clicks)]
    types = [np.full(views.sum(), VIEW), np.full(clicks.sum(), CLICK)]
    # Orphans: 80% of the orphan types, the rest of the others.
    n_orphans = int(plan.events * plan.orphan_share)
    chosen = np.array([EVENT_TYPES.index(t) for t in plan.orphan_types])
    other = np.array([i for i in range(len(EVENT_TYPES)) if i not in chosen]) if len(chosen) < 3 else chosen
    pick_chosen = rng.random(n_orphans) < 0.8
    users.append(n + 1 + rng.integers(0, ORPHAN_IDS, n_orphans))
    types.append(np.where(pick_chosen, chosen[rng.integers(0, len(chosen), n_orphans)],
                          other[rng.integers(0, len(other), n_orphans)]))
    # Everybody else: VIEW 30%, CLICK 50%, EXIT 20%, but fewer VIEWs than a valuable user's.
    remaining = max(plan.events - int(plan.events * plan.duplicate_share) - sum(map(len, users)), 0)
    picked = rng.integers(1, n + 1, remaining)
    kind = np.searchsorted([0.3, 0.8], rng.random(remaining), side='right')
    is_valuable = np.zeros(n + 1, dtype=bool)
    is_valuable[valuable + 1] = True
    order = np.argsort(picked, kind='stable')
    view_rank = np.empty(remaining, dtype=np.int64)  # how many VIEWs the user has had before
    sorted_views = (kind[order] == VIEW).astype(np.int64)
    starts = np.r_[0, np.flatnonzero(np.diff(picked[order])) + 1]
    cumulative = np.cumsum(sorted_views) - sorted_views
    view_rank[order] = cumulative - np.repeat(cumulative[starts], np.diff(np.r_[starts, remaining]))
    too_many = (kind == VIEW) & (view_rank >= wanted.min_views - 1) & ~is_valuable[picked]
    kind[too_many] = CLICK
    users.append(picked)
    types.append(kind)
    user_ids, type_ids = np.concatenate(users), np.concatenate(types)
    shuffle = rng.permutation(len(user_ids))
    return user_ids[shuffle], type_ids[shuffle]


def _event_ids(rng: np.random.Generator, count: int) -> np.ndarray:
    return rng.integers(0, 2**63, size=(count, 2), dtype=np.int64)


def _format_id(high: int, low: int) -> str:
    h = f'{high:016X}{low:016X}'
    return f'{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}'


def _stamp_strings(stamps: np.ndarray) -> list[str]:
    return [s.replace('T', ' ') for s in np.datetime_as_string(stamps).tolist()]


def generate(out: Path, plan: Plan) -> Truths:
    """Write the three files and truths.json into ``out``; return the truths."""
    if plan.users < plan.valuable_users + 1:
        raise ValueError('need more users than planted valuable users')
    rng = np.random.default_rng(plan.seed)
    out.mkdir(parents=True, exist_ok=True)
    (out / DDL_FILE).write_bytes(DDL_SOURCE.read_bytes())

    country, age, valuable = _draw_users(rng, plan)
    user_lines = [format_line((i + 1, AGE_LABELS[a], COUNTRIES[c])) for i, (a, c) in
                  enumerate(zip(age.tolist(), country.tolist()))]
    (out / 'users.csv').write_text('\n'.join(user_lines))  # no final newline, as the take-home

    user_ids, type_ids = _draw_events(rng, plan, valuable)
    total = len(user_ids)
    seconds = np.sort(rng.integers(0, DAYS * 86400, total))
    stamps = START + seconds
    ids = _event_ids(rng, total)
    day = (seconds // 86400).astype(np.int64)

    # Duplicates: 80% are copies of events on duplicate_date, the rest of any event.
    n_copies = int(plan.events * plan.duplicate_share)
    target_day = int((np.datetime64(plan.duplicate_date, 'D') - START.astype('datetime64[D]')).astype(int))
    on_date = np.flatnonzero(day == target_day)
    n_on_date = int(n_copies * 0.8) if len(on_date) else 0
    copied = np.concatenate([on_date[rng.integers(0, max(len(on_date), 1), n_on_date)],
                             rng.integers(0, total, n_copies - n_on_date)])
    copies = 1 + np.bincount(copied, minlength=total)

    with (out / 'user_interaction.csv').open('w') as handle:
        first = True
        for start in range(0, total, CHUNK):
            stop = min(start + CHUNK, total)
            # format_line's output, spelled out: these values never hold a quote.
            text = [f"'{_format_id(h, lo)}', {u}, '{EVENT_TYPES[t]}', '{s}'"
                    for (h, lo), u, t, s in zip(ids[start:stop].tolist(), user_ids[start:stop].tolist(),
                                                type_ids[start:stop].tolist(),
                                                _stamp_strings(stamps[start:stop]))]
            lines = [line for line, n in zip(text, copies[start:stop].tolist()) for _ in range(n)]
            handle.write(('' if first else '\n') + '\n'.join(lines))
            first = False

    # The truths, counted from the arrays that were written.
    known = user_ids <= plan.users
    orphan_rows = np.bincount(type_ids[~known], weights=copies[~known], minlength=3).astype(int)
    surplus = np.bincount(day, weights=copies - 1, minlength=DAYS).astype(int)
    visited = np.zeros(plan.users + 1, dtype=bool)
    visited[user_ids[known]] = True
    events_per_user = np.bincount(user_ids[known], minlength=plan.users + 1)
    views = np.bincount(user_ids[known & (type_ids == VIEW)], minlength=plan.users + 1)
    clicks = np.bincount(user_ids[known & (type_ids == CLICK)], minlength=plan.users + 1)
    is_valuable = (views >= 5) & (clicks >= 10)
    user_country = np.r_[-1, country]
    user_age = np.r_[-1, age]
    start_day = START.astype('datetime64[D]')
    truths = Truths(
        plan={**asdict(plan), 'orphan_types': list(plan.orphan_types)},
        lines={'users': plan.users, 'user_interaction': int(copies.sum())},
        orphan_events_by_type={EVENT_TYPES[t]: int(n) for t, n in sorted(enumerate(orphan_rows), key=lambda p: EVENT_TYPES[p[0]]) if n},
        duplicate_events_by_date={str(start_day + d): int(n) for d, n in enumerate(surplus) if n},
        visitors_by_country={
            COUNTRIES[c]: {'visitors': int(visited[user_country == c].sum()),
                           'events': int(events_per_user[user_country == c].sum())}
            for c in sorted(range(len(COUNTRIES)), key=lambda i: COUNTRIES[i]) if visited[user_country == c].any()},
        valuable_users_by_age_group={AGE_LABELS[a]: int(is_valuable[user_age == a].sum())
                                     for a in range(len(AGE_LABELS)) if is_valuable[user_age == a].any()},
    )
    (out / 'truths.json').write_text(json.dumps(asdict(truths), indent=2) + '\n')
    return truths
