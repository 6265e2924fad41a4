"""Each data contract of contracts.py fails when its rule is broken, on a tiny build."""
import psycopg2.extensions
import pytest

from mage_project.builds.contracts import failed_contracts
from mage_project.catalog import published_by
from tests.support.sql_models import SCHEMA, build

T = '2019-07-04 10:00:00'
USERS = [(1, '18-45', 'DE'), (2, '46-80', 'UK')]
EVENTS = [('E1', 1, 'VIEW', T), ('E1', 1, 'VIEW', T), ('E2', 2, 'CLICK', T), ('E3', 9, 'EXIT', T)]
PUBLISHED = published_by(None)


@pytest.fixture
def tiny_build(database):
    """A complete, valid build: the SQL models, answers, and the loader's bookkeeping."""
    conn = database.connect()
    build(conn, USERS, EVENTS)
    with conn.cursor() as cursor:
        cursor.execute(f'create table {SCHEMA}.rejected_rows (source_file text, line_number int)')
        cursor.execute(f"insert into {SCHEMA}.rejected_rows values ('user_interaction.csv', 5)")
        cursor.execute(f'create table {SCHEMA}.adjusted_values (source_file text, line_number int, column_name text)')
        cursor.execute(f'create table {SCHEMA}.load_audit (source_file text, target_table text, lines_read bigint, '
                       'rows_loaded bigint, rows_rejected bigint)')
        cursor.execute(f"insert into {SCHEMA}.load_audit values ('users.csv', 'raw.users', 2, 2, 0), "
                       "('user_interaction.csv', 'raw.user_interaction', 5, 4, 1)")
        cursor.execute(f'create table {SCHEMA}.answers (question_id text, answer text)')
        cursor.execute(f"insert into {SCHEMA}.answers select 'q' || n, 'an answer' from generate_series(1, 4) n")
    conn.commit()
    yield conn
    conn.close()


def test_a_valid_build_passes(tiny_build):
    assert failed_contracts(tiny_build, SCHEMA, PUBLISHED) == []


@pytest.mark.parametrize('break_it, failure', [
    ("insert into {s}.int_users (user_id) values (1)", 'int_users (user_id) must be unique and not null'),
    ("update {s}.int_user_activity_changes set user_id = null where user_id = 2",
     'int_user_activity_changes (user_id, sign) must be unique and not null: 2 rows, 2 distinct, 1 with a null'),
    ("insert into {s}.int_user_event_changes select * from {s}.int_user_event_changes limit 1",
     'int_user_event_changes (user_id, event_type) must be unique'),
    ("update {s}.visitors_by_country set position = position + 1", 'analytics.visitors_by_country.position must run 1..'),
    ("update {s}.orphan_events_by_type set position = 1", 'analytics.orphan_events_by_type.position must run 1..'),
    ("delete from {s}.stg_user_interaction where event_id = 'E2'",
     'every event row of the loads the run adds or retires reaches staging'),
    ("update {s}.int_event_copy_changes set copies = copies + 1 where event_id = 'E2'",
     'the copies of the events change by the rows the run adds and retires: 4 vs 5'),
    ("update {s}.orphan_events_by_type set events = events + 1 where position = 1",
     'the events counted by date are those counted by type: 4 vs 5'),
    ("update {s}.duplicate_events_by_date set event_rows = event_rows + 1",
     'the events counted are the rows of the published files: 4 vs 5'),
    ("update {s}.orphan_events_by_type set orphan_events = events + 1 where position = 1",
     "no orphan count is below 0 or above its type's events"),
    ("update {s}.duplicate_events_by_date set surplus_copies = -1", 'no date has negative surplus copies'),
    ("update {s}.load_audit set lines_read = lines_read + 1 where source_file = 'users.csv'",
     'every input line is loaded or rejected: 8 vs 7'),
    ("update {s}.visitors_by_country set users = users + 1 where position = 1",
     'every user of users is counted once, by country or as conflicting: 2 vs 3'),
    ("delete from {s}.answers where question_id = 'q4'", 'analytics.answers must answer q1, q2, q3, q4: has q1,q2,q3'),
    ("update {s}.answers set answer = '' where question_id = 'q2'", 'analytics.answers must answer q1, q2, q3, q4'),
])
def test_each_contract_fails_when_its_rule_is_broken(tiny_build, break_it, failure):
    with tiny_build.cursor() as cursor:
        cursor.execute(break_it.format(s=SCHEMA))
    failures = failed_contracts(tiny_build, SCHEMA, PUBLISHED)
    assert any(failure in message for message in failures), failures



def test_the_keys_are_counted_by_sorting_and_the_setting_is_given_back(tiny_build):
    """A hash aggregate's time hangs on the planner's estimates (a key check once ran for minutes at
    40M events): the key checks run with enable_hashagg off, and the transaction gets back its own
    setting afterwards."""
    seen = []

    class Recording(psycopg2.extensions.cursor):
        def execute(self, query, vars=None):
            text = query if isinstance(query, str) else query.as_string(self)
            if 'select distinct' in text:
                super().execute("select current_setting('enable_hashagg')")
                seen.append(self.fetchone()[0])
            return super().execute(query, vars)

    with tiny_build.cursor() as cursor:
        cursor.execute('set local enable_hashagg = on')
    tiny_build.cursor_factory = Recording
    assert failed_contracts(tiny_build, SCHEMA, PUBLISHED) == []
    tiny_build.cursor_factory = None
    assert seen and set(seen) == {'off'}, seen
    with tiny_build.cursor() as cursor:
        cursor.execute("select current_setting('enable_hashagg')")
        assert cursor.fetchone()[0] == 'on'
