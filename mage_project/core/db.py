"""Postgres helpers: connecting with a bounded timeout, COPY from a stream, queries into
DataFrames, and transactions. Builds and publishing are in builds.py."""
from __future__ import annotations

import io
import os
import re
from contextlib import contextmanager
from typing import Iterable, Iterator, Optional

import psycopg2
from psycopg2 import sql

from mage_project.core.settings import ConnectionSettings, connection_settings

CONNECT_TIMEOUT_SECONDS = 10
# libpq's variable for the application_name; a run sets it to name its blocks' connections (builds.begin).
APPLICATION_NAME_VARIABLE = 'PGAPPNAME'


class DatabaseUnavailable(RuntimeError):
    """Postgres cannot be reached; the message names host and port."""


def connect(settings: Optional[ConnectionSettings] = None, application_name: Optional[str] = None,
            keepalives: bool = False):
    """A psycopg2 connection, failing within CONNECT_TIMEOUT_SECONDS with a message that names the
    server, instead of Mage's later "No connection currently open". With ``keepalives``, TCP
    keepalives find a dead peer within about a minute (for connections kept open). Its session
    settings are the pipeline's own (settings.session_options, through PGOPTIONS); without an
    ``application_name``, it is named after the run of this process, as its blocks' connections are."""
    settings = settings or connection_settings()
    application_name = application_name or os.getenv(APPLICATION_NAME_VARIABLE) or 'mage_pipeline'

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
        self.error: Optional[BaseException] = None  # what the lines raised, which aborted the COPY

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> str:
        parts = [self._buffer]
        length = len(self._buffer)
        try:
            for line in self._lines:
                parts.append(line)
                length += len(line)
                if 0 <= size <= length:
                    break
        except Exception as error:
            self.error = error
            raise
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
    stream = _LineStream(lines)
    with conn.cursor() as cursor:
        try:
            cursor.copy_expert(statement.as_string(conn), stream, size=buffer_size)
        except psycopg2.Error as error:
            if stream.error is not None:  # the reader's own reason (a file's line), not "COPY ... line 1"
                raise stream.error from None
            raise explained(error) from error


def fetch_frame(conn, query, params=None):
    """The rows of a query as a DataFrame (pandas' read_sql wants SQLAlchemy, not psycopg2)."""
    import pandas as pd

    with conn.cursor() as cursor:
        cursor.execute(query, params)
        return pd.DataFrame(cursor.fetchall(), columns=[c.name for c in cursor.description])


@contextmanager
def transaction(settings: Optional[ConnectionSettings] = None,
                application_name: Optional[str] = None) -> Iterator:
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


@contextmanager
def local_setting(cursor, name: str, value: str) -> Iterator[None]:
    """``name`` set to ``value`` for the statements inside, in the current transaction only,
    then given back the value it had (on error the transaction is rolled back anyway)."""
    cursor.execute('select current_setting(%s), set_config(%s, %s, true)', (name, name, value))
    before = cursor.fetchone()[0]
    yield
    cursor.execute('select set_config(%s, %s, true)', (name, before))


# ---------------------------------------------------------------------------------------------
# Server limits: which setting stopped a statement, its value and where it comes from
# ---------------------------------------------------------------------------------------------

class ServerLimit(RuntimeError):
    """A server setting stopped a statement; the message names the setting, its value, where it
    comes from and how to change it (never a data line)."""


# SQLSTATE -> the setting behind it (and, where one SQLSTATE has several causes, the words of the
# server's message that pick it).
_LIMITS = (
    ('57014', 'statement timeout', 'statement_timeout'),
    ('55P03', 'lock timeout', 'lock_timeout'),
    ('25P03', '', 'idle_in_transaction_session_timeout'),
    ('57P05', '', 'idle_session_timeout'),
    ('25006', '', 'default_transaction_read_only'),
    ('53400', 'temp_file_limit', 'temp_file_limit'),
)
# The settings the pipeline sets itself, and the variable that sets each (see settings.session_settings).
_OWN = {'statement_timeout': 'PIPELINE_STATEMENT_TIMEOUT'}


def limit_setting(error: BaseException) -> Optional[str]:
    """The server setting that raised ``error``, if a server limit did."""
    code = getattr(error, 'pgcode', None)
    message = str(getattr(getattr(error, 'diag', None), 'message_primary', None) or error)
    for sqlstate, words, setting in _LIMITS:
        if code == sqlstate and words.lower() in message.lower():
            return setting
    return None


_SOURCES = """
select coalesce(r.rolname, '') as role_name, coalesce(d.datname, '') as database_name, c.value
from pg_db_role_setting as s
left join pg_roles as r on r.oid = s.setrole
left join pg_database as d on d.oid = s.setdatabase
cross join lateral (select substr(item, length(%(name)s) + 2) as value from unnest(s.setconfig) as item
                    where lower(item) like lower(%(name)s) || '=%%') as c
where (s.setrole = 0 or r.rolname = current_user) and (s.setdatabase = 0 or d.datname = current_database())
order by (s.setrole <> 0 and s.setdatabase <> 0) desc, s.setrole <> 0 desc
"""


def describe_setting(name: str, settings: Optional[ConnectionSettings] = None) -> str:
    """``name``'s value in the pipeline's sessions and where it comes from, with how to change it:
    the pipeline's own variable, a role's or a database's setting, or the server's configuration."""
    from mage_project.core.settings import session_settings

    own = session_settings()
    if name in _OWN and own.get(name) not in (None, '0', '0ms'):
        return (f'{name} is {own[name]}, the pipeline\'s own, from {_OWN[name]}; raise it, or set '
                f'{_OWN[name]}=0 for none')
    try:
        conn = connect(settings, application_name='mage_pipeline explain')
    except DatabaseUnavailable:
        return f'{name}: the server could not be asked where it comes from'
    try:
        with conn.cursor() as cursor:
            cursor.execute("set work_mem = '16MB'")  # so that reading pg_settings never needs a temporary file
            cursor.execute('select current_setting(%s), source, sourcefile from pg_settings where name = %s',
                           (name, name))
            value, source, sourcefile = cursor.fetchone() or ('?', '?', None)
            cursor.execute(_SOURCES, {'name': name})
            found = cursor.fetchall()
            cursor.execute('select current_user, current_database(), pg_is_in_recovery()')
            user, database, standby = cursor.fetchone()
    except psycopg2.Error as error:
        return f'{name}: the server could not be asked where it comes from ({str(error).strip().splitlines()[0]})'
    finally:
        conn.close()
    if name == 'default_transaction_read_only' and standby:
        return (f'the server at {(settings or connection_settings()).describe()} is a read-only standby (in '
                'recovery); point POSTGRES_HOST at the primary')
    if found:
        role, db_name, value = found[0]
        target = (f'role {role} in database {db_name}' if role and db_name else
                  f'role {role}' if role else f'database {db_name}')
        return f'{name} is {value}, set on {target}; change it with: alter {target} set {name} = ... (or reset {name})'
    if source == 'configuration file':
        return f'{name} is {value}, set in the server\'s configuration{f" ({sourcefile})" if sourcefile else ""}'
    return f'{name} is {value} (source: {source}), for user {user} on database {database}'


def explained(error: BaseException, settings: Optional[ConnectionSettings] = None) -> BaseException:
    """``error`` as a ServerLimit naming the setting that raised it, if a server limit did; else
    ``error`` itself."""
    setting = limit_setting(error)
    if setting is None:
        return error
    primary = getattr(getattr(error, 'diag', None), 'message_primary', None) or str(error).strip().splitlines()[0]
    return ServerLimit(f'{primary}: {describe_setting(setting, settings)}')


def error_message(error: BaseException) -> str:
    """A failure in one line: for Postgres, its own (primary) message, never only its CONTEXT line,
    with the setting behind it where a server limit stopped the statement."""
    if isinstance(error, psycopg2.Error):
        explained_error = explained(error)
        if explained_error is not error:
            return f'{type(explained_error).__name__}: {explained_error}'
        primary = getattr(error.diag, 'message_primary', None)
        lines = [line for line in str(error).strip().splitlines() if not re.match(r'(CONTEXT|LINE \d+|DETAIL|HINT):', line)]
        return f'{type(error).__name__}: {primary or (lines[0] if lines else "no message")}'
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    return f'{type(error).__name__}: {lines[0]}' if lines else type(error).__name__
