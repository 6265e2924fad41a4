"""Builds and publishing: every run builds in a schema of its own and publishes by repointing views.

A run (a `mage run`, a triggered run, or blocks run in the editor's kernel) starts in
``start_run``: it gets a run id and an empty schema ``build_<run id>``, registered in
``audit.pipeline_runs``, and every block of the run writes there (SQL blocks through the io_config
profile's POSTGRES_SCHEMA, which follows the process's PIPELINE_BUILD_SCHEMA). No run ever
touches another run's build, and no lock is held while a run builds.

Publishing repoints the stable views ``raw.*``, ``staging.*`` and ``analytics.*`` at the run's
tables in one short transaction: ``create or replace view`` keeps every object that others made
on the views (their own views, grants), readers see the previous run or this one and never a mix,
and the locks are taken with a lock_timeout of one second and retried with backoff up to
PUBLISH_WAIT_SECONDS, so a reader is never queued behind the publish for longer than one try.

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
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Iterable, Optional

import psycopg2
import tenacity
from psycopg2 import sql

from mage_project.utils import db
from mage_project.utils.settings import ConfigurationError, ConnectionSettings, keep_failed_builds

log = logging.getLogger(__name__)

# What a run publishes: layer -> the tables of its build that become views in that layer.
PUBLISHED = {
    'raw': ('users', 'user_interaction', 'rejected_rows', 'adjusted_values', 'load_audit'),
    'staging': ('stg_users', 'stg_user_interaction', 'user_activity'),
    'analytics': ('orphan_events_by_type', 'duplicate_events_by_date', 'visitors_by_country',
                  'valuable_users_by_age_group', 'answers'),
}
# The Spark pipeline keeps raw events and staging in Spark: its build in Postgres has the load's
# evidence and the analytics tables. Publishing it drops the views only the Postgres pipeline
# publishes (raw.users, staging.*), so no layer describes another run.
SPARK_PUBLISHED = {
    'raw': ('rejected_rows', 'adjusted_values', 'load_audit'),
    'analytics': PUBLISHED['analytics'],
}
PUBLISHED_BY_PIPELINE = {'event_analytics': PUBLISHED, 'event_analytics_spark': SPARK_PUBLISHED}
LAYERS = tuple(PUBLISHED)


def published_by(pipeline: Optional[str]) -> dict[str, tuple[str, ...]]:
    """What a run of ``pipeline`` publishes (the Postgres pipeline's set when it is not named)."""
    return PUBLISHED_BY_PIPELINE.get(pipeline or 'event_analytics', PUBLISHED)


def relations(published: dict[str, tuple[str, ...]]) -> list[tuple[str, str]]:
    return [(layer, name) for layer, names in published.items() for name in names]
AUDIT = 'audit'
BUILD_PREFIX = 'build_'
# The process's build: read by io_config.yaml (POSTGRES_SCHEMA) and the SQL blocks' raw tables.
BUILD_SCHEMA_VARIABLE = 'PIPELINE_BUILD_SCHEMA'
RUN_ID_VARIABLE = 'PIPELINE_RUN_ID'
# A run that ended without publishing is interrupted, cancelled, failed or abandoned. The builds of
# these two are dropped at once, the others' kept for inspection for BUILD_ABANDON_SECONDS
# (KEEP_FAILED_BUILDS: all kept).
STOPPED_ENDS = ('interrupted', 'cancelled')
RUN_ID = re.compile(r'[a-z0-9][a-z0-9_]{0,39}')
# Fixed advisory lock keys: publishing, and creating the audit schema (both held for a transaction).
PUBLISH_LOCK_KEY = 0x6D616765  # 'mage'
SETUP_LOCK_KEY = 0x6D616766
LOCK_TIMEOUT = '1s'


class BuildError(RuntimeError):
    """This process has no build, or its build is no longer its own."""


class PublishBlocked(RuntimeError):
    """The publish could not take its locks within PUBLISH_WAIT_SECONDS; names the blockers."""


class PublishRefused(RuntimeError):
    """Publishing would drop objects that others made; nothing was changed."""


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
        _drop_build(settings, previous, 'replaced', only_if=('building', 'superseded'))
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
    if row is None or row[0] not in ('building', 'published', 'superseded') or not row[1]:
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
            "  and status in ('superseded', 'building', 'failed', 'interrupted', 'cancelled', 'abandoned') "
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
        if status != 'superseded' and (keep or (status not in STOPPED_ENDS and not ended_long_ago)):
            continue
        if _drop_build(settings, run_id, status):
            dropped.append(run_id)
    return dropped


# ---------------------------------------------------------------------------------------------
# Publish
# ---------------------------------------------------------------------------------------------

_BLOCKERS = """
select distinct a.pid, a.datname, a.usename, coalesce(nullif(a.application_name, ''), '-'), a.state,
       coalesce(a.xact_start, a.backend_start), coalesce(format('%%I.%%I', n.nspname, c.relname), 'the publish lock')
from pg_locks as l
join pg_stat_activity as a on a.pid = l.pid
left join pg_class as c on c.oid = l.relation
left join pg_namespace as n on n.oid = c.relnamespace
where l.granted and a.pid <> pg_backend_pid() and a.datname = current_database()
  and ((l.locktype = 'relation' and n.nspname = any(%s))
       or (l.locktype = 'advisory' and l.objid = %s and l.database = (select oid from pg_database
                                                                      where datname = current_database())))
order by 1
"""


def describe_blockers(settings: Optional[ConnectionSettings], schemas: list[str]) -> str:
    """Who holds locks on the published schemas (or the publish lock) in this database."""
    with db.transaction(settings) as conn, conn.cursor() as cursor:
        cursor.execute(_BLOCKERS, (schemas, PUBLISH_LOCK_KEY))
        rows = cursor.fetchall()
    if not rows:
        return 'no blocking backend is left'
    return '; '.join(f'backend {pid} (database {datname}, user {user}, application {app}, {state} since '
                     f'{since:%Y-%m-%d %H:%M:%S %Z}, on {what})'
                     for pid, datname, user, app, state, since, what in rows)


def _columns(cursor, schema: str, name: str) -> list[tuple[str, str]]:
    cursor.execute('select a.attname, format_type(a.atttypid, a.atttypmod) from pg_attribute a '
                   'join pg_class c on c.oid = a.attrelid join pg_namespace n on n.oid = c.relnamespace '
                   'where n.nspname = %s and c.relname = %s and a.attnum > 0 and not a.attisdropped '
                   'order by a.attnum', (schema, name))
    return cursor.fetchall()


def _relkind(cursor, schema: str, name: str) -> Optional[str]:
    cursor.execute('select c.relkind from pg_class c join pg_namespace n on n.oid = c.relnamespace '
                   'where n.nspname = %s and c.relname = %s', (schema, name))
    row = cursor.fetchone()
    return row[0] if row else None


def _publish_once(conn, build: Build, reader_roles: Iterable[str], published: dict[str, tuple[str, ...]]) -> bool:
    """One try, in one transaction. Returns False if the run was already published (a retry)."""
    ours = relations(published)
    others = sorted({relation for p in PUBLISHED_BY_PIPELINE.values() for relation in relations(p)} - set(ours))
    with conn.cursor() as cursor:
        cursor.execute(sql.SQL('set local lock_timeout = {}').format(sql.Literal(LOCK_TIMEOUT)))
        cursor.execute('select pg_advisory_xact_lock(%s)', (PUBLISH_LOCK_KEY,))
        cursor.execute(sql.SQL('select status from {}.pipeline_runs where run_id = %s for update').format(
            sql.Identifier(AUDIT)), (build.run_id,))
        row = cursor.fetchone()
        if row and row[0] == 'published':
            return False
        if row is None or row[0] != 'building':
            raise BuildError(f'run {build.run_id} cannot publish: its build is {row[0] if row else "unregistered"}')
        kinds = {(layer, name): _relkind(cursor, layer, name) for layer, name in ours + others}
        # Views another pipeline published that this run does not replace describe an older run.
        stale = [relation for relation in others if kinds[relation] == 'v']
        existing = [relation for relation in ours + stale if kinds[relation]]
        if existing:  # one statement, so readers wait at most one lock timeout behind it
            cursor.execute(sql.SQL('lock table {} in access exclusive mode').format(sql.SQL(', ').join(
                sql.Identifier(layer, name) for layer, name in existing)))
        # Plan first: nothing changes unless every relation can be published without dropping
        # an object of someone else.
        plan, refusals = [], []
        for layer, name in ours:
            kind = kinds[layer, name]
            new = _columns(cursor, build.schema, name)
            if not new:
                raise BuildError(f'run {build.run_id}: {build.schema}.{name} is missing; nothing to publish')
            old = _columns(cursor, layer, name) if kind else []
            replace_in_place = kind == 'v' and new[:len(old)] == old
            if kind and not replace_in_place:
                if kind not in ('v', 'r'):
                    refusals.append(f'{layer}.{name} exists and is not a view or table of this pipeline')
                dependents = foreign_dependents(cursor, layer, [name], ours)
                if dependents:
                    refusals.append(f'{layer}.{name} must be recreated (its columns changed), and '
                                    f'{", ".join(dependents)} depend on it')
            plan.append((layer, name, kind if kind and not replace_in_place else None))
        for layer, name in stale:
            dependents = foreign_dependents(cursor, layer, [name], ours + stale)
            if dependents:
                refusals.append(f'{layer}.{name} (published by the other pipeline) would be dropped, and '
                                f'{", ".join(dependents)} depend on it')
        if refusals:
            raise PublishRefused('not published, nothing changed: ' + '; '.join(refusals)
                                 + '. Drop or change those objects, then run again.')
        for layer, name in stale:
            cursor.execute(sql.SQL('drop view {}').format(sql.Identifier(layer, name)))
        for layer in published:
            cursor.execute(sql.SQL('create schema if not exists {}').format(sql.Identifier(layer)))
        for layer, name, drop_kind in plan:
            if drop_kind:
                cursor.execute(sql.SQL('drop {} {}').format(
                    sql.SQL('view' if drop_kind == 'v' else 'table'), sql.Identifier(layer, name)))
            cursor.execute(sql.SQL('create or replace view {} as select * from {}').format(
                sql.Identifier(layer, name), sql.Identifier(build.schema, name)))
        for role in reader_roles:
            for schema in ('analytics', AUDIT):
                cursor.execute(sql.SQL('grant usage on schema {} to {}').format(
                    sql.Identifier(schema), sql.Identifier(role)))
            cursor.execute(sql.SQL('grant select on all tables in schema analytics to {}').format(sql.Identifier(role)))
            cursor.execute(sql.SQL('grant select on {}.pipeline_runs to {}').format(
                sql.Identifier(AUDIT), sql.Identifier(role)))
        cursor.execute(sql.SQL(
            "update {audit}.pipeline_runs set status = 'superseded' where status = 'published'").format(
            audit=sql.Identifier(AUDIT)))
        cursor.execute(sql.SQL(
            "update {audit}.pipeline_runs set status = 'published', published_at = now(), ended_at = now(), "
            'heartbeat_at = now(), '
            'files = (select jsonb_agg(to_jsonb(a) order by a.source_file desc) from {build}.load_audit as a), '
            'answers = (select jsonb_object_agg(q.question_id, q.answer) from {build}.answers as q) '
            'where run_id = %s').format(audit=sql.Identifier(AUDIT), build=sql.Identifier(build.schema)),
            (build.run_id,))
    return True


def publish_retries(wait_seconds: float, sleep=time.sleep) -> tenacity.Retrying:
    """The publish's retry policy: again while a lock is not available (each try waits one second
    for its locks), after 0.25 s, then twice as long each time up to 4 s, and never sleeping past
    ``wait_seconds``; the last LockNotAvailable is raised. Any other error is raised at once."""
    return tenacity.Retrying(
        retry=tenacity.retry_if_exception_type(psycopg2.errors.LockNotAvailable),
        wait=tenacity.wait_exponential(multiplier=0.25, max=4.0),
        stop=tenacity.stop_before_delay(wait_seconds),
        sleep=sleep,
        reraise=True,
    )


def publish(build: Build, reader_roles: Iterable[str], wait_seconds: float,
            settings: Optional[ConnectionSettings] = None,
            published: Optional[dict[str, tuple[str, ...]]] = None) -> None:
    """Repoint the published views at ``build``: one transaction, locks taken with a one-second
    lock_timeout and retried with backoff (``publish_retries``) up to ``wait_seconds``; then drop
    the superseded builds of runs that have ended. This run keeps its owner connection until its
    process ends or starts a new run, so its own build stays for the blocks after this one."""
    try:
        for attempt in publish_retries(wait_seconds):
            with attempt, db.transaction(settings, application_name=f'mage_pipeline publish {build.run_id}') as conn:
                _publish_once(conn, build, list(reader_roles), published or PUBLISHED)
    except psycopg2.errors.LockNotAvailable:
        raise PublishBlocked(
            f'run {build.run_id} not published: the published views stayed locked for '
            f'{wait_seconds:g}s (PUBLISH_WAIT_SECONDS); the previous tables stay. Blocked by '
            + describe_blockers(settings, list(LAYERS)) + '.') from None
    try:
        cleanup(settings, None)
    except psycopg2.Error as error:  # the run is published; a leftover build waits for the next run
        log.warning('cleanup after publishing failed: %s', error)
