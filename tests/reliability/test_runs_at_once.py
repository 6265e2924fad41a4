"""Runs at once in one checkout: `make run`s, a triggered run and an editor kernel's blocks share one
Mage data folder and one database. Each run's block outputs live in a place of their own, so all of
them complete and the published tables are a single run's; old outputs are removed."""
import json
import os
import re
import subprocess
import threading
import time

import pytest

from mage_project.models.sql import block_uuids
from tests.support.database import published_tables
from tests.support.mage_server import MageServer
from tests.support.processes import EditorKernel, make_run, wait_until
from tests.support.project import MAGE, PIPELINE, REPO, copy_project, output

OWNER = ('owner@example.com', 'Test-owner-pw-1')
BLOCKS = tuple(block_uuids()[:block_uuids().index('publish_analytics') + 1])
ROUNDS = 2
MAKE_RUNS = 5


@pytest.mark.server
def test_five_make_runs_a_triggered_run_and_an_editor_kernel_at_once_all_publish(base_env, database, tmp_path):
    repo = copy_project(tmp_path / 'repo')
    # The kernel works in a copy of the project, with the same Mage data folder (so the same block
    # outputs) and database: the editor saves the pipeline's metadata.yaml in place at every block,
    # which Mage's own readers (the server, a triggered run) may find empty; that is Mage's, and
    # test_make_run_reads_the_pipeline_while_the_editor_saves_it covers what the project does about it.
    kernel_repo = copy_project(tmp_path / 'kernel_repo')
    shared = tmp_path / 'mage_data'  # one Mage data folder for all, as in one checkout
    env = base_env(repo / 'dataset', {'MAGE_DATA_DIR': str(shared)})
    server = MageServer(env, tmp_path, OWNER, repo=repo)
    server.env['MAGE_DATA_DIR'] = str(shared)
    server.start()
    try:
        (schedule,) = [s for s in server.schedules(PIPELINE) if s['name'] == 'api_trigger']
        for round_ in range(ROUNDS):
            kernel = EditorKernel(kernel_repo, env)
            try:
                runs = [make_run(repo, env) for _ in range(MAKE_RUNS)]
                triggered = server.trigger(schedule)
                said = [kernel.run(block) for block in BLOCKS]  # meanwhile, block after block
                outputs = [run.communicate(timeout=600)[0] for run in runs]
                mage_run = server.wait_for_run(triggered['id'], timeout=600)
            finally:
                kernel.close()
            assert said == ['OK'] * len(BLOCKS), f'round {round_}: {list(zip(BLOCKS, said))}'
            assert [run.returncode for run in runs] == [0] * MAKE_RUNS, [o[-2500:] for o in outputs]
            assert mage_run['status'] == 'completed', server.run_logs(PIPELINE, mage_run['id'])[-3000:]
    finally:
        server.stop()
    # One publish is the last; the others were superseded by a later one, or found nothing new (the
    # files were loaded, each once, by another run).
    statuses = [status for (status,) in database.rows('select status from audit.pipeline_runs')]
    assert len(statuses) == ROUNDS * (MAKE_RUNS + 2) and statuses.count('published') == 1, statuses
    assert set(statuses) <= {'published', 'superseded', 'unchanged'}, statuses
    assert database.rows("select source_file, count(*) from audit.file_loads group by 1 having count(*) > 1") == []
    truths = json.loads((REPO / 'dataset' / 'truths.json').read_text())
    tables = published_tables(database)
    assert tables == {name: truths[name] for name in tables}
    # Each `make run` removed its own folder of block outputs when it ended.
    assert not any((shared / 'mage_project' / 'runs').iterdir())


def test_a_second_run_without_an_execution_partition_stops_naming_the_kernel_that_holds_the_outputs(
        base_env, database, tmp_path):
    repo = copy_project(tmp_path / 'repo')
    env = base_env(repo / 'dataset', {'MAGE_DATA_DIR': str(tmp_path / 'mage_data')})
    kernel = EditorKernel(repo, env)
    try:
        assert kernel.run('start_run') == 'OK'
        other = subprocess.run([str(MAGE), 'run', 'mage_project', PIPELINE], cwd=repo, env=env,
                               capture_output=True, text=True, timeout=600)
        assert kernel.run('load_users') == 'OK'  # the kernel's outputs are still its own
    finally:
        kernel.close()
    text = ' '.join(output(other).split())
    assert other.returncode != 0
    assert 'is using it: two such runs would read each other\'s outputs' in text, text[-3000:]
    assert f'pid {kernel.process.pid}' in text
    # Once the kernel has ended, the same command runs.
    again = subprocess.run([str(MAGE), 'run', 'mage_project', PIPELINE], cwd=repo, env=env,
                           capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, output(again)[-3000:]


def test_old_block_outputs_are_removed_at_the_start_of_a_run(base_env, database, tmp_path):
    shared = tmp_path / 'mage_data'
    variables = shared / 'mage_project' / 'pipelines' / PIPELINE / '.variables'
    old = variables / '7' / '20200101T000000' / 'start_run' / 'output_0'
    recent = variables / '7' / time.strftime('%Y%m%dT%H%M%S', time.gmtime()) / 'start_run' / 'output_0'
    killed = shared / 'mage_project' / 'runs' / '20200101t000000_abcdef'  # a `make run` killed with SIGKILL
    for folder in (old, recent, killed / 'mage_project'):
        folder.mkdir(parents=True)
    (killed / '.run.lock').write_text('somehost pid 1\n')
    process = make_run(REPO, base_env(REPO / 'dataset', {'MAGE_DATA_DIR': str(shared)}))
    said = process.communicate(timeout=600)[0]
    assert process.returncode == 0, said[-3000:]
    assert not old.parents[1].exists() and recent.exists(), 'outputs older than variables_retention_period (30d) go'
    assert not killed.exists()
    assert os.listdir(shared / 'mage_project' / 'runs') == []


def test_make_run_publishes_while_the_editor_kernel_sits_on_the_shared_outputs(base_env, database, tmp_path):
    repo = copy_project(tmp_path / 'repo')
    env = base_env(repo / 'dataset', {'MAGE_DATA_DIR': str(tmp_path / 'mage_data')})
    kernel = EditorKernel(repo, env)
    try:
        assert kernel.run('start_run') == 'OK'
        result = make_run(repo, env)
        said = result.communicate(timeout=600)[0]
        assert kernel.run('load_users') == 'OK'
    finally:
        kernel.close()
    assert result.returncode == 0, said[-3000:]
    wait_until(lambda: database.rows("select count(*) from audit.pipeline_runs where status = 'published'")[0][0],
               10, 'the make run published')


def test_make_run_reads_the_pipeline_while_the_editor_saves_it(base_env, database, tmp_path):
    """The editor saves the pipeline's metadata.yaml in place at every block it runs: Mage truncates
    the file, then writes it (mage_ai.shared.io.safe_write), and on a busy machine the file stays empty
    for milliseconds. `make run` reads it again until it is whole, at the start and for its summary."""
    repo = copy_project(tmp_path / 'repo')
    metadata = repo / 'mage_project' / 'pipelines' / PIPELINE / 'metadata.yaml'
    text = metadata.read_text()
    stop = threading.Event()

    def save_as_the_editor_does_when_descheduled():
        while not stop.is_set():
            with metadata.open('w') as handle:  # truncated ...
                time.sleep(0.01)
                handle.write(text)  # ... and written 10 ms later
            time.sleep(0.02)

    writer = threading.Thread(target=save_as_the_editor_does_when_descheduled)
    writer.start()
    try:
        runs = [make_run(repo, base_env(repo / 'dataset', {'MAGE_DATA_DIR': str(tmp_path / 'mage_data')}))
                for _ in range(3)]
        outputs = [run.communicate(timeout=600)[0] for run in runs]
    finally:
        stop.set()
        writer.join()
    assert [run.returncode for run in runs] == [0] * 3, [o[-2500:] for o in outputs]
    assert all(re.search(r'^run \w+( (published|superseded) in|: nothing new, nothing published)', said, re.M)
               for said in outputs), outputs
