"""Publishing a run: repoint the stable views of raw, staging, intermediate and analytics at the
run's build in one short transaction.

``create or replace view`` keeps every object that others made on the views (their own views,
grants); readers see the previous run or this one and never a mix; and the locks are taken with a
lock_timeout of one second and retried with backoff up to PUBLISH_WAIT_SECONDS, so a reader is
never queued behind the publish for longer than one try. Afterwards the builds of runs that have
ended and been superseded are dropped (lifecycle.cleanup).
"""
from __future__ import annotations

import time
from typing import Iterable, Optional

import psycopg2
import tenacity
from psycopg2 import sql

from mage_project.builds.lifecycle import (
    AUDIT,
    LOCK_TIMEOUT,
    PUBLISH_LOCK_KEY,
    Build,
    BuildError,
    cleanup,
    foreign_dependents,
    log,
)
from mage_project.catalog import LAYERS, PIPELINES, published_by
from mage_project.core import db
from mage_project.core.settings import ConnectionSettings


class PublishBlocked(RuntimeError):
    """The publish could not take its locks within PUBLISH_WAIT_SECONDS; names the blockers."""


class PublishRefused(RuntimeError):
    """Publishing would drop objects that others made; nothing was changed."""


def relations(published: dict[str, tuple[str, ...]]) -> list[tuple[str, str]]:
    return [(layer, name) for layer, names in published.items() for name in names]


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
    others = sorted({relation for p in PIPELINES for relation in relations(published_by(p))} - set(ours))
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
                _publish_once(conn, build, list(reader_roles), published or published_by(None))
    except psycopg2.errors.LockNotAvailable:
        raise PublishBlocked(
            f'run {build.run_id} not published: the published views stayed locked for '
            f'{wait_seconds:g}s (PUBLISH_WAIT_SECONDS); the previous tables stay. Blocked by '
            + describe_blockers(settings, list(LAYERS)) + '.') from None
    try:
        cleanup(settings, None)
    except psycopg2.Error as error:  # the run is published; a leftover build waits for the next run
        log.warning('cleanup after publishing failed: %s', error)
