"""Generate a dataset in the take-home's exact format, at any size, with planted anomalies.

    python -m mage_project.utils.generate OUT --users N --events M --seed S

writes OUT/tables.sql, OUT/users.csv, OUT/user_interaction.csv and OUT/truths.json. The same
arguments always give the same bytes. What is planted:

- orphan events (user_ids not in users), most of them of the chosen ``orphan_types``;
- exact duplicate rows (all four columns equal), most of them on ``duplicate_date``;
- a ``top_country`` that most users come from;
- valuable users (at least 5 VIEW and 10 CLICK events) only in ``valuable_age``: every other user
  has at most 4 VIEW events.

truths.json holds the answers counted while writing, in the shape of the analytics tables, so
tests compare whole tables rather than only the winners.
"""
from __future__ import annotations

import argparse
import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

EVENT_TYPES = ('VIEW', 'CLICK', 'EXIT')
AGE_LABELS = ('18-45', '46-80')  # the take-home's labels, which straddle the question's 18-49/50-80
COUNTRIES = ('DE', 'UK', 'FR', 'NL', 'PL', 'ES', 'IT', 'SE')
DDL = """\
-- The raw tables: the same two tables and column types as the take-home's DDL.
create table users (
    user_id int,
    age varchar(5),
    country varchar(2)
);

create table user_interaction (
    event_id varchar(36),
    user_id int,
    event_type varchar(5),
    event_time timestamp
);
"""
START = datetime(2019, 5, 1)
DAYS = 120


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


def _uuid(rng: np.random.Generator, count: int) -> list[str]:
    raw = rng.integers(0, 2**63, size=(count, 2), dtype=np.int64)
    out = []
    for high, low in raw.tolist():
        h = f'{high:016X}{low:016X}'
        out.append(f'{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}')
    return out


def generate(out: Path, plan: Plan) -> Truths:
    """Write the three files and truths.json into ``out``; return the truths."""
    if plan.users < plan.valuable_users + 1:
        raise ValueError('need more users than planted valuable users')
    rng = np.random.default_rng(plan.seed)
    out.mkdir(parents=True, exist_ok=True)
    (out / 'tables.sql').write_text(DDL)

    # Users: the top country gets 40% of them, the rest spread evenly.
    n = plan.users
    user_ids = np.arange(1, n + 1)
    others = [c for c in COUNTRIES if c != plan.top_country]
    country_idx = np.where(rng.random(n) < 0.4, -1, rng.integers(0, len(others), n))
    countries = [plan.top_country if i < 0 else others[i] for i in country_idx.tolist()]
    ages = [AGE_LABELS[i] for i in rng.integers(0, len(AGE_LABELS), n).tolist()]
    in_group = [i for i in range(n) if ages[i] == plan.valuable_age]
    if len(in_group) < plan.valuable_users:
        raise ValueError(f'only {len(in_group)} users have age {plan.valuable_age}')
    valuable = set(rng.choice(in_group, plan.valuable_users, replace=False).tolist())
    user_lines = [f"{user_ids[i]}, '{ages[i]}', '{countries[i]}'" for i in range(n)]
    (out / 'users.csv').write_text('\n'.join(user_lines))  # no final newline, as the take-home

    # Events: (user index or orphan id, type) pairs, then times, ids and duplicate copies.
    n_orphans = int(plan.events * plan.orphan_share)
    n_copies = int(plan.events * plan.duplicate_share)
    rows_user: list[int] = []  # user_id
    rows_type: list[str] = []
    for i in sorted(valuable):
        for event_type, count in (('VIEW', 5 + int(rng.integers(0, 4))), ('CLICK', 10 + int(rng.integers(0, 6)))):
            rows_user += [int(user_ids[i])] * count
            rows_type += [event_type] * count
    other_types = [t for t in EVENT_TYPES if t not in plan.orphan_types]
    for _ in range(n_orphans):
        pool = plan.orphan_types if rng.random() < 0.8 or not other_types else other_types
        rows_user.append(n + 1 + int(rng.integers(0, 50)))
        rows_type.append(pool[int(rng.integers(0, len(pool)))])
    views = np.zeros(n + 1, dtype=np.int64)  # regular users stay below 5 VIEWs
    remaining = max(plan.events - n_copies - len(rows_user), 0)
    picks = rng.integers(1, n + 1, remaining).tolist()
    type_draws = rng.random(remaining).tolist()
    for user_id, draw in zip(picks, type_draws):
        if draw < 0.3 and (user_id - 1 in valuable or views[user_id] < 4):
            views[user_id] += 1
            event_type = 'VIEW'
        elif draw < 0.8:
            event_type = 'CLICK'
        else:
            event_type = 'EXIT'
        rows_user.append(user_id)
        rows_type.append(event_type)

    total = len(rows_user)
    order = rng.permutation(total)
    seconds = np.sort(rng.integers(0, DAYS * 86400, total))
    ids = _uuid(rng, total)
    stamps = [(START + timedelta(seconds=int(s))).strftime('%Y-%m-%d %H:%M:%S') for s in seconds.tolist()]
    events = [(ids[k], rows_user[j], rows_type[j], stamps[k]) for k, j in enumerate(order.tolist())]

    # Duplicates: 80% are copies of events on duplicate_date, the rest of random events.
    on_date = [k for k, e in enumerate(events) if e[3].startswith(plan.duplicate_date)]
    copies_of = Counter()
    for c in range(n_copies):
        if on_date and (c < n_copies * 0.8):
            copies_of[on_date[int(rng.integers(0, len(on_date)))]] += 1
        else:
            copies_of[int(rng.integers(0, total))] += 1

    user_set = set(int(u) for u in user_ids.tolist())
    country_of = {int(user_ids[i]): countries[i] for i in range(n)}
    age_of = {int(user_ids[i]): ages[i] for i in range(n)}
    orphan_by_type: Counter = Counter()
    surplus_by_date: Counter = Counter()
    visitors: dict[str, set] = {}
    events_by_country: Counter = Counter()
    per_user = Counter()
    lines = []
    for k, (event_id, user_id, event_type, stamp) in enumerate(events):
        line = f"'{event_id}', {user_id}, '{event_type}', '{stamp}'"
        copies = 1 + copies_of.get(k, 0)
        lines.extend([line] * copies)
        if copies > 1:
            surplus_by_date[stamp[:10]] += copies - 1
        if user_id not in user_set:
            orphan_by_type[event_type] += copies
            continue
        visitors.setdefault(country_of[user_id], set()).add(user_id)
        events_by_country[country_of[user_id]] += 1  # distinct events: duplicates removed
        per_user[(user_id, event_type)] += 1
    with (out / 'user_interaction.csv').open('w') as handle:
        handle.write('\n'.join(lines))

    valuable_by_age: Counter = Counter()
    for user_id in user_set:
        if per_user[(user_id, 'VIEW')] >= 5 and per_user[(user_id, 'CLICK')] >= 10:
            valuable_by_age[age_of[user_id]] += 1
    truths = Truths(
        plan={**asdict(plan), 'orphan_types': list(plan.orphan_types)},
        lines={'users': n, 'user_interaction': len(lines)},
        orphan_events_by_type=dict(sorted(orphan_by_type.items())),
        duplicate_events_by_date=dict(sorted(surplus_by_date.items())),
        visitors_by_country={c: {'visitors': len(v), 'events': events_by_country[c]}
                             for c, v in sorted(visitors.items())},
        valuable_users_by_age_group=dict(sorted(valuable_by_age.items())),
    )
    (out / 'truths.json').write_text(json.dumps(asdict(truths), indent=2) + '\n')
    return truths


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('out', type=Path, help='folder to write the dataset into')
    parser.add_argument('--users', type=int, default=Plan.users)
    parser.add_argument('--events', type=int, default=Plan.events)
    parser.add_argument('--seed', type=int, default=Plan.seed)
    args = parser.parse_args(argv)
    truths = generate(args.out, Plan(users=args.users, events=args.events, seed=args.seed))
    print(f"wrote {truths.lines['users']} users and {truths.lines['user_interaction']} events to {args.out}")


if __name__ == '__main__':
    main()
