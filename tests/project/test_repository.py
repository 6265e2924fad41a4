"""The repository carries no machine state: no absolute path of one machine in a tracked file, the
pipeline's metadata as a clean checkout needs it, and no server left running by the tests."""
import re
import shutil
import subprocess
import tempfile
from contextlib import closing
from pathlib import Path

import pytest
import yaml

from tests.support.project import PIPELINE, REPO, tracked_files
from tools import local_pg

# An absolute path under a folder that belongs to one machine or session.
MACHINE_PATH = re.compile(r'(?<![\w.])/(tmp|root|home|work|var/folders|Users)/[\w.-]+')
# Paths inside containers are the same everywhere: the compose mount point. (Paths in this file are
# spelled in pieces, so the file does not itself hold what it looks for.)
CONTAINER_PATHS = {'/'.join(('', 'home', 'src'))}


def tracked_text_files() -> list[Path]:
    return [REPO / name for name in tracked_files() if (REPO / name).is_file() and not name.endswith(('.png', '.csv'))]


def machine_paths(text: str) -> list[str]:
    return [m.group(0) for m in MACHINE_PATH.finditer(text) if m.group(0) not in CONTAINER_PATHS]


def test_the_machine_path_check_finds_one():
    tmp, home = '/' + 'tmp', '/' + 'home'
    assert machine_paths(f'variables_dir: {tmp}/localpt/test_x/mage_data') == [f'{tmp}/localpt']
    assert machine_paths(f'volumes: [.:{home}/src]') == [] and machine_paths('see ./tmp/x or a/work/b') == []


def test_no_tracked_file_holds_an_absolute_machine_path():
    found = {str(path.relative_to(REPO)): hits for path in tracked_text_files()
             if (hits := machine_paths(path.read_text(errors='ignore')))}
    assert not found, f'machine paths in tracked files (Mage or a test run wrote them?): {found}'


def test_pipeline_metadata_is_free_of_run_state():
    metadata = yaml.safe_load((REPO / 'mage_project' / 'pipelines' / PIPELINE / 'metadata.yaml').read_text())
    assert metadata['variables_dir'] is None, 'Mage wrote its variables_dir: commit only real changes'
    statuses = {b['uuid']: b['status'] for b in metadata['blocks'] + metadata['widgets']}
    assert set(statuses.values()) == {'not_executed'}, statuses


def postgres_processes(data_dir: Path) -> list[str]:
    result = subprocess.run(['ps', '-eww', '-o', 'args'], capture_output=True, text=True, check=True)
    return [line for line in result.stdout.splitlines() if 'postgres' in line and str(data_dir) in line]


def test_the_embedded_postgres_is_reused_and_a_stopped_one_leaves_no_process(monkeypatch):
    data_dir = Path(tempfile.mkdtemp(prefix='pgdata-stop-'))
    try:
        try:
            env = local_pg.start(data_dir, ('events',))
            assert local_pg.running_pid(data_dir) and postgres_processes(data_dir)
            with monkeypatch.context() as patched:
                # A running server is used as it is, without pgserver; a missing database is created on it.
                patched.setattr(local_pg, '_pgserver', lambda: pytest.fail('pgserver used for a running server'))
                assert local_pg.start(data_dir, ('events',)) == env
                assert local_pg.start(data_dir, ('events', 'events_more')) == env
            with closing(local_pg._connect(data_dir, required=True)) as conn, conn.cursor() as cursor:
                assert local_pg._missing_databases(cursor, ('events', 'events_more')) == set()
        finally:
            assert local_pg.stop(data_dir)
        assert local_pg.running_pid(data_dir) is None
        assert postgres_processes(data_dir) == []
        assert local_pg.stop(data_dir) is False  # stopping again says nothing was running
        # A stopped server takes the full path: pgserver starts it.
        monkeypatch.setattr(local_pg, '_pgserver', lambda: pytest.fail('pgserver asked to start the server'))
        with pytest.raises(pytest.fail.Exception):
            local_pg.start(data_dir, ('events',))
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)  # nor its folder
