"""Postgres failing under the pipeline: unreachable from the start, or restarted in mid-run."""
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg2
import pytest

from tests.support.database import Database, snapshot
from tests.support.mage_server import free_port
from tests.support.processes import wait_until
from tests.support.project import MAGE, PIPELINE, REPO, copy_project, output
from tools import local_pg


def test_unreachable_postgres_fails_fast_naming_host_and_port(run_pipeline, tmp_path):
    port = free_port()  # nothing listens there
    started = time.monotonic()
    process = run_pipeline(REPO / 'dataset', {'POSTGRES_HOST': '127.0.0.1', 'POSTGRES_PORT': str(port)}, check=False)
    seconds = time.monotonic() - started
    assert process.returncode != 0
    error = ' '.join(output(process).split()[-40:])  # the traceback's last lines: the error itself
    assert f'DatabaseUnavailable: cannot connect to Postgres at 127.0.0.1:{port}/' in error, error
    assert seconds < 60, f'took {seconds:.0f}s to fail'


@pytest.fixture
def own_server():
    """A Postgres of this test's own, which the test may stop and start."""
    data_dir = Path(tempfile.mkdtemp(prefix='pgdata-restart-'))
    env = local_pg.start(data_dir)
    conn = psycopg2.connect(host=env['POSTGRES_HOST'], port=env['POSTGRES_PORT'], user=env['POSTGRES_USER'],
                            dbname='postgres')
    conn.autocommit = True
    with conn.cursor() as cursor:
        cursor.execute('create database restart_test')
    conn.close()
    yield data_dir, Database(dict(env, POSTGRES_DB='restart_test'))
    local_pg.stop(data_dir)
    shutil.rmtree(data_dir, ignore_errors=True)


def test_restart_in_mid_run_never_publishes_partial_tables(own_server, base_env, tmp_path):
    data_dir, database = own_server
    repo = copy_project(tmp_path / 'repo')
    env = base_env(repo / 'dataset', database.env)
    subprocess.run([str(MAGE), 'run', 'mage_project', PIPELINE], cwd=repo, env=env, check=True,
                   capture_output=True)
    before = snapshot(database)

    # valuable_users_by_age_group, the last SQL block, now sleeps, so the restart lands after
    # every other table of the new run is built and before anything is published.
    last = repo / 'mage_project' / 'transformers' / 'valuable_users_by_age_group.sql'
    last.write_text(last.read_text().replace(
        "select * from final order by position",
        "select final.* from final cross join (select pg_sleep(6)) as pause order by position"))
    # A different dataset, so a published run is told apart from the previous one.
    events = repo / 'dataset' / 'user_interaction.csv'
    events.write_text(events.read_text() + "\n'NEW-1', 1, 'VIEW', '2019-07-04 10:00:00'")
    run = subprocess.Popen([str(MAGE), 'run', 'mage_project', PIPELINE, '--test'], cwd=repo, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def sleeping() -> int:
        assert run.poll() is None, 'the run ended before its last SQL block'
        return database.rows("select count(*) from pg_stat_activity where wait_event = 'PgSleep'")[0][0]

    wait_until(sleeping, 120, 'the run reaching its last SQL block')
    local_pg.stop(data_dir)
    local_pg.start(data_dir)
    text, _ = run.communicate(timeout=300)
    print(f'run after the restart ended with {run.returncode}')  # shown with pytest -s

    if run.returncode == 0:  # Mage's retry rebuilt the block and the run published all of it
        after = snapshot(database)
        assert ('NEW-1', 1, 'VIEW') in [row[:3] for row in after['raw.user_interaction']]
        assert len(after['analytics.answers']) == 4
    else:  # the run failed: nothing of it was published
        assert snapshot(database) == before, text[-3000:]
    # Either way the next run works.
    subprocess.run([str(MAGE), 'run', 'mage_project', PIPELINE, '--test'], cwd=repo, env=env, check=True,
                   capture_output=True)
    assert database.rows('select count(*) from analytics.answers') == [(4,)]
