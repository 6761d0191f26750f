"""Worker *processes* for crash tests: start one on its own task queue, kill -9 it, start another.

Every process started here is stopped when the `with` block ends, whatever the test did.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from types import TracebackType

from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from starter.sdk import CodeRunner
from starter.tools.harness import HostProcess
from tests.conftest import settings_for, worker_env

REPO = Path(__file__).resolve().parents[1]


class WorkerProcesses:
    def __init__(
        self,
        home: Path,
        temporal_env: WorkflowEnvironment,
        host: HostProcess,
        client: Client,
        task_queue: str,
        log_dir: Path,
    ) -> None:
        self.env = worker_env(home, temporal_env, host, task_queue)
        self.cr = CodeRunner(client, settings_for(home, temporal_env, host, task_queue))
        self.log_dir = log_dir
        self.procs: list[subprocess.Popen[bytes]] = []

    def log(self, n: int = 1) -> str:
        return (self.log_dir / f"worker{n}.log").read_text()[-2000:]

    def start(self) -> subprocess.Popen[bytes]:
        with (self.log_dir / f"worker{len(self.procs) + 1}.log").open("ab") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "worker"],
                env=self.env,
                cwd=REPO,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.procs.append(proc)
        return proc

    def kill9(self, proc: subprocess.Popen[bytes]) -> None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)

    def __enter__(self) -> WorkerProcesses:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(20)
