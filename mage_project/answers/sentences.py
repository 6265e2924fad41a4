"""The answers to the four questions as sentences, from the per-question tables.

Pure functions of small DataFrames (the analytics tables, ranked), so every tie and edge is tested
without a database. The rules: a sentence never claims a winner the data does not have (a tie
that the tie-break does not break is said to stand), an empty value is named visibly, every list
stops after a few entries with "and N more", and counts agree with their nouns.
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from mage_project.catalog import QUESTIONS, Numbers, age_places, question_text
from mage_project.catalog import numbers as default_numbers

LIST_CAP = 5


def definitions(numbers: Numbers) -> dict[str, str]:
    """What each answer rests on, with the run's numbers."""
    return {
        'q1': 'Orphan event: an event row whose user_id is not in users, counted as logged (duplicate copies '
              'included). Event types count as stored; types that differ only in case or spaces are named.',
        'q2': 'Duplicate: an exact copy of an event row (event_id, user_id, event_type and event_time all equal); '
              'surplus copies are those beyond the first, on the event\'s date.',
        'q3': 'Visitor: a user in users with at least one event; ties are broken by their distinct events '
              '(duplicates removed). Users whose lines in users.csv conflict are left out. Country labels count as '
              'stored; labels that differ only in case or spaces are named.',
        'q4': f'Valuable user: a user in users with at least {numbers.min_views} VIEW and {numbers.min_clicks} CLICK '
              'events (types as stored) after removing exact duplicates; a stored age label counts for a group only '
              'if its whole range lies inside it, labels that overlap a group give a range of possible counts, and '
              'open-ended, unreadable or conflicting labels are named.',
    }


@dataclass(frozen=True)
class Conflicts:
    """Users whose lines in users.csv disagree: how many, and how many of them are visitors and
    valuable users (left out of q3 and q4)."""
    users: int = 0
    visitors: int = 0
    valuable: int = 0


def count(n: int, singular: str, plural: str | None = None) -> str:
    """'1 date', '2 dates', '1 surplus copy', '3 surplus copies'."""
    return f'{n} {singular if n == 1 else (plural or singular + "s")}'


def shown(value) -> str:
    """A value as a sentence shows it: an empty or missing one visibly so."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return '(missing)'
    text = str(value)
    return text if text.strip() else f'(empty{", " + repr(text) if text else ""})'


def listing(items: list[str], noun: str, cap: int = LIST_CAP) -> str:
    """The first ``cap`` items joined with commas, then 'and N more <noun>' for the rest."""
    more = len(items) - cap
    if more <= 0:
        return ', '.join(items)
    return ', '.join(items[:cap]) + f' and {more} more {noun.rstrip("s") if more == 1 else noun}'


def natural(items: list[str], noun: str, cap: int = LIST_CAP) -> str:
    """Like listing, but a complete short list ends in 'and': 'a', 'a and b', 'a, b and c'."""
    if 1 < len(items) <= cap:
        return ', '.join(items[:-1]) + ' and ' + items[-1]
    return listing(items, noun, cap)


def _leaders(table: pd.DataFrame, column: str) -> tuple[pd.DataFrame, int, pd.DataFrame]:
    """The table by position, its top count of ``column`` (0 when empty) and the rows that have it."""
    ranked = table.sort_values('position')
    top = int(ranked[column].max()) if len(ranked) else 0
    return ranked, top, ranked[ranked[column] == top]


def answer_q1(orphans: pd.DataFrame) -> str:
    """orphan_events_by_type, ranked: the event types with the most orphan events. The table counts
    event types as stored; the sentence names the types that differ only in case or spaces."""
    ranked, top, leaders = _leaders(orphans, 'orphan_events')
    if top == 0:
        return 'No event carries a user_id that is missing from users.'
    named = [f'{shown(r.event_type)} ({r.orphan_events} of {count(r.events, "event")})'
             for r in leaders.itertuples()]
    lead = 'Tied for most often' if len(leaders) > 1 else 'Most often'
    with_any = ranked[ranked.orphan_events > 0]
    by_type = listing([f'{shown(r.event_type)} {r.orphan_events}' for r in with_any.itertuples()], 'types')
    return (f'{lead}: {natural(named, "types")}. Events with a user_id not in users, by type: {by_type}.'
            + _counted_apart(ranked, 'event_type', 'orphan_events', top, leaders, 'Event types', 'type',
                             'orphan event'))


def answer_q2(duplicates: pd.DataFrame) -> str:
    """duplicate_events_by_date, ranked: the date(s) with the most surplus copies."""
    ranked, top, leaders = _leaders(duplicates, 'surplus_copies')
    if top == 0:
        return 'No event row is an exact duplicate of another.'
    named = [f'{r.event_date} ({count(r.surplus_copies, "surplus copy", "surplus copies")}: '
             f'{count(r.event_rows, "row")} logged for {count(r.distinct_events, "distinct event")})'
             for r in leaders.itertuples()]
    others = ranked[(ranked.surplus_copies > 0) & (ranked.surplus_copies < top)]
    other_text = listing([f'{r.event_date} ({r.surplus_copies})' for r in others.itertuples()], 'dates') or 'none'
    lead = 'Tied' if len(leaders) > 1 else 'The date'
    total = int(ranked.surplus_copies.sum())
    return (f'{lead}: {natural(named, "dates")}. '
            f'{count(total, "surplus copy", "surplus copies")} in all; other dates with any: {other_text}.')


def _left_out(conflicts: Conflicts, of: str) -> str:
    if not conflicts.users:
        return ''
    return (f' {count(conflicts.users, "user")} with conflicting lines in users.csv '
            f'{"is" if conflicts.users == 1 else "are"} left out ({of}).')


def _code(value) -> str:
    """A label as a code: without surrounding spaces, in upper case; '' for an empty or missing one."""
    return '' if value is None or pd.isna(value) else str(value).strip().upper()


def _counted_apart(ranked: pd.DataFrame, column: str, measure: str, top: int, leaders: pd.DataFrame,
                   subject: str, one: str, unit: str) -> str:
    """Said after an answer whose table counts ``column`` as stored: the labels that differ only in
    case or spaces ('de', 'DE '), and, where reading each such set as one label would change the
    leader by ``measure`` or its count, what would then lead. '' when there are none."""
    codes = ranked[column].map(_code)
    known = ranked[codes != ''].assign(code=codes[codes != ''])
    spellings = [sorted(group[column]) for _, group in known.groupby('code') if len(group) > 1]
    if not spellings:
        return ''
    sets = [' and '.join(repr(label) for label in labels) for labels in spellings]
    said = f' {subject} that differ only in case or spaces are counted apart, as stored: {listing(sets, "sets")}.'
    merged = known.groupby('code')[measure].sum()
    best = int(merged.max())
    merged_leaders = sorted(merged[merged == best].index)
    if best != top or merged_leaders != sorted(set(codes[leaders.index])):
        each = ' each' if len(merged_leaders) > 1 else ''
        said += (f' Read as one {one} each, {natural(merged_leaders, one + "s")} would lead with '
                 f'{count(best, unit)}{each}.')
    return said


def answer_q3(countries: pd.DataFrame, conflicts: Conflicts = Conflicts()) -> str:
    """visitors_by_country, ranked: the country with the most visitors, ties broken by events. The
    table counts country labels as stored; the sentence names the labels that differ only in case or
    spaces, and the visitors with no country."""
    ranked, top, leaders = _leaders(countries, 'visitors')
    left_out = _left_out(conflicts, f'{conflicts.visitors} of them visitors')
    if top == 0:
        return 'No known user has any event, so no country has visitors.' + left_out
    without = int(ranked.visitors[ranked.country.map(_code) == ''].sum())
    notes = (_counted_apart(ranked, 'country', 'visitors', top, leaders, 'Country labels', 'code', 'visitor')
             + (f' {count(without, "visitor")} {"has" if without == 1 else "have"} no country in users.csv.'
                if without else '') + left_out)
    first = leaders.iloc[0]
    if len(leaders) == 1:
        return (f'{shown(first.country)}, with {top} of {count(int(ranked.visitors.sum()), "visitor")} '
                f'({count(first.events, "event")}).' + notes)
    named = [f'{shown(r.country)} ({count(r.visitors, "visitor")}, {count(r.events, "event")})'
             for r in leaders.itertuples()]
    still_tied = leaders[leaders.events == first.events]
    if len(still_tied) == 1:
        verdict = f'By events, the tie-break, {shown(first.country)} leads.'
    else:
        verdict = (f'By events, the tie-break, {natural([shown(c) for c in still_tied.country], "countries")} '
                   f'still tie ({count(first.events, "event")} each): the tie stands, and the rank among them is '
                   'by name only.')
    return f'Tie on visitors: {listing(named, "countries")}. {verdict}' + notes


def _types_not_matched(event_types: pd.DataFrame | None, wanted: tuple[str, ...] = ('VIEW', 'CLICK')) -> str:
    """Events whose type is one of ``wanted`` but for case or spaces ('view'): the question's counts
    match types as stored, so these do not count; said, with how many. ``event_types``: one row per
    stored type with its ``events`` (orphan_events_by_type)."""
    if event_types is None or event_types.empty:
        return ''
    near = event_types[event_types.event_type.map(_code).isin(wanted) & ~event_types.event_type.isin(wanted)]
    events = int(near.events.sum())
    if not events:
        return ''
    labels = natural([repr(label) for label in sorted(near.event_type)], 'types')
    return (f' {count(events, "event")} typed {labels} {"is" if events == 1 else "are"} not counted as '
            f'{" or ".join(wanted)} (types match as stored).')


def answer_q4(age_groups: pd.DataFrame, conflicts: Conflicts = Conflicts(),
              event_types: pd.DataFrame | None = None, numbers: Numbers | None = None) -> str:
    """valuable_users_by_age_group, ranked: which of the question's two age groups (``numbers``: the
    run's; the pipeline's by default) has more valuable users, as far as the stored labels can tell.
    With ``event_types`` (orphan_events_by_type), the sentence also names events typed VIEW or CLICK
    but for case or spaces, which do not count."""
    numbers = numbers or default_numbers()
    places = age_places(numbers)
    younger, older = numbers.group_labels
    ranked = age_groups.sort_values('position')
    valuable = ranked[ranked.valuable_users > 0]
    left_out = _types_not_matched(event_types) + _left_out(conflicts, f'{conflicts.valuable} of them valuable')
    if valuable.empty:
        if conflicts.valuable:
            return (f'Cannot be decided: every valuable user ({conflicts.valuable}) has conflicting lines in '
                    'users.csv, so no age label.' + left_out)
        return (f'No user has at least {numbers.min_views} VIEW and {numbers.min_clicks} CLICK events.'
                + left_out)

    def users(group: str, certain: bool) -> int:
        """Valuable users whose label lies inside ``group`` (certain) or overlaps it (possible)."""
        fits = valuable.question_age_group.map(
            lambda place: place == group if certain else group in places[place][1])
        return int(valuable.valuable_users[fits].sum())

    young = users(younger, certain=True), users(younger, certain=False)
    old = users(older, certain=True), users(older, certain=False)
    unknown = int(valuable.valuable_users[valuable.question_age_group == 'unreadable'].sum()) + conflicts.valuable
    if young[0] > old[1] + unknown:
        verdict = younger
    elif old[0] > young[1] + unknown:
        verdict = older
    elif young[0] == young[1] and old[0] == old[1] and not unknown and young[0] == old[0]:
        verdict = (f'A tie: {young[0]} each in {younger} and {older}' if young[0]
                   else f'Neither: no valuable user has a label inside {younger} or {older}')
    else:
        def span(low, high):
            return f'{low}' if low == high else f'{low} to {high}'
        verdict = (f'Cannot be decided from the stored labels: {younger} has {span(*young)}, {older} has '
                   f'{span(*old)}' + (f', and {count(unknown, "valuable user")} could be in either' if unknown else ''))

    def describe(row) -> str:
        place = places[row.question_age_group][0]
        if getattr(row, 'is_open_ended_age', False):
            place = f'open-ended: {place}'
        return f'{row.valuable_users} aged {shown(row.age_group)} ({place})'

    detail = listing([describe(r) for r in valuable.itertuples()], 'labels')
    return f'{verdict}. Valuable users by stored age label: {detail}.' + left_out


ANSWERS = {
    'q1': lambda tables, conflicts, numbers: answer_q1(tables['orphan_events_by_type']),
    'q2': lambda tables, conflicts, numbers: answer_q2(tables['duplicate_events_by_date']),
    'q3': lambda tables, conflicts, numbers: answer_q3(tables['visitors_by_country'], conflicts),
    'q4': lambda tables, conflicts, numbers: answer_q4(tables['valuable_users_by_age_group'], conflicts,
                                                       tables['orphan_events_by_type'], numbers),
}


def answers_frame(tables: dict[str, pd.DataFrame], conflicts: Conflicts, numbers: Numbers | None = None) -> pd.DataFrame:
    """analytics.answers: one row per question of the catalog, its answer and the definition it
    rests on, with the run's numbers (``numbers``; the pipeline's by default)."""
    numbers = numbers or default_numbers()
    defined = definitions(numbers)
    return pd.DataFrame([{'question_id': q.id, 'question': question_text(q, numbers),
                          'answer': ANSWERS[q.id](tables, conflicts, numbers), 'definition': defined[q.id]}
                         for q in QUESTIONS])
