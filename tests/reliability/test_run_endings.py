"""How a run ends, told truthfully: stopped by SIGINT or SIGTERM at the load, in a SQL block or in
the publish, or cancelled in Mage, a run is recorded with its status and end time and its build is
dropped (or kept, if KEEP_FAILED_BUILDS says so); a report that cannot be written after a publish is
named beside "published"; whatever can be checked is checked at the start; and the summary's last
line gives the failure's own message."""
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.database import snapshot, wait_for
from tests.support.mage_server import MageServer, free_port
from tests.support.processes import wait_until
from tests.support.project import PIPELINE, REPO, copy_project, sample_copy, slow_project
from tools.datagen.generate import Plan, generate

OWNER = ('owner@example.com', 'Test-owner-pw-1')


def make_run(repo: Path, env: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, '-m', 'tools.run'], cwd=repo, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finished(process: subprocess.Popen, timeout: float = 600) -> tuple[int, str]:
    said = process.communicate(timeout=timeout)[0]
    return process.returncode, said


def run_row(database, run_id: str) -> dict:
    row = database.rows('select status, ended_at is not null, dropped_at is not null, note, '
                        'exists (select from pg_namespace where nspname = build_schema) '
                        'from audit.pipeline_runs where run_id = %s', (run_id,))
    assert row, f'run {run_id} is not registered'
    return dict(zip(('status', 'ended', 'dropped', 'note', 'schema_exists'), row[0]))


def run_id_of(said: str) -> str:
    return re.search(r'^run (\w+) of ', said, re.M)[1]


@pytest.fixture(scope='module')
def big_dataset(tmp_path_factory) -> Path:
    """1M events: loading them takes a few seconds, long enough to be caught in the middle."""
    folder = tmp_path_factory.mktemp('big') / 'data'
    generate(folder, Plan(users=50_000, events=1_000_000, seed=5))
    return folder


def caught(process: subprocess.Popen, database, query: str, timeout: float = 300) -> None:
    """Wait until ``query`` finds something while ``process`` still runs (it must not end first)."""
    def seen():
        if process.poll() is not None:
            raise AssertionError(f'the run ended before it was caught: {process.communicate()[0][-3000:]}')
        return database.rows(query)[0][0]

    wait_until(seen, timeout, query, every=0.05)


def own_query(database, like: str) -> str:
    """Active statements of a run's blocks matching ``like``."""
    return ("select count(*) from pg_stat_activity where state = 'active' and application_name like "
            f"'mage_pipeline block %' and query ilike '{like}'")


# Both signals, at each point (SIGINT in a SQL block is the KEEP_FAILED_BUILDS test's).
@pytest.mark.parametrize('point, signum', [('load', signal.SIGINT), ('sql block', signal.SIGTERM),
                                           ('publish', signal.SIGINT), ('publish', signal.SIGTERM)])
def test_a_signal_stops_the_run_records_it_and_drops_its_build(point, signum, base_env, database, tmp_path,
                                                                big_dataset):
    first = make_run(REPO, base_env(REPO / 'dataset'))
    assert finished(first)[0] == 0
    before = snapshot(database)
    reader = None
    if point == 'load':
        process = make_run(REPO, base_env(big_dataset))
        caught(process, database, own_query(database, 'copy %events_%'))
    elif point == 'sql block':
        repo = slow_project(tmp_path, seconds=120)
        process = make_run(repo, base_env(repo / 'dataset'))
        caught(process, database, "select count(*) from pg_stat_activity where wait_event = 'PgSleep'")
    else:  # an analyst's open transaction on the answers keeps the publish retrying
        reader = database.connect()
        with reader.cursor() as cursor:
            cursor.execute('select count(*) from analytics.answers')
        # A copy of the dataset: another DATASET_DIR, so the run has something to publish (a full refresh).
        process = make_run(REPO, base_env(sample_copy(tmp_path), {'PUBLISH_WAIT_SECONDS': '120'}))
        caught(process, database,
               "select count(*) from pg_stat_activity where application_name like 'mage_pipeline publish %'")
    signalled = time.monotonic()
    process.send_signal(signum)
    code, said = finished(process, timeout=120)
    stopped_in = time.monotonic() - signalled
    try:
        lines = said.rstrip().splitlines()
        assert code == 130, said[-3000:]
        name = signal.Signals(signum).name
        assert re.match(rf'run \w+ interrupted by {name} after \d+\.\ds: nothing was published, and the previous '
                        r'tables stay$', lines[-2]), said[-3000:]
        assert 'Traceback' not in said and stopped_in < 30, stopped_in
        row = run_row(database, run_id_of(said))
        assert row == {'status': 'interrupted', 'ended': True, 'dropped': True, 'note': f'stopped by {name}',
                       'schema_exists': False}, row
    finally:
        if reader is not None:
            reader.rollback()
            reader.close()
    time.sleep(2)  # nothing of the stopped run commits later
    assert snapshot(database) == before
    assert run_row(database, run_id_of(said))['status'] == 'interrupted'
    again = make_run(REPO, base_env(REPO / 'dataset'))
    assert finished(again)[0] == 0


def test_keep_failed_builds_keeps_an_interrupted_run_s_build_for_inspection(base_env, database, tmp_path):
    repo = slow_project(tmp_path, seconds=120)
    process = make_run(repo, base_env(repo / 'dataset', {'KEEP_FAILED_BUILDS': '1'}))
    wait_for(database, "select count(*) from pg_stat_activity where wait_event = 'PgSleep'")
    process.send_signal(signal.SIGINT)
    code, said = finished(process, timeout=120)
    assert code == 130, said[-3000:]
    row = run_row(database, run_id_of(said))
    assert row['status'] == 'interrupted' and row['ended'] and not row['dropped'] and row['schema_exists'], row
    # A later run keeps it too, while the setting says so.
    later = make_run(REPO, base_env(REPO / 'dataset', {'KEEP_FAILED_BUILDS': '1'}))
    assert finished(later)[0] == 0
    assert run_row(database, run_id_of(said))['schema_exists']


@pytest.mark.server
def test_a_run_cancelled_in_mage_is_recorded_as_cancelled_by_the_next_run(base_env, database, tmp_path):
    repo = slow_project(tmp_path, seconds=120)
    shared = tmp_path / 'mage_data'
    server = MageServer(base_env(repo / 'dataset'), tmp_path, OWNER, repo=repo)
    server.env['MAGE_DATA_DIR'] = str(shared)
    server.start()
    try:
        (schedule,) = [s for s in server.schedules(PIPELINE) if s['name'] == 'api_trigger']
        triggered = server.trigger(schedule)
        wait_for(database, "select count(*) from pg_stat_activity where wait_event = 'PgSleep'")
        (building,) = database.rows("select run_id from audit.pipeline_runs where status = 'building'")[0]
        server.request('PUT', f'pipeline_runs/{triggered["id"]}', {'pipeline_run': {'status': 'cancelled'}})
        assert server.wait_for_run(triggered['id'], timeout=120)['status'] == 'cancelled'
        # The next run, on the same Mage data folder, finds Mage's word and records it.
        wait_until(lambda: not database.rows("select 1 from pg_stat_activity where application_name = "
                                             "'mage_pipeline owner ' || %s", (building,)), 60, 'the run ending')
        process = make_run(REPO, base_env(REPO / 'dataset', {'MAGE_DATA_DIR': str(shared)}))
        code, said = finished(process)
    finally:
        server.stop()
    assert code == 0, said[-3000:]
    row = run_row(database, building)
    assert row['status'] == 'cancelled' and row['ended'] and row['dropped'] and not row['schema_exists'], row


@pytest.fixture
def small_disk(tmp_path):
    """A folder on a tmpfs of its own, unmounted afterwards (the tests run as root, as CI does)."""
    folder = tmp_path / 'disk'
    folder.mkdir()
    subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', str(folder)], check=True)
    try:
        yield folder
    finally:
        subprocess.run(['umount', '-l', str(folder)], check=True)


def test_a_report_that_cannot_be_written_after_the_publish_is_named_beside_published(base_env, database,
                                                                                     small_disk):
    previous = small_disk / 'answers.html'
    previous.write_text('<p>the previous report</p>\n')
    filler = os.open(small_disk / 'filler', os.O_WRONLY | os.O_CREAT)
    try:  # fill the disk
        while os.write(filler, b'x' * 1024):
            pass
    except OSError:
        pass
    finally:
        os.close(filler)
    process = make_run(REPO, base_env(REPO / 'dataset', {'REPORT_DIR': str(small_disk)}))
    code, said = finished(process)
    assert code == 3, said[-3000:]
    assert re.search(r'^run \w+ published in', said, re.M) and 'q4. ' in said
    assert re.search(r'^run \w+ published, but export_answers_report failed: OSError: \[Errno 28\] No space left '
                     r'on device.*; the report at .*answers.html was not written$', said, re.M), said[-2000:]
    assert previous.read_text() == '<p>the previous report</p>\n'  # written aside, then renamed: never a 0-byte file
    assert sorted(p.name for p in small_disk.iterdir()) == ['answers.html', 'filler']
    assert database.rows("select status from audit.pipeline_runs") == [('published',)]


def nothing_published(database) -> bool:
    return database.rows("select count(*) from information_schema.schemata where schema_name = 'analytics'") == [(0,)]


def test_a_read_only_report_dir_stops_the_run_at_its_start(base_env, database, tmp_path):
    folder = tmp_path / 'read-only'
    folder.mkdir()
    subprocess.run(['mount', '-t', 'tmpfs', '-o', 'ro,size=64k', 'tmpfs', str(folder)], check=True)
    try:
        code, said = finished(make_run(REPO, base_env(REPO / 'dataset', {'REPORT_DIR': str(folder)})))
    finally:
        subprocess.run(['umount', '-l', str(folder)], check=True)
    assert code == 1, said[-3000:]
    assert re.search(rf'failed in start_run .*REPORT_DIR=.{re.escape(str(folder))}.: the report cannot be written in '
                     r'.*\(Read-only file system\)', said), said[-2000:]
    assert nothing_published(database)


def test_an_unknown_reader_role_stops_the_run_at_its_start(base_env, database):
    code, said = finished(make_run(REPO, base_env(REPO / 'dataset', {'ANALYTICS_READER_ROLES': 'analysts,no_such_role'})))
    assert code == 1, said[-3000:]
    assert 'failed in start_run' in said and 'ANALYTICS_READER_ROLES names analysts, no_such_role, which do not ' \
        'exist on' in said, said[-2000:]
    assert nothing_published(database)


def test_the_summary_gives_the_loader_s_reason_not_the_copy_s_context(base_env, database, tmp_path):
    data = sample_copy(tmp_path)
    lines = (data / 'user_interaction.csv').read_bytes().split(b'\n')
    lines[86] = b'x' * (17 << 20)  # line 87: 17 MB without a line break
    (data / 'user_interaction.csv').write_bytes(b'\n'.join(lines))
    code, said = finished(make_run(REPO, base_env(data)))
    last = said.rstrip().splitlines()[-2]
    assert code == 1, said[-3000:]
    assert 'user_interaction.csv, line 87: over 16777216 bytes without a line break' in last, last
    assert 'CONTEXT' not in last and 'QueryCanceled' not in last


def test_an_unreachable_server_gives_the_summary_not_a_traceback(base_env, database):
    port = free_port()
    env = base_env(REPO / 'dataset', {'POSTGRES_HOST': '127.0.0.1', 'POSTGRES_PORT': str(port)})
    code, said = finished(make_run(REPO, env))
    assert code == 1 and 'Traceback' not in said, said[-3000:]
    assert re.search(rf'failed in start_run .*cannot connect to Postgres at 127\.0\.0\.1:{port}/', said), said[-2000:]
    assert re.search(r'^  start_run +failed', said, re.M)


def test_a_dotenv_with_windows_line_endings_is_named_with_its_line(base_env, database, tmp_path):
    repo = copy_project(tmp_path / 'repo')
    (repo / '.env').write_bytes(b'# settings\nENV=test\r\nREPORT_DIR=reports\r\n')
    code, said = finished(make_run(repo, base_env(repo / 'dataset')))
    assert code == 1 and 'Traceback' not in said, said
    assert re.search(r'not started: ConfigurationError: .*/\.env has Windows line endings \(CRLF\) on line 2 and 1 '
                     'more', said), said
    env = base_env(repo / 'dataset', {'REPORT_DIR': 'reports\r'})  # what `set -a; . ./.env` makes of it
    (repo / '.env').unlink()
    code, said = finished(make_run(repo, env))
    assert code == 1 and 'REPORT_DIR ends with a carriage return' in said, said


def test_a_file_written_to_while_it_is_read_is_not_loaded(base_env, database, tmp_path, big_dataset):
    data = tmp_path / 'growing'
    shutil.copytree(big_dataset, data)
    process = make_run(REPO, base_env(data))
    caught(process, database, own_query(database, 'copy %events_%'))
    with (data / 'user_interaction.csv').open('a') as feed:  # the day's file, still being written
        feed.write("\n'0A1B2C3D-0000-0000-0000-000000000000', 1, 'VIEW', '2019-07-04 10:")
    code, said = finished(process)
    assert code == 1, said[-3000:]
    assert 'user_interaction.csv: changed while it was read' in said.rstrip().splitlines()[-2], said[-2000:]
    assert nothing_published(database)


def test_no_room_for_the_rejected_lines_in_tmpdir_names_the_file_and_tmpdir(base_env, database, tmp_path, small_disk):
    data = sample_copy(tmp_path)
    with (data / 'user_interaction.csv').open('a') as feed:  # 2,000 lines that are rejected, some 200 kB
        feed.write(''.join(f"\n'not-a-line-{number:05}' {'x' * 90}" for number in range(2000)))
    env = base_env(data, {'TMPDIR': str(small_disk), 'MAX_REJECTED_SHARE': '1'})
    code, said = finished(make_run(REPO, env))
    last = said.rstrip().splitlines()[-2]
    assert code == 1, said[-3000:]
    assert f'user_interaction.csv: no room to keep its rejected lines and adjusted values aside in {small_disk} ' \
           '(TMPDIR): No space left on device' in last, last
    assert nothing_published(database)


def test_a_failed_run_s_build_stays_for_inspection_then_goes(base_env, database, tmp_path):
    data = sample_copy(tmp_path)
    with (data / 'user_interaction.csv').open('a') as feed:
        feed.write("\n'one bad line'")
    code, said = finished(make_run(REPO, base_env(data, {'MAX_REJECTED_SHARE': '0'})))
    assert code == 1 and 'refusing to publish' in said, said[-3000:]
    failed = run_id_of(said)
    row = run_row(database, failed)
    assert row['status'] == 'failed' and row['ended'] and not row['dropped'] and row['schema_exists'], row
    # The refused file's rejected lines are kept, and the manifest says it was refused, not loaded.
    assert database.rows("select f.status, r.reason from store.rejected_rows r join audit.file_loads f using (load_id) "
                         'where f.run_id = %s', (failed,)) == [
        ('refused', 'has 1 field; expected 4 (event_id, user_id, event_type, event_time)')]
    assert 'The rejected lines are in store.rejected_rows where load_id = ' in said
    env = base_env(REPO / 'dataset', {'BUILD_ABANDON_SECONDS': '3600'})
    assert finished(make_run(REPO, env))[0] == 0
    assert run_row(database, failed)['schema_exists'], 'kept while BUILD_ABANDON_SECONDS have not passed'
    database.rows("update audit.pipeline_runs set ended_at = now() - interval '2 hours' where run_id = %s "
                  'returning 1', (failed,))
    assert finished(make_run(REPO, env))[0] == 0
    row = run_row(database, failed)
    assert row['status'] == 'failed' and row['dropped'] and not row['schema_exists'], row
