"""A real `mage start` server for end-to-end tests, and a small client for its API (MageApi, also
used on the server that docker compose starts)."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

from mage_ai.settings.server import OAUTH2_APPLICATION_CLIENT_ID

from tests.support.processes import wait_until
from tests.support.project import MAGE, REPO

# The editor's public API key, the same in every Mage install and sent by every browser client.
API_KEY = OAUTH2_APPLICATION_CLIENT_ID


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


class MageApi:
    """A client of a Mage server's API at ``url``, logging in as ``owner`` (email, password)."""

    def __init__(self, url: str, owner: tuple[str, str]):
        self.url = url
        self.owner = owner
        self.token = None

    # --- API ---------------------------------------------------------------------------------
    def request(self, method: str, path: str, body: dict | None = None, auth: bool = True) -> dict:
        """Call the API. Mage reports errors as HTTP 200 with an `error` key, so that is raised."""
        headers = {'Content-Type': 'application/json', 'X-API-KEY': API_KEY}
        if auth:
            headers['Cookie'] = f'oauth_token={self.login()}'
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f'{self.url}/api/{path}', data=data, method=method, headers=headers)
        with urllib.request.urlopen(request, timeout=30) as response:
            payload = json.loads(response.read())
        if 'error' in payload:
            raise MageApiError(f'{method} /api/{path}: {payload["error"]}')
        return payload

    def login(self, email: str | None = None, password: str | None = None) -> str:
        if self.token and email is None:
            return self.token
        payload = self.request('POST', 'sessions', {'session': {
            'email': email or self.owner[0], 'password': password or self.owner[1]}}, auth=False)
        token = payload['session']['token']
        if email is None:
            self.token = token
        return token

    def schedules(self, pipeline: str) -> list[dict]:
        return self.request('GET', f'pipelines/{pipeline}/pipeline_schedules')['pipeline_schedules']

    def trigger(self, schedule: dict) -> dict:
        """POST to the API trigger's URL, as an outside caller would: the token is the only key."""
        return self.request('POST', f"pipeline_schedules/{schedule['id']}/pipeline_runs/{schedule['token']}",
                            {'pipeline_run': {'variables': {}}}, auth=False)['pipeline_run']

    def wait_for_run(self, run_id: int, timeout: float = 300) -> dict:
        def ended() -> dict | None:
            run = self.request('GET', f'pipeline_runs/{run_id}')['pipeline_run']
            return run if run['status'] in ('completed', 'failed', 'cancelled') else None

        return wait_until(ended, timeout, f'pipeline run {run_id} ending', every=1)

    def block_runs(self, run_id: int) -> list[dict]:
        return self.request('GET', f'block_runs?pipeline_run_id={run_id}')['block_runs']

    def run_logs(self, pipeline: str, run_id: int) -> str:
        logs = self.request('GET', f'pipelines/{pipeline}/logs?pipeline_run_id[]={run_id}')['logs']
        return json.dumps(logs)


class MageServer(MageApi):
    """`mage start mage_project` on a free port with user authentication on."""

    def __init__(self, env: dict[str, str], data_dir: Path, owner: tuple[str, str], repo: Path = REPO,
                 command: list[str] | None = None, port: int | None = None):
        self.repo = repo
        self.port = port or free_port()
        self.command = command or [str(MAGE), 'start', 'mage_project', '--port', str(self.port)]
        super().__init__(f'http://127.0.0.1:{self.port}', owner)
        self.log_path = data_dir / 'server.log'
        self.env = {'MAGE_DATA_DIR': str(data_dir / 'mage_data'), 'REQUIRE_USER_AUTHENTICATION': '1',
                    'DEFAULT_OWNER_EMAIL': owner[0], 'DEFAULT_OWNER_USERNAME': 'owner',
                    'DEFAULT_OWNER_PASSWORD': owner[1], 'JWT_SECRET': os.urandom(16).hex(), **env}
        self.process = None

    def start(self, timeout: float = 120) -> 'MageServer':
        self.process = subprocess.Popen(
            self.command, cwd=self.repo, env=self.env,
            stdout=self.log_path.open('w'), stderr=subprocess.STDOUT, start_new_session=True)

        def answers() -> bool:
            if self.process.poll() is not None:
                raise RuntimeError(f'mage start exited {self.process.returncode}: {self.log()}')
            try:
                with urllib.request.urlopen(f'{self.url}/api/status', timeout=2):
                    return True
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                return False

        wait_until(answers, timeout, f'mage start answering at {self.url}', every=1)
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors='replace')[-4000:]


class MageApiError(RuntimeError):
    pass
