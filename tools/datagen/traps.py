"""Hostile variants of a generated dataset: the traps real feeds set, planted on purpose so a user
can reproduce how the pipeline meets each one.

    python -m tools.datagen OUT --trap conflicting-users --trap gzip

Each trap rewrites the files that ``generate`` wrote in OUT (made for small datasets: a trap reads
a file into memory). What the pipeline then does is in the trap's docstring and in docs/loading.md's
catalogue; the tests run every trap through a whole run.
"""
from __future__ import annotations

import gzip
import json
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Callable

from mage_project.catalog import numbers
from tools.datagen.generate import ORPHAN_IDS, format_line

EVENTS, USERS = 'user_interaction.csv', 'users.csv'
_LINE = re.compile(r"'(?P<id>[^']*)', (?P<user>-?\d+), '(?P<type>[^']*)', '(?P<time>[^']*)'")
_COUNTRY = re.compile(r"'(\w\w)'$")  # a users.csv line's two-letter country, its last field


def _lines(out: Path, name: str) -> list[str]:
    return (out / name).read_text().split('\n')


def _write(out: Path, name: str, lines: list[str]) -> None:
    (out / name).write_text('\n'.join(lines))


def _new_user_id(out: Path) -> int:
    """A user_id above every known and orphan id of the generated files."""
    return max(int(line.split(',', 1)[0]) for line in _lines(out, USERS)) + ORPHAN_IDS + 1


def _valuable_events(user_id: int, prefix: str) -> list[str]:
    """The question's numbers of VIEW and CLICK events (5 and 10): just enough for a valuable user."""
    wanted = numbers()
    return [format_line((f'{prefix}-{user_id}-{i}', user_id, 'VIEW' if i < wanted.min_views else 'CLICK',
                         datetime(2019, 6, 1, 10) + timedelta(minutes=i)))
            for i in range(wanted.min_views + wanted.min_clicks)]


def odd_age_labels(out: Path) -> None:
    """Valuable users with labels that fit no group cleanly: outside both (81-90, 0-17), open-ended
    (50+), unreadable (adult, 18–49 with an en dash), across both and beyond (10-90). q4 names each
    kind and counts only users who could be in a group."""
    first = _new_user_id(out)
    users, events = _lines(out, USERS), _lines(out, EVENTS)
    for offset, label in enumerate(('81-90', '0-17', '50+', 'adult', '18–49', '10-90')):
        users.append(format_line((first + offset, label, 'DE')))
        events += _valuable_events(first + offset, 'AGE')
    _write(out, USERS, users)
    _write(out, EVENTS, events)


def conflicting_users(out: Path) -> None:
    """Users 1-3 get a second line with another age and country, user 4 an exact repeat of its line.
    Users 1-3 are left out of q3 and q4 (no fields of different lines are mixed), and the answers
    say so; user 4 stays one user."""
    users = _lines(out, USERS)
    extra = []
    for line in users[:3]:
        user_id, age, country = (field.strip(" '") for field in line.split(','))
        extra.append(format_line((int(user_id), '46-80' if age != '46-80' else '18-45',
                                  'ZZ' if country != 'ZZ' else 'YY')))
    _write(out, USERS, users + extra + [users[3]])


def tied_countries(out: Path) -> None:
    """A mirror of every user, in a country spelled backwards (DE -> ED), with a copy of each of its
    events: every country ties with its mirror on visitors and on events, so the top tie stands."""
    users, events = _lines(out, USERS), _lines(out, EVENTS)
    shift = _new_user_id(out)
    known = set()
    for line in list(users):
        user_id, age, country = (field.strip(" '") for field in line.split(','))
        known.add(int(user_id))
        users.append(format_line((int(user_id) + shift, age, country[::-1])))
    for line in list(events):
        match = _LINE.fullmatch(line)
        if match and int(match['user']) in known:
            # The id spelled backwards: unique, and exact copies stay exact copies.
            events.append(format_line((match['id'][::-1], int(match['user']) + shift, match['type'],
                                       datetime.fromisoformat(match['time']))))
    _write(out, USERS, users)
    _write(out, EVENTS, events)


def empty_event_type(out: Path) -> None:
    """Orphan events whose event_type is empty (''), more than any other type: q1 names the empty
    type visibly."""
    first = _new_user_id(out)
    events = _lines(out, EVENTS)
    events += [format_line((f'EMPTY-{i}', first, '', datetime(2019, 6, 2, 10, i))) for i in range(60)]
    _write(out, EVENTS, events)


def many_tied_dates(out: Path) -> None:
    """750 dates before the generated ones, each with one more surplus copy than any generated date:
    a 750-way tie at the top of q2, whose sentence names five of the dates and counts the rest."""
    events = _lines(out, EVENTS)
    top = max(json.loads((out / 'truths.json').read_text())['duplicate_events_by_date'].values(), default=0)
    user = int(_LINE.fullmatch(events[0])['user'])
    start = datetime(2016, 1, 1, 12)
    for day in range(750):
        events += [format_line((f'TIE-{day}', user, 'VIEW', start + timedelta(days=day)))] * (top + 2)
    _write(out, EVENTS, events)


def iso_timestamps(out: Path) -> None:
    """Every third event time in ISO 8601 variants Postgres accepts: a T, fractional seconds of 0, a
    Z, or +02:00 with the local time two hours ahead. Each names the same UTC moment, so the tables
    equal the clean dataset's; the offsets are noted in raw.adjusted_values."""
    events = _lines(out, EVENTS)
    styles = (lambda t: t.strftime('%Y-%m-%dT%H:%M:%S'), lambda t: t.strftime('%Y-%m-%d %H:%M:%S.000000'),
              lambda t: t.strftime('%Y-%m-%dT%H:%M:%SZ'),
              lambda t: (t + timedelta(hours=2)).strftime('%Y-%m-%dT%H:%M:%S+02:00'))
    for number in range(0, len(events), 3):
        match = _LINE.fullmatch(events[number])
        moment = datetime.fromisoformat(match['time'])
        events[number] = (f"'{match['id']}', {match['user']}, '{match['type']}', "
                          f"'{styles[number // 3 % len(styles)](moment)}'")
    _write(out, EVENTS, events)


def padded_countries(out: Path) -> None:
    """Every country padded with a trailing space beyond varchar(2) ('DE '): Postgres would keep DE,
    and so does the loader (noted in raw.adjusted_values); the tables equal the clean dataset's."""
    _write(out, USERS, [_COUNTRY.sub(r"'\1 '", line) for line in _lines(out, USERS)])


def country_case(out: Path) -> None:
    """The country of every other user in lower case ('de' beside 'DE'), and a new visitor whose
    country is empty. The tables count labels as stored; q3 names the labels that differ only in
    case, says which code would lead were each set read as one (DE, with all its visitors), and
    counts the visitors without a country."""
    users = _lines(out, USERS)
    for number in range(0, len(users), 2):
        users[number] = _COUNTRY.sub(lambda match: f"'{match[1].lower()}'", users[number])
    user_id = _new_user_id(out)
    _write(out, USERS, users + [format_line((user_id, '18-45', ''))])
    _write(out, EVENTS, _lines(out, EVENTS) + _valuable_events(user_id, 'NO-COUNTRY'))


def event_type_case(out: Path) -> None:
    """Every third event's type in lower case ('view' beside 'VIEW'). The tables count types as
    stored: q1 names the types that differ only in case, and q4, whose VIEW and CLICK counts match
    types as stored, says how many events typed 'view' or 'click' it did not count."""
    events = _lines(out, EVENTS)
    for number in range(0, len(events), 3):
        match = _LINE.fullmatch(events[number])
        events[number] = format_line((match['id'], int(match['user']), match['type'].lower(),
                                      datetime.fromisoformat(match['time'])))
    _write(out, EVENTS, events)


def gzip_files(out: Path) -> None:
    """Both CSV files as .csv.gz: read transparently, the tables equal the clean dataset's."""
    for name in (USERS, EVENTS):
        (out / f'{name}.gz').write_bytes(gzip.compress((out / name).read_bytes(), mtime=0))
        (out / name).unlink()


def gzip_as_csv(out: Path) -> None:
    """user_interaction.csv holding gzip bytes under its plain name: read transparently."""
    path = out / EVENTS
    path.write_bytes(gzip.compress(path.read_bytes(), mtime=0))


def cr_line_endings(out: Path) -> None:
    """Old Mac line endings (CR only) in both files: read as lines, the tables equal the clean ones'."""
    for name in (USERS, EVENTS):
        (out / name).write_bytes((out / name).read_bytes().replace(b'\n', b'\r'))


def blank_feed(out: Path) -> None:
    """user_interaction.csv of blank lines only: no loadable row, the run refuses to publish."""
    (out / EVENTS).write_text(' \n' * 100)


def header_only(out: Path) -> None:
    """user_interaction.csv with only a header line: no loadable row, the run refuses to publish."""
    (out / EVENTS).write_text('event_id, user_id, event_type, event_time\n')


def all_rejected(out: Path) -> None:
    """Every event with an event_type too long for varchar(5): no loadable row, the run refuses."""
    _write(out, EVENTS, [line.replace("'CLICK'", "'CLICKS'").replace("'VIEW'", "'VIEWED'")
                         .replace("'EXIT'", "'EXITED'") for line in _lines(out, EVENTS)])


def some_rejected(out: Path) -> None:
    """One event line in five with a broken user_id: 20% rejected is over the default
    MAX_REJECTED_SHARE of 10%, so the run refuses; a run allowing 25% loads the rest."""
    events = _lines(out, EVENTS)
    for number in range(0, len(events), 5):
        events[number] = re.sub(r", (\d+), ", r", user\1, ", events[number], count=1)
    _write(out, EVENTS, events)


TRAPS: dict[str, Callable[[Path], None]] = {
    'odd-age-labels': odd_age_labels,
    'conflicting-users': conflicting_users,
    'tied-countries': tied_countries,
    'empty-event-type': empty_event_type,
    'many-tied-dates': many_tied_dates,
    'iso-timestamps': iso_timestamps,
    'padded-countries': padded_countries,
    'country-case': country_case,
    'event-type-case': event_type_case,
    'gzip': gzip_files,
    'gzip-as-csv': gzip_as_csv,
    'cr-line-endings': cr_line_endings,
    'blank-feed': blank_feed,
    'header-only': header_only,
    'all-rejected': all_rejected,
    'some-rejected': some_rejected,
}


# Traps after which the analytics tables equal the clean dataset's (truths.json still holds).
TABLES_UNCHANGED = {'iso-timestamps', 'padded-countries', 'gzip', 'gzip-as-csv', 'cr-line-endings'}


def plant(out: Path, names: list[str]) -> None:
    """Apply the named traps, in order, to the dataset in ``out``; truths.json then describes the
    clean dataset only, so it is removed unless every trap keeps the tables equal."""
    unknown = [name for name in names if name not in TRAPS]
    if unknown:
        raise ValueError(f'unknown trap {", ".join(unknown)}; known: {", ".join(TRAPS)}')
    for name in names:
        TRAPS[name](out)
    if set(names) - TABLES_UNCHANGED:
        (out / 'truths.json').unlink(missing_ok=True)
