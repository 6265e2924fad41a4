"""Every setting is checked at the start of a run, and a bad one is named with what is allowed."""
import pytest

from mage_project.core import settings
from mage_project.core.settings import (
    ConfigurationError,
    check_settings,
    connection_settings,
    max_rejected_share,
    publish_wait_seconds,
)


@pytest.fixture(autouse=True)
def report_dir(monkeypatch, tmp_path):
    monkeypatch.setenv('REPORT_DIR', str(tmp_path / 'reports'))  # check_settings writes a probe there


@pytest.mark.parametrize('name, value, message', [
    ('PUBLISH_WAIT_SECONDS', '5s', "PUBLISH_WAIT_SECONDS='5s' is not a number; allowed: a number from 0 to 3600"),
    ('PUBLISH_WAIT_SECONDS', '-1', "PUBLISH_WAIT_SECONDS='-1' is out of range"),
    ('BUILD_ABANDON_SECONDS', '10', "BUILD_ABANDON_SECONDS='10' is out of range; allowed: a number of at least 60"),
    ('MAX_REJECTED_SHARE', '10%', "MAX_REJECTED_SHARE='10%' is not a number; allowed: a number from 0 to 1"),
    ('MAX_REJECTED_SHARE', '1.5', "MAX_REJECTED_SHARE='1.5' is out of range"),
    ('MAX_REJECTED_SHARE', 'nan', "MAX_REJECTED_SHARE='nan' is out of range"),
    ('ENV', 'staging', "ENV='staging' is not one of dev, test, prod"),
    ('POSTGRES_PORT', 'five', "POSTGRES_PORT='five' is not a port"),
    ('ANALYTICS_READER_ROLES', 'analyst, bad role', "names 'bad role'"),
    ('PIPELINE_STATEMENT_TIMEOUT', '2s', "PIPELINE_STATEMENT_TIMEOUT='2s' is not a number; allowed: a number of at least 0"),
    ('KEEP_FAILED_BUILDS', 'maybe', "KEEP_FAILED_BUILDS='maybe' is not allowed; allowed: 1 or 0"),
    ('REPORT_DIR', '/proc/version/reports', "REPORT_DIR='/proc/version/reports': the report cannot be written in"),
    ('DATASET_DIR', 'data\r', 'DATASET_DIR ends with a carriage return'),
])
def test_a_bad_setting_is_named_with_its_value_and_what_is_allowed(monkeypatch, name, value, message):
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError) as error:
        check_settings()
    assert message in str(error.value)


def test_every_bad_setting_is_named_at_once(monkeypatch):
    monkeypatch.setenv('PUBLISH_WAIT_SECONDS', 'soon')
    monkeypatch.setenv('MAX_REJECTED_SHARE', 'many')
    with pytest.raises(ConfigurationError, match='PUBLISH_WAIT_SECONDS=.*; MAX_REJECTED_SHARE='):
        check_settings()


def test_defaults_and_the_per_run_variable(monkeypatch):
    for name in ('PUBLISH_WAIT_SECONDS', 'MAX_REJECTED_SHARE'):
        monkeypatch.delenv(name, raising=False)
    assert publish_wait_seconds() == 60 and max_rejected_share() == 0.10
    monkeypatch.setenv('MAX_REJECTED_SHARE', '0.25')
    assert max_rejected_share() == 0.25
    assert max_rejected_share('0.5') == 0.5  # the run's pipeline variable wins
    with pytest.raises(ConfigurationError, match="max_rejected_share='lots' .pipeline variable. is not allowed"):
        check_settings({'max_rejected_share': 'lots'})


def test_the_connection_is_rendered_once_and_again_after_any_change(monkeypatch, tmp_path):
    import mage_ai.io.config

    renders = []
    real_loader = mage_ai.io.config.ConfigFileLoader
    monkeypatch.setattr(mage_ai.io.config, 'ConfigFileLoader', lambda *args: renders.append(args) or real_loader(*args))
    monkeypatch.setenv('MAGE_DATA_DIR', str(tmp_path))  # Mage's state, if rendering imports it first
    monkeypatch.setenv('ENV', 'dev')
    monkeypatch.delenv('POSTGRES_DB', raising=False)
    monkeypatch.setenv('POSTGRES_PORT', '6543')
    assert connection_settings().port == 6543 and connection_settings().port == 6543
    first = len(renders)
    assert first <= 1, 'the same file and environment are rendered once'
    monkeypatch.setenv('POSTGRES_PORT', '6544')
    assert connection_settings().port == 6544, 'a changed variable is read again'
    edited = tmp_path / 'io_config.yaml'
    edited.write_text(settings.IO_CONFIG_PATH.read_text().replace("'events')", "'events_edited')"))
    monkeypatch.setattr(settings, 'IO_CONFIG_PATH', edited)
    assert connection_settings().dbname == 'events_edited', 'an edited io_config.yaml is read again'
    assert len(renders) == first + 2
