"""An embedded Postgres for local runs and tests, from the pgserver wheel: no Docker, no system
server. It listens on a Unix socket in its data folder only.

    python -m mage_project.utils.local_pg start [DATA_DIR]   # prints shell exports
    python -m mage_project.utils.local_pg stop [DATA_DIR]
"""
from __future__ import annotations

import atexit
import os
import pwd
import re
import sys
import warnings
from pathlib import Path

from mage_project.utils.settings import REPO_DIR

DEFAULT_DATA_DIR = REPO_DIR / '.pgdata'
SUPERUSER = 'postgres'


def start(data_dir: Path = DEFAULT_DATA_DIR, databases: tuple[str, ...] = ()) -> dict[str, str]:
    """Start (or reuse) the server in ``data_dir`` and create ``databases``; returns the
    POSTGRES_* variables that reach it. The server outlives this process.

    A server that already runs and has every database is only checked, over one connection,
    without pgserver: its import and one psql process per database cost about 0.1 s of every
    `make run`. Anything else (not running, a database missing, no answer) goes through pgserver."""
    data_dir = Path(data_dir).resolve()
    for name in databases:
        # pgserver's psql() takes no parameters, so only plain identifiers are accepted here.
        if not re.fullmatch(r'[A-Za-z_][A-Za-z0-9_]*', name):
            raise ValueError(f'not a plain database name: {name!r}')
    env = {
        'POSTGRES_HOST': str(data_dir),
        'POSTGRES_PORT': '5432',
        'POSTGRES_USER': SUPERUSER,
        'POSTGRES_PASSWORD': '',
    }
    if running_pid(data_dir) is not None and _has_databases(data_dir, databases):
        return env
    server = _pgserver().get_server(data_dir, cleanup_mode=None)
    for name in databases:
        exists = server.psql("select 1 from pg_database where datname = '" + name + "';")
        if '1 row' not in exists:
            server.psql('create database "' + name + '";')
    return env


def _has_databases(data_dir: Path, databases: tuple[str, ...]) -> bool:
    """Whether the server listening in ``data_dir`` answers and has all of ``databases``."""
    import psycopg2

    try:
        conn = psycopg2.connect(host=str(data_dir), port=5432, user=SUPERUSER, dbname='postgres',
                                connect_timeout=5, application_name='local_pg start')
    except psycopg2.OperationalError:  # starting up, shutting down, or not ours
        return False
    try:
        with conn.cursor() as cursor:
            cursor.execute('select count(*) from pg_database where datname = any(%s)', (list(databases),))
            return cursor.fetchone()[0] == len(set(databases))
    finally:
        conn.close()


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
