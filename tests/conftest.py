"""Fixtures: a real Postgres (the one configured by POSTGRES_HOST, else an embedded one started for
the session), a fresh database per test, and a pipeline run through `mage run` against it.

Every test is marked with what it needs, so a selection says what it runs (`-m "not mage"`):
db (a Postgres), mage (Mage runs the pipeline), server (a Mage server), browser (Chromium),
spark (a Spark session or cluster), docker (a Docker daemon). Most come from the fixtures a test
uses; the others are marked in their modules. `make test-fast` runs the tests that need at most a
database. In CI (CI set) a skipped test fails the session: every test has what it needs there."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import psycopg2
import pytest

from mage_project.core.settings import use_project_environment
from tests.support.database import CONNECTION_VARIABLES, Database
from tests.support.project import MAGE, PIPELINE, REPO, original_dataset_dir, unconfigured_environ

# The tests connect, and start servers, with POSTGRES_* only: a developer's PGHOST, PGPORT, PGOPTIONS,
# ... are removed from this process (and so from every process it starts), as the project's programs do.
use_project_environment()

NEEDS = ('db', 'mage', 'server', 'browser', 'spark', 'docker')
# What a fixture brings with it.
FIXTURE_NEEDS = {'database': ('db',), 'databases': ('db',), 'postgres_server': ('db',), 'base_env': ('db', 'mage'),
                 'run_pipeline': ('db', 'mage'), 'spark': ('spark',)}


def pytest_configure(config):
    for need, what in (('db', 'a Postgres server (the embedded one unless POSTGRES_HOST is set)'),
                       ('mage', 'Mage runs the pipeline (a run, a kernel): seconds per test'),
                       ('server', 'a Mage server (mage start)'),
                       ('browser', "Chromium, driven by Playwright (Debian's chromium)"),
                       ('spark', 'Spark (pyspark and Java 17; make spark)'),
                       ('docker', 'a Docker daemon and docker compose (.ci/run installs them)')):
        config.addinivalue_line('markers', f'{need}: needs {what}')


def pytest_collection_modifyitems(items):
    for item in items:
        for fixture in getattr(item, 'fixturenames', ()):
            for need in FIXTURE_NEEDS.get(fixture, ()):
                item.add_marker(getattr(pytest.mark, need))


@pytest.fixture(scope='session')
def original_dataset() -> Path:
    folder = original_dataset_dir()
    if folder == (REPO / 'dataset').resolve():
        pytest.skip("DATASET_DIR points at the project's own sample, not the take-home's files")
    if not (folder / 'user_interaction.csv').is_file():
        pytest.skip(f'the take-home dataset is not at {folder} (set DATASET_DIR to run these tests)')
    return folder


@pytest.fixture(scope='session')
def postgres_server() -> dict[str, str]:
    """POSTGRES_* variables of a server the tests may create databases on."""
    if os.getenv('POSTGRES_HOST'):
        return {name: os.getenv(name, '') for name in CONNECTION_VARIABLES} | {
            'POSTGRES_PORT': os.getenv('POSTGRES_PORT') or '5432',
            'POSTGRES_USER': os.getenv('POSTGRES_USER') or 'postgres',
        }
    from tools import local_pg

    # Not under pytest's temporary folder: another pytest session may prune that, and the server
    # runs as an unprivileged user that must keep access to its folder.
    data_dir = Path(tempfile.mkdtemp(prefix='pgdata-'))
    try:
        server = local_pg.start(data_dir)
        # A throwaway cluster: no flush to disk at each commit (most tests make a database and a
        # few dozen tables, and drop them); a crash loses nothing the tests need.
        admin = psycopg2.connect(host=server['POSTGRES_HOST'], port=server['POSTGRES_PORT'],
                                 user=server['POSTGRES_USER'], dbname='postgres')
        admin.autocommit = True
        with admin.cursor() as cursor:
            for setting in ('fsync', 'synchronous_commit', 'full_page_writes'):
                cursor.execute(f'alter system set {setting} = off')
            cursor.execute('select pg_reload_conf()')
        admin.close()
        yield server
    finally:
        local_pg.stop(data_dir)
        assert local_pg.running_pid(data_dir) is None, f'the test Postgres in {data_dir} is still running'
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture
def database(postgres_server) -> Database:
    """A new, empty database for one test."""
    name = f'test_{uuid.uuid4().hex[:12]}'
    admin = psycopg2.connect(
        host=postgres_server['POSTGRES_HOST'], port=postgres_server['POSTGRES_PORT'],
        user=postgres_server['POSTGRES_USER'], password=postgres_server['POSTGRES_PASSWORD'],
        dbname='postgres',
    )
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'create database "{name}"')
    yield Database(dict(postgres_server, POSTGRES_DB=name))
    with admin.cursor() as cursor:
        cursor.execute(f'drop database if exists "{name}" with (force)')
    admin.close()


@pytest.fixture
def databases(postgres_server):
    """A factory of new, empty databases, dropped after the test."""
    admin = psycopg2.connect(host=postgres_server['POSTGRES_HOST'], port=postgres_server['POSTGRES_PORT'],
                             user=postgres_server['POSTGRES_USER'], password=postgres_server['POSTGRES_PASSWORD'],
                             dbname='postgres')
    admin.autocommit = True
    made = []

    def make() -> Database:
        name = f'test_{uuid.uuid4().hex[:12]}'
        with admin.cursor() as cursor:
            cursor.execute(f'create database "{name}"')
        made.append(name)
        return Database(dict(postgres_server, POSTGRES_DB=name))

    yield make
    with admin.cursor() as cursor:
        for name in made:
            cursor.execute(f'drop database if exists "{name}" with (force)')
    admin.close()


@pytest.fixture
def base_env(database, tmp_path):
    """The environment of a pipeline process: this test's database, ENV=test, a dataset folder."""
    def make(dataset_dir: Path, extra_env: dict[str, str] | None = None) -> dict[str, str]:
        env = unconfigured_environ()
        env.update(database.env)
        # COLUMNS keeps Mage's rich tracebacks from wrapping the messages the tests look for.
        env.update(ENV='test', DATASET_DIR=str(dataset_dir), MAGE_DATA_DIR=str(tmp_path / 'mage_data'),
                   REPORT_DIR=str(tmp_path / 'reports'), COLUMNS='400')
        env.update(extra_env or {})
        return env
    return make


@pytest.fixture
def run_pipeline(base_env):
    """Run `mage run mage_project event_analytics --test` (or another ``pipeline``), the command
    users type, against the test's database and a given dataset folder; returns the finished process."""
    def run(dataset_dir: Path, extra_env: dict[str, str] | None = None, check: bool = True,
            repo: Path = REPO, runtime_vars: dict | None = None, pipeline: str = PIPELINE):
        env = base_env(dataset_dir, extra_env)
        options = ['--runtime-vars', json.dumps(runtime_vars)] if runtime_vars else []
        process = subprocess.run(
            [str(MAGE), 'run', 'mage_project', pipeline, '--test', *options],
            cwd=repo, env=env, capture_output=True, text=True, timeout=600,
        )
        if check and process.returncode != 0:
            pytest.fail(f'the pipeline failed ({process.returncode}):\n{process.stdout[-4000:]}\n{process.stderr[-4000:]}')
        return process
    return run


# Tests write only under their temporary folders: the session fails if it left a file in the
# checkout, except what is kept on purpose (browser screenshots in artifacts/, caches) and the
# developer's own embedded Postgres (.pgdata/), which may be running beside the tests.
KEPT = ('artifacts/', '.pytest_cache/', '.cache/', '.venv', '__pycache__/', '.hypothesis/', '.pgdata/')


def files_in_checkout() -> set[str]:
    result = subprocess.run(['git', 'status', '--porcelain', '--untracked-files=all', '--ignored'], cwd=REPO,
                            capture_output=True, text=True)
    return {line[3:] for line in result.stdout.splitlines()
            if not any(part in line[3:] for part in KEPT)} if result.returncode == 0 else set()


_BEFORE = pytest.StashKey[set]()


def pytest_sessionstart(session):
    session.config.stash[_BEFORE] = files_in_checkout()


def skips(session) -> list[str]:
    """The tests this session skipped, with their reasons (as the terminal reporter counted them)."""
    reporter = session.config.pluginmanager.get_plugin('terminalreporter')
    found = []
    for report in (reporter.stats.get('skipped', []) if reporter else []):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        found.append(f'{report.nodeid}: {reason}')
    return found


def pytest_sessionfinish(session, exitstatus):
    writer = session.config.get_terminal_writer()
    left = files_in_checkout() - session.config.stash.get(_BEFORE, set())
    if left:
        writer.line(f'the tests left files in the checkout (write under tmp_path instead): {sorted(left)}', red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    skipped = skips(session)
    if skipped and os.getenv('CI'):
        writer.line('in CI every test has what it needs, so a skip is a failure:\n  ' + '\n  '.join(skipped), red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
