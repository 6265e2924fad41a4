"""Where Mage keeps each run's block outputs, so that runs at once never read each other's.

Mage writes every block's output to its variables folder and reads it back as the next block's
input. A triggered run has a folder of its own there (its execution partition,
``.variables/<schedule id>/<execution date>``); a run without one (`mage run`, the editor's kernel)
uses ``.variables/<block>/`` itself, which every such run shares. So:

- `make run` gives each run a Mage data folder of its own (``runs/<run id>`` in the shared one,
  with Mage's database kept where it was) and removes it when the run ends; a later run removes
  the folder of a run that was killed.
- A run without an execution partition claims the shared folder for its process (a lock file,
  held until the process ends): a second one, while the first process lives, stops at its start,
  naming the holder, instead of reading the other's outputs.
- Triggered runs' partitions older than the project's ``variables_retention_period`` are removed at
  the start of each run (Mage's own clean-up, which Mage itself only runs from its CLI).
"""
from __future__ import annotations

import contextlib
import fcntl
import io
import os
import shutil
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from mage_project.catalog import PIPELINE, PROJECT_DIR
from mage_project.core.settings import ConfigurationError

RUNS_FOLDER = 'runs'
LOCK_FILE = '.run.lock'
STALE_UNLOCKED_SECONDS = 3600  # a run folder without a lock file is one being made, unless older

_held: dict[str, int] = {}  # lock file -> descriptor, held for this process's life


def shared_variables_dir() -> Path:
    """Mage's variables folder for this project, as Mage computes it (MAGE_DATA_DIR, else the
    project's variables_dir)."""
    from mage_ai.settings.repo import get_variables_dir

    return Path(get_variables_dir(repo_path=str(PROJECT_DIR)))


def _lock(path: Path) -> bool:
    """Take the lock file ``path`` for this process (again: already held); False if another holds it."""
    if str(path) in _held:
        return True
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return False
    os.ftruncate(fd, 0)
    os.pwrite(fd, f'{os.uname().nodename} pid {os.getpid()}\n'.encode(), 0)
    _held[str(path)] = fd
    return True


def _release(path: Path) -> None:
    fd = _held.pop(str(path), None)
    if fd is not None:
        os.close(fd)


def _holder(path: Path) -> str:
    try:
        return path.read_text().strip() or 'another process'
    except OSError:
        return 'another process'


def prune_run_folders(runs: Path) -> list[str]:
    """Remove the folders of `make run`s whose process has ended (their lock is free). Returns their names."""
    removed = []
    for folder in sorted(runs.iterdir()) if runs.is_dir() else []:
        lock = folder / LOCK_FILE
        if not lock.exists():
            if folder.is_dir() and time.time() - folder.stat().st_mtime > STALE_UNLOCKED_SECONDS:
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(folder.name)
            continue
        if _lock(lock):
            _release(lock)
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder.name)
    return removed


@contextmanager
def folder_of_its_own(run_id: str, pipeline: str) -> Iterator[Path]:
    """For `make run`: point Mage at a data folder of this run's own (MAGE_DATA_DIR), keeping Mage's
    database where it is (MAGE_DATABASE_CONNECTION_URL, unless set), and remove the folder
    afterwards. Folders of earlier runs that were killed, and old partitions of ``pipeline``, are
    removed from the shared folder first. Restores both variables."""
    shared = shared_variables_dir()
    runs = shared / RUNS_FOLDER
    prune_run_folders(runs)
    clean_old_partitions(pipeline, shared)
    folder = runs / run_id
    lock = folder / LOCK_FILE
    saved = {name: os.environ.get(name) for name in ('MAGE_DATA_DIR', 'MAGE_DATABASE_CONNECTION_URL')}
    if not _lock(lock):
        raise ConfigurationError(f'the block-output folder {folder} is in use by {_holder(lock)}')
    os.environ.setdefault('MAGE_DATABASE_CONNECTION_URL', f'sqlite:///{shared}/mage-ai.db')
    os.environ['MAGE_DATA_DIR'] = str(folder)
    try:
        yield folder
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        _release(lock)
        shutil.rmtree(folder, ignore_errors=True)


def claim(run_variables: dict) -> None:
    """At the start of a run: a run without an execution partition takes the shared block-output
    folder of its pipeline for its process (ConfigurationError naming the holder if another process
    has it); then Mage's retention clean-up of old partitions runs."""
    pipeline = run_variables.get('pipeline_uuid') or PIPELINE
    variables = shared_variables_dir()
    if not run_variables.get('execution_partition'):
        lock = variables / 'pipelines' / pipeline / LOCK_FILE
        if not _lock(lock):
            raise ConfigurationError(
                f'the block outputs of {pipeline} runs without an execution partition are kept in '
                f'{lock.parent / ".variables"}, and {_holder(lock)} (an editor\'s kernel or another '
                '`mage run`) is using it: two such runs would read each other\'s outputs. Use `make run` '
                '(a folder of its own per run) or a trigger, or give this run its own MAGE_DATA_DIR')
    clean_old_partitions(pipeline)


def clean_old_partitions(pipeline: str, variables: Path | None = None) -> None:
    """Remove triggered runs' block outputs older than the project's variables_retention_period
    (Mage's VariableManager.clean_variables) from ``variables`` (default: this process's folder)."""
    from mage_ai.data_preparation.variable_manager import VariableManager

    manager = VariableManager(repo_path=str(PROJECT_DIR), variables_dir=str(variables or shared_variables_dir()))
    with contextlib.redirect_stdout(io.StringIO()):  # it prints a line per pipeline and folder
        manager.clean_variables(pipeline_uuid=pipeline)
