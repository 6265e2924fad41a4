"""Processes the tests start and wait for: a pipeline run in the background, `make run`, a
kernel that runs blocks as the editor's does."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from tests.support.project import MAGE, PIPELINE


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


def start(base_env, repo, extra=None, tmp_path=None, module=False, runtime_vars: dict | None = None):
    """A run in the background: `mage run` (or, with ``module``, `make run`'s program) in ``repo``
    with a Mage data folder of its own, output and errors together on its stdout."""
    env = base_env(repo / 'dataset', {'MAGE_DATA_DIR': str(tmp_path / f'mage_{time.monotonic_ns()}'), **(extra or {})})
    command = ([sys.executable, '-m', 'tools.run'] if module
               else [str(MAGE), 'run', 'mage_project', PIPELINE, '--test'])
    if runtime_vars:
        command += ['--runtime-vars', json.dumps(runtime_vars)]
    return subprocess.Popen(command, cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)




def make_run(repo: Path, env: dict) -> subprocess.Popen:
    """`make run`'s program in ``repo``, in the background, output and errors together."""
    return subprocess.Popen([sys.executable, '-m', 'tools.run'], cwd=repo, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
