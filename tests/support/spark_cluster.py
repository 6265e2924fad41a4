"""A Spark standalone cluster on 127.0.0.1 from the pyspark package: one master and one worker,
each a separate JVM (spark-class), the worker starting each application's executor as a JVM of
its own. Everything runs in two process groups, stopped whole."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.mage_server import free_port
from tests.support.processes import wait_until


def spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).resolve().parent


@dataclass
class Cluster:
    folder: Path
    cores: int = 2
    port: int = field(default_factory=free_port)
    ui_port: int = field(default_factory=free_port)
    processes: list = field(default_factory=list)

    @property
    def master_url(self) -> str:
        return f'spark://127.0.0.1:{self.port}'

    def env(self) -> dict[str, str]:
        return dict(os.environ, SPARK_HOME=str(spark_home()), SPARK_LOCAL_IP='127.0.0.1',
                    SPARK_LOG_DIR=str(self.folder / 'logs'), SPARK_WORKER_DIR=str(self.folder / 'work'))

    def _start(self, name: str, *args: str) -> None:
        log = (self.folder / f'{name}.log').open('w')
        self.processes.append(subprocess.Popen(
            [str(spark_home() / 'bin' / 'spark-class'), *args], env=self.env(), stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True))

    def status(self) -> dict:
        with urllib.request.urlopen(f'http://127.0.0.1:{self.ui_port}/json/', timeout=2) as response:
            return json.load(response)

    def _alive_workers(self) -> int:
        try:
            return self.status().get('aliveworkers', 0)
        except OSError:
            return 0

    def start(self) -> 'Cluster':
        self.folder.mkdir(parents=True, exist_ok=True)
        self._start('master', 'org.apache.spark.deploy.master.Master', '--host', '127.0.0.1',
                    '--port', str(self.port), '--webui-port', str(self.ui_port))
        self._start('worker', 'org.apache.spark.deploy.worker.Worker', self.master_url, '--host', '127.0.0.1',
                    '--cores', str(self.cores), '--memory', '2g', '--webui-port', str(free_port()),
                    '--work-dir', str(self.folder / 'work'))
        wait_until(self._alive_workers, 90, f'a worker registered with the master on {self.master_url}', every=0.5)
        return self

    def running(self) -> list[int]:
        """The process groups of this cluster that still have a process."""
        alive = []
        for process in self.processes:
            try:
                os.killpg(process.pid, 0)
                alive.append(process.pid)
            except ProcessLookupError:
                pass
        return alive

    def stop(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pgid in self.running():
                os.killpg(pgid, sig)
            for process in self.processes:
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    pass
            try:
                wait_until(lambda: not self.running(), 20, 'the cluster stopped', every=0.25)
                return
            except TimeoutError:
                continue
