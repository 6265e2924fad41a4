"""stg_users, user_activity and the q3/q4 tables on a handful of given rows."""
import pytest

from tests.sql_models import T, build, rows


def events_of(user_id, views, clicks, prefix='E'):
    return ([(f'{prefix}{user_id}-V{i}', user_id, 'VIEW', T) for i in range(views)]
            + [(f'{prefix}{user_id}-C{i}', user_id, 'CLICK', T) for i in range(clicks)])


@pytest.mark.parametrize('label, group, age_from, age_to, open_ended', [
    ('18-45', '18-49', 18, 45, False),
    ('50-80', '50-80', 50, 80, False),
    (' 25 ', '18-49', 25, 25, False),
    ('46-80', 'both', 46, 80, False),
    ('10-30', '18-49 or neither', 10, 30, False),
    ('70-90', '50-80 or neither', 70, 90, False),
    ('10-90', 'both or neither', 10, 90, False),
    ('81-90', 'neither', 81, 90, False),
    ('0-17', 'neither', 0, 17, False),
    ('50+', '50-80 or neither', 50, None, True),
    ('81+', 'neither', 81, None, True),
    ('18–49', 'unreadable', None, None, False),  # an en dash
    ('adult', 'unreadable', None, None, False),
    ('49-18', 'unreadable', None, None, False),
    ('', 'unreadable', None, None, False),
])
def test_age_labels_are_placed_against_both_groups(database, label, group, age_from, age_to, open_ended):
    with database.connect() as conn:
        build(conn, [(1, label, 'DE')], [], until='stg_users')
        (row,) = rows(conn, 'select question_age_group, age_from, age_to, is_open_ended_age from build_test.stg_users')
    assert row[:3] == (group, age_from, age_to)
    assert row[3] == open_ended


def test_conflicting_lines_are_never_mixed_and_exact_repeats_are_one_user(database):
    users = [(1, '18-45', 'UK'), (1, '46-80', 'DE'),  # conflict: no line is preferred, no fields mixed
             (2, '18-45', 'FR'), (2, '18-45', 'FR'),  # an exact repeat
             (3, '46-80', 'DE')]
    with database.connect() as conn:
        build(conn, users, events_of(1, 5, 10) + events_of(2, 5, 10) + events_of(3, 1, 0))
        assert rows(conn, 'select user_id, age, country, source_rows, is_duplicated, has_conflicting_rows '
                          'from build_test.stg_users order by user_id') == [
            (1, None, None, 2, True, True), (2, '18-45', 'FR', 2, True, False), (3, '46-80', 'DE', 1, False, False)]
        # user 1 is left out of q3 and q4, but is still a known user (no orphan events)
        assert rows(conn, 'select country, visitors, events from build_test.visitors_by_country order by rank') == [
            ('FR', 1, 15), ('DE', 1, 1)]
        assert rows(conn, 'select age_group, valuable_users from build_test.valuable_users_by_age_group '
                          'order by rank') == [('18-45', 1), ('46-80', 0)]
        assert rows(conn, 'select sum(orphan_events) from build_test.orphan_events_by_type') == [(0,)]
        assert rows(conn, 'select user_id, is_visitor, is_valuable from build_test.user_activity '
                          'where has_conflicting_rows') == [(1, True, True)]


def test_valuable_needs_5_views_and_10_clicks_after_removing_copies(database):
    events = events_of(1, 5, 10) + events_of(2, 4, 10) + events_of(3, 5, 9)
    events += [events_of(3, 5, 10)[-1]] * 2  # user 3's tenth click, as two exact copies: one event
    with database.connect() as conn:
        build(conn, [(1, '18-45', 'DE'), (2, '18-45', 'DE'), (3, '18-45', 'DE')], events, until='user_activity')
        assert rows(conn, 'select user_id, views, clicks, is_valuable from build_test.user_activity '
                          'order by user_id') == [(1, 5, 10, True), (2, 4, 10, False), (3, 5, 10, True)]


def test_country_ranks_by_visitors_then_events_then_name(database):
    users = [(1, '18-45', 'BB'), (2, '18-45', 'AA'), (3, '18-45', 'CC'), (4, '18-45', 'CC')]
    events = events_of(1, 2, 0) + events_of(2, 2, 0) + events_of(3, 1, 0)
    with database.connect() as conn:
        build(conn, users, events, until='visitors_by_country')
        assert rows(conn, 'select rank, country, visitors, events, users, is_tied '
                          'from build_test.visitors_by_country order by rank') == [
            (1, 'AA', 1, 2, 1, True), (2, 'BB', 1, 2, 1, True), (3, 'CC', 1, 1, 2, True)]


def test_age_groups_tie_by_valuable_users_and_every_stored_label_keeps_its_row(database):
    users = [(1, '18-45', 'DE'), (2, '46-80', 'DE'), (3, '81-90', 'DE'), (4, 'adult', 'DE'), (5, '18-45', 'DE')]
    events = events_of(1, 5, 10) + events_of(2, 6, 12) + events_of(3, 5, 10) + events_of(5, 4, 10)
    with database.connect() as conn:
        build(conn, users, events, until='valuable_users_by_age_group')
        assert rows(conn, 'select rank, age_group, question_age_group, valuable_users, users, is_tied '
                          'from build_test.valuable_users_by_age_group order by rank') == [
            (1, '18-45', '18-49', 1, 2, True),  # three labels with one valuable user each: by label
            (2, '46-80', 'both', 1, 1, True),
            (3, '81-90', 'neither', 1, 1, True),
            (4, 'adult', 'unreadable', 0, 1, False)]
