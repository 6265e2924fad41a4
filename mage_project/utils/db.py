"""Postgres helpers: connecting with a bounded timeout, the run lock, the build schemas that a run
fills, COPY from a stream, and the one-transaction swap that publishes a finished run.

A run never writes to the published schemas (raw, staging, analytics) until its last step: it
builds everything in <layer>_build schemas and then renames them into place in one transaction,
so a run that fails halfway leaves the previous run's tables intact and queryable.
"""
from __future__ import annotations

import io
import time
from contextlib import contextmanager
from typing import Iterable, Iterator, Optional

import psycopg2
from psycopg2 import sql

from mage_project.utils.settings import ConnectionSettings, connection_settings

LAYERS = ('raw', 'staging', 'analytics')
BUILD_SUFFIX = '_build'
# Arbitrary but fixed: the advisory lock key that serialises runs of this pipeline.
RUN_LOCK_KEY = 0x6D616765  # 'mage'
CONNECT_TIMEOUT_SECONDS = 10


class DatabaseUnavailable(RuntimeError):
    """Postgres cannot be reached; the message names host and port."""


class RunInProgress(RuntimeError):
    """Another run of the pipeline holds the run lock."""


def build_schema(layer: str) -> str:
    return f'{layer}{BUILD_SUFFIX}'


def connect(settings: Optional[ConnectionSettings] = None, application_name: str = 'mage_pipeline'):
    """A psycopg2 connection, failing within CONNECT_TIMEOUT_SECONDS with a message that names the
    server, instead of Mage's later "No connection currently open"."""
    settings = settings or connection_settings()
    try:
        return psycopg2.connect(
            host=settings.host, port=settings.port, dbname=settings.dbname,
            user=settings.user, password=settings.password,
            connect_timeout=CONNECT_TIMEOUT_SECONDS, application_name=application_name,
        )
    except psycopg2.OperationalError as error:
        detail = str(error).strip().splitlines()[0] if str(error).strip() else 'no detail'
        raise DatabaseUnavailable(
            f'cannot connect to Postgres at {settings.describe()}: {detail}'
        ) from error


# ---------------------------------------------------------------------------------------------
# The run lock: a session-level advisory lock held by one connection for the whole run. The
# pipeline runs in one process (run_pipeline_in_one_process), so the first block takes it and the
# last one releases it; if the process dies, Postgres drops the lock with the connection.
# ---------------------------------------------------------------------------------------------

_lock_connection = None


def acquire_run_lock(wait_seconds: float = 0.0, settings: Optional[ConnectionSettings] = None) -> None:
    """Take the run lock, waiting up to ``wait_seconds`` for a running run to finish."""
    global _lock_connection
    if _lock_connection is not None and not _lock_connection.closed:
        return
    conn = connect(settings, application_name='mage_pipeline_run_lock')
    conn.autocommit = True
    deadline = time.monotonic() + wait_seconds
    with conn.cursor() as cursor:
        while True:
            cursor.execute('select pg_try_advisory_lock(%s)', (RUN_LOCK_KEY,))
            if cursor.fetchone()[0]:
                _lock_connection = conn
                return
            if time.monotonic() >= deadline:
                cursor.execute(
                    "select a.pid, a.backend_start from pg_locks l join pg_stat_activity a using (pid) "
                    "where l.locktype = 'advisory' and l.objid = %s and l.granted",
                    (RUN_LOCK_KEY,),
                )
                holder = cursor.fetchone()
                conn.close()
                since = f' (Postgres backend {holder[0]}, since {holder[1]:%Y-%m-%d %H:%M:%S})' if holder else ''
                raise RunInProgress(
                    f'another run of this pipeline is in progress{since}; '
                    f'waited {wait_seconds:.0f}s. Retry when it has finished.'
                )
            time.sleep(0.5)


def ensure_run_lock(settings: Optional[ConnectionSettings] = None) -> None:
    """Before publishing: check that this process still holds the run lock. If its connection was
    lost (a Postgres restart drops session locks), take the lock again without waiting, so a run
    never publishes while another one is in progress."""
    global _lock_connection
    if _lock_connection is not None and not _lock_connection.closed:
        try:
            with _lock_connection.cursor() as cursor:
                cursor.execute('select count(*) from pg_locks where locktype = %s and objid = %s '
                               'and pid = pg_backend_pid() and granted', ('advisory', RUN_LOCK_KEY))
                if cursor.fetchone()[0]:
                    return
        except psycopg2.Error:
            pass
        release_run_lock()
    acquire_run_lock(0, settings)


def release_run_lock() -> None:
    global _lock_connection
    if _lock_connection is not None:
        if not _lock_connection.closed:
            _lock_connection.close()
        _lock_connection = None


# ---------------------------------------------------------------------------------------------
# Build and publish
# ---------------------------------------------------------------------------------------------

def reset_build_schemas(conn) -> None:
    """Empty <layer>_build schemas for this run; leftovers of a failed run are dropped."""
    with conn.cursor() as cursor:
        for layer in LAYERS:
            schema = sql.Identifier(build_schema(layer))
            cursor.execute(sql.SQL('drop schema if exists {} cascade').format(schema))
            cursor.execute(sql.SQL('create schema {}').format(schema))
    conn.commit()


def publish_build_schemas(conn, reader_roles: Iterable[str] = ()) -> None:
    """Swap every <layer>_build schema into <layer> in one transaction.

    Readers see either the previous run's tables or this run's, never a mix. The published
    schemas are new objects, so read access for ``reader_roles`` on analytics is granted again in
    the same transaction.
    """
    with conn.cursor() as cursor:
        for layer in LAYERS:
            cursor.execute(
                'select count(*) from information_schema.schemata where schema_name = %s',
                (build_schema(layer),),
            )
            if cursor.fetchone()[0] != 1:
                raise RuntimeError(f'schema {build_schema(layer)} is missing: nothing to publish')
        for layer in LAYERS:
            cursor.execute(sql.SQL('drop schema if exists {} cascade').format(sql.Identifier(layer)))
            cursor.execute(sql.SQL('alter schema {} rename to {}').format(
                sql.Identifier(build_schema(layer)), sql.Identifier(layer)))
        for role in reader_roles:
            cursor.execute(sql.SQL('grant usage on schema analytics to {}').format(sql.Identifier(role)))
            cursor.execute(sql.SQL('grant select on all tables in schema analytics to {}').format(
                sql.Identifier(role)))
    conn.commit()


class _LineStream(io.TextIOBase):
    """A read-only file over an iterator of text lines, for COPY FROM STDIN without holding
    the whole file in memory."""

    def __init__(self, lines: Iterable[str]):
        self._lines = iter(lines)
        self._buffer = ''

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> str:
        parts = [self._buffer]
        length = len(self._buffer)
        for line in self._lines:
            parts.append(line)
            length += len(line)
            if 0 <= size <= length:
                break
        data = ''.join(parts)
        if size < 0:
            self._buffer = ''
            return data
        self._buffer = data[size:]
        return data[:size]



def copy_lines(conn, schema: str, table: str, columns: Iterable[str], lines: Iterable[str],
               buffer_size: int = 1 << 20) -> None:
    """COPY text-format lines into schema.table as they are produced."""
    statement = sql.SQL('copy {}.{} ({}) from stdin').format(
        sql.Identifier(schema), sql.Identifier(table),
        sql.SQL(', ').join(sql.Identifier(column) for column in columns),
    )
    with conn.cursor() as cursor:
        cursor.copy_expert(statement.as_string(conn), _LineStream(lines), size=buffer_size)


def fetch_frame(conn, query, params=None):
    """The rows of a query as a DataFrame (pandas' read_sql wants SQLAlchemy, not psycopg2)."""
    import pandas as pd

    with conn.cursor() as cursor:
        cursor.execute(query, params)
        return pd.DataFrame(cursor.fetchall(), columns=[c.name for c in cursor.description])


@contextmanager
def transaction(settings: Optional[ConnectionSettings] = None,
                application_name: str = 'mage_pipeline') -> Iterator:
    """A connection whose work commits on success and rolls back on any error."""
    conn = connect(settings, application_name)
    try:
        yield conn
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    finally:
        conn.close()
