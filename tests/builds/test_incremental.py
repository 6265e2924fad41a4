"""Incremental runs against a full refresh: after any sequence of runs, each adding event files
(in any order, split anywhere) and changing users.csv, the published tables equal those of one
full refresh over the final folder, row for row. The runs are the pipeline's own functions in this
process (tests/support/engine.py), so hypothesis can try many sequences."""
from __future__ import annotations

import gzip
import os
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mage_project.ingest.load import check_loads_stored
from tests.support.cases import TINY_DDL
from tests.support.database import Database
from tests.support.engine import environment, run_in_process

# Small pools, so that exact duplicates, repeated and conflicting users, orphans and ties happen.
USER_IDS = st.integers(1, 9)
AGES = st.sampled_from(['18-45', '46-80', '50+', '20-30', 'n/a'])
COUNTRIES = st.sampled_from(['DE', 'UK', 'de', 'FR'])
EVENT_TYPES = st.sampled_from(['VIEW', 'CLICK', 'EXIT', 'view'])
TIMES = st.sampled_from(['2019-05-05 10:00:00', '2019-05-05 11:30:00', '2019-05-06 09:00:00',
                         '2019-05-07 23:59:59'])
EVENT = st.tuples(st.sampled_from([f'E{i}' for i in range(8)]), USER_IDS, EVENT_TYPES, TIMES)
USERS = st.lists(st.tuples(USER_IDS, AGES, COUNTRIES), min_size=1, max_size=10)
# Counted with small numbers, so that valuable users exist.
VARIABLES = {'min_views': 1, 'min_clicks': 1}

PUBLISHED = (
    'analytics.orphan_events_by_type', 'analytics.duplicate_events_by_date', 'analytics.visitors_by_country',
    'analytics.valuable_users_by_age_group', 'analytics.answers',
    'intermediate.int_users', 'intermediate.int_event_copies', 'intermediate.int_user_events',
    'intermediate.int_user_activity', 'staging.stg_users',
    'raw.users', 'raw.rejected_rows', 'raw.adjusted_values',
)


def users_csv(rows) -> str:
    return '\n'.join(f"{user_id}, '{age}', '{country}'" for user_id, age, country in rows)


def events_csv(rows) -> str:
    return '\n'.join(f"'{event_id}', {user_id}, '{kind}', '{time}'" for event_id, user_id, kind, time in rows)


def write_folder(folder: Path, users, files: dict[str, list]) -> Path:
    """A dataset folder: tables.sql, users.csv and the event files of user_interaction/."""
    (folder / 'user_interaction').mkdir(parents=True, exist_ok=True)
    (folder / 'tables.sql').write_text(TINY_DDL)
    (folder / 'users.csv').write_text(users_csv(users))
    for name, rows in files.items():
        (folder / 'user_interaction' / name).write_text(events_csv(rows))
    return folder


def published(database: Database) -> dict[str, list]:
    """What readers see: every published view's rows, and raw.user_interaction's rows without
    their load ids (which differ between two databases by the order of the loads)."""
    tables = {name: sorted(database.rows(f'select * from {name}'), key=repr) for name in PUBLISHED}
    tables['raw.user_interaction'] = sorted(database.rows(
        'select event_id, user_id, event_type, event_time from raw.user_interaction'), key=repr)
    tables['raw.load_audit'] = sorted(database.rows(
        'select source_file, lines_read, rows_loaded, rows_rejected, values_adjusted from raw.load_audit'), key=repr)
    tables['staging.stg_user_interaction'] = sorted(database.rows(
        'select event_id, user_id, event_type, event_time, event_date, is_known_event_type '
        'from staging.stg_user_interaction'), key=repr)
    return tables


@st.composite
def histories(draw):
    """Events split at random into files that arrive in a random order over several runs, and the
    users.csv of each run."""
    events = draw(st.lists(EVENT, min_size=1, max_size=30))
    cuts = sorted(draw(st.sets(st.integers(1, max(1, len(events) - 1)), max_size=4)))
    pieces = [events[a:b] for a, b in zip([0, *cuts], [*cuts, len(events)]) if events[a:b]]
    files = {f'part_{index:02d}.csv': rows for index, rows in enumerate(pieces)}
    order = draw(st.permutations(sorted(files)))
    runs = draw(st.integers(1, len(order)))
    stops = sorted(draw(st.sets(st.integers(1, len(order) - 1), min_size=runs - 1, max_size=runs - 1))) \
        if len(order) > 1 else []
    arrivals = [list(order[a:b]) for a, b in zip([0, *stops], [*stops, len(order)])]
    snapshots = [draw(USERS) for _ in arrivals]
    return files, arrivals, snapshots


# A few sequences in make test-fast; many more in CI (.ci/run sets CI=1).
@settings(max_examples=60 if os.getenv('CI') else 2, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=histories())
def test_incremental_runs_equal_one_full_refresh(databases, tmp_path_factory, history):
    files, arrivals, snapshots = history
    incremental, full = databases(), databases()
    folder, work = tmp_path_factory.mktemp('arriving'), tmp_path_factory.mktemp('work')
    arrived: dict[str, list] = {}
    for names, users in zip(arrivals, snapshots):
        arrived.update({name: files[name] for name in names})
        write_folder(folder, users, arrived)
        # A run of re-delivered files only (byte-identical to one loaded) has nothing to publish.
        assert run_in_process(incremental.env, folder, work, VARIABLES) in ('published', 'unchanged')
    final = write_folder(tmp_path_factory.mktemp('final'), snapshots[-1], files)
    assert run_in_process(full.env, final, work, {**VARIABLES, 'full_refresh': True}) == 'published'
    assert published(incremental) == published(full)


def test_files_of_the_take_home_dialect_load_as_one_file_wherever_they_sit(databases, tmp_path):
    """CRLF line endings, a byte-order mark and gzip, each in a file of the folder, load as the same
    lines in one user_interaction.csv do: the published tables are the same."""
    rows = [('E1', 1, 'VIEW', '2019-05-05 10:00:00'), ('E1', 1, 'VIEW', '2019-05-05 10:00:00'),
            ('E2', 2, 'CLICK', '2019-05-06 09:00:00'), ('E3', 9, 'EXIT', '2019-05-07 23:59:59'),
            ('E4', 1, 'CLICK', '2019-05-05 11:30:00'), ('E5', 2, 'VIEW', '2019-05-06 09:00:00')]
    users = [(1, '18-45', 'DE'), (2, '46-80', 'UK')]
    folder = write_folder(tmp_path / 'folder', users, {})
    events = folder / 'user_interaction'
    (events / '2019-05-05.csv').write_bytes(b'\xef\xbb\xbf' + events_csv(rows[:2]).encode())  # a BOM
    (events / '2019-05-06.csv').write_bytes(events_csv(rows[2:4]).replace('\n', '\r\n').encode() + b'\r\n')
    (events / '2019-05-07.csv.gz').write_bytes(gzip.compress(events_csv(rows[4:]).encode()))
    single = tmp_path / 'single'
    single.mkdir()
    (single / 'tables.sql').write_text(TINY_DDL)
    (single / 'users.csv').write_text(users_csv(users))
    (single / 'user_interaction.csv').write_text(events_csv(rows))
    as_folder, as_one = databases(), databases()
    assert run_in_process(as_folder.env, folder, tmp_path / 'work', VARIABLES) == 'published'
    assert run_in_process(as_one.env, single, tmp_path / 'work', VARIABLES) == 'published'
    seen = published(as_folder)
    assert len(seen['raw.user_interaction']) == len(rows) and seen['raw.rejected_rows'] == []
    assert {**seen, 'raw.load_audit': None} == {**published(as_one), 'raw.load_audit': None}
    assert sorted(row[:2] for row in seen['raw.load_audit']) == [
        ('user_interaction/2019-05-05.csv', 2), ('user_interaction/2019-05-06.csv', 2),
        ('user_interaction/2019-05-07.csv.gz', 2), ('users.csv', 2)]


def test_the_publish_outwaits_a_vacuum_of_the_tables_it_moves(databases, tmp_path):
    """Autovacuum locks the build's tables that the publish moves into the state. Postgres cancels it
    once a lock request has waited deadlock_timeout (1 s), so the publish must wait longer than its
    usual lock_timeout of 1 s there, or it gives up first on every try. Here a session holds that
    lock for 2.5 s, and the publish has one try (PUBLISH_WAIT_SECONDS=0): it waits, and publishes."""
    database = databases()
    folder = write_folder(tmp_path / 'folder', [(1, '18-45', 'DE')],
                          {'a.csv': [('E1', 1, 'VIEW', '2019-05-05 10:00:00')]})
    held, threads = threading.Event(), []

    def vacuum_like(build) -> None:
        def hold() -> None:
            conn = database.connect()
            with conn, conn.cursor() as cursor:
                cursor.execute(f'lock table {build.schema}.int_event_copy_changes in share update exclusive mode')
                held.set()
                time.sleep(2.5)
            conn.close()
        threads.append(threading.Thread(target=hold))
        threads[0].start()
        assert held.wait(10)

    started = time.monotonic()
    try:
        ended = run_in_process({**database.env, 'PUBLISH_WAIT_SECONDS': '0'}, folder, tmp_path / 'work', VARIABLES,
                               before_publish=vacuum_like)
    finally:
        for thread in threads:
            thread.join()
    assert ended == 'published'
    assert time.monotonic() - started >= 2.5
    assert database.rows('select event_id, copies from intermediate.int_event_copies') == [('E1', 1)]


def test_the_publish_outwaits_an_autovacuum_of_a_table_under_the_views(databases, tmp_path):
    """Locking the published views locks the tables they read, among them every loaded file's: an
    autovacuum of one (slowed down here, to last tens of seconds) held that lock past every 1 s try
    of the publish. Postgres cancels it once a lock request has waited deadlock_timeout; the publish
    waits that long when autovacuum is what blocks it, and publishes on its one try."""
    database = databases()
    with database.admin() as admin, admin.cursor() as cursor:
        cursor.execute('select rolsuper from pg_roles where rolname = current_user')
        if not cursor.fetchone()[0]:
            pytest.skip('needs a superuser to make autovacuum start within a second')
    users = [(1, '18-45', 'DE')]
    first = [(f'E{i}', 1, 'VIEW', '2019-05-05 10:00:00') for i in range(20000)]
    folder = write_folder(tmp_path / 'folder', users, {'a.csv': first})
    assert run_in_process(database.env, folder, tmp_path / 'work', VARIABLES) == 'published'
    (table,) = database.rows("select store_table from audit.file_loads where source_file = 'user_interaction/a.csv'")[0]
    with database.connect() as conn, conn.cursor() as cursor:
        cursor.execute(f'alter table store.{table} set (autovacuum_vacuum_insert_threshold = 1, '
                       'autovacuum_vacuum_insert_scale_factor = 0, autovacuum_vacuum_cost_delay = 100, '
                       'autovacuum_vacuum_cost_limit = 1)')
    admin = database.admin()
    try:
        with admin.cursor() as cursor:
            cursor.execute('alter system set autovacuum_naptime = 1')
            cursor.execute('select pg_reload_conf()')
        deadline = time.monotonic() + 60
        while not database.rows("select 1 from pg_stat_activity where backend_type = 'autovacuum worker' "
                                'and query like %s', (f'%{table}%',)):
            assert time.monotonic() < deadline, f'no autovacuum of store.{table} started'
            time.sleep(0.2)
        write_folder(folder, users, {'b.csv': [('F1', 1, 'CLICK', '2019-05-06 09:00:00')]})
        ended = run_in_process({**database.env, 'PUBLISH_WAIT_SECONDS': '0'}, folder, tmp_path / 'work', VARIABLES)
    finally:
        with admin.cursor() as cursor:
            cursor.execute('alter system reset autovacuum_naptime')
            cursor.execute('select pg_reload_conf()')
        admin.close()
    assert ended == 'published'
    assert database.rows('select count(*) from raw.user_interaction') == [(20001,)]


def test_the_loaders_contract_counts_the_loads_the_run_makes_not_the_history(databases, tmp_path):
    """Each loader block checks that every load it made holds what the manifest records. The loads
    of unchanged files were checked by the run that made them: counting them again made each run
    read the whole history."""
    database = databases()
    folder = write_folder(tmp_path / 'folder', [(1, '18-45', 'DE')],
                          {'a.csv': [('E1', 1, 'VIEW', '2019-05-05 10:00:00'), ('E2', 1, 'CLICK', '2019-05-05 10:00:00')]})
    assert run_in_process(database.env, folder, tmp_path / 'work', VARIABLES) == 'published'
    (load_id, table), = database.rows("select load_id, store_table from audit.file_loads "
                                      "where source_file = 'user_interaction/a.csv'")
    with database.connect() as conn, conn.cursor() as cursor:
        cursor.execute(f"delete from store.{table} where event_id = 'E2'")
    report = pd.DataFrame([{'source_file': 'user_interaction/a.csv', 'action': 'unchanged', 'load_id': load_id,
                            'lines_read': 2, 'rows_loaded': 2, 'rows_rejected': 0}])
    with environment({'PATH': os.environ.get('PATH', ''), 'ENV': 'test', **database.env}):
        check_loads_stored(report)
        with pytest.raises(AssertionError, match='user_interaction/a.csv: store holds 1 rows'):
            check_loads_stored(report.assign(action='new'))
