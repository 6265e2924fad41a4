"""One switch (ENV) picks dev, test or prod; credentials only come from the environment."""
import re
import subprocess

import pytest
import yaml

from mage_project.utils.settings import ConfigurationError, connection_settings, current_env
from tests.conftest import REPO
from tests.deploy.compose import env_example

PROFILES = ('dev', 'test', 'prod')
_KEY = r'''(?i)\b\w*(password|passwd|secret|token|api_key)\w*\b["']?\s*[:=]\s*'''
# A quoted value anywhere; in configuration files (YAML, .env, Makefile) a bare value too.
QUOTED_SECRET = re.compile(_KEY + r'''(["'])(?P<value>[^"'\n]{4,})\2''')
BARE_SECRET = re.compile(_KEY + r'''(?P<value>[^\s"'#]{4,})''')
CONFIG_SUFFIXES = ('.yaml', '.yml', '.env', '.example', '.ini', '.toml', '.cfg', '')
# Values that are references or placeholders, not secrets.
NOT_A_SECRET = re.compile(r'''(?i)^(\$\{|\{\{|env_var|os\.getenv|none|null|true|false|unused-locally|changeme|str|bool|int)''')


def tracked_files() -> list[str]:
    return subprocess.run(['git', 'ls-files'], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()


def literal_secrets(text: str, config: bool = True) -> list[str]:
    patterns = (QUOTED_SECRET, BARE_SECRET) if config else (QUOTED_SECRET,)
    return [m.group(0) for pattern in patterns for m in pattern.finditer(text)
            if not NOT_A_SECRET.match(m['value'])]


def test_secret_scan_catches_a_literal_password():
    assert literal_secrets('POSTGRES_PASSWORD: hunter22') and literal_secrets('MAGE_JWT_SECRET=abcd1234')
    assert literal_secrets("connect(password='s3cr3t-value')", config=False)
    assert not literal_secrets("POSTGRES_PASSWORD: \"{{ env_var('POSTGRES_PASSWORD') }}\"")
    assert not literal_secrets('connect(password=settings.password)', config=False)


def test_no_tracked_file_carries_a_literal_secret():
    found = {}
    for name in tracked_files():
        path = REPO / name
        if path.is_file() and path.suffix not in ('.csv', '.json') and name != 'requirements.txt':
            hits = literal_secrets(path.read_text(errors='ignore'), config=path.suffix in CONFIG_SUFFIXES)
            if hits and name != 'tests/deploy/test_environments.py':  # its own self-test samples
                found[name] = hits
    assert not found, f'literal credentials in tracked files: {found}'


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
        if name.startswith(('mage_project/', 'io_config.yaml', 'Makefile')) and (REPO / name).is_file():
            text = (REPO / name).read_text(errors='ignore')
            for pattern in patterns:
                names.update(re.findall(pattern, text))
    return names


def test_every_variable_the_code_and_io_config_read_is_in_env_example():
    read = variables_read_by_the_project()
    assert {'ENV', 'DATASET_DIR', 'POSTGRES_PASSWORD'} <= read  # the scan itself works
    missing = read - set(env_example())
    assert not missing, f'.env.example lacks {sorted(missing)}'


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
