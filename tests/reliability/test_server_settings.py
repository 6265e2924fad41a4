"""Settings that roles and databases carry (statement_timeout, lock_timeout, read-only transactions,
an odd search_path, idle timeouts): the pipeline sets its own for its sessions, and where a server
limit still stops a statement, the failure names the setting, its value and where it comes from."""
import json
import re
import subprocess
import sys

import psycopg2
import pytest

from mage_project.core import db
from mage_project.core.settings import ConnectionSettings, use_project_environment
from tests.support.database import published_tables
from tests.support.project import REPO, slow_project

# What operators set on a database or a role, each enough to stop a run that used it.
GUARDS = {
    'statement_timeout': '1s',  # the slow project's last block sleeps 2 s
    'lock_timeout': '1ms',
    'idle_in_transaction_session_timeout': '1s',
    'default_transaction_read_only': 'on',
    'search_path': 'nowhere',
}


def make_run(repo, env):
    return subprocess.run([sys.executable, '-m', 'tools.run'], cwd=repo, env=env,
                          capture_output=True, text=True, timeout=600)


def alter(database, statement: str) -> None:
    with database.admin() as admin, admin.cursor() as cursor:
        cursor.execute(statement.format(db=f'"{database.env["POSTGRES_DB"]}"'))


@pytest.mark.parametrize('level', ['database', 'role'])
def test_guards_of_the_database_or_the_role_do_not_stop_the_pipeline(base_env, database, tmp_path, level):
    target = 'database {db}' if level == 'database' else 'role current_user in database {db}'
    for name, value in GUARDS.items():
        alter(database, f"alter {target} set {name} = '{value}'")
    # A decoy where the odd search path would find it first, if the pipeline used unqualified names.
    alter(database, 'create schema nowhere')
    repo = slow_project(tmp_path, seconds=2)
    result = make_run(repo, base_env(repo / 'dataset'))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    truths = json.loads((REPO / 'dataset' / 'truths.json').read_text())
    tables = published_tables(database)
    assert tables == {name: truths[name] for name in tables}


def test_the_pipeline_s_own_statement_timeout_stops_a_run_naming_itself(base_env, database, tmp_path):
    alter(database, "alter database {db} set statement_timeout = '0'")
    repo = slow_project(tmp_path, seconds=4)
    result = make_run(repo, base_env(repo / 'dataset', {'PIPELINE_STATEMENT_TIMEOUT': '1.5'}))
    last = result.stdout.rstrip().splitlines()[-2]
    assert result.returncode == 1, result.stdout[-3000:]
    assert 'failed in valuable_users_by_age_group' in last and 'not published' in last, last
    assert ('canceling statement due to statement timeout: statement_timeout is 1500ms, the pipeline\'s own, '
            'from PIPELINE_STATEMENT_TIMEOUT') in last, last
    assert 'CONTEXT' not in last and not re.search(r'\bline \d', last)
    assert database.rows("select count(*) from information_schema.schemata where schema_name = 'analytics'") == [(0,)]


def test_a_server_limit_the_pipeline_does_not_set_is_named_with_where_it_comes_from(base_env, database, tmp_path):
    # temp_file_limit only a superuser may change: the pipeline leaves it, and a small one stops a sort.
    alter(database, "alter database {db} set work_mem = '64kB'")
    alter(database, "alter database {db} set temp_file_limit = '16kB'")
    result = make_run(REPO, base_env(REPO / 'dataset'))
    last = result.stdout.rstrip().splitlines()[-2]
    name = database.env['POSTGRES_DB']
    assert result.returncode == 1, result.stdout[-3000:]
    assert (f'temporary file size exceeds temp_file_limit (16kB): temp_file_limit is 16kB, set on database '
            f'{name}; change it with: alter database {name} set temp_file_limit = ... (or reset temp_file_limit)'
            ) in last, last
    assert 'Traceback' not in result.stdout
    (status, note), = database.rows('select status, note from audit.pipeline_runs')
    assert status == 'failed' and 'temp_file_limit' in note


def test_a_copy_stopped_by_a_timeout_names_the_timeout_not_a_line(database, monkeypatch):
    monkeypatch.setenv('PIPELINE_STATEMENT_TIMEOUT', '0.5')
    monkeypatch.setenv('PGOPTIONS', '')
    use_project_environment()
    settings = ConnectionSettings(database.env['POSTGRES_HOST'], int(database.env['POSTGRES_PORT']),
                                  database.env['POSTGRES_DB'], database.env['POSTGRES_USER'],
                                  database.env['POSTGRES_PASSWORD'])

    def slow_lines():
        import time
        for number in range(120):  # 1.2 s of lines: past the 0.5 s timeout
            time.sleep(0.01)
            yield f'{number}\n'

    conn = db.connect(settings)
    try:
        with conn.cursor() as cursor:
            cursor.execute('create temporary table copied (n int)')
        with pytest.raises(db.ServerLimit) as raised:
            db.copy_lines(conn, 'pg_temp', 'copied', ['n'], slow_lines(), buffer_size=64)
    finally:
        conn.close()
    message = str(raised.value)
    assert message.startswith('canceling statement due to statement timeout: statement_timeout is 500ms, '
                              "the pipeline's own, from PIPELINE_STATEMENT_TIMEOUT"), message
    assert not re.search(r'\bline \d', message)


def test_a_failure_s_message_is_postgres_own_never_only_its_context(database):
    with database.connect() as conn, conn.cursor() as cursor:
        cursor.execute('create temporary table t (n int)')
        with pytest.raises(psycopg2.Error) as raised:
            cursor.copy_expert('copy t from stdin', __import__('io').StringIO('1\nnot a number\n'))
    assert db.error_message(raised.value) == \
        'InvalidTextRepresentation: invalid input syntax for type integer: "not a number"'
    assert db.error_message(ValueError('first line\nsecond')) == 'ValueError: first line'
