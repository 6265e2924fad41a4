"""An embedded Postgres for local runs and tests, from the pgserver wheel: no Docker, no system
server. It listens on a Unix socket in its data folder only.

    python -m mage_project.utils.local_pg start [DATA_DIR]   # prints shell exports
    python -m mage_project.utils.local_pg stop [DATA_DIR]
"""
from __future__ import annotations

import os
import re
import sys
import warnings
from pathlib import Path

from mage_project.utils.settings import REPO_DIR

DEFAULT_DATA_DIR = REPO_DIR / '.pgdata'
SUPERUSER = 'postgres'


def start(data_dir: Path = DEFAULT_DATA_DIR, databases: tuple[str, ...] = ()) -> dict[str, str]:
    """Start (or reuse) the server in ``data_dir`` and create ``databases``; returns the
    POSTGRES_* variables that reach it. The server outlives this process."""
    with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset
        warnings.simplefilter('ignore')
        import pgserver

    data_dir = Path(data_dir).resolve()
    server = pgserver.get_server(data_dir, cleanup_mode=None)
    for name in databases:
        # pgserver's psql() takes no parameters, so only plain identifiers are accepted here.
        if not re.fullmatch(r'[A-Za-z_][A-Za-z0-9_]*', name):
            raise ValueError(f'not a plain database name: {name!r}')
        exists = server.psql("select 1 from pg_database where datname = '" + name + "';")
        if '1 row' not in exists:
            server.psql('create database "' + name + '";')
    return {
        'POSTGRES_HOST': str(data_dir),
        'POSTGRES_PORT': '5432',
        'POSTGRES_USER': SUPERUSER,
        'POSTGRES_PASSWORD': '',
    }


def stop(data_dir: Path = DEFAULT_DATA_DIR) -> None:
    import pgserver

    data_dir = Path(data_dir).resolve()
    if (data_dir / 'postmaster.pid').exists():
        pgserver.get_server(data_dir, cleanup_mode='stop').cleanup()


def main(argv: list[str]) -> None:
    command = argv[0] if argv else 'start'
    data_dir = Path(argv[1]) if len(argv) > 1 else DEFAULT_DATA_DIR
    if command == 'start':
        # The profiles' default databases, and the one .env names, if any.
        databases = tuple(argv[2:]) or tuple(filter(None, ('events', 'events_test', os.getenv('POSTGRES_DB'))))
        for key, value in start(data_dir, databases).items():
            print(f"export {key}='{value}'")
    elif command == 'stop':
        stop(data_dir)
    else:
        raise SystemExit(__doc__)


if __name__ == '__main__':
    main(sys.argv[1:])
