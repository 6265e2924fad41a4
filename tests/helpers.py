"""Shared pieces of the tests: reading the published tables, copying the sample, the tracked files."""
from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import psycopg2

from tests.conftest import MAGE, PIPELINE, REPO


def tracked_files(*pathspec: str) -> list[str]:
    """The repository's tracked files (those ``pathspec`` selects, if given), relative to it."""
    return subprocess.run(['git', 'ls-files', '--', *pathspec], cwd=REPO, capture_output=True, text=True,
                          check=True).stdout.split()

PUBLISHED = ('raw.users', 'raw.user_interaction', 'raw.rejected_rows', 'raw.adjusted_values', 'raw.load_audit',
             'staging.stg_users', 'staging.stg_user_interaction', 'staging.user_activity',
             'analytics.orphan_events_by_type', 'analytics.duplicate_events_by_date',
             'analytics.visitors_by_country', 'analytics.valuable_users_by_age_group', 'analytics.answers')


def wait_until(check, timeout: float, what: str, every: float = 0.2):
    """Call ``check`` until it returns something truthy and return that; TimeoutError naming
    ``what`` after ``timeout`` seconds. ``check`` may raise to stop waiting early."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise TimeoutError(f'{what}: not within {timeout:g}s')
        time.sleep(every)


def snapshot(database) -> dict[str, list]:
    """Every published table's rows (load_audit without its timestamp)."""
    tables = {}
    for name in PUBLISHED:
        query = ('select source_file, lines_read, rows_loaded, rows_rejected from raw.load_audit'
                 if name == 'raw.load_audit' else f'select * from {name}')
        tables[name] = sorted(database.rows(query), key=repr)
    return tables


def sample_copy(tmp_path: Path, name: str = 'data') -> Path:
    target = tmp_path / name
    shutil.copytree(REPO / 'dataset', target)
    return target


def output(process) -> str:
    return process.stdout + process.stderr


def published_tables(database) -> dict[str, dict]:
    """The analytics tables in the shape of truths.json."""
    return {
        'orphan_events_by_type': dict(database.rows(
            'select event_type, orphan_events from analytics.orphan_events_by_type where orphan_events > 0')),
        'duplicate_events_by_date': {d.isoformat(): n for d, n in database.rows(
            'select event_date, surplus_copies from analytics.duplicate_events_by_date where surplus_copies > 0')},
        'visitors_by_country': {c: {'visitors': v, 'events': e} for c, v, e in database.rows(
            'select country, visitors, events from analytics.visitors_by_country where visitors > 0')},
        'valuable_users_by_age_group': dict(database.rows(
            'select age_group, valuable_users from analytics.valuable_users_by_age_group where valuable_users > 0')),
    }


def answers(database) -> dict[str, str]:
    return dict(database.rows('select question_id, answer from analytics.answers'))


def copy_project(target: Path) -> Path:
    """A copy of what the server needs (the Mage project, io_config.yaml, dataset/): Mage rewrites
    triggers.yaml and metadata.yaml when it syncs, and tests must not touch the working tree."""
    target.mkdir(parents=True)
    shutil.copytree(REPO / 'mage_project', target / 'mage_project', symlinks=True,
                    ignore=shutil.ignore_patterns('__pycache__'))
    shutil.copy(REPO / 'io_config.yaml', target / 'io_config.yaml')
    shutil.copytree(REPO / 'dataset', target / 'dataset')
    return target


KERNEL = '''
import os, sys
from mage_ai.settings.repo import set_repo_path
set_repo_path(os.path.abspath('mage_project'))
from mage_ai.data_preparation.models.pipeline import Pipeline
from mage_ai.orchestration.db import db_connection
db_connection.start_session()
pipeline = Pipeline.get('event_analytics', repo_path=os.path.abspath('mage_project'))
context = {}
print('READY', flush=True)
for line in sys.stdin:
    block = pipeline.get_block(line.strip())
    global_vars = dict(pipeline.variables or {}, context=context)
    try:
        block.execute_with_callback(from_notebook=True, global_vars=global_vars, update_status=True)
        block.run_tests(from_notebook=True, global_vars=global_vars, update_tests=False)
        print('OK', flush=True)
    except Exception as error:
        print('ERROR ' + ' '.join(str(error).split()), flush=True)
'''


class EditorKernel:
    """A long-lived process that runs blocks one at a time the way the Mage editor's kernel does
    (block.execute_with_callback(from_notebook=True) with the pipeline's variables), and keeps
    its module globals and connections between blocks."""

    def __init__(self, repo: Path, env: dict[str, str]):
        import subprocess
        import sys

        self.process = subprocess.Popen([sys.executable, '-c', KERNEL], cwd=repo, env=env, text=True,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        assert self._answer() == 'READY'

    def _answer(self) -> str:
        while True:
            line = self.process.stdout.readline()
            if not line:
                raise RuntimeError(f'the kernel ended ({self.process.poll()})')
            if line.startswith(('READY', 'OK', 'ERROR')):
                return line.strip()

    def run(self, block: str) -> str:
        """Run one block; 'OK' or 'ERROR <message>'."""
        self.process.stdin.write(block + '\n')
        self.process.stdin.flush()
        return self._answer()

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=60)


def slow_project(tmp_path, seconds: int = 8):
    """A project copy whose last SQL block sleeps, so a run can be caught while it builds."""
    repo = copy_project(tmp_path / 'slow')
    last = repo / 'mage_project' / 'transformers' / 'valuable_users_by_age_group.sql'
    last.write_text(last.read_text().replace(
        'select * from final order by rank',
        f'select final.* from final cross join (select pg_sleep({seconds})) as pause order by rank'))
    return repo


def start(base_env, repo, extra=None, tmp_path=None, module=False):
    """A run in the background: `mage run` (or, with ``module``, `make run`'s program) in ``repo``
    with a Mage data folder of its own, output and errors together on its stdout."""
    env = base_env(repo / 'dataset', {'MAGE_DATA_DIR': str(tmp_path / f'mage_{time.monotonic_ns()}'), **(extra or {})})
    command = ([sys.executable, '-m', 'mage_project.utils.run'] if module
               else [str(MAGE), 'run', 'mage_project', PIPELINE, '--test'])
    return subprocess.Popen(command, cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_for(database, query, timeout=120):
    """The first value of ``query`` once it is truthy (a table it reads may not exist yet)."""
    def value():
        try:
            return (database.rows(query) or [(None,)])[0][0]
        except psycopg2.errors.UndefinedTable:
            return None

    return wait_until(value, timeout, query)
