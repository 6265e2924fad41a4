"""An embedded Postgres for local runs and tests, from the pgserver wheel: no Docker, no system
server. It listens on a Unix socket in its data folder only.

    python -m tools.local_pg start [DATA_DIR]   # prints shell exports
    python -m tools.local_pg stop [DATA_DIR]
"""
from __future__ import annotations

import atexit
import os
import pwd
import sys
import warnings
from pathlib import Path

import psycopg2
from psycopg2 import sql

from mage_project.core.settings import REPO_DIR, use_project_environment

DEFAULT_DATA_DIR = REPO_DIR / '.pgdata'
SUPERUSER = 'postgres'


def start(data_dir: Path = DEFAULT_DATA_DIR, databases: tuple[str, ...] = ()) -> dict[str, str]:
    """Start (or reuse) the server in ``data_dir`` and create ``databases``; returns the
    POSTGRES_* variables that reach it. The server outlives this process.

    pgserver is only imported to start a server: one that already runs (and answers) is used as it
    is, which saves its import, about 0.1 s of every `make run`. The databases are then made sure
    of over one connection either way. libpq's own variables (PGPORT, PGHOST, PGDATA, ...) are
    removed from this process first: they would start the server on another port or reach another
    one (settings.use_project_environment)."""
    use_project_environment()
    data_dir = Path(data_dir).resolve()
    conn = _connect(data_dir) if running_pid(data_dir) is not None else None
    if conn is None:  # not running, or starting up or shutting down: pgserver starts it and waits
        _pgserver().get_server(data_dir, cleanup_mode=None)
        conn = _connect(data_dir, required=True)
    try:
        conn.autocommit = True  # create database cannot run in a transaction
        with conn.cursor() as cursor:
            for name in sorted(_missing_databases(cursor, databases)):
                try:
                    cursor.execute(sql.SQL('create database {}').format(sql.Identifier(name)))
                except psycopg2.errors.DuplicateDatabase:  # another process made it meanwhile
                    pass
    finally:
        conn.close()
    return {
        'POSTGRES_HOST': str(data_dir),
        'POSTGRES_PORT': '5432',
        'POSTGRES_USER': SUPERUSER,
        'POSTGRES_PASSWORD': '',
    }


def _connect(data_dir: Path, required: bool = False):
    """A connection as the superuser to the server listening in ``data_dir``; None if it does not
    answer, unless ``required``."""
    try:
        return psycopg2.connect(host=str(data_dir), port=5432, user=SUPERUSER, dbname='postgres',
                                connect_timeout=5, application_name='local_pg start')
    except psycopg2.OperationalError:
        if required:
            raise
        return None


def _missing_databases(cursor, databases: tuple[str, ...]) -> set[str]:
    cursor.execute('select datname from pg_database where datname = any(%s)', (list(databases),))
    return set(databases) - {name for (name,) in cursor.fetchall()}


def _pgserver():
    with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset
        warnings.simplefilter('ignore')
        import pgserver
    return pgserver


def running_pid(data_dir: Path) -> int | None:
    """The postmaster's pid if a server runs in ``data_dir``."""
    pid_file = Path(data_dir) / 'postmaster.pid'
    try:
        pid = int(pid_file.read_text().split('\n', 1)[0])
        os.kill(pid, 0)
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return None
    except PermissionError:  # it runs, as the server's own user
        pass
    return pid


def stop(data_dir: Path = DEFAULT_DATA_DIR) -> bool:
    """Stop the server in ``data_dir`` (pg_ctl stop -m fast, as the user that owns the folder);
    returns whether one was running. pgserver's own handle does not stop a server it was asked
    to keep (cleanup_mode=None), so it is dropped and pg_ctl does it."""
    pgserver = _pgserver()
    data_dir = Path(data_dir).resolve()
    if running_pid(data_dir) is None:
        return False
    handle = pgserver.PostgresServer._instances.pop(data_dir, None)
    if handle is not None:  # forgotten, so a later start() in this process starts a new server
        atexit.unregister(handle._cleanup)
    owner = pwd.getpwuid(data_dir.stat().st_uid).pw_name
    user = owner if os.geteuid() == 0 and owner != 'root' else None
    pgserver.pg_ctl(['-w', '-m', 'fast', 'stop'], pgdata=data_dir, user=user)
    return True


def default_databases() -> tuple[str, ...]:
    """The io_config profiles' default databases, and the one POSTGRES_DB names, if any."""
    return tuple(filter(None, ('events', 'events_test', os.getenv('POSTGRES_DB'))))


def main(argv: list[str]) -> None:
    use_project_environment()
    command = argv[0] if argv else 'start'
    data_dir = Path(argv[1]) if len(argv) > 1 else DEFAULT_DATA_DIR
    if command == 'start':
        for key, value in start(data_dir, tuple(argv[2:]) or default_databases()).items():
            print(f"export {key}='{value}'")
    elif command == 'stop':
        stopped = stop(data_dir)
        print(f'stopped the embedded Postgres in {data_dir}' if stopped else f'no embedded Postgres runs in {data_dir}')
    else:
        raise SystemExit(__doc__)


if __name__ == '__main__':
    main(sys.argv[1:])
