"""docker-compose.yml, checked without a Docker engine: against the compose specification, for
its variables, for the paths it mounts, and by running its commands outside Docker."""
import re
import secrets
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import compose, docker
from tests.support.mage_server import MageApiError, MageServer
from tests.support.project import REPO, copy_project

TOOLS = REPO / '.venv-tools' / 'bin' / 'check-jsonschema'
SERVICES_WITH_PIPELINE = ('mage', 'pipeline')


def test_compose_file_follows_the_compose_specification():
    checker = shutil.which('check-jsonschema') or (str(TOOLS) if TOOLS.exists() else None)
    if checker is None:
        pytest.skip('check-jsonschema is not installed (make test installs it into .venv-tools)')
    result = subprocess.run([checker, '--builtin-schema', 'vendor.compose-spec', str(compose.COMPOSE_FILE)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def default_image(service: dict) -> str:
    """The image a service runs by default: the base of its build, or its image, with the
    variables that override them unset."""
    image = service['build']['args']['MAGE_IMAGE'] if 'build' in service else service['image']
    return compose.interpolate(image, {})


def test_images_are_the_official_pinned_ones_and_overridable():
    pinned_mage = re.search(r'^mage-ai==(\S+)$', (REPO / 'requirements.txt').read_text(), re.M)[1]
    services = compose.load()['services']
    for name, service in services.items():
        image = default_image(service)
        assert ':' in image and not image.endswith(':latest'), f'{name}: {image} is not pinned'
        variable = 'MAGE_IMAGE' if 'build' in service else {'postgres': 'POSTGRES_IMAGE'}.get(name, 'SPARK_IMAGE')
        overridden = service['build']['args']['MAGE_IMAGE'] if 'build' in service else service['image']
        assert compose.interpolate(overridden, {variable: 'other:1'}) == 'other:1', f'{name}: {variable} does not pick it'
    for name in ('mage', 'pipeline', 'pipeline-spark'):
        assert default_image(services[name]) == f'mageai/mageai:{pinned_mage}', \
            f'{name} is not built on mage-ai=={pinned_mage}'
        assert services[name]['build']['context'] == '.'
    assert services['pipeline-spark']['build']['target'] == 'spark' and services['mage']['build']['target'] == 'mage'
    assert re.fullmatch(r'postgres:\d+', default_image(services['postgres']))


def test_the_spark_cluster_runs_the_drivers_spark_version_with_healthchecks():
    services = compose.load()['services']
    spark = re.search(r'^pyspark==(\S+)$', (REPO / 'requirements-spark.txt').read_text(), re.M)[1]
    for name in ('spark-master', 'spark-worker'):
        image = default_image(services[name])
        assert image.startswith(f'apache/spark:{spark}-'), \
            f'{name}: {image} is not the Spark of requirements-spark.txt ({spark})'
        assert 'java17' in image and services[name]['profiles'] == ['spark']
        assert services[name]['healthcheck']['test'][0] == 'CMD'
    assert services['spark-worker']['depends_on']['spark-master']['condition'] == 'service_healthy'
    assert services['pipeline-spark']['depends_on']['spark-worker']['condition'] == 'service_healthy'
    assert 'event_analytics_spark' in services['pipeline-spark']['command']


def test_no_host_path_outside_the_repository_by_default():
    for name in compose.load()['services']:
        for source, _ in compose.mounts(name):
            assert (REPO / source).resolve().is_relative_to(REPO), f'{name} mounts {source}'


def test_the_dataset_is_a_host_folder_mounted_read_only_where_the_pipeline_runs():
    """DATASET_DIR is a folder on the host, as for `make run`: every service that runs the pipeline's
    code, and the Spark worker, mount it read-only at the path their DATASET_DIR names, and a folder
    that does not exist is an error rather than created empty."""
    services = compose.load()['services']
    assert compose.dataset_source() == (REPO / 'dataset').resolve()
    assert compose.dataset_source({'DATASET_DIR': '../shared/dataset'}) == (REPO.parent / 'shared' / 'dataset').resolve()
    target = compose.dataset_target()
    for name in ('mage', 'pipeline', 'pipeline-spark', 'spark-worker'):
        (mount,) = [v for v in services[name]['volumes'] if isinstance(v, dict) and v['target'] == target]
        assert mount['read_only'] and mount['bind']['create_host_path'] is False, name


def test_postgres_has_a_volume_and_a_pg_isready_healthcheck():
    postgres = compose.load()['services']['postgres']
    assert any(not v.startswith(('.', '/')) for v in postgres['volumes']), 'no named volume'
    assert 'pg_isready' in ' '.join(postgres['healthcheck']['test'])
    for name in SERVICES_WITH_PIPELINE:
        assert compose.load()['services'][name]['depends_on']['postgres']['condition'] == 'service_healthy'


def test_mage_editor_requires_login_with_credentials_from_env():
    mage = compose.load()['services']['mage']
    environment = mage['environment']
    # The editor's own start (tools/editor.py) turns user authentication on.
    assert mage['command'] == ['python', '-m', 'tools.editor']
    for key in ('MAGE_OWNER_EMAIL', 'MAGE_OWNER_PASSWORD', 'MAGE_JWT_SECRET'):
        assert re.fullmatch(r'\$\{[A-Z_]+:\?[^}]+\}', environment[key]), \
            f'{key} must come from .env and be required, not defaulted: {environment[key]}'
    assert mage['ports'] == ['127.0.0.1:${MAGE_PORT:-6789}:${MAGE_PORT:-6789}']


def test_every_variable_compose_reads_is_in_env_example():
    missing = compose.referenced_variables() - set(compose.env_example())
    assert not missing, f'.env.example lacks {sorted(missing)}'


def test_mounted_project_paths_exist():
    for name in SERVICES_WITH_PIPELINE:
        service = compose.load()['services'][name]
        workdir = compose.host_path(name, service['working_dir'])
        project = workdir / 'mage_project'
        assert (project / 'metadata.yaml').is_file(), f'{name}: no Mage project at {project}'
        io_config = project / 'io_config.yaml'
        assert io_config.resolve().is_relative_to(REPO) and io_config.resolve().is_file(), \
            f'{name}: {io_config} does not resolve inside the repository'
        if service['command'][1] == 'run':
            pipeline = project / 'pipelines' / service['command'][3] / 'metadata.yaml'
            assert pipeline.is_file(), f'{name}: no pipeline at {pipeline}'


def compose_variables(database) -> dict[str, str]:
    """.env.example with the blanks a user must fill in filled in, and this test's database."""
    return compose.env_example() | {
        'POSTGRES_PASSWORD': database.env['POSTGRES_PASSWORD'] or 'unused-locally',
        'POSTGRES_USER': database.env['POSTGRES_USER'], 'POSTGRES_DB': database.env['POSTGRES_DB'],
        'MAGE_OWNER_EMAIL': 'owner@example.com', 'MAGE_OWNER_USERNAME': 'owner',
        'MAGE_OWNER_PASSWORD': secrets.token_urlsafe(12), 'MAGE_JWT_SECRET': secrets.token_hex(16),
    }


def service_environment_here(service: str, database, tmp_path) -> dict[str, str]:
    """What compose gives the service, with the postgres service replaced by this test's server,
    the repository's mount point by the repository (or a copy of it) and the dataset's by its
    host folder."""
    environment = compose.service_environment(service, compose_variables(database))
    environment.update(
        POSTGRES_HOST=database.env['POSTGRES_HOST'], POSTGRES_PORT=database.env['POSTGRES_PORT'],
        POSTGRES_PASSWORD=database.env['POSTGRES_PASSWORD'], DATASET_DIR=str(compose.dataset_source()),
        MAGE_DATA_DIR=str(tmp_path / 'mage_data'), PATH=str(Path(sys.executable).parent) + ':/usr/bin:/bin',
        HOME=str(tmp_path), REPORT_DIR=str(tmp_path / 'reports'),
    )
    return environment


def test_the_copy_that_runs_on_the_hosts_network_changes_networking_only():
    """test_compose_up.py runs a copy of the file on the host's network (tests/support/docker.py)."""
    real = compose.load()
    ports = {port: 40000 + index for index, port in enumerate((5432, 6789, 7077, 8080, 8081))}
    copy = docker.host_network_copy(real, ports, 'http://127.0.0.1:1/')
    assert docker.differences(real, copy, ports) == []
    assert all(service['network_mode'] == 'host' and 'ports' not in service for service in copy['services'].values())
    # The check can fail: a changed command, variable or healthcheck is a difference.
    copy['services']['mage']['command'][0] = 'sh'
    copy['services']['pipeline']['environment']['ENV'] = 'prod'
    del copy['services']['postgres']['healthcheck']
    assert len(docker.differences(real, copy, ports)) == 3


@pytest.mark.mage
def test_pipeline_service_command_completes_outside_docker(database, tmp_path):
    """The one-shot service's command, with the variables compose gives it (the database is this
    test's instead of the postgres service), runs the pipeline to completion."""
    service = compose.load()['services']['pipeline']
    environment = service_environment_here('pipeline', database, tmp_path)
    result = subprocess.run(service['command'], cwd=compose.host_path('pipeline', service['working_dir']),
                            env=environment, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert database.rows('select count(*) from analytics.answers') == [(4,)]


@pytest.mark.server
def test_mage_service_command_serves_the_editor_with_the_env_owner(database, tmp_path):
    """The mage service's command (the editor's start: `mage start mage_project` on 6789), with the
    variables compose gives it: the editor answers, the owner from .env logs in, Mage's default
    admin does not."""

    with socket.socket() as probe:
        if probe.connect_ex(('127.0.0.1', 6789)) == 0:
            pytest.skip('port 6789 is in use here; the mage service listens on it')
    service = compose.load()['services']['mage']
    environment = service_environment_here('mage', database, tmp_path)
    owner = (environment['MAGE_OWNER_EMAIL'], environment['MAGE_OWNER_PASSWORD'])
    command = [str(Path(sys.executable).with_name(service['command'][0]))] + service['command'][1:]
    repo = copy_project(tmp_path / 'repo')
    server = MageServer(environment, tmp_path, owner, repo=repo, command=command, port=6789)
    try:
        server.start()
        assert server.login()
        with pytest.raises(MageApiError):
            server.login('admin@admin.com', 'admin')
    finally:
        server.stop()
