"""stg_users, int_users, int_user_activity_changes and the q3/q4 tables on a handful of given rows,
in a run that starts from nothing (so the changes are the whole tables)."""
import pytest

from mage_project.catalog import age_places, numbers
from tests.support.sql_models import T, build, rows


def events_of(user_id, views, clicks, prefix='E'):
    return ([(f'{prefix}{user_id}-V{i}', user_id, 'VIEW', T) for i in range(views)]
            + [(f'{prefix}{user_id}-C{i}', user_id, 'CLICK', T) for i in range(clicks)])


@pytest.mark.parametrize('label, age_from, age_to, open_ended, readable', [
    ('18-45', 18, 45, False, True),
    (' 25 ', 25, 25, False, True),
    ('50+', 50, None, True, True),
    ('18–49', None, None, False, False),  # an en dash
    ('adult', None, None, False, False),
    ('49-18', None, None, False, False),
    ('', None, None, False, False),
])
def test_stg_users_reads_each_label_as_a_range(database, label, age_from, age_to, open_ended, readable):
    with database.connect() as conn:
        build(conn, [(1, label, 'DE'), (1, '18-45', 'UK')], [], until='stg_users')
        found = rows(conn, 'select age_from, age_to, is_open_ended_age, is_readable_age from build_test.stg_users '
                           f"where age = '{label}'")
    assert found[0] == (age_from, age_to, open_ended, readable)
    assert len(found) == (2 if label == '18-45' else 1)  # one row per line, conflicts and all


@pytest.mark.parametrize('label, group', [
    ('18-45', '18-49'), ('50-80', '50-80'), (' 25 ', '18-49'), ('46-80', 'both'), ('10-30', '18-49 or neither'),
    ('70-90', '50-80 or neither'), ('10-90', 'both or neither'), ('81-90', 'neither'), ('0-17', 'neither'),
    ('50+', '50-80 or neither'), ('81+', 'neither'), ('18–49', 'unreadable'), ('adult', 'unreadable'),
    ('49-18', 'unreadable'), ('', 'unreadable'),
])
def test_age_labels_are_placed_against_both_groups(database, label, group):
    with database.connect() as conn:
        build(conn, [(1, label, 'DE')], [], until='valuable_users_by_age_group')
        assert rows(conn, 'select question_age_group from build_test.valuable_users_by_age_group') == [(group,)]
    assert group in age_places(numbers()), 'the answers know every place the SQL writes'


@pytest.mark.parametrize('label, group', [
    ('18-40', '18-40'), ('41-49', 'neither'), ('35-45', '18-40 or neither'), ('35-55', 'both or neither'),
    ('50-80', '50-80'), ('45+', '50-80 or neither'), ('10-17', 'neither'),
])
def test_groups_with_a_gap_between_them_place_the_gap_outside_both(database, label, group):
    variables = {'younger_age_group': '18-40', 'older_age_group': '50-80'}
    with database.connect() as conn:
        build(conn, [(1, label, 'DE')], [], until='valuable_users_by_age_group', variables=variables)
        assert rows(conn, 'select question_age_group from build_test.valuable_users_by_age_group') == [(group,)]
    assert group in age_places(numbers(variables))


def test_conflicting_lines_are_never_mixed_and_exact_repeats_are_one_user(database):
    users = [(1, '18-45', 'UK'), (1, '46-80', 'DE'),  # conflict: no line is preferred, no fields mixed
             (2, '18-45', 'FR'), (2, '18-45', 'FR'),  # an exact repeat
             (3, '46-80', 'DE')]
    with database.connect() as conn:
        build(conn, users, events_of(1, 5, 10) + events_of(2, 5, 10) + events_of(3, 1, 0))
        assert rows(conn, 'select user_id, age, country, age_from, source_rows, is_duplicated, has_conflicting_rows '
                          'from build_test.int_users order by user_id') == [
            (1, None, None, None, 2, True, True), (2, '18-45', 'FR', 18, 2, True, False),
            (3, '46-80', 'DE', 46, 1, False, False)]
        # user 1 is left out of q3 and q4, but is still a known user (no orphan events)
        assert rows(conn, 'select country, visitors, events from build_test.visitors_by_country order by position') == [
            ('FR', 1, 15), ('DE', 1, 1)]
        assert rows(conn, 'select age_group, valuable_users from build_test.valuable_users_by_age_group '
                          'order by position') == [('18-45', 1), ('46-80', 0)]
        assert rows(conn, 'select sum(orphan_events) from build_test.orphan_events_by_type') == [(0,)]
        assert rows(conn, 'select user_id, is_visitor, is_valuable from build_test.int_user_activity_changes '
                          'where sign = 1 and has_conflicting_rows') == [(1, True, True)]
        assert rows(conn, 'select users, visitors, valuable_users from build_test.conflicting_users') == [(1, 1, 1)]


def test_valuable_needs_5_views_and_10_clicks_after_removing_copies(database):
    events = events_of(1, 5, 10) + events_of(2, 4, 10) + events_of(3, 5, 9)
    events += [events_of(3, 5, 10)[-1]] * 2  # user 3's tenth click, as two exact copies: one event
    with database.connect() as conn:
        build(conn, [(1, '18-45', 'DE'), (2, '18-45', 'DE'), (3, '18-45', 'DE')], events, until='int_user_activity_changes')
        assert rows(conn, 'select user_id, views, clicks, is_valuable from build_test.int_user_activity_changes '
                          'where sign = 1 order by user_id') == [(1, 5, 10, True), (2, 4, 10, False), (3, 5, 10, True)]


def test_the_thresholds_are_the_pipelines_variables(database):
    events = events_of(1, 5, 10) + events_of(2, 4, 10) + events_of(3, 2, 3)
    with database.connect() as conn:
        build(conn, [(1, '18-45', 'DE'), (2, '18-45', 'DE'), (3, '18-45', 'DE')], events, until='int_user_activity_changes',
              variables={'min_views': '2', 'min_clicks': 3})  # as --runtime-vars and the YAML give them
        assert rows(conn, 'select user_id from build_test.int_user_activity_changes where is_valuable order by 1') == [
            (1,), (2,), (3,)]


def test_country_ranks_by_visitors_then_events_then_name(database):
    users = [(1, '18-45', 'BB'), (2, '18-45', 'AA'), (3, '18-45', 'CC'), (4, '18-45', 'CC')]
    events = events_of(1, 2, 0) + events_of(2, 2, 0) + events_of(3, 1, 0)
    with database.connect() as conn:
        build(conn, users, events, until='visitors_by_country')
        assert rows(conn, 'select position, country, visitors, events, users, is_tied '
                          'from build_test.visitors_by_country order by position') == [
            (1, 'AA', 1, 2, 1, True), (2, 'BB', 1, 2, 1, True), (3, 'CC', 1, 1, 2, True)]


def test_age_groups_tie_by_valuable_users_and_every_stored_label_keeps_its_row(database):
    users = [(1, '18-45', 'DE'), (2, '46-80', 'DE'), (3, '81-90', 'DE'), (4, 'adult', 'DE'), (5, '18-45', 'DE')]
    events = events_of(1, 5, 10) + events_of(2, 6, 12) + events_of(3, 5, 10) + events_of(5, 4, 10)
    with database.connect() as conn:
        build(conn, users, events, until='valuable_users_by_age_group')
        assert rows(conn, 'select position, age_group, question_age_group, valuable_users, users, is_tied '
                          'from build_test.valuable_users_by_age_group order by position') == [
            (1, '18-45', '18-49', 1, 2, True),  # three labels with one valuable user each: by label
            (2, '46-80', 'both', 1, 1, True),
            (3, '81-90', 'neither', 1, 1, True),
            (4, 'adult', 'unreadable', 0, 1, False)]
