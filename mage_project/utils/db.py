"""Postgres helpers: connecting with a bounded timeout, COPY from a stream, queries into
DataFrames, and transactions. Builds and publishing are in builds.py."""
from __future__ import annotations

import io
from contextlib import contextmanager
from typing import Iterable, Iterator, Optional

import psycopg2
from psycopg2 import sql

from mage_project.utils.settings import ConnectionSettings, connection_settings

CONNECT_TIMEOUT_SECONDS = 10


class DatabaseUnavailable(RuntimeError):
    """Postgres cannot be reached; the message names host and port."""


def connect(settings: Optional[ConnectionSettings] = None, application_name: str = 'mage_pipeline',
            keepalives: bool = False):
    """A psycopg2 connection, failing within CONNECT_TIMEOUT_SECONDS with a message that names the
    server, instead of Mage's later "No connection currently open". With ``keepalives``, TCP
    keepalives find a dead peer within about a minute (for connections kept open)."""
    settings = settings or connection_settings()
    options = dict(keepalives=1, keepalives_idle=30, keepalives_interval=10, keepalives_count=3) if keepalives else {}
    try:
        return psycopg2.connect(
            host=settings.host, port=settings.port, dbname=settings.dbname,
            user=settings.user, password=settings.password,
            connect_timeout=CONNECT_TIMEOUT_SECONDS, application_name=application_name, **options,
        )
    except psycopg2.OperationalError as error:
        detail = str(error).strip().splitlines()[0] if str(error).strip() else 'no detail'
        raise DatabaseUnavailable(
            f'cannot connect to Postgres at {settings.describe()}: {detail}'
        ) from error


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
