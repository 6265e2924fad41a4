"""One switch (ENV) picks dev, test or prod; credentials only come from the environment."""
import re
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml

from mage_project.builds import lifecycle
from mage_project.core import db
from mage_project.core.settings import ConfigurationError, connection_settings, current_env
from tests.support.compose import env_example
from tests.support.project import REPO, tracked_files

PROFILES = ('dev', 'test', 'prod')
DETECT_SECRETS = REPO / '.venv-tools' / 'bin' / 'detect-secrets-hook'
# detect-secrets does not read dotenv files (.env, .env.example); a literal value there is found here.
DOTENV_SECRET = re.compile(r'(?im)^[ \t]*(?:export[ \t]+)?\w*(?:PASSWORD|SECRET|TOKEN|API_KEY)\w*=(?P<value>[^\s#]+)')


def secrets_found(paths: list[str], cwd: Path) -> set[str]:
    """'file:line' of every secret detect-secrets finds in ``paths`` (as `make lint` runs it; a
    false positive is marked where it is, with `pragma: allowlist secret`), and of every literal
    value of a secret variable in a dotenv file among them."""
    if not DETECT_SECRETS.exists():
        pytest.skip('detect-secrets is not installed (make test installs it into .venv-tools)')
    result = subprocess.run([str(DETECT_SECRETS), *paths], cwd=cwd, capture_output=True, text=True)
    found = set(re.findall(r'^Location:\s+(\S+)$', result.stdout, re.M))
    assert found or result.returncode == 0, f'detect-secrets failed: {result.stdout}{result.stderr}'
    for path in paths:
        if Path(path).name.startswith('.env'):
            text = (cwd / path).read_text()
            found |= {f'{path}:{text.count(chr(10), 0, m.start()) + 1}' for m in DOTENV_SECRET.finditer(text)}
    return found


def test_the_secret_scan_finds_literal_credentials_and_passes_references(tmp_path):
    samples = {
        'io_config.yaml': ("dev:\n  POSTGRES_USER: \"{{ env_var('POSTGRES_USER') }}\"\n"
                           '  POSTGRES_PASSWORD: hunter22\n'),  # pragma: allowlist secret
        'app.py': ('connect(password=settings.password)\n'
                   "connect(password='s3cr3t-value')\n"),  # pragma: allowlist secret
        'docker-compose.yml': ('services:\n  db:\n    environment:\n      POSTGRES_PASSWORD: ${POSTGRES_PASSWORD:-}\n'
                               "      MAGE_JWT_SECRET: 'a1b2c3d4e5f60718293a4b5c6d7e8f'\n"),  # pragma: allowlist secret
        'settings.toml': 'aws_access_key_id = "AKIAIOSFODNN7EXAMPLE"\n',  # pragma: allowlist secret
        '.env.example': 'POSTGRES_PASSWORD=\n# MAGE_JWT_SECRET=\nMAGE_JWT_SECRET=abcd1234\n',  # pragma: allowlist secret
    }
    for name, text in samples.items():
        (tmp_path / name).write_text(text)
    assert secrets_found(list(samples), tmp_path) == {
        'io_config.yaml:3', 'app.py:2', 'docker-compose.yml:5', 'settings.toml:1', '.env.example:3'}


def test_no_tracked_file_carries_a_secret():
    scanned = shlex.split(re.search(r'^SECRETS_FILES := (.+)$', (REPO / 'Makefile').read_text(), re.M)[1])
    assert secrets_found(tracked_files(*scanned), REPO) == set()  # the files `make lint` scans


def test_io_config_has_only_the_three_profiles_and_no_literal_credentials():
    config = yaml.safe_load((REPO / 'io_config.yaml').read_text())
    assert set(config) - {'version'} == set(PROFILES)
    for profile in PROFILES:
        for key in ('POSTGRES_HOST', 'POSTGRES_PORT', 'POSTGRES_DBNAME', 'POSTGRES_USER', 'POSTGRES_PASSWORD'):
            assert str(config[profile][key]).startswith("{{ env_var('"), f'{profile}.{key} is not from the environment'
            if profile == 'prod':  # the schema is no credential: it follows the run's build
                assert not re.search(r"env_var\('\w+',", str(config[profile][key])), f'prod.{key} has a default'


def variables_read_by_the_project() -> set[str]:
    names = set()
    patterns = (r"getenv\(\s*'(\w+)'", r"environ\[\s*'(\w+)'", r"environ\.get\(\s*'(\w+)'", r"env_var\(\s*'(\w+)'")
    for name in tracked_files():
        if name.startswith(('mage_project/', 'tools/', 'io_config.yaml', 'Makefile')) and (REPO / name).is_file():
            text = (REPO / name).read_text(errors='ignore')
            for pattern in patterns:
                names.update(re.findall(pattern, text))
    return names


# What the pipeline sets for itself, per process (lifecycle.begin; PGOPTIONS, the session settings,
# settings.use_project_environment): a user never sets these.
INTERNAL = {lifecycle.BUILD_SCHEMA_VARIABLE, lifecycle.RUN_ID_VARIABLE, db.APPLICATION_NAME_VARIABLE, 'PGOPTIONS'}


def test_every_variable_a_user_sets_is_in_env_example_and_no_internal_one():
    read = variables_read_by_the_project()
    assert {'ENV', 'DATASET_DIR', 'POSTGRES_PASSWORD', lifecycle.BUILD_SCHEMA_VARIABLE} <= read  # the scan works
    missing = read - INTERNAL - set(env_example())
    assert not missing, f'.env.example lacks {sorted(missing)}'
    assert not INTERNAL & set(env_example()), 'the pipeline sets these itself; .env.example must not offer them'


def test_sql_blocks_follow_env():
    pipeline = yaml.safe_load((REPO / 'mage_project/pipelines/event_analytics/metadata.yaml').read_text())
    sql_blocks = [b for b in pipeline['blocks'] if b['language'] == 'sql']
    assert sql_blocks
    for block in sql_blocks:
        assert block['configuration']['data_provider_profile'] == "{{ env_var('ENV', 'dev') }}", block['uuid']


@pytest.mark.parametrize('env, database', [('dev', 'events'), ('test', 'events_test')])
def test_dev_and_test_have_local_defaults(monkeypatch, env, database):
    for name in ('POSTGRES_HOST', 'POSTGRES_PORT', 'POSTGRES_DB', 'POSTGRES_USER', 'POSTGRES_PASSWORD'):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv('ENV', env)
    assert current_env() == env
    assert connection_settings().dbname == database


def test_unknown_env_is_refused(monkeypatch):
    monkeypatch.setenv('ENV', 'staging')
    with pytest.raises(ConfigurationError, match="ENV='staging' is not one of dev, test, prod"):
        current_env()


def test_prod_names_every_missing_variable(monkeypatch):
    monkeypatch.setenv('ENV', 'prod')
    monkeypatch.setenv('POSTGRES_HOST', 'db.internal')
    monkeypatch.setenv('POSTGRES_PORT', '5432')
    for name in ('POSTGRES_DB', 'POSTGRES_USER', 'POSTGRES_PASSWORD'):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigurationError, match='ENV=prod needs POSTGRES_DB, POSTGRES_USER, POSTGRES_PASSWORD'):
        connection_settings()


def test_prod_run_without_password_stops_before_any_database_work(run_pipeline, database):
    process = run_pipeline(REPO / 'dataset', {'ENV': 'prod', 'POSTGRES_PASSWORD': ''}, check=False)
    assert process.returncode != 0
    assert 'ENV=prod needs POSTGRES_PASSWORD' in process.stdout + process.stderr
    assert database.rows("select count(*) from information_schema.schemata where schema_name like 'raw%'") == [(0,)]
