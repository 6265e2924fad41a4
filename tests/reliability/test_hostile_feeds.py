"""Hostile feeds through whole runs: every trap the generator can plant (tools/datagen/traps.py)
either loads to the right tables, or stops the run naming the file and why, with the previous
tables kept; and no answer claims more than the data holds."""
import json

import pytest

from tests.support.database import answers, published_tables, snapshot
from tests.support.project import REPO, output
from tools.datagen.generate import Plan, generate
from tools.datagen.traps import TABLES_UNCHANGED, plant

SAMPLE = Plan(users=60, events=1500, seed=7)  # the committed sample's plan


def trapped(tmp_path, *traps):
    folder = tmp_path / '-'.join(traps)
    generate(folder, SAMPLE)
    plant(folder, list(traps))
    return folder


@pytest.mark.parametrize('trap', sorted(TABLES_UNCHANGED))
def test_formats_postgres_would_accept_load_to_the_clean_tables(run_pipeline, database, tmp_path, trap):
    run_pipeline(trapped(tmp_path, trap))
    truths = json.loads((REPO / 'dataset' / 'truths.json').read_text())
    tables = published_tables(database)
    assert tables == {name: truths[name] for name in tables}
    assert database.rows('select count(*) from raw.rejected_rows') == [(0,)]
    adjusted = database.rows('select column_name, reason from raw.adjusted_values')
    if trap == 'iso-timestamps':  # the offsets (Z, +02:00) were converted to UTC, and noted
        assert adjusted and {column for column, _ in adjusted} == {'event_time'}
        assert all('converted to UTC' in reason for _, reason in adjusted)
    elif trap == 'padded-countries':
        assert len(adjusted) == SAMPLE.users and {column for column, _ in adjusted} == {'country'}
    else:
        assert adjusted == []
    assert database.rows('select sum(values_adjusted) from raw.load_audit') == [(len(adjusted),)]


@pytest.mark.parametrize('trap, message', [
    ('blank-feed', 'user_interaction.csv: 100 lines read, 0 loaded, 100 rejected (most common reasons: blank line (100))'
                   ': no loadable row; refusing to publish'),
    ('header-only', 'user_interaction.csv: 1 lines read, 0 loaded, 1 rejected (most common reasons: header line '
                    '(column names), not data (1)): no loadable row'),
    ('all-rejected', 'user_interaction.csv: 1500 lines read, 0 loaded, 1500 rejected (most common reasons: '
                     'event_type is longer than 5 characters'),
    ('some-rejected', 'user_interaction.csv: 1500 lines read, 1200 loaded, 300 rejected (most common reasons: '
                      'user_id is not an integer (300)): 20.0% rejected is over the limit of 10.0%'),
])
def test_a_feed_unfit_to_publish_stops_the_run_and_the_previous_tables_stay(run_pipeline, database, tmp_path,
                                                                            trap, message):
    run_pipeline(REPO / 'dataset')
    before = snapshot(database)
    process = run_pipeline(trapped(tmp_path, trap), check=False)
    assert process.returncode != 0
    assert message in ' '.join(output(process).split())
    assert snapshot(database) == before


def test_the_rejected_share_limit_is_settable_per_run(run_pipeline, database, tmp_path):
    data = trapped(tmp_path, 'some-rejected')
    run_pipeline(data, runtime_vars={'max_rejected_share': 0.25})
    assert database.rows("select rows_loaded, rows_rejected from raw.load_audit "
                         "where source_file = 'user_interaction.csv'") == [(1200, 300)]
    run_pipeline(data, {'MAX_REJECTED_SHARE': '0.2'})  # 20% is at the limit, not over it
    # The limit applies to a file as it is loaded: a full refresh loads it again, under the run's own limit.
    process = run_pipeline(data, {'MAX_REJECTED_SHARE': '0.25'}, check=False,
                           runtime_vars={'max_rejected_share': 0.1, 'full_refresh': True})
    assert process.returncode != 0 and 'over the limit of 10.0%' in output(process)


def test_age_labels_outside_both_groups_are_named_not_straddling(run_pipeline, database, tmp_path):
    run_pipeline(trapped(tmp_path, 'odd-age-labels'))
    q4 = answers(database)['q4']
    assert q4.startswith('18-49. ')  # 10 planted in 18-45; every odd label could add at most 3 to 50-80
    for part in ('1 aged 0-17 (outside both groups)', '1 aged 10-90 (spans 18-49, 50-80 and ages outside both)',
                 '1 aged 50+ (open-ended: partly 50-80, partly outside both groups)',
                 '1 aged 18–49 (cannot be read as an age range)'):
        assert part in q4, q4
    assert 'straddles' not in q4 and q4.endswith(' and 2 more labels.')  # 81-90 and adult, in the table
    assert dict(database.rows('select age_group, question_age_group from analytics.valuable_users_by_age_group '
                              'where valuable_users > 0')) == {
        '18-45': '18-49', '81-90': 'neither', '0-17': 'neither', '50+': '50-80 or neither', 'adult': 'unreadable',
        '18–49': 'unreadable', '10-90': 'both or neither'}


def test_conflicting_user_lines_are_left_out_and_said(run_pipeline, database, tmp_path):
    run_pipeline(trapped(tmp_path, 'conflicting-users'))
    assert database.rows('select user_id, age, country from intermediate.int_users where has_conflicting_rows '
                         'order by user_id') == [(1, None, None), (2, None, None), (3, None, None)]
    assert database.rows('select source_rows, is_duplicated, has_conflicting_rows from intermediate.int_users '
                         'where user_id = 4') == [(2, True, False)]
    assert database.rows('select count(*) from staging.stg_users where user_id in (1, 2, 3, 4)') == [(8,)]
    said = answers(database)
    assert said['q3'].endswith(' 3 users with conflicting lines in users.csv are left out (3 of them visitors).')
    assert ' 3 users with conflicting lines in users.csv are left out (' in said['q4']
    assert database.rows("select count(*) from analytics.visitors_by_country where country = 'ZZ'") == [(0,)]


def test_a_tie_the_tie_break_does_not_break_stands(run_pipeline, database, tmp_path):
    run_pipeline(trapped(tmp_path, 'tied-countries'))
    q3 = answers(database)['q3']
    assert 'leads' not in q3
    assert 'By events, the tie-break, DE and ED still tie' in q3 and 'the tie stands' in q3
    assert database.rows('select country, is_tied from analytics.visitors_by_country where position <= 2 '
                         'order by position') == [('DE', True), ('ED', True)]


def test_country_labels_that_differ_in_case_are_counted_as_stored_and_named(run_pipeline, database, tmp_path):
    run_pipeline(trapped(tmp_path, 'country-case'))
    truths = json.loads((REPO / 'dataset' / 'truths.json').read_text())['visitors_by_country']
    stored = dict(database.rows("select country, visitors from analytics.visitors_by_country "
                                "where upper(country) = 'DE'"))
    assert set(stored) == {'DE', 'de'} and sum(stored.values()) == truths['DE']['visitors']  # apart, none lost
    q3 = answers(database)['q3']
    assert "counted apart, as stored: 'DE' and 'de'," in q3
    assert f"Read as one code each, DE would lead with {truths['DE']['visitors']} visitors." in q3
    assert q3.endswith(' 1 visitor has no country in users.csv.'), q3


def test_event_types_that_differ_in_case_are_named_and_q4_says_what_it_left_uncounted(
        run_pipeline, database, tmp_path):
    run_pipeline(trapped(tmp_path, 'event-type-case'))
    lower = dict(database.rows("select event_type, count(*) from staging.stg_user_interaction "
                               "where event_type <> upper(event_type) group by event_type"))
    assert set(lower) == {'click', 'exit', 'view'}
    said = answers(database)
    assert ("Event types that differ only in case or spaces are counted apart, as stored: 'CLICK' and 'click', "
            "'EXIT' and 'exit', 'VIEW' and 'view'.") in said['q1']
    assert (f"{lower['click'] + lower['view']} events typed 'click' and 'view' are not counted as VIEW or CLICK "
            "(types match as stored).") in said['q4'], said['q4']


def test_an_empty_event_type_is_named_visibly(run_pipeline, database, tmp_path):
    run_pipeline(trapped(tmp_path, 'empty-event-type'))
    assert answers(database)['q1'].startswith('Most often: (empty) (60 of 60 events).')


def test_a_750_way_tie_is_capped(run_pipeline, database, tmp_path):
    run_pipeline(trapped(tmp_path, 'many-tied-dates'))
    q2 = answers(database)['q2']
    assert q2.startswith('Tied: 2016-01-01 (25 surplus copies: 26 rows logged for 1 distinct event), ')
    assert ' and 745 more dates. ' in q2
    assert 'other dates with any: 2019-07-04 (24), ' in q2 and q2.endswith(' and 2 more dates.')


def test_a_bad_setting_stops_the_run_naming_it(run_pipeline, database):
    process = run_pipeline(REPO / 'dataset', {'PUBLISH_WAIT_SECONDS': '5s'}, check=False)
    assert process.returncode != 0
    assert "PUBLISH_WAIT_SECONDS='5s' is not a number; allowed: a number from 0 to 3600" in output(process)
    assert database.rows("select count(*) from information_schema.schemata where schema_name like 'build%' "
                         "or schema_name in ('raw', 'audit')") == [(0,)]


def test_a_database_that_is_not_utf8_is_refused_by_name(run_pipeline, database):
    name = database.env['POSTGRES_DB'] + '_latin1'
    admin = database.admin()
    try:
        with admin.cursor() as cursor:
            cursor.execute(f"create database {name} encoding 'LATIN1' template template0 locale 'C'")
        process = run_pipeline(REPO / 'dataset', {'POSTGRES_DB': name}, check=False)
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'drop database if exists {name} with (force)')
        admin.close()
    assert process.returncode != 0
    assert f'database {name} has encoding LATIN1; the pipeline needs UTF8' in output(process)
