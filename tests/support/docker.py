"""Docker for the compose tests: the daemon, the stand-ins for the official images, the wheels they
install from, and the copy of docker-compose.yml that runs on the host's network.

No registry is reachable where the tests run, so nothing is pulled. The stand-ins are built from a
Debian bookworm root file system (debootstrap), and pip inside a build installs from wheels fetched
on the host and served on 127.0.0.1. The daemon runs with no bridge and no firewall rules, so every
container and build uses the host's network; docker-compose.yml is therefore run as a copy that
changes networking only (``host_network_copy``), which ``networking_undone`` checks.

The base file system and the wheels are cached in .cache/docker (git ignores it) and the images in
the daemon, so a second run builds nothing.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import http.server
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from tests.support.processes import wait_until
from tests.support.project import REPO

CACHE = REPO / '.cache' / 'docker'
IMAGES = Path(__file__).with_name('images')
BASE_IMAGE = 'event-analytics-test/debian:bookworm'


def debian_mirror() -> str:
    """The Debian registry this machine's apt uses (debootstrap fetches from it too)."""
    sources = Path('/etc/apt/sources.list.d/debian.sources')
    if sources.exists():
        for line in sources.read_text().splitlines():
            if line.startswith('URIs:') and 'security' not in line:
                return line.split()[1]
    return 'http://deb.debian.org/debian'


MAGE_VERSION = re.search(r'^mage-ai==(\S+)$', (REPO / 'requirements.txt').read_text(), re.M)[1]
SPARK_VERSION = re.search(r'^pyspark==(\S+)$', (REPO / 'requirements-spark.txt').read_text(), re.M)[1]
# The stand-ins, by the variable of docker-compose.yml that picks the image they stand in for.
STAND_INS = {
    'MAGE_IMAGE': (f'event-analytics-test/mage:{MAGE_VERSION}', 'mage.Dockerfile', ['requirements.txt']),
    'POSTGRES_IMAGE': ('event-analytics-test/postgres:16', 'postgres.Dockerfile', ['postgres-entrypoint.sh']),
    'SPARK_IMAGE': (f'event-analytics-test/spark:{SPARK_VERSION}', 'spark.Dockerfile', ['requirements-spark.txt']),
}
SOCKET = Path('/var/run/docker.sock')


def missing_tools() -> list[str]:
    """What this machine lacks to run the compose tests (.ci/run installs all of it)."""
    missing = [tool for tool in ('docker', 'dockerd', 'debootstrap') if shutil.which(tool) is None]
    if 'docker' not in missing and subprocess.run(['docker', 'compose', 'version'],
                                                  capture_output=True).returncode != 0:
        missing.append('the Compose v2 plugin (docker compose)')
    return missing


def run(*command: str, check: bool = True, timeout: float = 1800, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, **kwargs)
    if check and result.returncode != 0:
        raise AssertionError(f'{" ".join(command)} exited {result.returncode}:\n'
                             f'{result.stdout[-4000:]}\n{result.stderr[-4000:]}')
    return result


def daemon_answers() -> bool:
    return subprocess.run(['docker', 'info'], capture_output=True).returncode == 0


@contextlib.contextmanager
def daemon(log: Path):
    """The Docker daemon: the one running, or one started (no bridge, no firewall rules) and stopped
    again at the end with everything it started."""
    if daemon_answers():
        yield
        return
    process = subprocess.Popen(['dockerd', '--bridge=none', '--iptables=false', '--ip-masq=false'],
                               stdout=log.open('w'), stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until(lambda: process.poll() is not None and _raise(log) or daemon_answers(), 60,
                   'dockerd answering', every=0.5)
        yield
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _raise(log: Path):
    raise RuntimeError(f'dockerd exited: {log.read_text()[-2000:]}')


def image_exists(name: str) -> bool:
    return subprocess.run(['docker', 'image', 'inspect', name], capture_output=True).returncode == 0


def base_image() -> str:
    """Debian bookworm (minbase) as an image: from the daemon, else from the cached file system,
    else made with debootstrap (about a minute) and cached."""
    if image_exists(BASE_IMAGE):
        return BASE_IMAGE
    archive = CACHE / 'debian-bookworm-minbase.tar'
    if not archive.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix='rootfs-', dir=CACHE) as root:
            run('debootstrap', '--variant=minbase', 'bookworm', root, debian_mirror())
            shutil.rmtree(Path(root, 'var/cache/apt/archives'), ignore_errors=True)
            run('tar', '-C', root, '-cf', f'{archive}.part', '.')
        os.replace(f'{archive}.part', archive)
    with archive.open('rb') as tar:
        run('docker', 'import', '-', BASE_IMAGE, stdin=tar)
    return BASE_IMAGE


def wheels() -> Path:
    """Every package of the locks as a wheel, fetched on the host (PyPI's certificates do not verify
    inside a container); fetched again only when a lock changes."""
    folder = CACHE / 'wheels'
    locks = [REPO / 'requirements.txt', REPO / 'requirements-spark.txt']
    stamp = hashlib.sha256(b''.join(lock.read_bytes() for lock in locks)).hexdigest()
    if (folder / '.locks').exists() and (folder / '.locks').read_text() == stamp:
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    run(sys.executable, '-m', 'pip', 'wheel', '--quiet', '--disable-pip-version-check', '--wheel-dir', str(folder),
        *(arg for lock in locks for arg in ('-r', str(lock))))
    (folder / '.locks').write_text(stamp)
    return folder


# The wheels' address is a build argument, and a build argument that changes invalidates Docker's
# cache of every later step: one port, always the same unless taken, keeps a rebuild in seconds.
WHEELS_PORT = 47563


@contextlib.contextmanager
def served(folder: Path):
    """``folder`` over HTTP on 127.0.0.1, for pip's --find-links inside builds; yields the URL."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    try:
        server = http.server.ThreadingHTTPServer(('127.0.0.1', WHEELS_PORT), handler)
    except OSError:
        server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f'http://127.0.0.1:{server.server_address[1]}/'
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def build_stand_ins(wheels_url: str, wheel_folder: Path) -> dict[str, str]:
    """Build the stand-ins (each from a build folder of its own, removed after); returns the
    variables that make docker-compose.yml use them."""
    base = base_image()
    pgserver = next(wheel_folder.glob('pgserver-*.whl')).name
    chosen = {}
    for variable, (tag, dockerfile, files) in STAND_INS.items():
        with tempfile.TemporaryDirectory(prefix='build-') as context:
            shutil.copy(IMAGES / dockerfile, Path(context, 'Dockerfile'))
            for name in files:
                shutil.copy(IMAGES / name if (IMAGES / name).exists() else REPO / name, Path(context, name))
            run('docker', 'build', '--force-rm', '--network', 'host', '--tag', tag, '--build-arg', f'BASE={base}',
                '--build-arg', f'WHEELS={wheels_url}', '--build-arg', f'PGSERVER_WHEEL={wheels_url}{pgserver}',
                context)
        chosen[variable] = tag
    return chosen


# --- docker-compose.yml on the host's network --------------------------------------------------
def host_network_copy(spec: dict, ports: dict[int, int], wheels_url: str) -> dict:
    """docker-compose.yml (as loaded) changed in networking only: every service on the host's network
    without published ports, service names as 127.0.0.1, the container ports in ``ports`` moved to
    free ones (Postgres through PGPORT), and builds on the host's network installing from
    ``wheels_url``. Commands, environment, healthchecks, volumes and depends_on stay as they are."""
    copy = _replaced(spec, ports, set(spec['services']))
    for name, service in copy['services'].items():
        service.pop('ports', None)
        service['network_mode'] = 'host'
        if 'build' in service:
            service['build']['network'] = 'host'
            service['build'].setdefault('args', {})['WHEELS'] = wheels_url
    copy['services']['postgres'].setdefault('environment', {})['PGPORT'] = str(ports[5432])
    return copy


def _host_pattern(hosts) -> str:
    """A host in a URL (``//host:``), and a whole string that is one (a ``--host`` argument, a
    ``*_HOST`` variable)."""
    names = '|'.join(map(re.escape, hosts))
    return rf'(?<=//)({names})(?=:)|^({names})$'


def _replaced(value, ports: dict[int, int], hosts: set[str], key: str = ''):
    """``value`` with each port of ``ports`` and each service name of ``hosts`` where it names a
    host replaced, in every string: commands, environment values and healthchecks."""
    if isinstance(value, dict):
        return {name: _replaced(item, ports, hosts, str(name)) for name, item in value.items()}
    if isinstance(value, list):
        after_host = [False] + [item == '--host' for item in value[:-1]]
        return [_replaced(item, ports, hosts, '--host' if flag else key) for item, flag in zip(value, after_host)]
    if not isinstance(value, str):
        return value
    for old, new in ports.items():
        value = re.sub(rf'(?<![\d.]){old}(?!\d)', str(new), value)
    pattern = _host_pattern(hosts)
    if not (key == '--host' or key.endswith('_HOST')):
        pattern = pattern.split('|^')[0]
    return re.sub(pattern, '127.0.0.1', value)


def differences(real: dict, copy: dict, ports: dict[int, int]) -> list[str]:
    """Where ``copy`` differs from ``real`` other than as host_network_copy may change it: published
    ports dropped; network_mode, PGPORT and the builds' network and WHEELS added; service names,
    127.0.0.1 and the ports of ``ports`` (either side) exchanged within a string."""
    allowed_added = {'network_mode', 'network', 'WHEELS', 'PGPORT'}
    hosts = [*real['services'], '127.0.0.1', 'localhost']
    numbers = '|'.join(str(port) for pair in ports.items() for port in pair)

    def normal(text: str, key: str) -> str:
        pattern = _host_pattern(hosts)
        if not (key == '--host' or key.endswith('_HOST')):
            pattern = pattern.split('|^')[0]
        text = re.sub(pattern, 'HOST', text)
        return re.sub(rf'(?<![\d.])({numbers})(?!\d)', 'PORT', text) if numbers else text

    found = []

    def walk(a, b, where: str, key: str = '') -> None:
        if isinstance(a, dict) and isinstance(b, dict):
            for name in a.keys() | b.keys():
                if name not in b:
                    if name != 'ports':
                        found.append(f'{where}.{name} removed')
                elif name not in a:
                    if name not in allowed_added:
                        found.append(f'{where}.{name} added')
                else:
                    walk(a[name], b[name], f'{where}.{name}', str(name))
        elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
            for index, (x, y) in enumerate(zip(a, b)):
                walk(x, y, f'{where}[{index}]', '--host' if index and a[index - 1] == '--host' else key)
        elif isinstance(a, str) and isinstance(b, str):
            if normal(a, key) != normal(b, key):
                found.append(f'{where}: {a!r} became {b!r}')
        elif a != b:
            found.append(f'{where}: {a!r} became {b!r}')

    walk(real, copy, 'compose')
    return found


