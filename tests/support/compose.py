"""Reading docker-compose.yml the way Docker Compose would, for tests that have no Docker engine."""
from __future__ import annotations

import re
from pathlib import Path

import yaml

from tests.support.project import REPO

COMPOSE_FILE = REPO / 'docker-compose.yml'
_REFERENCE = re.compile(r'\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}')


def load() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def referenced_variables() -> set[str]:
    """Every ${VAR} the compose file interpolates."""
    return {m['name'] for m in _REFERENCE.finditer(COMPOSE_FILE.read_text())}


def interpolate(value: str, variables: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default} and ${VAR:?error} substitution, and $$ escapes."""
    def substitute(match: re.Match) -> str:
        name, op, arg = match['name'], match['op'], match['arg']
        current = variables.get(name)
        if op in (':-', '-') and not (current if op == ':-' else current is not None):
            return arg
        if op in (':?', '?') and not (current if op == ':?' else current is not None):
            raise KeyError(f'{name}: {arg}')
        return current or ''
    return _REFERENCE.sub(substitute, value).replace('$$', '$')


def service_environment(service: str, variables: dict[str, str]) -> dict[str, str]:
    environment = load()['services'][service].get('environment', {})
    return {key: interpolate(str(value), variables) for key, value in environment.items()}


def env_example() -> dict[str, str]:
    pairs = {}
    for line in (REPO / '.env.example').read_text().splitlines():
        if line.strip() and not line.lstrip().startswith('#'):
            key, _, value = line.partition('=')
            pairs[key.strip()] = value.strip()
    return pairs


def mounts(service: str, variables: dict[str, str] | None = None) -> list[tuple[str, str]]:
    """(host source, container target) of a service's bind mounts, in either syntax, with the
    variables interpolated (their defaults, without ``variables``)."""
    found = []
    for volume in load()['services'][service].get('volumes', []):
        if isinstance(volume, dict):
            if volume.get('type') == 'bind':
                found.append((interpolate(volume['source'], variables or {}), volume['target']))
        else:
            source, _, target = volume.partition(':')
            if source.startswith(('.', '/', '~')):
                found.append((source, target.split(':')[0]))
    return found


def mounted_repo_target(service: str) -> str:
    """Where a service mounts the repository ('.')."""
    for source, target in mounts(service):
        if source == '.':
            return target
    raise AssertionError(f'service {service} does not mount the repository')


def dataset_target() -> str:
    """Where the pipeline's containers see the dataset: their DATASET_DIR."""
    return load()['services']['pipeline']['environment']['DATASET_DIR']


def dataset_source(variables: dict[str, str] | None = None) -> Path:
    """The host folder the pipeline service mounts as its dataset (the host's DATASET_DIR, relative to
    the repository)."""
    (source,) = [source for source, target in mounts('pipeline', variables) if target == dataset_target()]
    return (REPO / source).resolve()


def host_path(service: str, container_path: str) -> Path:
    target = mounted_repo_target(service)
    assert container_path == target or container_path.startswith(target + '/'), \
        f'{container_path} is outside the mounted repository ({target})'
    return REPO / container_path[len(target):].lstrip('/')
