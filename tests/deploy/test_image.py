"""The project's image (Dockerfile): built on Mage's official image, adding exactly the packages the
project imports beyond mage-ai (mage_project/requirements.txt) at the lock's versions, and holding
no code, data or secret. tests/deploy/test_compose_up.py builds and runs it."""
import ast
import re
import sys
from importlib.metadata import packages_distributions, requires
from pathlib import Path

from packaging.requirements import Requirement

from tests.support.project import REPO

PROJECT_REQUIREMENTS = REPO / 'mage_project' / 'requirements.txt'
# Imported by modules that never run in the project's image, and why.
NOT_IN_THE_IMAGE = {'pgserver': 'the embedded Postgres of make run and the tests; compose runs a postgres service'}
SPARK_ONLY = {'pyspark', 'py4j'}  # requirements-spark.txt, the Dockerfile's spark target


def pins(path: Path) -> dict[str, str]:
    found = {}
    for line in path.read_text().splitlines():
        line = line.split('#')[0].strip()
        if line:
            name, _, version = line.partition('==')
            found[canonical(name)] = version
    return found


def canonical(name: str) -> str:
    return re.sub(r'[-_.]+', '-', name).lower()


def imported_packages() -> set[str]:
    """The top-level modules mage_project imports from outside itself and the standard library."""
    modules = set()
    for path in (REPO / 'mage_project').rglob('*.py'):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules |= {alias.name.split('.')[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                modules.add(node.module.split('.')[0])
    return modules - set(sys.stdlib_module_names) - {'mage_project'}


def declared_by(distribution: str, seen: set[str] | None = None) -> set[str]:
    """``distribution`` and everything it requires (without extras), as installed here."""
    seen = set() if seen is None else seen
    if canonical(distribution) in seen:
        return seen
    seen.add(canonical(distribution))
    for line in requires(distribution) or []:
        requirement = Requirement(line)
        if requirement.marker is None or requirement.marker.evaluate({'extra': ''}):
            declared_by(requirement.name, seen)
    return seen


def test_project_requirements_cover_every_import_beyond_mage_ai():
    with_mage = declared_by('mage-ai')
    listed = set(pins(PROJECT_REQUIREMENTS))
    distributions = packages_distributions()
    missing = {}
    for module in sorted(imported_packages() - set(NOT_IN_THE_IMAGE) - SPARK_ONLY):
        names = {canonical(name) for name in distributions.get(module, [module])}
        if not names & (with_mage | listed):
            missing[module] = sorted(names)
    assert not missing, f'mage_project imports {missing}, which neither mage-ai nor {PROJECT_REQUIREMENTS.name} brings'
    # Nothing listed that mage-ai brings anyway, but sshtunnel: mage_ai.io.postgres imports it
    # without declaring it (requirements.in says so).
    assert listed & with_mage == set(), f'{sorted(listed & with_mage)} come with mage-ai already'


def test_project_requirements_are_the_locks_versions():
    lock = pins(REPO / 'requirements.txt')
    for name, version in pins(PROJECT_REQUIREMENTS).items():
        assert lock.get(name) == version, f'{name}=={version} in mage_project/requirements.txt, {lock.get(name)} in the lock'
    spark = pins(REPO / 'requirements-spark.txt')
    assert {canonical(name) for name in SPARK_ONLY} <= set(spark)


def test_dockerfile_builds_on_mage_s_image_and_installs_the_project_requirements():
    dockerfile = (REPO / 'Dockerfile').read_text()
    mage = pins(REPO / 'requirements.txt')['mage-ai']
    assert re.search(rf'^ARG MAGE_IMAGE=mageai/mageai:{re.escape(mage)}$', dockerfile, re.M)
    assert re.search(r'^FROM \$\{MAGE_IMAGE\} AS mage$', dockerfile, re.M)
    assert re.search(r'^FROM mage AS spark$', dockerfile, re.M)
    copied = re.findall(r'^COPY (\S+) ', dockerfile, re.M)
    assert copied == ['mage_project/requirements.txt', 'requirements-spark.txt']
    assert 'openjdk-17-jre-headless' in dockerfile.split('AS spark')[1]


def test_build_context_holds_the_requirements_only():
    """.dockerignore excludes everything but the files the Dockerfile copies: no .env, no data."""
    rules = [line for line in (REPO / '.dockerignore').read_text().splitlines() if line and not line.startswith('#')]
    assert rules[0] == '*' and all(rule.startswith('!') for rule in rules[1:])
    assert sorted(rule[1:] for rule in rules[1:]) == ['mage_project/requirements.txt', 'requirements-spark.txt']
