"""The answer sentences on tiny ranked tables: ties, edges, grammar and caps."""
import pandas as pd
import pytest

from mage_project.answers.sentences import (
    Conflicts,
    answer_q1,
    answer_q2,
    answer_q3,
    answer_q4,
    count,
    listing,
    natural,
    shown,
)


def ranked(rows, columns):
    frame = pd.DataFrame(rows, columns=columns)
    frame.insert(0, 'position', range(1, len(frame) + 1))
    return frame


def orphans(*rows):
    return ranked(rows, ['event_type', 'orphan_events', 'events'])


def dates(*rows):
    return ranked(rows, ['event_date', 'surplus_copies', 'distinct_events', 'event_rows'])


def countries(*rows):
    return ranked(rows, ['country', 'visitors', 'events'])


def ages(*rows):
    return ranked(rows, ['age_group', 'question_age_group', 'is_open_ended_age', 'valuable_users'])


def test_counts_agree_with_their_nouns():
    assert count(1, 'date') == '1 date' and count(2, 'date') == '2 dates'
    assert count(1, 'surplus copy', 'surplus copies') == '1 surplus copy'
    assert count(0, 'surplus copy', 'surplus copies') == '0 surplus copies'


def test_lists_are_capped_with_and_n_more():
    items = [str(i) for i in range(8)]
    assert listing(items, 'dates') == '0, 1, 2, 3, 4 and 3 more dates'
    assert listing(items[:6], 'dates') == '0, 1, 2, 3, 4 and 1 more date'
    assert listing(items[:2], 'dates') == '0, 1'
    assert natural(items[:3], 'types') == '0, 1 and 2'
    assert natural(items[:1], 'types') == '0'


@pytest.mark.parametrize('value, text', [('', '(empty)'), ('  ', "(empty, '  ')"), (None, '(missing)'), ('DE', 'DE')])
def test_empty_values_are_named_visibly(value, text):
    assert shown(value) == text


def test_q1_names_the_leader_or_the_tie_and_empty_types():
    assert answer_q1(orphans(('VIEW', 2, 22), ('CLICK', 1, 40), ('EXIT', 0, 5))) == \
        'Most often: VIEW (2 of 22 events). Events with a user_id not in users, by type: VIEW 2, CLICK 1.'
    tied = answer_q1(orphans(('VIEW', 2, 22), ('CLICK', 2, 40)))
    assert tied.startswith('Tied for most often: VIEW (2 of 22 events) and CLICK (2 of 40 events).')
    assert answer_q1(orphans(('', 2, 2))).startswith('Most often: (empty) (2 of 2 events).')
    assert answer_q1(orphans(('VIEW', 1, 1))).startswith('Most often: VIEW (1 of 1 event).')
    assert answer_q1(orphans(('VIEW', 0, 3))) == 'No event carries a user_id that is missing from users.'
    assert answer_q1(orphans()) == 'No event carries a user_id that is missing from users.'


def test_q1_names_types_counted_apart_and_who_would_lead_as_one():
    said = answer_q1(orphans(('CLICK', 21, 84), ('VIEW', 20, 80), ('view', 18, 70), ('EXIT', 0, 5)))
    assert said.endswith("by type: CLICK 21, VIEW 20, view 18. Event types that differ only in case or spaces are "
                         "counted apart, as stored: 'VIEW' and 'view'. Read as one type each, VIEW would lead with "
                         "38 orphan events.")
    same = answer_q1(orphans(('VIEW', 20, 80), ('view', 1, 70), ('exit', 0, 5), ('EXIT ', 0, 1)))
    assert same.endswith("as stored: 'EXIT ' and 'exit', 'VIEW' and 'view'. Read as one type each, VIEW would "
                         "lead with 21 orphan events.")
    assert 'counted apart' not in answer_q1(orphans(('VIEW', 2, 22), ('CLICK', 1, 40)))


def test_q1_caps_a_long_tie():
    many = orphans(*[(f'T{i}', 1, 1) for i in range(9)])
    assert 'T4 (1 of 1 event) and 4 more types. ' in answer_q1(many)
    assert answer_q1(many).endswith('T4 1 and 4 more types.')


def test_q2_grammar_for_one_and_the_rest_capped():
    one = answer_q2(dates(('2019-05-05', 1, 1, 2), ('2019-05-06', 0, 3, 3)))
    assert one == ('The date: 2019-05-05 (1 surplus copy: 2 rows logged for 1 distinct event). '
                   '1 surplus copy in all; other dates with any: none.')
    rest = answer_q2(dates(('2019-05-05', 9, 9, 18), *[(f'2019-06-0{i}', 1, 1, 2) for i in range(1, 7)]))
    assert rest.endswith('other dates with any: 2019-06-01 (1), 2019-06-02 (1), 2019-06-03 (1), 2019-06-04 (1), '
                         '2019-06-05 (1) and 1 more date.')
    assert answer_q2(dates(('2019-05-05', 0, 3, 3))) == 'No event row is an exact duplicate of another.'


def test_q2_a_tie_of_750_dates_is_capped():
    tie = answer_q2(dates(*[(f'd{i:03}', 1, 1, 2) for i in range(750)]))
    assert tie.startswith('Tied: d000 (1 surplus copy') and ' and 745 more dates. ' in tie
    assert len(tie) < 600


def test_q3_leader_tie_break_and_a_tie_that_stands():
    assert answer_q3(countries(('DE', 5, 74), ('UK', 4, 7))) == 'DE, with 5 of 9 visitors (74 events).'
    assert answer_q3(countries(('DE', 2, 74), ('UK', 2, 7))) == \
        'Tie on visitors: DE (2 visitors, 74 events), UK (2 visitors, 7 events). By events, the tie-break, DE leads.'
    stands = answer_q3(countries(('AA', 2, 5), ('BB', 2, 5), ('CC', 2, 3)))
    assert 'leads' not in stands
    assert stands.endswith('By events, the tie-break, AA and BB still tie (5 events each): the tie stands, and the '
                           'rank among them is by name only.')
    assert answer_q3(countries(('DE', 1, 1))) == 'DE, with 1 of 1 visitor (1 event).'
    assert answer_q3(countries(('', 1, 1))).startswith('(empty), with 1 of 1 visitor')


def test_q3_names_labels_counted_apart_and_visitors_without_a_country():
    # The tables count labels as stored; the sentence says which may be one code, and what then.
    same_leader = answer_q3(countries(('US', 3, 110), ('DE', 1, 36), ('de', 1, 30), ('', 1, 50)))
    assert same_leader == ("US, with 3 of 6 visitors (110 events). Country labels that differ only in case or "
                           "spaces are counted apart, as stored: 'DE' and 'de'. 1 visitor has no country in users.csv.")
    other_leader = answer_q3(countries(('US', 3, 110), ('DE', 2, 50), ('de', 2, 36)))
    assert other_leader.endswith("'DE' and 'de'. Read as one code each, DE would lead with 4 visitors.")
    tie = answer_q3(countries(('US', 3, 110), ('uk', 2, 50), ('UK ', 1, 36), ('FR', 1, 1), ('fr', 1, 1)))
    assert tie.endswith("'FR' and 'fr', 'UK ' and 'uk'. Read as one code each, UK and US would lead with "
                        "3 visitors each.")
    missing = answer_q3(countries((None, 2, 5), ('DE', 1, 1)))
    assert missing.startswith('(missing), with 2 of 3 visitors') and missing.endswith(
        ' 2 visitors have no country in users.csv.')
    assert 'counted apart' not in answer_q3(countries(('DE', 5, 74), ('UK', 4, 7)))
    assert answer_q3(countries(('DE', 2, 9), ('de', 0, 0))).endswith("'DE' and 'de'.")  # the leader stands


def test_q3_names_users_left_out_for_conflicting_lines():
    said = answer_q3(countries(('DE', 5, 74)), Conflicts(users=2, visitors=1, valuable=0))
    assert said.endswith(' 2 users with conflicting lines in users.csv are left out (1 of them visitors).')
    one = answer_q3(countries(('DE', 5, 74)), Conflicts(users=1, visitors=1, valuable=0))
    assert ' 1 user with conflicting lines in users.csv is left out' in one


@pytest.mark.parametrize('rows, verdict', [
    ([('18-45', '18-49', False, 3), ('60-70', '50-80', False, 1)], '18-49.'),
    ([('18-45', '18-49', False, 1), ('60-70', '50-80', False, 3)], '50-80.'),
    ([('18-45', '18-49', False, 2), ('60-70', '50-80', False, 2)], 'A tie: 2 each in 18-49 and 50-80.'),
    ([('18-45', '18-49', False, 1), ('46-80', 'both', False, 1)],
     'Cannot be decided from the stored labels: 18-49 has 1 to 2, 50-80 has 0 to 1.'),
    # a label partly outside both groups only counts as possible for the group it overlaps
    ([('18-45', '18-49', False, 2), ('70-90', '50-80 or neither', False, 1)], '18-49.'),
    ([('18-45', '18-49', False, 1), ('70-90', '50-80 or neither', False, 1)],
     'Cannot be decided from the stored labels: 18-49 has 1, 50-80 has 0 to 1.'),
    # labels wholly outside both groups count for neither
    ([('18-45', '18-49', False, 1), ('81-90', 'neither', False, 5)], '18-49.'),
    ([('0-17', 'neither', False, 2)], 'Neither: no valuable user has a label inside 18-49 or 50-80.'),
    # unreadable labels could be in either group
    ([('18-45', '18-49', False, 2), ('adult', 'unreadable', False, 2)],
     'Cannot be decided from the stored labels: 18-49 has 2, 50-80 has 0, and 2 valuable users could be in '
     'either.'),
    ([('18-45', '18-49', False, 3), ('adult', 'unreadable', False, 2)], '18-49.'),
])
def test_q4_verdict_never_claims_more_than_the_labels_say(rows, verdict):
    assert answer_q4(ages(*rows)).startswith(verdict + ' ')


def test_q4_names_each_kind_of_label():
    said = answer_q4(ages(('81-90', 'neither', False, 3), ('50+', '50-80 or neither', True, 2),
                          ('adult', 'unreadable', False, 1), ('10-90', 'both or neither', False, 1),
                          ('', 'unreadable', False, 1), ('18-45', '18-49', False, 1)))
    assert '3 aged 81-90 (outside both groups)' in said
    assert '2 aged 50+ (open-ended: partly 50-80, partly outside both groups)' in said
    assert '1 aged adult (cannot be read as an age range)' in said
    assert '1 aged 10-90 (spans 18-49, 50-80 and ages outside both)' in said
    assert '1 aged (empty) (cannot be read as an age range)' in said
    assert 'straddles' not in said
    assert said.endswith(' and 1 more label.')


def test_q4_with_conflicting_valuable_users():
    said = answer_q4(ages(('18-45', '18-49', False, 2)), Conflicts(users=3, visitors=3, valuable=1))
    assert said.startswith('18-49. ')
    assert said.endswith(' 3 users with conflicting lines in users.csv are left out (1 of them valuable).')
    close = answer_q4(ages(('18-45', '18-49', False, 1)), Conflicts(users=1, visitors=1, valuable=1))
    assert close.startswith('Cannot be decided from the stored labels: 18-49 has 1, 50-80 has 0, and 1 '
                            'valuable user could be in either.')
    only = answer_q4(ages(('18-45', '18-49', False, 0)), Conflicts(users=2, visitors=2, valuable=2))
    assert only.startswith('Cannot be decided: every valuable user (2) has conflicting lines')
    assert answer_q4(ages(('18-45', '18-49', False, 0))) == 'No user has at least 5 VIEW and 10 CLICK events.'


def test_q4_names_events_typed_view_or_click_but_for_case_which_do_not_count():
    types = orphans(('VIEW', 2, 80), ('view', 1, 17), (' CLICK', 0, 1), ('EXIT', 0, 9), ('exit', 0, 4))
    said = answer_q4(ages(('18-45', '18-49', False, 2)), event_types=types)
    assert said == ("18-49. Valuable users by stored age label: 2 aged 18-45 (within 18-49). 18 events typed ' CLICK' "
                    "and 'view' are not counted as VIEW or CLICK (types match as stored).")
    none = answer_q4(ages(('18-45', '18-49', False, 0)), Conflicts(users=1, visitors=1, valuable=0),
                     orphans(('view', 0, 1)))
    assert none == ("No user has at least 5 VIEW and 10 CLICK events. 1 event typed 'view' is not counted as VIEW or "
                    "CLICK (types match as stored). 1 user with conflicting lines in users.csv is left out (0 of "
                    "them valuable).")
    assert 'not counted' not in answer_q4(ages(('18-45', '18-49', False, 2)), event_types=orphans(('VIEW', 1, 1)))
