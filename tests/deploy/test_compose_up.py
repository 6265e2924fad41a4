"""docker-compose.yml run for real: the project's image built on a stand-in for Mage's, Postgres
and the Mage server up and healthy, logged into, triggered through the API and answering; the
one-shot run; the Spark profile; down with nothing left; and bad input through the containers.

No registry is reachable here, so the official images are replaced by stand-ins built from Debian
(tests/support/images, tests/support/docker.py), and the file runs as a copy on the host's network
that changes networking only (test_compose.py checks that). Run it alone:
    make test PYTEST_ARGS="-m docker"
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from tests.support import compose, docker
from tests.support.mage_server import MageApi, MageApiError, free_port
from tests.support.processes import wait_until
from tests.support.project import copy_project

pytestmark = pytest.mark.docker
PIPELINE = 'event_analytics'
CONTAINER_PORTS = (5432, 6789, 7077, 8080, 8081)
ANALYTICS = ('analytics.orphan_events_by_type', 'analytics.duplicate_events_by_date', 'analytics.visitors_by_country',
             'analytics.valuable_users_by_age_group', 'analytics.answers')
PROJECT_FILES = ('Dockerfile', '.dockerignore', 'requirements.txt', 'requirements-spark.txt')


@dataclass
class Built:
    images: dict[str, str]
    wheels_url: str
    seconds: float


@pytest.fixture(scope='module')
def built(tmp_path_factory):
    """The daemon (started if none runs, and stopped after), the wheels and the stand-ins."""
    missing = docker.missing_tools()
    if missing:
        message = f'the compose tests need {", ".join(missing)} (.ci/run installs them)'
        if os.environ.get('CI'):
            pytest.fail(message)
        pytest.skip(message)
    with docker.daemon(tmp_path_factory.mktemp('dockerd') / 'dockerd.log'):
        started = time.monotonic()
        wheels = docker.wheels()
        with docker.served(wheels) as url:
            images = docker.build_stand_ins(url, wheels)
            yield Built(images, url, time.monotonic() - started)


@dataclass
class Stack:
    """A copy of the repository with a test .env and the host-network copy of the compose file."""
    folder: Path
    name: str
    ports: dict[int, int]
    env: dict[str, str]
    log: list[str] = field(default_factory=list)

    def compose(self, *args: str, check: bool = True, env_file: Path | None = None, timeout: float = 1800):
        """docker compose with the test's .env (or ``env_file``) deciding every variable the file
        reads: the same variables in this process's environment would win over the file, as they
        would in a user's shell, so they are left out (CI sets DATASET_DIR, for one)."""
        command = ['docker', 'compose', '--project-directory', str(self.folder), '-f', str(self.folder / 'compose.yml'),
                   '-p', self.name, *(['--env-file', str(env_file)] if env_file else []), *args]
        read = compose.referenced_variables()
        environment = {name: value for name, value in os.environ.items() if name not in read}
        started = time.monotonic()
        result = docker.run(*command, check=check, timeout=timeout, env=environment)
        if args[0] != 'exec':
            self.log.append(f'{time.monotonic() - started:6.1f}s  docker compose {" ".join(args)}')
        return result

    def psql(self, query: str) -> list[tuple[str, ...]]:
        result = self.compose('exec', '-T', 'postgres', 'psql', '-U', self.env['POSTGRES_USER'], '-d',
                              self.env['POSTGRES_DB'], '-v', 'ON_ERROR_STOP=1', '-At', '-F', '\t', '-c', query)
        return [tuple(line.split('\t')) for line in result.stdout.splitlines() if line]

    def answers(self) -> list[tuple[str, ...]]:
        return self.psql('select question_id, answer from analytics.answers order by question_id')

    def published(self) -> dict[str, list[tuple[str, ...]]]:
        """What both pipelines publish: the analytics tables and the load's evidence."""
        queries = {name: f'select * from {name} order by 1, 2' for name in ANALYTICS}
        queries['raw.load_audit'] = 'select source_file, lines_read, rows_loaded, rows_rejected from raw.load_audit order by 1'
        for name in ('raw.rejected_rows', 'raw.adjusted_values'):
            queries[name] = f'select count(*) from {name}'
        return {name: self.psql(query) for name, query in queries.items()}

    def mage(self) -> MageApi:
        return MageApi(f'http://127.0.0.1:{self.env["MAGE_PORT"]}',
                       (self.env['MAGE_OWNER_EMAIL'], self.env['MAGE_OWNER_PASSWORD']))

    def env_file(self, name: str, **changes: str | None) -> Path:
        """Another .env: this one with ``changes`` (None leaves a variable out)."""
        values = {key: value for key, value in {**self.env, **changes}.items() if value is not None}
        path = self.folder / name
        path.write_text(''.join(f'{key}={value}\n' for key, value in values.items()))
        return path

    def leftovers(self) -> list[str]:
        label = f'label=com.docker.compose.project={self.name}'
        containers = docker.run('docker', 'container', 'ls', '-a', '--filter', label, '--format', '{{.Names}}')
        volumes = docker.run('docker', 'volume', 'ls', '--filter', label, '--format', '{{.Name}}')
        return containers.stdout.split() + volumes.stdout.split()


@pytest.fixture
def stack(built, tmp_path, original_dataset):
    folder = copy_project(tmp_path / 'repo')
    for name in PROJECT_FILES:
        shutil.copy(compose.REPO / name, folder / name)
    ports = {port: free_port() for port in CONTAINER_PORTS}
    spec = docker.host_network_copy(compose.load(), ports, built.wheels_url)
    (folder / 'compose.yml').write_text(yaml.safe_dump(spec, sort_keys=False))
    env = compose.env_example() | built.images | {
        'POSTGRES_PASSWORD': secrets.token_urlsafe(12), 'DATASET_DIR': str(original_dataset), 'MAGE_PORT': str(ports[6789]),
        'MAGE_OWNER_EMAIL': 'owner@example.com', 'MAGE_OWNER_USERNAME': 'owner',
        'MAGE_OWNER_PASSWORD': secrets.token_urlsafe(15), 'MAGE_JWT_SECRET': secrets.token_hex(32),
        'SPARK_WORKER_MEMORY': '1g', 'SPARK_DRIVER_MEMORY': '1g',
    }
    stack = Stack(folder, f'event-analytics-test-{secrets.token_hex(3)}', ports, env)
    stack.env_file('.env')
    try:
        yield stack
    finally:
        stack.compose('--profile', 'spark', '--profile', 'oneshot', 'down', '-v', '--remove-orphans', check=False)
        print('\n'.join([f'stand-ins and wheels: {built.seconds:.1f}s', *stack.log]))


def failure(mage: MageApi, run_id: int) -> str:
    """What a failed run's blocks logged."""
    logs = json.loads(mage.run_logs(PIPELINE, run_id))
    return '\n'.join(log['content'][-2000:] for entry in logs for log in entry.get('block_run_logs', [])
                     if log.get('content'))[-6000:] or json.dumps(logs)[-3000:]


def test_compose_up_login_trigger_one_shot_spark_and_down(stack):
    # Up: the project's image is built on the Mage stand-in; Postgres and the editor become healthy.
    stack.compose('up', '-d', '--wait')
    states = stack.compose('ps', '--format', '{{.Service}} {{.Health}}').stdout.split('\n')
    assert sorted(line for line in states if line) == ['mage healthy', 'postgres healthy']

    # The owner from .env logs in on 127.0.0.1; Mage's default admin does not.
    mage = stack.mage()
    assert mage.login()
    with pytest.raises(MageApiError):
        mage.login('admin@admin.com', 'admin')

    # The API trigger, called with its token only, runs the pipeline to completion.
    (schedule,) = [s for s in mage.schedules(PIPELINE) if s['name'] == 'api_trigger']
    run = mage.wait_for_run(mage.trigger(schedule)['id'], timeout=600)
    assert run['status'] == 'completed', failure(mage, run['id'])
    answers = stack.answers()
    assert [question for question, _ in answers] == ['q1', 'q2', 'q3', 'q4'] and all(a for _, a in answers)
    published = stack.published()
    assert int(published['raw.load_audit'][1][1]) > 0  # the events file's lines

    run_ids = [stack.psql('select distinct run_id from raw.load_audit')]

    # The one-shot service runs the same pipeline again: nothing new, so it publishes nothing and
    # the tables stay; with full_refresh, as a user asks for one, it publishes the same tables.
    stack.compose('run', '--rm', 'pipeline')
    assert stack.psql('select status from audit.pipeline_runs order by started_at desc limit 1') == [('unchanged',)]
    assert stack.published() == published
    stack.compose('run', '--rm', 'pipeline', 'mage', 'run', 'mage_project', PIPELINE, '--test', '--runtime-vars',
                  '{"full_refresh": true}')
    assert stack.published() == published
    run_ids.append(stack.psql('select distinct run_id from raw.load_audit'))

    # The Spark profile: master, worker and driver run the Spark pipeline to the same tables.
    stack.compose('--profile', 'spark', 'up', '-d', '--wait', 'spark-master', 'spark-worker')
    stack.compose('--profile', 'spark', 'run', '--rm', 'pipeline-spark')
    assert stack.published() == published
    run_ids.append(stack.psql('select distinct run_id from raw.load_audit'))
    assert len({tuple(ids) for ids in run_ids}) == 3, f'not three runs published: {run_ids}'

    # Down without -v keeps the volume: a second up serves the published tables.
    stack.compose('--profile', 'spark', 'down')
    assert not [name for name in stack.leftovers() if not name.endswith('postgres-data')]
    stack.compose('up', '-d', '--wait')
    assert stack.answers() == answers

    # Down with -v leaves no container and no volume.
    stack.compose('--profile', 'spark', 'down', '-v')
    assert stack.leftovers() == []


def test_bad_input_is_refused_through_the_containers(stack):
    # A .env without a required variable stops `up` before anything starts, naming the variable.
    for variable in ('POSTGRES_PASSWORD', 'MAGE_OWNER_EMAIL', 'MAGE_OWNER_PASSWORD'):
        result = stack.compose('up', '-d', check=False, env_file=stack.env_file(f'without-{variable}', **{variable: None}))
        assert result.returncode != 0 and variable in result.stderr, result.stderr
        assert stack.leftovers() == []

    # A weak or default owner password: the editor does not start, and says why.
    for password, reason in (('admin', 'shorter than 12'), ('password1234', 'well-known default'),
                             ('owner-owner-owner', "owner's email or username")):
        weak = stack.env_file('weak.env', MAGE_OWNER_PASSWORD=password)
        result = stack.compose('up', '-d', '--wait', check=False, env_file=weak)
        logs = stack.compose('logs', 'mage', env_file=weak).stdout
        assert result.returncode != 0 and 'Mage editor not started: MAGE_OWNER_PASSWORD' in logs, logs
        assert reason in logs, logs
        stack.compose('rm', '-fs', 'mage', env_file=weak)

    # The editor's port taken on the host: a clear error naming it.
    port = stack.env['MAGE_PORT']
    with socket.socket() as taken:
        taken.bind(('127.0.0.1', int(port)))
        taken.listen()
        result = stack.compose('up', '-d', '--wait', check=False)
        logs = stack.compose('logs', 'mage').stdout
    assert result.returncode != 0 and f'port {port} is already in use' in logs, logs
    stack.compose('rm', '-fs', 'mage')

    # A dataset folder missing on the host stops the run before it starts, naming the folder;
    # nothing is created in its place.
    missing = stack.folder / 'no-such-dataset'
    result = stack.compose('run', '--rm', 'pipeline', check=False,
                           env_file=stack.env_file('no-dataset.env', DATASET_DIR=str(missing)))
    assert result.returncode != 0 and str(missing) in result.stderr, result.stderr
    assert not missing.exists()

    # A dataset folder missing inside the container fails the run, naming it, as outside Docker.
    result = stack.compose('run', '--rm', '-e', 'DATASET_DIR=no-such-folder', 'pipeline', check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0 and 'no-such-folder: dataset folder not found' in output, output[-3000:]
    assert not stack.psql("select 1 from information_schema.schemata where schema_name = 'analytics'")

    stack.compose('down', '-v')
    assert wait_until(lambda: stack.leftovers() == [], 30, 'nothing left after down -v')
