"""Start the Mage editor on this project with user authentication on (`make editor`, and the
docker compose `mage` service).

The owner account comes from MAGE_OWNER_EMAIL / _USERNAME / _PASSWORD; where no password is set,
one is generated on first start and kept in the Mage data folder (never in git). A password that
is short, a well-known default or the account's own name is refused before Mage starts. Mage
creates the owner once, in its own database, so changing the variables later does not change the
account. The port is MAGE_PORT (default 6789); one already in use stops the start, naming it.
"""
from __future__ import annotations

import errno
import os
import secrets
import shutil
import socket
import sys
from pathlib import Path

from mage_project.core.settings import REPO_DIR, ConfigurationError, mage_data_dir, use_project_environment

DEFAULT_PORT = '6789'
MIN_PASSWORD_LENGTH = 12
# Mage's own default login and the passwords every list of leaked passwords starts with.
WELL_KNOWN_PASSWORDS = frozenset({
    'admin', 'administrator', 'changeme', 'letmein', 'mage', 'owner', 'password', 'passw0rd',
    'qwerty', 'secret', 'welcome', '123456', '12345678', '123456789', '1234567890',
})


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


def check_owner_password(password: str, email: str, username: str) -> None:
    """Refuse a password anyone could guess: short, well known, or the account's own name."""
    lowered = password.lower()
    names = {email.lower(), email.split('@')[0].lower(), username.lower()} - {''}
    if len(password) < MIN_PASSWORD_LENGTH:
        reason = f'is shorter than {MIN_PASSWORD_LENGTH} characters'
    elif lowered in WELL_KNOWN_PASSWORDS or lowered.rstrip('0123456789!') in WELL_KNOWN_PASSWORDS:
        reason = 'is a well-known default'
    elif any(name in lowered for name in names):
        reason = "contains the owner's email or username"
    elif len(set(password)) < 4:
        reason = 'repeats too few characters'
    else:
        return
    raise ConfigurationError(f'MAGE_OWNER_PASSWORD {reason}: choose a long random one '
                             '(python3 -c "import secrets; print(secrets.token_urlsafe(18))")')


def check_port_free(port: str) -> None:
    """Stop with the port named when something listens there already (another editor, a container)."""
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigurationError(f'MAGE_PORT={port!r} is not a port number (1-65535)')
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(('0.0.0.0', int(port)))
        except OSError as error:
            if error.errno != errno.EADDRINUSE:
                raise
            raise ConfigurationError(f'port {port} is already in use on this host, so the Mage editor cannot '
                                     'listen on it: stop what listens there or set MAGE_PORT to a free port') from None


def main() -> None:
    use_project_environment()  # the server and its kernel connect with POSTGRES_* only
    port = sys.argv[1] if len(sys.argv) > 1 else os.environ.get('MAGE_PORT') or DEFAULT_PORT
    try:
        env, login = editor_environment(dict(os.environ))
        check_owner_password(env['DEFAULT_OWNER_PASSWORD'], env['DEFAULT_OWNER_EMAIL'], env['DEFAULT_OWNER_USERNAME'])
        check_port_free(port)
    except ConfigurationError as error:
        sys.exit(f'Mage editor not started: {error}')
    # Mage's frontend sends its API calls to port 6789 whenever the page's host is "localhost";
    # under 127.0.0.1 it uses the page's own port, so any port works.
    print(f'Mage editor: http://127.0.0.1:{port}  (pipeline event_analytics)')
    print(f'Log in as {login}', flush=True)  # before execve replaces this process
    mage = shutil.which('mage', path=str(Path(sys.executable).parent)) or 'mage'
    os.chdir(REPO_DIR)
    os.execve(mage, [mage, 'start', 'mage_project', '--port', port], env)


if __name__ == '__main__':
    main()
