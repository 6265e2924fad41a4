"""End to end through a real `mage start` server: log in, trigger the pipeline by its API trigger,
follow the run to its end. No mocks; the server is always stopped."""
import pytest

from tests.support.mage_server import MageApiError, MageServer
from tests.support.processes import EditorKernel
from tests.support.project import PIPELINE, copy_project

OWNER = ('owner@example.com', 'Test-owner-pw-1')


pytestmark = pytest.mark.server


@pytest.fixture
def repo_copy(tmp_path):
    return copy_project(tmp_path / 'repo')


@pytest.fixture
def dataset_copy(repo_copy):
    return repo_copy / 'dataset'


@pytest.fixture
def server(database, repo_copy, dataset_copy, tmp_path, base_env):
    server = MageServer(base_env(dataset_copy), tmp_path, OWNER, repo=repo_copy)
    try:
        yield server.start()
    finally:
        server.stop()
    assert server.process.poll() is not None, 'the Mage server is still running'


def test_default_admin_login_is_refused(server):
    with pytest.raises(MageApiError, match='invalid'):
        server.login('admin@admin.com', 'admin')
    with pytest.raises(MageApiError):
        server.request('GET', f'pipelines/{PIPELINE}/pipeline_schedules', auth=False)


def test_triggers_in_code_become_schedules(server):
    schedules = {s['name']: s for s in server.schedules(PIPELINE)}
    # daily_refresh is filtered out by its envs (dev, prod): the tests run with ENV=test.
    assert set(schedules) == {'api_trigger'}
    assert schedules['api_trigger']['schedule_type'] == 'api' and schedules['api_trigger']['token']


def test_api_trigger_runs_the_pipeline_to_completion_beside_an_editor_session(server, database, repo_copy,
                                                                              base_env, tmp_path):
    # Someone previews blocks in an editor kernel meanwhile: it must not hold up the triggered run.
    kernel = EditorKernel(repo_copy, base_env(repo_copy / 'dataset', {'MAGE_DATA_DIR': str(tmp_path / 'kernel')}))
    try:
        assert kernel.run('start_run') == 'OK'
        (schedule,) = [s for s in server.schedules(PIPELINE) if s['name'] == 'api_trigger']
        run = server.wait_for_run(server.trigger(schedule)['id'], timeout=120)
        assert kernel.run('load_users') == 'OK'  # its build is still its own
    finally:
        kernel.close()
    assert run['status'] == 'completed', server.run_logs(PIPELINE, run['id'])[-3000:]
    assert {b['status'] for b in server.block_runs(run['id'])} == {'completed'}
    assert database.rows('select count(*) from analytics.answers') == [(4,)]
    assert database.rows('select count(*) from analytics.visitors_by_country where visitors > 0')[0][0] > 0


def test_run_on_a_broken_dataset_fails_and_says_why(server, database, dataset_copy):
    (dataset_copy / 'tables.sql').write_text('create table users (user_id int);')
    (schedule,) = [s for s in server.schedules(PIPELINE) if s['name'] == 'api_trigger']
    run = server.wait_for_run(server.trigger(schedule)['id'])
    assert run['status'] == 'failed'
    failed = [b['block_uuid'] for b in server.block_runs(run['id']) if b['status'] == 'failed']
    assert failed == ['start_run']
    assert 'tables.sql' in server.run_logs(PIPELINE, run['id'])
    assert database.rows("select count(*) from information_schema.schemata where schema_name = 'analytics'") == [(0,)]
