"""The life of a run's build: every run builds in a schema of its own, registered in
audit.pipeline_runs, and its ending is recorded.

A run (a `mage run`, a triggered run, `make run`, or blocks run in the editor's kernel) starts in
``start_run`` (start.py): it gets a run id and an empty schema ``build_<run id>``, and every block of
the run writes there. No run ever touches another run's build, and no lock is held while a run builds.

The one-process rule: ``begin`` points the rest of the run at its build through this process's
environment (PIPELINE_RUN_ID, PIPELINE_BUILD_SCHEMA, which io_config.yaml's POSTGRES_SCHEMA and so
every SQL block read, and PGAPPNAME) and keeps its owner connection in a module global. Both reach
the later blocks only because every pipeline runs them in the process that ran start_run
(``run_pipeline_in_one_process: true`` in each pipeline's metadata.yaml; the editor's kernel is one
process too). tests/project/test_design_rules.py keeps the setting on.

Liveness without locks: a run keeps one idle "owner" connection whose application_name names its
run. A build is abandoned, and dropped by a later run's cleanup, only when no such backend is
left and its heartbeat (updated by every Python block) is older than BUILD_ABANDON_SECONDS.
Builds that were published and then superseded are dropped once their run has ended (no owner
backend) and nothing outside them depends on them; objects of others are never dropped.

How a run ends is recorded with an end time: ``published`` (then ``superseded``), or ``failed``,
``interrupted`` (SIGINT, SIGTERM) or ``cancelled`` (in Mage), or ``abandoned`` when its process
ended without a word. `make run` records its own ending (end_run). For other runs, a later run's
cleanup does it, as soon as the run's process is known to be gone: no owner backend, and its pid
no longer runs on this host, or Mage records its pipeline run as cancelled or failed. The build of
an interrupted or cancelled run is then dropped; that of a failed or abandoned one is kept for
inspection (its rejected rows, say) until BUILD_ABANDON_SECONDS after its end. KEEP_FAILED_BUILDS=1
keeps them all.
"""
from __future__ import annotations

import json
import logging
import os
import re
import secrets
import socket
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Iterable, Optional

import psycopg2
from psycopg2 import sql

from mage_project.builds.state import ensure_store
from mage_project.catalog import AUDIT
from mage_project.core import db
from mage_project.core.settings import ConfigurationError, ConnectionSettings, keep_failed_builds, session_options
from mage_project.ingest.manifest import ensure_manifest

log = logging.getLogger(__name__)

BUILD_PREFIX = 'build_'
# The process's build: read by io_config.yaml (POSTGRES_SCHEMA) and the SQL blocks' raw tables.
BUILD_SCHEMA_VARIABLE = 'PIPELINE_BUILD_SCHEMA'
RUN_ID_VARIABLE = 'PIPELINE_RUN_ID'
# A run that ended without publishing is interrupted, cancelled, failed or abandoned. The builds of
# these two are dropped at once, the others' kept for inspection for BUILD_ABANDON_SECONDS
# (KEEP_FAILED_BUILDS: all kept).
STOPPED_ENDS = ('interrupted', 'cancelled')
RUN_ID = re.compile(r'[a-z0-9][a-z0-9_]{0,39}')
# Fixed advisory lock keys: publishing (publish.py), and creating the audit schema (both held for a
# transaction).
PUBLISH_LOCK_KEY = 0x6D616765  # 'mage'
SETUP_LOCK_KEY = 0x6D616766
LOCK_TIMEOUT = '1s'


class BuildError(RuntimeError):
    """This process has no build, or its build is no longer its own."""


@dataclass(frozen=True)
class Build:
    run_id: str
    schema: str


def new_run_id() -> str:
    """A run id that sorts by start time: 20261128t235301_9f3a1c."""
    return f'{datetime.now(timezone.utc):%Y%m%dt%H%M%S}_{secrets.token_hex(3)}'


def checked_run_id(run_id: Optional[str]) -> str:
    if run_id is None or str(run_id) == '':
        return new_run_id()
    if not RUN_ID.fullmatch(str(run_id)):
        raise ConfigurationError(f'run_id={run_id!r} is not allowed; allowed: lowercase letters, digits and _, '
                                 'at most 40, starting with a letter or digit')
    return str(run_id)


def owner_application(run_id: str) -> str:
    return f'mage_pipeline owner {run_id}'


def block_application(run_id: str) -> str:
    """The application_name of the connections that the run's blocks open (Mage's SQL blocks
    included, through PGAPPNAME): every connection of a run ends with its run id."""
    return f'mage_pipeline block {run_id}'


def origin() -> str:
    return f'{socket.gethostname()} pid {os.getpid()}'


def _process_gone(origin_text: Optional[str]) -> bool:
    """Whether the process that ``origin`` names is known to have ended: it ran on this host and its
    pid no longer exists. On another host (or a pid in use again) nothing is known."""
    match = re.fullmatch(r'(.+) pid (\d+)', origin_text or '')
    if not match or match[1] != socket.gethostname():
        return False
    try:
        os.kill(int(match[2]), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass
    return False


def current() -> Build:
    """This process's build, as start_run set it."""
    run_id, schema = os.getenv(RUN_ID_VARIABLE), os.getenv(BUILD_SCHEMA_VARIABLE)
    if not run_id or not schema:
        raise BuildError('no run has started in this process: run start_run first (it starts the run '
                         'and creates its build schema)')
    return Build(run_id, schema)


# ---------------------------------------------------------------------------------------------
# The owner connection and the registry
# ---------------------------------------------------------------------------------------------

_owner = None  # (Build, connection): marks this process's build as alive; holds no lock


def _open_owner(build: Build, settings: Optional[ConnectionSettings]):
    conn = db.connect(settings, application_name=owner_application(build.run_id), keepalives=True)
    conn.autocommit = True
    with conn.cursor() as cursor:
        # A server-side idle timeout would end the connection that says the run is alive.
        for setting in ('idle_session_timeout', 'idle_in_transaction_session_timeout'):
            try:
                cursor.execute(sql.SQL('set {} = 0').format(sql.Identifier(setting)))
            except psycopg2.errors.UndefinedObject:  # Postgres before 14 has no idle_session_timeout
                pass
    return conn


def _owner_alive() -> bool:
    if _owner is None or _owner[1].closed:
        return False
    try:
        with _owner[1].cursor() as cursor:
            cursor.execute('select 1')
        return True
    except psycopg2.Error:
        return False


def _release_owner() -> None:
    global _owner
    if _owner is not None and not _owner[1].closed:
        _owner[1].close()
    _owner = None


def ensure_audit(conn) -> None:
    """Create the audit schema and audit.pipeline_runs, once per database."""
    with conn.cursor() as cursor:
        cursor.execute('select pg_advisory_xact_lock(%s)', (SETUP_LOCK_KEY,))
        cursor.execute(sql.SQL('create schema if not exists {}').format(sql.Identifier(AUDIT)))
        cursor.execute(sql.SQL(
            'create table if not exists {}.pipeline_runs ('
            'run_id text primary key, build_schema text not null unique, status text not null, '
            'origin text not null, dataset_dir text, started_at timestamptz not null default now(), '
            'heartbeat_at timestamptz not null default now(), published_at timestamptz, '
            'ended_at timestamptz, dropped_at timestamptz, files jsonb, answers jsonb, note text)'
        ).format(sql.Identifier(AUDIT)))
        # Mage's pipeline run of a triggered run: {id, pipeline_uuid, execution_partition}.
        cursor.execute(sql.SQL('alter table {}.pipeline_runs add column if not exists mage_run jsonb').format(
            sql.Identifier(AUDIT)))
        ensure_manifest(cursor)
        ensure_store(cursor)


def begin(run_id: str, dataset_dir: str, settings: Optional[ConnectionSettings], abandon_seconds: float,
          mage_run: Optional[dict] = None) -> Build:
    """Start a run: clean up abandoned and superseded builds (and this process's previous one),
    create and register ``build_<run id>``, open the owner connection and point this process
    (and so every block after this one) at the build. ``mage_run`` names Mage's pipeline run, for a
    triggered run."""
    global _owner
    build = Build(run_id, BUILD_PREFIX + run_id)
    previous = os.getenv(RUN_ID_VARIABLE)
    with db.transaction(settings) as conn:
        ensure_audit(conn)
    if previous and previous != run_id:  # a new run in a long-lived process (the editor's kernel)
        _release_owner()
        _drop_build(settings, previous, 'replaced', only_if=('building', 'superseded', 'unchanged'))
    cleanup(settings, abandon_seconds)
    with db.transaction(settings) as conn, conn.cursor() as cursor:
        cursor.execute(sql.SQL('create schema {}').format(sql.Identifier(build.schema)))
        cursor.execute(sql.SQL(
            "insert into {}.pipeline_runs (run_id, build_schema, status, origin, dataset_dir, mage_run) "
            "values (%s, %s, 'building', %s, %s, %s)").format(sql.Identifier(AUDIT)),
            (build.run_id, build.schema, origin(), dataset_dir, json.dumps(mage_run) if mage_run else None))
    _owner = (build, _open_owner(build, settings))
    os.environ[RUN_ID_VARIABLE] = build.run_id
    os.environ[BUILD_SCHEMA_VARIABLE] = build.schema
    os.environ[db.APPLICATION_NAME_VARIABLE] = block_application(build.run_id)
    os.environ['PGOPTIONS'] = session_options(build_schema=build.schema)
    return build


def end_run(settings: Optional[ConnectionSettings], run_id: str, status: str, note: str) -> Optional[str]:
    """Record that a run ended without publishing (``status``: interrupted, cancelled, failed or abandoned), with its
    end time (for an abandoned run, its last heartbeat), unless it has published: the publish holds the run's audit row while it
    commits, so this waits for a publish in progress and then tells the truth. Returns the run's
    status afterwards (None: never registered)."""
    with db.transaction(settings, application_name='mage_pipeline end') as conn, conn.cursor() as cursor:
        cursor.execute(sql.SQL(
            "update {}.pipeline_runs set status = %s, note = %s, "
            "ended_at = case when %s = 'abandoned' then heartbeat_at else now() end "
            "where run_id = %s and status = 'building' returning status").format(sql.Identifier(AUDIT)),
            (status, note[:2000], status, run_id))
        row = cursor.fetchone()
        if row is None:
            cursor.execute(sql.SQL('select status from {}.pipeline_runs where run_id = %s').format(
                sql.Identifier(AUDIT)), (run_id,))
            row = cursor.fetchone()
    return row[0] if row else None


def cancel_statements(settings: Optional[ConnectionSettings], run_id: str) -> int:
    """Cancel the statements that the run's connections are running (not its owner's, which runs
    none), so its blocks stop now. Returns how many were cancelled."""
    with db.transaction(settings, application_name='mage_pipeline end') as conn, conn.cursor() as cursor:
        cursor.execute(
            "select count(pg_cancel_backend(pid)) from pg_stat_activity where datname = current_database() "
            "and pid <> pg_backend_pid() and state = 'active' and application_name like 'mage_pipeline %%' "
            "and application_name like %s and application_name <> %s",
            ('% ' + run_id, owner_application(run_id)))
        return cursor.fetchone()[0]


def drop_ended(settings: Optional[ConnectionSettings], run_id: str, status: str) -> bool:
    """Drop the build of a run that end_run recorded as ``status``, if that is interrupted or cancelled,
    unless KEEP_FAILED_BUILDS keeps it (a reader on it keeps it too, until a later cleanup). Returns
    whether it was dropped; _drop_build checks the status again, under the audit row's lock."""
    if _owner is not None and _owner[0].run_id == run_id:
        _release_owner()
    if keep_failed_builds() or status not in STOPPED_ENDS:
        return False
    return _drop_build(settings, run_id, status, only_if=(status,))


def ensure_owned(settings: Optional[ConnectionSettings] = None) -> Build:
    """Before a block changes anything: this process's build is still registered as building
    (nobody dropped it), and its owner connection is alive (reopened if the server ended it)."""
    global _owner
    build = current()
    with db.transaction(settings) as conn, conn.cursor() as cursor:
        cursor.execute(sql.SQL(
            'update {}.pipeline_runs set heartbeat_at = now() where run_id = %s returning status, '
            'exists (select from pg_namespace where nspname = build_schema)').format(sql.Identifier(AUDIT)),
            (build.run_id,))
        row = cursor.fetchone()
    # A run that has published may still write its report, whether or not a later run has
    # superseded it since: its build stays while its owner connection lives.
    if row is None or row[0] not in ('building', 'published', 'superseded', 'unchanged') or not row[1]:
        state = 'unregistered' if row is None else (row[0] if row[1] else f'{row[0]}, schema gone')
        raise BuildError(f'run {build.run_id}: its build {build.schema} is no longer usable ({state}); '
                         'the run stops. Start a new run with start_run.')
    if not _owner_alive():
        if _owner is not None:
            log.warning('run %s: the owner connection was closed by the server; reopened', build.run_id)
        _release_owner()
        _owner = (build, _open_owner(build, settings))
    return build


# ---------------------------------------------------------------------------------------------
# Cleanup
# ---------------------------------------------------------------------------------------------

_DEPENDENTS = """
select distinct dependent_ns.nspname, dependent.relname
from pg_depend as d
join pg_rewrite as rule on rule.oid = d.objid
join pg_class as dependent on dependent.oid = rule.ev_class
join pg_namespace as dependent_ns on dependent_ns.oid = dependent.relnamespace
join pg_class as referenced on referenced.oid = d.refobjid
join pg_namespace as referenced_ns on referenced_ns.oid = referenced.relnamespace
where d.classid = 'pg_rewrite'::regclass and d.refclassid = 'pg_class'::regclass
  and referenced_ns.nspname = %s and (%s::text[] is null or referenced.relname = any(%s::text[]))
  and dependent.oid <> referenced.oid
"""


def foreign_dependents(cursor, schema: str, names: Optional[list[str]] = None,
                       ours: Iterable[tuple[str, str]] = ()) -> list[str]:
    """Views of others that depend on the relations of ``schema`` (all, or ``names``): every
    dependent outside ``schema`` itself and outside the (schema, name) pairs in ``ours``."""
    cursor.execute(_DEPENDENTS, (schema, names, names))
    ours = set(ours)
    return sorted(f'{dependent_schema}.{name}' for dependent_schema, name in cursor.fetchall()
                  if dependent_schema != schema and (dependent_schema, name) not in ours)


def _drop_build(settings, run_id: str, status: str, only_if: tuple[str, ...] = ()) -> bool:
    """Drop one registered build schema (if its status is one of ``only_if``, when given), unless
    others' objects depend on it or a reader holds it (then it stays for a later cleanup).
    Returns whether it was dropped."""
    with db.transaction(settings) as conn, conn.cursor() as cursor:
        cursor.execute(sql.SQL('select build_schema, status from {}.pipeline_runs where run_id = %s '
                               'and dropped_at is null for update').format(sql.Identifier(AUDIT)), (run_id,))
        row = cursor.fetchone()
        if row is None or (only_if and row[1] not in only_if):
            return False
        schema = row[0]
        dependents = foreign_dependents(cursor, schema)
        if dependents:
            log.warning('build %s kept: %s depend on it', schema, ', '.join(dependents))
            cursor.execute(sql.SQL('update {}.pipeline_runs set note = %s where run_id = %s').format(
                sql.Identifier(AUDIT)), (f'kept: {", ".join(dependents)} depend on it', run_id))
            return False
        cursor.execute('savepoint drop_build')
        try:
            cursor.execute(sql.SQL('set local lock_timeout = {}').format(sql.Literal(LOCK_TIMEOUT)))
            cursor.execute(sql.SQL('drop schema if exists {} cascade').format(sql.Identifier(schema)))
        except psycopg2.errors.LockNotAvailable:
            cursor.execute('rollback to savepoint drop_build')
            log.warning('build %s kept for now: a reader holds one of its tables', schema)
            return False
        cursor.execute(sql.SQL(
            'update {}.pipeline_runs set status = %s, dropped_at = now(), '
            "ended_at = coalesce(ended_at, case when %s = 'abandoned' then heartbeat_at else now() end) "
            'where run_id = %s').format(sql.Identifier(AUDIT)), (status, status, run_id))
    return True


def _mage_run_status(mage_run: Optional[dict]) -> Optional[str]:
    """The status Mage records for its pipeline run ``mage_run`` ({id, pipeline_uuid,
    execution_partition}), read from Mage's database in this process; None when this process has no
    such run (another Mage database, or not in Mage)."""
    if not mage_run or not mage_run.get('id'):
        return None
    try:
        from mage_ai.orchestration.db.models.schedules import PipelineRun

        run = PipelineRun.query.get(int(mage_run['id']))
    except Exception:  # noqa: BLE001 - no Mage database here: nothing is known
        return None
    if run is None or run.pipeline_uuid != mage_run.get('pipeline_uuid') or \
            run.execution_partition != mage_run.get('execution_partition'):
        return None
    return str(getattr(run.status, 'value', run.status))


def _ending(heartbeat_old: bool, run_origin: Optional[str], mage_run: Optional[dict]) -> Optional[str]:
    """How a run registered as building, without an owner backend, has ended; None while it may
    still be running."""
    mage_status = _mage_run_status(mage_run)
    if mage_status in ('cancelled', 'failed'):
        return mage_status
    if heartbeat_old or _process_gone(run_origin):
        return 'abandoned'
    return None


def cleanup(settings: Optional[ConnectionSettings], abandon_seconds: Optional[float]) -> list[str]:
    """Record how the runs without an owner backend ended, and drop their builds: superseded ones;
    interrupted and cancelled ones; failed and abandoned ones once ``abandon_seconds`` have passed
    since their end (None: kept), so their evidence can be read meanwhile. A run still registered as
    building has ended when its process is known to be gone (_ending), or after ``abandon_seconds``
    without a heartbeat. KEEP_FAILED_BUILDS keeps every build of a run that did not publish. A live
    run's build is never touched. Returns the run ids dropped."""
    with db.transaction(settings) as conn, conn.cursor() as cursor:
        cursor.execute(sql.SQL(
            'select run_id, status, origin, mage_run, '
            '       %s::float is not null and heartbeat_at < now() - make_interval(secs => %s::float), '
            '       %s::float is not null and coalesce(ended_at, heartbeat_at) < now() - make_interval(secs => %s::float) '
            'from {audit}.pipeline_runs as r '
            'where dropped_at is null '
            '  and not exists (select from pg_stat_activity as a where a.datname = current_database() '
            '                  and a.application_name = %s || r.run_id) '
            "  and status in ('superseded', 'unchanged', 'building', 'failed', 'interrupted', 'cancelled', "
            "'abandoned') "
            'order by started_at').format(audit=sql.Identifier(AUDIT)),
            (abandon_seconds, abandon_seconds, abandon_seconds, abandon_seconds, owner_application('')))
        candidates = cursor.fetchall()
    keep = keep_failed_builds()
    dropped = []
    for run_id, status, run_origin, mage_run, heartbeat_old, ended_long_ago in candidates:
        if status == 'building':
            status = _ending(heartbeat_old, run_origin, mage_run)
            if status is None:
                continue
            # Recorded first, so the audit tells the truth even while its build stays; then the
            # statements the run's process left running on the server are cancelled.
            end_run(settings, run_id, status, f'{status}: found by a later run')
            cancel_statements(settings, run_id)
            ended_long_ago = heartbeat_old
        if status not in ('superseded', 'unchanged') and (keep or (status not in STOPPED_ENDS and not ended_long_ago)):
            continue
        if _drop_build(settings, run_id, status):
            dropped.append(run_id)
    return dropped
