"""stg_user_interaction, int_event_copy_changes, int_user_event_changes and the q1/q2 tables on a handful of given
rows: orphan events counted as logged, exact copies as surplus on their own date, and every tie named
and broken as documented."""
from decimal import Decimal

from tests.support.sql_models import T, build, rows

USERS = [(1, '18-45', 'DE'), (2, '46-80', 'FR')]
Q1 = 'select position, event_type, orphan_events, events, orphan_share, is_tied from build_test.orphan_events_by_type'
Q2 = ('select position, event_date::text, surplus_copies, distinct_events, event_rows, is_tied '
      'from build_test.duplicate_events_by_date')


def test_orphans_are_counted_as_logged_and_a_tie_is_broken_by_share_then_type(database):
    events = [('E1', 1, 'VIEW', T),
              ('E2', 9, 'VIEW', T), ('E2', 9, 'VIEW', T),  # a copy counts
              ('E3', 9, 'CLICK', T), ('E4', 8, 'CLICK', T),
              ('E5', 2, 'CLICK', T),
              ('E6', 7, 'EXIT', T), ('E7', 2, 'EXIT', T),
              ('E8', 6, 'SCROL', T)]  # a type outside the three still gets its row
    with database.connect() as conn:
        build(conn, USERS, events, until='orphan_events_by_type')
        assert rows(conn, Q1 + ' order by position') == [
            (1, 'CLICK', 2, 3, Decimal('0.6667'), True),  # CLICK and VIEW: same count, same share
            (2, 'VIEW', 2, 3, Decimal('0.6667'), True),
            (3, 'SCROL', 1, 1, Decimal('1.0000'), True),  # SCROL and EXIT: same count, SCROL's share higher
            (4, 'EXIT', 1, 2, Decimal('0.5000'), True)]


def test_a_type_with_fewer_events_ranks_first_among_equal_orphan_counts(database):
    events = [(f'C{i}', 9 if i < 2 else 1, 'CLICK', T) for i in range(4)]
    events += [(f'V{i}', 9, 'VIEW', T) for i in range(2)]
    events += [('X1', 1, 'EXIT', T)]
    with database.connect() as conn:
        build(conn, USERS, events, until='orphan_events_by_type')
        assert rows(conn, Q1 + ' order by position') == [
            (1, 'VIEW', 2, 2, Decimal('1.0000'), True),
            (2, 'CLICK', 2, 4, Decimal('0.5000'), True),
            (3, 'EXIT', 0, 1, Decimal('0.0000'), False)]


def test_surplus_copies_fall_on_their_own_date_and_a_tie_goes_to_the_earlier_date(database):
    events = ([('A', 1, 'VIEW', '2019-07-04 23:59:59')] * 3  # two surplus copies, just before midnight
              + [('B', 1, 'VIEW', '2019-07-05 00:00:00')] * 2  # one, just after
              + [('C', 1, 'CLICK', '2019-07-05 10:00:00'), ('C', 1, 'CLICK', '2019-07-05 10:00:01')]  # not a copy
              + [('D', 9, 'EXIT', '2019-07-06 08:00:00')] * 2  # an orphan's copy is a copy too
              + [('E', 2, 'VIEW', '2019-07-03 12:00:00'), ('F', 2, 'VIEW', '2019-07-04 09:00:00')])
    with database.connect() as conn:
        build(conn, USERS, events, until='duplicate_events_by_date')
        assert rows(conn, 'select event_id, event_time::text, event_date::text, copies from build_test.int_event_copy_changes '
                          "where event_id in ('A', 'C') order by event_id, event_time") == [
            ('A', '2019-07-04 23:59:59', '2019-07-04', 3),
            ('C', '2019-07-05 10:00:00', '2019-07-05', 1), ('C', '2019-07-05 10:00:01', '2019-07-05', 1)]
        assert rows(conn, 'select user_id, event_type, event_rows, distinct_events from build_test.int_user_event_changes '
                          'order by user_id, event_type') == [
            (1, 'CLICK', 2, 2), (1, 'VIEW', 5, 2), (2, 'VIEW', 2, 2), (9, 'EXIT', 2, 1)]
        assert rows(conn, Q2 + ' order by position') == [
            (1, '2019-07-04', 2, 2, 4, False),
            (2, '2019-07-05', 1, 3, 4, True),
            (3, '2019-07-06', 1, 1, 2, True),
            (4, '2019-07-03', 0, 1, 1, False)]
