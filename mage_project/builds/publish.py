"""Publishing a run: repoint the stable views of raw, staging, intermediate and analytics at the
run's build in one short transaction.

``create or replace view`` keeps every object that others made on the views (their own views,
grants); readers see the previous run or this one and never a mix; and the locks are taken with a
lock_timeout of one second and retried with backoff up to PUBLISH_WAIT_SECONDS, so a reader is
never queued behind the publish for longer than one try. Afterwards the builds of runs that have
ended and been superseded are dropped (lifecycle.cleanup).
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Callable, Iterable, Optional

import psycopg2
import tenacity
from psycopg2 import sql

from mage_project.builds import state
from mage_project.builds.lifecycle import (
    LOCK_TIMEOUT,
    PUBLISH_LOCK_KEY,
    Build,
    BuildError,
    cleanup,
    foreign_dependents,
    log,
)
from mage_project.catalog import AUDIT, LAYERS, PIPELINES, STORE, published_by
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
       coalesce(a.xact_start, a.backend_start), coalesce(format('%%I.%%I', n.nspname, c.relname), 'the publish lock'),
       a.backend_type
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


def _holders(cursor, schemas: list[str]) -> list[tuple]:
    """The other backends of this database that hold locks on tables or views of ``schemas`` (or
    the publish lock): pid, database, user, application, state, since, on what, backend type."""
    cursor.execute(_BLOCKERS, (schemas, PUBLISH_LOCK_KEY))
    return cursor.fetchall()


def describe_blockers(settings: Optional[ConnectionSettings], schemas: list[str]) -> str:
    """Who holds locks on the published schemas (or the publish lock) in this database."""
    with db.transaction(settings) as conn, conn.cursor() as cursor:
        rows = _holders(cursor, schemas)
    if not rows:
        return 'no blocking backend is left'
    return '; '.join(f'backend {pid} (database {datname}, user {user}, application {app}, {state} since '
                     f'{since:%Y-%m-%d %H:%M:%S %Z}, on {what})'
                     for pid, datname, user, app, state, since, what, _ in rows)


def _columns(cursor, schema: str, name: str) -> list[tuple[str, str]]:
    cursor.execute('select a.attname, format_type(a.atttypid, a.atttypmod) from pg_attribute a '
                   'join pg_class c on c.oid = a.attrelid join pg_namespace n on n.oid = c.relnamespace '
                   'where n.nspname = %s and c.relname = %s and a.attnum > 0 and not a.attisdropped '
                   'order by a.attnum', (schema, name))
    return cursor.fetchall()


def _query_columns(cursor, query: sql.Composable) -> list[tuple[str, str]]:
    """The columns a view of ``query`` would have (made as a temporary view, then dropped)."""
    cursor.execute(sql.SQL('create temporary view publish_candidate as {}').format(query))
    cursor.execute("select a.attname, format_type(a.atttypid, a.atttypmod) from pg_attribute a "
                   "where a.attrelid = 'pg_temp.publish_candidate'::regclass and a.attnum > 0 order by a.attnum")
    columns = cursor.fetchall()
    cursor.execute('drop view pg_temp.publish_candidate')
    return columns


@dataclass
class Incremental:
    """What the publish of the Postgres pipeline's run needs to apply its changes to the state:
    the run's question numbers and variables, the raw tables' DDL, ``rebuild`` (runs the build's
    SQL models and answers again on a connection, after its inputs changed) and ``check`` (the data
    contracts of the build, as sentences)."""
    numbers: object
    variables: dict
    tables: dict
    rebuild: Callable
    check: Callable


Definitions = dict[tuple[str, str], tuple[sql.Composable, Optional[str]]]


# Applying the state moves, renames and indexes the build's tables, which autovacuum may be
# vacuuming (at 40M events, for minutes). Postgres cancels an autovacuum that blocks a lock request
# for deadlock_timeout (1 s by default): with the publish's usual lock_timeout of 1 s, the request
# gave up first, on every try, and the publish failed after PUBLISH_WAIT_SECONDS. No reader waits
# behind these locks (the build's and the state's own tables), so the wait may be longer.
def _outwaiting_autovacuum(cursor):
    """lock_timeout long enough for Postgres to cancel an autovacuum in the way: 3 x
    deadlock_timeout, at least 10 s (db.local_setting: for the statements inside)."""
    cursor.execute("select greatest(10000, 3 * setting::bigint) || 'ms' from pg_settings "
                   "where name = 'deadlock_timeout'")
    return db.local_setting(cursor, 'lock_timeout', cursor.fetchone()[0])


def _lock_views(cursor, views: list[tuple[str, str]]) -> None:
    """Lock the published views, and so (a view's lock reaches the tables it reads) the state's
    tables under them. If autovacuum holds one of those tables, wait past deadlock_timeout, when
    Postgres cancels it: a vacuum of a large state table lasts minutes, longer than every try of the
    publish. Any other holder (a reader) stands: the 1 s try fails, and the publish tries again."""
    statement = sql.SQL('lock table {} in access exclusive mode').format(sql.SQL(', ').join(
        sql.Identifier(layer, name) for layer, name in views))
    schemas = sorted({STORE, *(layer for layer, _ in views)})

    def outwait_autovacuum() -> bool:
        if not any(row[-1] == 'autovacuum worker' for row in _holders(cursor, schemas)):
            return False
        with _outwaiting_autovacuum(cursor):
            cursor.execute(statement)
        return True

    if outwait_autovacuum():  # after a large publish, autovacuum often is at the state already
        return
    cursor.execute('savepoint lock_views')
    try:
        cursor.execute(statement)
    except psycopg2.errors.LockNotAvailable:
        cursor.execute('rollback to savepoint lock_views')
        if not outwait_autovacuum():
            raise
    cursor.execute('release savepoint lock_views')


def _apply_state(cursor, conn, build: Build, incremental: Incremental) -> tuple[Optional[Definitions], str]:
    """Work out the run's changes against the state as it is now; run its models again if they or
    the state changed since its build was made (rebase); check the contracts; apply the changes.
    Returns the definitions of the published views over the state (None: nothing to publish) and
    a note."""
    current = state.read_state(cursor, lock=True)
    changes = state.final_changes(cursor, build.schema, current, incremental.numbers)
    note = ''
    if json.dumps(changes.key()) != state.prepared_key(cursor, build.schema):
        state.prepare_inputs(cursor, build.schema, changes, current, incremental.tables)
        incremental.rebuild(conn)
        note = 'the state changed while the run built: its models ran again at the publish'
        log.warning('run %s: %s', build.run_id, note)
    failures = incremental.check(conn)
    if failures:
        raise ContractsFailed('not published, the previous tables stay: ' + '; '.join(failures))
    if changes.nothing and _published_views_exist(cursor):
        return None, 'nothing new: nothing published'
    tables = state.apply(cursor, build.schema, build.run_id, changes, current, incremental.numbers)
    return state.definitions(cursor, build.schema, changes, tables, incremental.variables), note


def _published_views_exist(cursor) -> bool:
    """The Postgres pipeline's views are published (another pipeline's publish drops them)."""
    names = [f'{layer}.{name}' for layer, name in relations(published_by(None))]
    cursor.execute('select count(*) from unnest(%s::text[]) as name where to_regclass(name) is null', (names,))
    return cursor.fetchone()[0] == 0


class ContractsFailed(AssertionError):
    """A data contract of the build is broken; nothing was published."""


def _publish_once(conn, build: Build, reader_roles: Iterable[str], published: dict[str, tuple[str, ...]],
                  incremental: Optional[Incremental] = None) -> str:
    """One try, in one transaction. Returns how the run ended: 'published', 'unchanged' (nothing
    new: nothing published), or 'already' (it was published already: a retry)."""
    ours = relations(published)
    others = sorted({relation for p in PIPELINES for relation in relations(published_by(p))} - set(ours))
    with conn.cursor() as cursor:
        cursor.execute(sql.SQL('set local lock_timeout = {}').format(sql.Literal(LOCK_TIMEOUT)))
        cursor.execute('select pg_advisory_xact_lock(%s)', (PUBLISH_LOCK_KEY,))
        cursor.execute(sql.SQL('select status from {}.pipeline_runs where run_id = %s for update').format(
            sql.Identifier(AUDIT)), (build.run_id,))
        row = cursor.fetchone()
        if row and row[0] in ('published', 'unchanged'):
            return 'already'
        if row is None or row[0] != 'building':
            raise BuildError(f'run {build.run_id} cannot publish: its build is {row[0] if row else "unregistered"}')
        definitions: Definitions = {
            (layer, name): (sql.SQL('select * from {}').format(sql.Identifier(build.schema, name)), None)
            for layer, name in ours}
        if incremental is not None:  # before the views' locks: readers are not held while it works
            with _outwaiting_autovacuum(cursor):
                over_state, note = _apply_state(cursor, conn, build, incremental)
            if over_state is None:
                _record_ending(cursor, build, 'unchanged', note)
                return 'unchanged'
            definitions.update(over_state)
        kinds = {(layer, name): state.relkind(cursor, layer, name) for layer, name in ours + others}
        # Views another pipeline published that this run does not replace describe an older run.
        stale = [relation for relation in others if kinds[relation] == 'v']
        existing = [relation for relation in ours + stale if kinds[relation]]
        if existing:  # one statement, so readers wait at most one lock timeout behind it
            _lock_views(cursor, existing)
        # Each relation in layer order (staging reads the published raw views): what it becomes,
        # and whether that is possible without dropping an object of someone else. A refusal rolls
        # the whole transaction back, so nothing changes unless everything can.
        for layer, name in stale:
            dependents = foreign_dependents(cursor, layer, [name], ours + stale)
            if dependents:
                raise PublishRefused(f'not published, nothing changed: {layer}.{name} (published by the other '
                                     f'pipeline) would be dropped, and {", ".join(dependents)} depend on it. Drop or '
                                     'change those objects, then run again.')
        for layer, name in stale:  # what depends on one of them is one of them too (checked above)
            cursor.execute(sql.SQL('drop view if exists {} cascade').format(sql.Identifier(layer, name)))
        for layer in published:
            cursor.execute(sql.SQL('create schema if not exists {}').format(sql.Identifier(layer)))
        for layer, name in sorted(ours, key=lambda relation: LAYERS.index(relation[0])):
            query, search_path = definitions[layer, name]
            cursor.execute(sql.SQL('set local search_path = {}, pg_catalog').format(
                sql.Identifier(search_path or 'pg_catalog')))
            new = _query_columns(cursor, query)
            kind = kinds[layer, name]
            old = _columns(cursor, layer, name) if kind else []
            replace_in_place = kind == 'v' and new[:len(old)] == old
            if kind and not replace_in_place:
                if kind not in ('v', 'r'):
                    raise PublishRefused(f'not published, nothing changed: {layer}.{name} exists and is not a view '
                                         'or table of this pipeline')
                dependents = foreign_dependents(cursor, layer, [name], ours)
                if dependents:
                    raise PublishRefused(f'not published, nothing changed: {layer}.{name} must be recreated (its '
                                         f'columns changed), and {", ".join(dependents)} depend on it. Drop or '
                                         'change those objects, then run again.')
                cursor.execute(sql.SQL('drop {} {}').format(
                    sql.SQL('view' if kind == 'v' else 'table'), sql.Identifier(layer, name)))
            cursor.execute(sql.SQL('create or replace view {} as {}').format(sql.Identifier(layer, name), query))
        cursor.execute('reset search_path')
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
        _record_ending(cursor, build, 'published', '')
    return 'published'


def _record_ending(cursor, build: Build, status: str, note: str) -> None:
    """The run's audit row at its publish: published, or unchanged (nothing new; its answers and
    files are those published)."""
    source = sql.Identifier(build.schema) if status == 'published' else None
    files = (sql.SQL('(select jsonb_agg(to_jsonb(a) order by a.source_file desc) from {}.load_audit as a)')
             .format(source) if source else sql.SQL(
                 "(select jsonb_agg(to_jsonb(a) order by a.source_file desc) from raw.load_audit as a)"))
    answers = (sql.SQL('(select jsonb_object_agg(q.question_id, q.answer) from {}.answers as q)').format(source)
               if source else sql.SQL('(select jsonb_object_agg(q.question_id, q.answer) from analytics.answers as q)'))
    cursor.execute(sql.SQL(
        'update {audit}.pipeline_runs set status = %s, published_at = case when %s then now() end, '
        'ended_at = now(), heartbeat_at = now(), files = {files}, answers = {answers}, '
        "note = nullif(%s, '') where run_id = %s").format(audit=sql.Identifier(AUDIT), files=files, answers=answers),
        (status, status == 'published', note, build.run_id))


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
            published: Optional[dict[str, tuple[str, ...]]] = None,
            incremental: Optional[Incremental] = None) -> str:
    """Repoint the published views at ``build`` (and, with ``incremental``, apply its changes to the
    state first): one transaction, locks taken with a one-second lock_timeout and retried with
    backoff (``publish_retries``) up to ``wait_seconds``; then drop the superseded builds of runs
    that have ended, and the store tables nothing uses. This run keeps its owner connection until its
    process ends or starts a new run, so its own build stays for the blocks after this one. Returns
    'published', or 'unchanged' when the run had nothing new to publish."""
    ending = 'published'
    try:
        for attempt in publish_retries(wait_seconds):
            with attempt, db.transaction(settings, application_name=f'mage_pipeline publish {build.run_id}') as conn:
                ending = _publish_once(conn, build, list(reader_roles), published or published_by(None), incremental)
    except psycopg2.errors.LockNotAvailable:
        raise PublishBlocked(
            f'run {build.run_id} not published: the published views stayed locked for '
            f'{wait_seconds:g}s (PUBLISH_WAIT_SECONDS); the previous tables stay. Blocked by '
            + describe_blockers(settings, list(LAYERS)) + '.') from None
    try:
        cleanup(settings, None)
        with db.transaction(settings) as conn, conn.cursor() as cursor:
            cursor.execute(sql.SQL('set local lock_timeout = {}').format(sql.Literal(LOCK_TIMEOUT)))
            state.drop_unused(cursor)
    except psycopg2.Error as error:  # the run is published; a leftover build waits for the next run
        log.warning('cleanup after publishing failed: %s', error)
    return 'published' if ending == 'already' else ending
