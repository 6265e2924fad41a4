"""A run's plan, kept in its build (file_plan, plan_settings): what it does with each input file
(ingest.manifest), the loads it makes (the load blocks), and the changes its SQL models compute
(state.final_changes and prepare_inputs, the select_changes block).

The plan lives in the build rather than in the process, so a block run again in the editor, or
after another block failed, finds what the run already loaded and does not load it twice.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd
from psycopg2 import sql

from mage_project.builds import lifecycle, state
from mage_project.catalog import AUDIT, numbers
from mage_project.core import db
from mage_project.core.settings import max_rejected_share
from mage_project.ingest.files import InputFile, LocalFiles, read_ddl
from mage_project.ingest.load import load_file
from mage_project.ingest.manifest import LOADS_ACTIONS, FileState, Plan, Planned

PLAN_COLUMNS = ('relative', 'target_table', 'action', 'load_id', 'size', 'mtime_ns', 'inode', 'sha256', 'file_date',
                'note', 'original')


def record_plan(cursor, schema: str, plan: Plan, folder: str) -> None:
    """The plan in the build: a row per input file, and the run's settings."""
    build = sql.Identifier(schema)
    cursor.execute(sql.SQL(
        'create table {}.file_plan (relative text primary key, target_table text not null, action text not null, '
        'load_id bigint, size bigint not null, mtime_ns bigint not null, inode bigint not null, sha256 text, '
        'file_date date, note text not null, original text, position serial)').format(build))
    for planned in plan.files:
        cursor.execute(sql.SQL('insert into {}.file_plan ({}) values ({})').format(
            build, sql.SQL(', ').join(map(sql.Identifier, PLAN_COLUMNS)), sql.SQL(', ').join([sql.Placeholder()] * 11)),
            (planned.file.relative, f'raw.{planned.file.table}', planned.action, planned.load_id, planned.state.size,
             planned.state.mtime_ns, planned.state.inode, planned.sha256, planned.file.file_date, planned.note,
             planned.original))
    cursor.execute(sql.SQL(
        'create table {}.plan_settings as select %s::boolean as full_refresh, %s::date as window_from, '
        '%s::date as window_to, %s::text as dataset_dir, %s::bigint as high_water, %s::text[] as ignored, '
        '%s::text[] as missing, %s::text as reason').format(build),
        (plan.full_refresh, plan.window[0] if plan.window else None, plan.window[1] if plan.window else None,
         folder, plan.high_water, list(plan.ignored), [load.source_file for load in plan.missing], plan.reason))


def read_plan(cursor, schema: str) -> tuple[list[Planned], dict]:
    """The build's plan: its files (in plan order) and settings."""
    build = sql.Identifier(schema)
    cursor.execute(sql.SQL('select full_refresh, window_from, window_to, dataset_dir, high_water, ignored, missing, '
                           'reason from {}.plan_settings').format(build))
    settings = dict(zip(('full_refresh', 'window_from', 'window_to', 'dataset_dir', 'high_water', 'ignored',
                         'missing', 'reason'), cursor.fetchone()))
    cursor.execute(sql.SQL('select {} from {}.file_plan order by position').format(
        sql.SQL(', ').join(map(sql.Identifier, PLAN_COLUMNS)), build))
    folder = Path(settings['dataset_dir'])
    files = []
    for relative, target, action, load_id, size, mtime_ns, inode, sha, day, note, original in cursor.fetchall():
        found = InputFile(target.split('.', 1)[1], str(folder / relative), relative, day)
        files.append(Planned(found, action, FileState(size, mtime_ns, inode), sha, load_id, note, original))
    return files, settings


def plan_summary(files: list[Planned], settings: dict) -> str:
    """The plan in one line: Plan.summary on the recorded plan."""
    return Plan(files, list(settings['missing']), tuple(settings['ignored']), settings['full_refresh'],
                reason=settings['reason']).summary()


def _report(cursor, files: list[Planned]) -> pd.DataFrame:
    """A row per file: what the run did with it, and the counts of the load that holds its rows."""
    ids = [p.load_id for p in files if p.load_id is not None]
    cursor.execute(sql.SQL('select load_id, lines_read, rows_loaded, rows_rejected, values_adjusted from {}.file_loads '
                           'where load_id = any(%s)').format(sql.Identifier(AUDIT)), (ids,))
    counts = {row[0]: row[1:] for row in cursor.fetchall()}
    rows = []
    for p in files:
        numbers_ = counts.get(p.load_id, (None,) * 4)
        rows.append({'source_file': p.file.relative, 'action': p.action, 'load_id': p.load_id,
                     'lines_read': numbers_[0], 'rows_loaded': numbers_[1], 'rows_rejected': numbers_[2],
                     'values_adjusted': numbers_[3], 'note': p.note})
    return pd.DataFrame(rows, columns=['source_file', 'action', 'load_id', 'lines_read', 'rows_loaded',
                                       'rows_rejected', 'values_adjusted', 'note'])


def load_planned(table_name: str, run_variables: dict | None = None) -> pd.DataFrame:
    """The load blocks: load each file of ``table_name`` that the plan says to load (and that this
    run has not loaded yet), one transaction each, recording its load in the plan. Returns a row per
    file of the table, loaded or not (_report)."""
    build = lifecycle.ensure_owned()
    max_share = max_rejected_share((run_variables or {}).get('max_rejected_share'))
    with db.transaction() as conn, conn.cursor() as cursor:
        files, settings = read_plan(cursor, build.schema)
    table = read_ddl(LocalFiles(), settings['dataset_dir'])[table_name]
    for planned in files:
        if planned.file.table != table_name or planned.action not in LOADS_ACTIONS or planned.load_id is not None:
            continue
        loaded = load_file(planned, table, build.run_id, settings['dataset_dir'], max_share, settings['high_water'])
        with db.transaction() as conn, conn.cursor() as cursor:
            cursor.execute(sql.SQL('update {}.file_plan set load_id = %s, action = %s, note = %s '
                                   'where relative = %s').format(sql.Identifier(build.schema)),
                           (loaded.load_id, planned.action if loaded.read else 'adopt', loaded.note or planned.note,
                            planned.file.relative))
    with db.transaction() as conn, conn.cursor() as cursor:
        files, _ = read_plan(cursor, build.schema)
        return _report(cursor, [p for p in files if p.file.table == table_name])


def _unloaded(build: lifecycle.Build, files: list[Planned], table: str | None = None) -> None:
    unloaded = [p.file.relative for p in files if p.action in LOADS_ACTIONS and p.load_id is None
                and table in (None, p.file.table)]
    if unloaded:
        raise lifecycle.BuildError(f'run {build.run_id}: {", ".join(unloaded)} not loaded yet: run the load '
                                   'blocks first')


def select_users(run_variables: dict | None = None) -> None:
    """The users this run's models read (state.prepare_users), decided as soon as users.csv is
    loaded, by the load_users block (state.final_changes, whose users part does not depend on the
    events): stg_users need not wait for the events."""
    build = lifecycle.ensure_owned()
    with db.transaction() as conn, conn.cursor() as cursor:
        files, settings = read_plan(cursor, build.schema)
        _unloaded(build, files, 'users')
        changes = state.final_changes(cursor, build.schema, state.read_state(cursor), numbers(run_variables))
        state.prepare_users(cursor, build.schema, changes, read_ddl(LocalFiles(), settings['dataset_dir']))


def select_changes(run_variables: dict | None = None) -> pd.DataFrame:
    """The select_changes block: what this run changes against the published state
    (state.final_changes), made into the inputs of its SQL models (state.prepare_inputs; the users
    input stays as load_users made it: select_users). Returns one row saying so."""
    build = lifecycle.ensure_owned()
    numbers_ = numbers(run_variables)
    with db.transaction() as conn, conn.cursor() as cursor:
        files, settings = read_plan(cursor, build.schema)
        _unloaded(build, files)
        tables = read_ddl(LocalFiles(), settings['dataset_dir'])
        current = state.read_state(cursor)
        changes = state.final_changes(cursor, build.schema, current, numbers_)
        state.prepare_inputs(cursor, build.schema, changes, current, tables, keep_users=True)
    mode = ('full refresh' if changes.full_refresh else 'from nothing' if not changes.base_from_state else
            'all counts again (other question numbers)' if not changes.has_base else 'incremental')
    return pd.DataFrame([{
        'files': plan_summary(files, settings),
        'loads_added': len(changes.adds), 'loads_retired': len(changes.retires),
        'users_changed': changes.users_added, 'mode': mode,
        'changes': 'nothing new: nothing to publish' if changes.nothing else 'to publish',
    }])

