"""A run publishes everything or nothing, and two runs never interleave."""
import json
import subprocess
import time

import yaml

from mage_project.utils.db import RUN_LOCK_KEY
from mage_project.utils.generate import Plan, generate
from tests.conftest import MAGE, PIPELINE, REPO
from tests.helpers import copy_project, output, published_tables, snapshot


def break_block(repo, block: str, query: str) -> None:
    """Make one SQL block of a project copy fail, with Mage's retries off for the copy."""
    (repo / 'mage_project' / 'transformers' / f'{block}.sql').write_text(query)
    metadata = repo / 'mage_project' / 'pipelines' / PIPELINE / 'metadata.yaml'
    pipeline = yaml.safe_load(metadata.read_text())
    for entry in pipeline['blocks']:
        entry['retry_config'] = {'retries': 0}
    metadata.write_text(yaml.safe_dump(pipeline))


def test_a_run_failing_halfway_leaves_the_previous_tables_queryable(run_pipeline, database, tmp_path):
    run_pipeline(REPO / 'dataset')
    before = snapshot(database)
    repo = copy_project(tmp_path / 'repo')
    # valuable_users_by_age_group runs after the other question tables of the new run are built.
    break_block(repo, 'valuable_users_by_age_group', 'select 1 / 0 as fails')
    process = run_pipeline(repo / 'dataset', check=False, repo=repo)
    assert process.returncode != 0 and 'division by zero' in output(process)
    assert snapshot(database) == before
    # The half-built run is left in the build schemas only, and the next run clears it.
    assert database.rows("select count(*) from information_schema.tables where table_schema = 'analytics_build'")[0][0] == 3
    run_pipeline(REPO / 'dataset')
    assert snapshot(database) == before


def medium_dataset(tmp_path, events=300_000):
    data = tmp_path / 'medium'
    generate(data, Plan(users=events // 20, events=events, seed=3))
    return data


def start_run(base_env, data, wait_seconds: str, tmp_path):
    """Start `mage run` in the background, with its own Mage data folder."""
    env = base_env(data, {'RUN_LOCK_WAIT_SECONDS': wait_seconds,
                          'MAGE_DATA_DIR': str(tmp_path / f'mage_{time.monotonic_ns()}')})
    return subprocess.Popen([str(MAGE), 'run', 'mage_project', PIPELINE, '--test'], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_for_lock_holder(database, timeout=60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if database.rows("select count(*) from pg_locks where locktype = 'advisory' and objid = %s and granted",
                         (RUN_LOCK_KEY,))[0][0]:
            return
        time.sleep(0.1)
    raise TimeoutError('no run took the run lock')


def hold_run_lock(database):
    """Take the pipeline's run lock from outside, as a run in progress would hold it."""
    conn = database.admin()
    with conn.cursor() as cursor:
        cursor.execute('select pg_advisory_lock(%s)', (RUN_LOCK_KEY,))
    return conn


def test_a_run_fails_clearly_while_another_holds_the_lock(base_env, database, tmp_path):
    holder = hold_run_lock(database)
    try:
        run = start_run(base_env, REPO / 'dataset', '1', tmp_path)
        text, _ = run.communicate(timeout=300)
    finally:
        holder.close()
    assert run.returncode != 0
    assert 'another run of this pipeline is in progress (Postgres backend' in text
    assert database.rows("select count(*) from information_schema.schemata where schema_name like 'raw%'") == [(0,)]


def test_a_run_waits_for_the_lock_and_then_completes(base_env, database, tmp_path):
    holder = hold_run_lock(database)
    try:
        run = start_run(base_env, REPO / 'dataset', '300', tmp_path)
        time.sleep(8)  # long enough for Mage to start and reach the lock
        assert run.poll() is None, 'the run should be waiting for the lock'
        assert database.rows("select count(*) from information_schema.schemata where schema_name like 'raw%'") == [(0,)]
    finally:
        holder.close()
    text, _ = run.communicate(timeout=300)
    assert run.returncode == 0, text[-3000:]
    assert database.rows('select count(*) from analytics.answers') == [(4,)]


def test_concurrent_runs_wait_for_each_other_and_end_consistent(base_env, database, tmp_path):
    data = medium_dataset(tmp_path)
    runs = [start_run(base_env, data, '300', tmp_path)]
    wait_for_lock_holder(database)
    runs.append(start_run(base_env, data, '300', tmp_path))
    outputs = [run.communicate(timeout=600)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], [o[-2000:] for o in outputs]
    truths = json.loads((data / 'truths.json').read_text())
    tables = published_tables(database)
    assert tables == {name: truths[name] for name in tables}
