"""The editor, triggered runs and analysts side by side: every run builds in a schema of its own,
nobody holds a lock while building, publishing waits at most PUBLISH_WAIT_SECONDS and never
queues readers for longer than one lock timeout, and objects of others survive."""
import json
import re
import threading
import time

import psycopg2

from mage_project.builds.lifecycle import PUBLISH_LOCK_KEY
from mage_project.builds.publish import publish_retries
from mage_project.models.sql import block_uuids
from tests.support.database import published_tables, snapshot, wait_for
from tests.support.processes import EditorKernel, start
from tests.support.project import REPO, copy_project, output, slow_project
from tools.datagen.generate import Plan, generate
from tools.datagen.traps import plant

BUILD_BLOCKS = tuple(block_uuids()[:block_uuids().index('answers') + 1])  # up to the answers


def pipeline_locks(database) -> list[tuple]:
    """Locks held by any connection of the pipeline in this database (an idle one holds none)."""
    return database.rows(
        "select a.application_name, l.locktype, l.mode from pg_locks l join pg_stat_activity a using (pid) "
        "where a.datname = current_database() and a.application_name like 'mage_pipeline%%' "
        "and l.locktype <> 'virtualxid'")


# Runs that publish even with nothing new: a full refresh loads every file again.
REBUILD = {'full_refresh': True}


def runs(database) -> dict[str, str]:
    return dict(database.rows('select run_id, status from audit.pipeline_runs'))


def test_blocks_run_in_the_editor_never_block_a_triggered_run(run_pipeline, base_env, database, tmp_path):
    repo = copy_project(tmp_path / 'repo')
    kernel = EditorKernel(repo, base_env(repo / 'dataset', {'MAGE_DATA_DIR': str(tmp_path / 'kernel')}))
    try:
        for block in BUILD_BLOCKS[:4]:
            assert kernel.run(block) == 'OK', block
        assert pipeline_locks(database) == []  # the kernel keeps a connection, but no lock
        (editor_run,) = runs(database)
        # A triggered run meanwhile: it builds in its own schema and publishes without waiting.
        started = time.monotonic()
        run_pipeline(REPO / 'dataset', {'PUBLISH_WAIT_SECONDS': '5'})
        assert time.monotonic() - started < 60
        assert runs(database)[editor_run] == 'building'  # the editor's build was left alone
        # The editor goes on in its own build and can publish it too.
        for block in BUILD_BLOCKS[4:] + ('publish_analytics',):
            assert kernel.run(block) == 'OK', block
    finally:
        kernel.close()
    # The triggered run published the files the editor had loaded (each loaded once); the editor's
    # publish then had nothing new.
    statuses = runs(database)
    assert statuses[editor_run] == 'unchanged' and sorted(statuses.values()) == ['published', 'unchanged']
    assert database.rows('select source_file, count(*) from audit.file_loads group by 1 having count(*) > 1') == []
    truths = json.loads((REPO / 'dataset' / 'truths.json').read_text())
    tables = published_tables(database)
    assert tables == {name: truths[name] for name in tables}


def test_a_second_run_never_drops_a_build_whose_owner_connection_was_ended(base_env, database, tmp_path):
    first = start(base_env, slow_project(tmp_path), tmp_path=tmp_path)
    wait_for(database, "select count(*) from pg_stat_activity where wait_event = 'PgSleep'")
    # The server ends the first run's owner connection (idle_session_timeout, a proxy, a failover).
    assert wait_for(database, "select pg_terminate_backend(pid) from pg_stat_activity "
                              "where application_name like 'mage_pipeline owner %'")
    second = start(base_env, REPO, tmp_path=tmp_path)
    outputs = [run.communicate(timeout=600)[0] for run in (second, first)]
    assert [second.returncode, first.returncode] == [0, 0], [o[-3000:] for o in outputs]
    assert sorted(runs(database).values()) in (['published', 'superseded'], ['published', 'unchanged'])
    truths = json.loads((REPO / 'dataset' / 'truths.json').read_text())
    tables = published_tables(database)
    assert tables == {name: truths[name] for name in tables}


def test_a_reader_in_an_open_transaction_makes_the_publish_fail_clearly_without_queueing_others(
        run_pipeline, database, tmp_path):
    run_pipeline(REPO / 'dataset')
    before = snapshot(database)
    reader = database.connect()
    reader.autocommit = True
    with reader.cursor() as cursor:
        cursor.execute("set application_name = 'analyst_notebook'")
    reader.autocommit = False
    with reader.cursor() as cursor:
        cursor.execute('select count(*) from analytics.answers')  # and then stays idle in transaction
    latencies, done = [], threading.Event()

    def another_reader():
        conn = database.connect()
        conn.autocommit = True
        with conn.cursor() as cursor:
            while not done.is_set():
                began = time.monotonic()
                cursor.execute('select count(*) from analytics.answers')
                latencies.append(time.monotonic() - began)
                time.sleep(0.05)
        conn.close()

    watcher = threading.Thread(target=another_reader)
    watcher.start()
    try:
        started = time.monotonic()
        process = run_pipeline(REPO / 'dataset', {'PUBLISH_WAIT_SECONDS': '6'}, check=False, runtime_vars=REBUILD)
        seconds = time.monotonic() - started
    finally:
        done.set()
        watcher.join()
        pid = reader.get_backend_pid()
        reader.rollback()
        reader.close()
    text = ' '.join(output(process).split())
    assert process.returncode != 0
    assert 'not published: the published views stayed locked for 6s (PUBLISH_WAIT_SECONDS)' in text
    assert re.search(rf'backend {pid} \(database {database.env["POSTGRES_DB"]}, user \w+, application '
                     r'analyst_notebook, idle in transaction since [0-9-]+ [0-9:]+', text), text[-2000:]
    assert seconds < 60
    assert latencies and max(latencies) < 3, f'a reader (behind a 6 s publish attempt) waited {max(latencies):.1f}s'
    assert snapshot(database) == before
    run_pipeline(REPO / 'dataset', runtime_vars=REBUILD)  # with the reader gone, the next run publishes


def tries_of(wait_seconds: float, outcomes: list) -> tuple[int, list[float], str]:
    """Run publish_retries over ``outcomes`` (an exception to raise, or None for success) with a
    sleep that only records; returns (tries, sleeps, the name of the error raised or '')."""
    sleeps, tries = [], 0
    try:
        for attempt in publish_retries(wait_seconds, sleep=sleeps.append):
            with attempt:
                tries += 1
                if outcomes[tries - 1] is not None:
                    raise outcomes[tries - 1]
    except psycopg2.Error as error:
        return tries, sleeps, type(error).__name__
    return tries, sleeps, ''


def test_a_publish_retries_while_locked_with_backoff_and_never_sleeps_past_its_wait():
    locked = psycopg2.errors.LockNotAvailable('canceling statement due to lock timeout')
    assert tries_of(60, [locked, locked, None]) == (3, [0.25, 0.5], '')
    assert tries_of(60, [locked] * 7 + [None]) == (8, [0.25, 0.5, 1.0, 2.0, 4.0, 4.0, 4.0], '')
    # A sleep of 1 s would end past a 1 s wait: the lock error is raised instead.
    assert tries_of(1, [locked] * 10) == (3, [0.25, 0.5], 'LockNotAvailable')
    assert tries_of(0, [locked, None]) == (1, [], 'LockNotAvailable')  # PUBLISH_WAIT_SECONDS=0
    assert tries_of(60, [psycopg2.errors.UndefinedTable('no such view'), None]) == (1, [], 'UndefinedTable')


def test_a_publish_waits_for_another_publish_then_completes(run_pipeline, database):
    holder = database.admin()
    with holder.cursor() as cursor:
        cursor.execute('select pg_advisory_lock(%s)', (PUBLISH_LOCK_KEY,))
    timer = threading.Timer(3, holder.close)  # the other publish ends after 3 s
    timer.start()
    try:
        run_pipeline(REPO / 'dataset', {'PUBLISH_WAIT_SECONDS': '30'})
    finally:
        timer.join()
    assert database.rows('select count(*) from analytics.answers') == [(4,)]


def test_objects_of_others_survive_runs(run_pipeline, database):
    run_pipeline(REPO / 'dataset')
    with database.admin() as admin, admin.cursor() as cursor:
        cursor.execute('create view public.my_answers as select question_id, answer from analytics.answers')
        cursor.execute('create table analytics.my_notes (note text)')
        (build,) = database.rows("select build_schema from audit.pipeline_runs where status = 'published'")[0]
        cursor.execute(f'create view public.pinned as select * from {build}.answers')  # the run's own table
    run_pipeline(REPO / 'dataset', runtime_vars=REBUILD)
    run_pipeline(REPO / 'dataset', runtime_vars=REBUILD)
    assert database.rows('select count(*) from public.my_answers') == [(4,)]
    assert database.rows('select count(*) from analytics.my_notes') == [(0,)]
    # The build the analyst pinned is kept, and says why; the other superseded build is gone.
    assert database.rows('select count(*) from public.pinned') == [(4,)]
    assert database.rows('select status, dropped_at is null, note from audit.pipeline_runs order by started_at') == [
        ('superseded', True, 'kept: public.pinned depend on it'), ('superseded', False, None), ('published', True, None)]


def test_an_old_layout_with_dependents_is_refused_by_name_before_any_change(run_pipeline, database):
    with database.admin() as admin, admin.cursor() as cursor:
        cursor.execute('create schema analytics')
        cursor.execute('create table analytics.answers (question_id text, answer text)')
        cursor.execute('create view public.old_answers as select * from analytics.answers')
    process = run_pipeline(REPO / 'dataset', check=False)
    assert process.returncode != 0
    assert ('not published, nothing changed: analytics.answers must be recreated (its columns changed), '
            'and public.old_answers depend on it') in ' '.join(output(process).split())
    assert database.rows("select table_type from information_schema.tables where table_schema = 'analytics'") == [
        ('BASE TABLE',)]
    assert database.rows("select count(*) from information_schema.schemata where schema_name = 'raw'") == [(0,)]


def test_two_make_runs_at_once_each_print_their_own_answers(base_env, database, tmp_path):
    tied = tmp_path / 'tied'
    generate(tied, Plan(users=60, events=1500, seed=7))
    plant(tied, ['tied-countries'])
    repo = copy_project(tmp_path / 'repo')
    runs_ = [start(base_env, repo, {'DATASET_DIR': str(folder)}, tmp_path, module=True)
             for folder in (repo / 'dataset', tied)]
    outputs = [run.communicate(timeout=600)[0] for run in runs_]
    assert [run.returncode for run in runs_] == [0, 0], [o[-3000:] for o in outputs]
    said = [' '.join(text.split()) for text in outputs]
    assert 'q3. Which country do most of our website visitors come from? DE, with 25 of 60 visitors' in said[0]
    assert 'q3. Which country do most of our website visitors come from? Tie on visitors: DE' in said[1]
    run_ids = [re.search(r'^run (\w+) of event_analytics', text, re.M)[1] for text in outputs]
    assert sorted(runs(database)) == sorted(run_ids)


def test_a_run_superseded_right_after_publishing_still_writes_its_report(base_env, database, tmp_path):
    repo = copy_project(tmp_path / 'slow_report')
    block = repo / 'mage_project' / 'data_exporters' / 'export_answers_report.py'
    block.write_text(block.read_text().replace('    path = write_report(', '    import time\n    time.sleep(8)\n'
                                                                       '    path = write_report('))
    first = start(base_env, repo, tmp_path=tmp_path)
    wait_for(database, "select count(*) from audit.pipeline_runs where status = 'published'")
    second = start(base_env, REPO, tmp_path=tmp_path)  # publishes while the first writes its report
    outputs = [run.communicate(timeout=600)[0] for run in (second, first)]
    assert [second.returncode, first.returncode] == [0, 0], [o[-3000:] for o in outputs]
    assert 'report written to' in outputs[1]
    assert sorted(runs(database).values()) == ['published', 'superseded']
