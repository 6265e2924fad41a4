"""The project as the tests see it: where it is, how it is copied, the take-home's files, the
environment of a machine where nothing is configured."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from mage_project.catalog import PIPELINE  # noqa: F401 - the pipeline most tests run

REPO = Path(__file__).resolve().parents[2]
MAGE = Path(sys.executable).with_name('mage')


def original_dataset_dir() -> Path:
    """The take-home's original files: DATASET_DIR, by default ../shared/dataset."""
    path = Path(os.getenv('DATASET_DIR') or REPO.parent / 'shared' / 'dataset')
    return path if path.is_absolute() else (REPO / path).resolve()


def unconfigured_environ() -> dict[str, str]:
    """This process's environment without what picks a server, a profile, a dataset or Mage's folders,
    as on a machine where none is configured."""
    return {key: value for key, value in os.environ.items()
            if not key.startswith(('POSTGRES_', 'MAGE_', 'DEFAULT_OWNER_')) and key not in ('ENV', 'DATASET_DIR')}


def tracked_files(*pathspec: str) -> list[str]:
    """The repository's tracked files (those ``pathspec`` selects, if given), relative to it."""
    return subprocess.run(['git', 'ls-files', '--', *pathspec], cwd=REPO, capture_output=True, text=True,
                          check=True).stdout.split()

def sample_copy(tmp_path: Path, name: str = 'data') -> Path:
    target = tmp_path / name
    shutil.copytree(REPO / 'dataset', target)
    return target


def output(process) -> str:
    return process.stdout + process.stderr


def copy_project(target: Path) -> Path:
    """A copy of what a run and the server need (the Mage project, the tools, io_config.yaml,
    dataset/): Mage rewrites triggers.yaml and metadata.yaml when it syncs, and tests must not touch
    the working tree."""
    target.mkdir(parents=True)
    for folder in ('mage_project', 'tools'):
        shutil.copytree(REPO / folder, target / folder, symlinks=True, ignore=shutil.ignore_patterns('__pycache__'))
    shutil.copy(REPO / 'io_config.yaml', target / 'io_config.yaml')
    shutil.copytree(REPO / 'dataset', target / 'dataset')
    return target


def slow_project(tmp_path, seconds: int = 8):
    """A project copy whose last SQL block sleeps, so a run can be caught while it builds."""
    repo = copy_project(tmp_path / 'slow')
    last = repo / 'mage_project' / 'transformers' / 'valuable_users_by_age_group.sql'
    last.write_text(last.read_text().replace(
        'select * from final order by position',
        f'select final.* from final cross join (select pg_sleep({seconds})) as pause order by position'))
    return repo


