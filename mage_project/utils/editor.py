"""Start the Mage editor on this project with user authentication on (`make editor`).

The owner account comes from MAGE_OWNER_EMAIL / _USERNAME / _PASSWORD; where no password is set,
one is generated on first start and kept in the Mage data folder (never in git). Mage creates the
owner once, in its own database, so changing the variables later does not change the account.
"""
from __future__ import annotations

import os
import secrets
import shutil
import sys
from pathlib import Path

from mage_project.utils.settings import REPO_DIR, mage_data_dir, use_project_environment

DEFAULT_PORT = '6789'


def _kept_secret(folder: Path, name: str) -> str:
    """A random secret created once and kept, readable by its owner only, in ``folder``."""
    path = folder / name
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(18))
        path.chmod(0o600)
    return path.read_text().strip()


def editor_environment(env: dict[str, str]) -> tuple[dict[str, str], str]:
    """The environment for `mage start`, and how to log in (without printing a set password)."""
    folder = mage_data_dir()
    email = env.get('MAGE_OWNER_EMAIL') or 'owner@localhost'
    password = env.get('MAGE_OWNER_PASSWORD')
    if password:
        login = f'{email} with MAGE_OWNER_PASSWORD from .env'
    else:
        password = _kept_secret(folder, 'editor_owner_password')
        login = f'{email} / {password}  (generated, kept in {folder / "editor_owner_password"})'
    return dict(
        env,
        REQUIRE_USER_AUTHENTICATION='1',
        DEFAULT_OWNER_EMAIL=email,
        DEFAULT_OWNER_USERNAME=env.get('MAGE_OWNER_USERNAME') or 'owner',
        DEFAULT_OWNER_PASSWORD=password,
        JWT_SECRET=env.get('MAGE_JWT_SECRET') or _kept_secret(folder, 'editor_jwt_secret'),
    ), login


def main() -> None:
    use_project_environment()  # the server and its kernel connect with POSTGRES_* only
    env, login = editor_environment(dict(os.environ))
    port = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_PORT
    # Mage's frontend sends its API calls to port 6789 whenever the page's host is "localhost";
    # under 127.0.0.1 it uses the page's own port, so any port works.
    print(f'Mage editor: http://127.0.0.1:{port}  (pipeline event_analytics)')
    print(f'Log in as {login}', flush=True)  # before execve replaces this process
    mage = shutil.which('mage', path=str(Path(sys.executable).parent)) or 'mage'
    os.chdir(REPO_DIR)
    os.execve(mage, [mage, 'start', 'mage_project', '--port', port], env)


if __name__ == '__main__':
    main()
