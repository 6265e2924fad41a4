"""libpq's own variables in a user's shell (PGHOST, PGPORT, PGUSER, ...) never change where the
pipeline, the embedded Postgres, the editor or the tests connect: POSTGRES_* is the configuration."""
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from mage_project.core.settings import LIBPQ_VARIABLES, session_options, use_project_environment
from tests.support.mage_server import MageServer, free_port
from tests.support.processes import wait_until
from tests.support.project import REPO, copy_project, unconfigured_environ
from tools import local_pg

# Each set to a value that would break a connection, or the embedded server's start, if it were used.
HOSTILE = {
    'PGHOST': '/nonexistent/socket-folder', 'PGPORT': '55432', 'PGUSER': 'nobody_here',
    'PGDATABASE': 'no_such_database', 'PGPASSWORD': 'not-the-password',  # pragma: allowlist secret
    'PGOPTIONS': '-c statement_timeout=1 -c search_path=nowhere -c default_transaction_read_only=on',
    'PGSERVICE': 'no_such_service', 'PGDATA': '/nonexistent/pgdata', 'PGAPPNAME': 'someone_else',
    'PGCONNECT_TIMEOUT': '1', 'PGTZ': 'Pacific/Kiritimati', 'PGDATESTYLE': 'SQL, DMY',
}


def test_the_project_environment_removes_libpq_s_variables_and_sets_its_own_session():
    environ = {**HOSTILE, 'PGSSLMODE': 'prefer', 'POSTGRES_PORT': '5433', 'PIPELINE_STATEMENT_TIMEOUT': '2.5'}
    removed = use_project_environment(environ)
    assert removed == HOSTILE
    assert not (set(HOSTILE) - {'PGOPTIONS', 'PGPASSFILE'}) & set(environ)
    assert environ['PGSSLMODE'] == 'prefer' and environ['POSTGRES_PORT'] == '5433'  # transport and our own stay
    assert environ['PGOPTIONS'] == session_options(environ)
    assert '-c statement_timeout=2500ms' in environ['PGOPTIONS'] and '-c search_path=pg_catalog,public' in \
        environ['PGOPTIONS']
    assert use_project_environment(environ) == {}  # again: nothing of the user's is left to remove
    assert set(HOSTILE) <= set(LIBPQ_VARIABLES)


@pytest.fixture
def checkout():
    """A checkout of its own in a folder the embedded server's user can reach, its server stopped after."""
    folder = Path(tempfile.mkdtemp(prefix='libpq-'))
    folder.chmod(0o755)
    repo = copy_project(folder / 'checkout')
    try:
        yield repo
    finally:
        local_pg.stop(repo / '.pgdata')
        shutil.rmtree(folder, ignore_errors=True)
    assert local_pg.running_pid(repo / '.pgdata') is None


def hostile_environ(**extra) -> dict[str, str]:
    return unconfigured_environ() | HOSTILE | extra


@pytest.mark.db
@pytest.mark.mage
def test_make_run_ignores_libpq_s_variables_and_starts_the_embedded_server_on_its_own_socket(checkout):
    env = hostile_environ(MAGE_DATA_DIR=str(checkout.parent / 'mage_data'), REPORT_DIR=str(checkout.parent / 'r'))
    result = subprocess.run([sys.executable, '-m', 'tools.run'], cwd=checkout, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert 'published in' in result.stdout
    assert (checkout / '.pgdata' / '.s.PGSQL.5432').exists()  # not PGPORT's 55432


@pytest.mark.db
def test_make_test_fast_ignores_libpq_s_variables():
    # The tests of one module that use a database, on an embedded server of their own.
    result = subprocess.run(['make', '-s', 'test-fast', 'PYTEST_ARGS=-q -p no:cacheprovider tests/models/test_events.py'],
                            cwd=REPO, env=hostile_environ(), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert ' passed' in result.stdout and 'error' not in result.stdout.lower()


@pytest.mark.db
@pytest.mark.server
def test_make_editor_ignores_libpq_s_variables(checkout, tmp_path):
    # `make editor`'s two steps: the embedded server's exports, then the editor itself.
    port = free_port()
    command = ['bash', '-c', f'eval "$({sys.executable} -m tools.local_pg start)" && '
                             f'exec {sys.executable} -m tools.editor {port}']
    owner = ('owner@example.com', 'Tq9-vL2x_Pw7Zr')
    server = MageServer(hostile_environ(), tmp_path, owner, repo=checkout, command=command, port=port)
    server.env['MAGE_OWNER_EMAIL'], server.env['MAGE_OWNER_PASSWORD'] = owner
    server.start()
    try:
        assert server.login()  # the editor answers, as the owner
        environ = dict(item.split('=', 1) for item in
                       Path(f'/proc/{server.process.pid}/environ').read_text().split('\0') if '=' in item)
        assert environ['POSTGRES_HOST'] == str(checkout / '.pgdata')
        assert not {name for name in HOSTILE if name != 'PGOPTIONS'} & set(environ), 'libpq variables reached Mage'
        assert environ['PGOPTIONS'] == session_options(environ)
    finally:
        server.stop()
    wait_until(lambda: server.process.poll() is not None, 30, 'the editor stopping')
    assert os.path.exists(checkout / '.pgdata' / '.s.PGSQL.5432')
