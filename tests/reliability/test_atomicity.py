"""A run publishes everything or nothing, and two runs never mix."""
import json
import subprocess

import yaml

from tests.support.database import published_tables, snapshot
from tests.support.project import MAGE, PIPELINE, REPO, copy_project, output
from tools.datagen.generate import Plan, generate


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
    # The half-built run is left in its own build schema only, unpublished.
    (failed,) = database.rows("select build_schema from audit.pipeline_runs where status = 'building'")[0]
    built = {name for (name,) in database.rows(
        'select table_name from information_schema.tables where table_schema = %s', (failed,))}
    assert {'users', 'user_interaction', 'stg_users', 'stg_user_interaction', 'int_users', 'int_user_activity_changes',
            'orphan_events_by_type'} <= built
    assert not built & {'valuable_users_by_age_group', 'answers'}, built
    run_pipeline(REPO / 'dataset')
    assert snapshot(database) == before


def medium_dataset(tmp_path, events=300_000):
    data = tmp_path / 'medium'
    generate(data, Plan(users=events // 20, events=events, seed=3))
    return data


def test_concurrent_runs_build_side_by_side_and_end_consistent(base_env, database, tmp_path):
    data = medium_dataset(tmp_path)
    env = base_env(data)
    runs = [subprocess.Popen([str(MAGE), 'run', 'mage_project', PIPELINE, '--test'], cwd=REPO,
                             env=dict(env, MAGE_DATA_DIR=str(tmp_path / f'mage_{i}')),
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for i in range(2)]
    outputs = [run.communicate(timeout=600)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], [o[-2000:] for o in outputs]
    # The second to publish finds the files the first loaded (each loaded once): nothing new, unless
    # it published first.
    assert sorted(status for _, status in database.rows('select run_id, status from audit.pipeline_runs')) in (
        ['published', 'superseded'], ['published', 'unchanged'])
    truths = json.loads((data / 'truths.json').read_text())
    tables = published_tables(database)
    assert tables == {name: truths[name] for name in tables}
