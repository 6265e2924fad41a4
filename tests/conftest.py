"""Shared fixtures: a real Postgres (the one configured by POSTGRES_HOST, else an embedded one
started for the session), a fresh database per test, and a way to run the Mage pipeline
exactly as `make run` does."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import psycopg2
import pytest

from mage_project.utils.settings import use_project_environment

REPO = Path(__file__).resolve().parents[1]
# The tests connect, and start servers, with POSTGRES_* only: a developer's PGHOST, PGPORT, PGOPTIONS,
# ... are removed from this process (and so from every process it starts), as the project's programs do.
use_project_environment()
MAGE = Path(sys.executable).with_name('mage')
PIPELINE = 'event_analytics'
CONNECTION_VARIABLES = ('POSTGRES_HOST', 'POSTGRES_PORT', 'POSTGRES_USER', 'POSTGRES_PASSWORD')


def original_dataset_dir() -> Path:
    """The take-home's original files: DATASET_DIR, by default ../shared/dataset."""
    path = Path(os.getenv('DATASET_DIR') or REPO.parent / 'shared' / 'dataset')
    return path if path.is_absolute() else (REPO / path).resolve()


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
    from mage_project.utils import local_pg

    # Not under pytest's temporary folder: another pytest session may prune that, and the server
    # runs as an unprivileged user that must keep access to its folder.
    data_dir = Path(tempfile.mkdtemp(prefix='pgdata-'))
    try:
        yield local_pg.start(data_dir)
    finally:
        local_pg.stop(data_dir)
        assert local_pg.running_pid(data_dir) is None, f'the test Postgres in {data_dir} is still running'
        shutil.rmtree(data_dir, ignore_errors=True)


@dataclass
class Database:
    env: dict[str, str]

    def connect(self):
        return psycopg2.connect(
            host=self.env['POSTGRES_HOST'], port=self.env['POSTGRES_PORT'],
            user=self.env['POSTGRES_USER'], password=self.env['POSTGRES_PASSWORD'],
            dbname=self.env['POSTGRES_DB'],
        )

    def admin(self):
        """A connection to the server's postgres database, in autocommit."""
        conn = psycopg2.connect(
            host=self.env['POSTGRES_HOST'], port=self.env['POSTGRES_PORT'], user=self.env['POSTGRES_USER'],
            password=self.env['POSTGRES_PASSWORD'], dbname=self.env['POSTGRES_DB'])
        conn.autocommit = True
        return conn

    def rows(self, query: str, params=None) -> list[tuple]:
        with self.connect() as conn, conn.cursor() as cursor:
            cursor.execute(query, params)
            return cursor.fetchall()


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


# Whole runs of Mage (a pipeline, a server, a kernel) are the slow tier: `pytest -m "not slow"`
# (make test-fast) runs the rest in seconds. A test is slow when it needs one of these fixtures.
SLOW_FIXTURES = {'base_env', 'run_pipeline'}


def pytest_collection_modifyitems(items):
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, 'fixturenames', ())):
            item.add_marker(pytest.mark.slow)


def unconfigured_environ() -> dict[str, str]:
    """This process's environment without what picks a server, a profile, a dataset or Mage's folders,
    as on a machine where none is configured."""
    return {key: value for key, value in os.environ.items()
            if not key.startswith(('POSTGRES_', 'MAGE_', 'DEFAULT_OWNER_')) and key not in ('ENV', 'DATASET_DIR')}


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
    """Run `mage run mage_project event_analytics --test` (or another ``pipeline``), as `make run`
    does, against the test's database and a given dataset folder; returns the finished process."""
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


def pytest_sessionstart(session):
    session.config.stash[_BEFORE] = files_in_checkout()


def pytest_sessionfinish(session, exitstatus):
    left = files_in_checkout() - session.config.stash.get(_BEFORE, set())
    if left:
        session.config.get_terminal_writer().line(
            f'the tests left files in the checkout (write under tmp_path instead): {sorted(left)}', red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


_BEFORE = pytest.StashKey[set]()
