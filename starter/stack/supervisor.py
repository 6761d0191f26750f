"""The embedded stack's supervisor: starts Temporal, codec server, sandbox host and worker, restarts
any that crash (with backoff), and on SIGTERM stops them in reverse order.

Started detached by `coderunner up`; `coderunner down` sends it SIGTERM. The restart delay doubles
while a child keeps crashing soon after it starts, and resets once a child has run healthily for
`healthy_after_s` (as systemd's and Kubernetes' crash-loop backoffs do): five unrelated crashes a day
apart each restart at once. A waiting restart never blocks watching the other children.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil

from coderunner.config.home import HomeLayout, home_dir, read_or_create_token, write_private
from coderunner.config.temporal_bin import temporal_binary
from coderunner.config.temporal_server import dev_server_config_args
from coderunner.models import search_attributes as sa
from starter.stack.processes import ProcessRecord, spawn, terminate, wait_until

log = logging.getLogger("coderunner.supervisor")

FIRST_DELAY_S = 0.5
MAX_DELAY_S = 30.0
HEALTHY_AFTER_S = 30.0  # a child that ran this long was healthy: its next crash restarts at once
HEALTHY_ENV = "CODERUNNER_SUPERVISOR_HEALTHY_S"


def restart_delay(previous_s: float | None, ran_s: float, healthy_after_s: float = HEALTHY_AFTER_S) -> float:
    """The wait before restarting a child that ran `ran_s` and crashed; `previous_s` was the last wait.

    A crash after a healthy run starts over at FIRST_DELAY_S; a crash loop doubles up to MAX_DELAY_S.
    """
    if previous_s is None or ran_s >= healthy_after_s:
        return FIRST_DELAY_S
    return min(previous_s * 2, MAX_DELAY_S)


def child_commands(home: Path, stack: dict) -> dict[str, list[str]]:
    """Ordered: Temporal first (the worker needs it), the worker last."""
    py = sys.executable
    ui = stack["ui_port"]
    token = read_or_create_token(HomeLayout(home).codec_token)  # the UI cannot send a header
    codec_endpoint = f"http://127.0.0.1:{stack['codec_port']}/{token}"
    return {
        "temporal": [
            temporal_binary(),
            "server",
            "start-dev",
            "--db-filename",
            str(HomeLayout(home).temporal_db),
            "--ip",
            "127.0.0.1",
            "--port",
            str(stack["temporal_port"]),
            "--ui-port",
            str(ui),
            "--ui-codec-endpoint",
            codec_endpoint,
            "--ui-disable-news-fetch",
            "--log-level",
            "warn",
            *sa.dev_server_args(),
            *dev_server_config_args(),
        ],
        "codec": [
            py,
            "-m",
            "coderunner.codec.server",
            "--home",
            str(home),
            "--port",
            str(stack["codec_port"]),
            "--ui-origin",
            f"http://localhost:{ui}",
            "--ui-origin",
            f"http://127.0.0.1:{ui}",
        ],
        "sandbox": [
            py,
            "-m",
            "coderunner.hosts.host",
            "--home",
            str(home),
            "--port",
            str(stack["sandbox_port"]),
        ],
        "worker": [py, "-m", "worker", "--home", str(home)],
    }


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class Supervisor:
    def __init__(self, home: Path, healthy_after_s: float = HEALTHY_AFTER_S) -> None:
        self.home = home
        self.healthy_after_s = healthy_after_s
        self.layout = HomeLayout(home)
        self.stack = json.loads(self.layout.stack_file.read_text())
        self.commands = child_commands(home, self.stack)
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self.records: dict[str, ProcessRecord] = {}
        self.backoff: dict[str, float] = {}
        self.started_at: dict[str, float] = {}
        self.due: dict[str, float] = {}  # child -> monotonic time of its pending restart
        self.stopping = False
        self.keep_apps = False  # SIGUSR1: stop, but tell the sandbox host to leave apps serving
        me = psutil.Process()
        self.stack["supervisor"] = ProcessRecord(
            name="supervisor", pid=me.pid, create_time=me.create_time()
        ).model_dump()

    def start(self, name: str) -> None:
        proc, record = spawn(name, self.commands[name], self.layout.logs / f"{name}.log")
        self.children[name], self.records[name] = proc, record
        self.started_at[name] = time.monotonic()
        log.info("started %s (pid %d)", name, proc.pid)
        self._save()
        if name == "temporal":
            wait_until(lambda: port_open(self.stack["temporal_port"]) or proc.poll() is not None, 60)

    def _save(self) -> None:
        self.stack["processes"] = {n: r.model_dump() for n, r in self.records.items()}
        write_private(self.layout.stack_file, json.dumps(self.stack, indent=2).encode())

    def run(self) -> None:
        for name in self.commands:
            self.start(name)
        while not self.stopping:
            time.sleep(0.2)
            now = time.monotonic()
            for name, proc in list(self.children.items()):
                if name in self.due or proc.poll() is None or self.stopping:
                    continue
                ran = now - self.started_at[name]
                delay = restart_delay(self.backoff.get(name), ran, self.healthy_after_s)
                self.backoff[name], self.due[name] = delay, now + delay
                log.warning(
                    "%s exited with %s after %.1fs; restarting in %.1fs", name, proc.returncode, ran, delay
                )
            for name, at in list(self.due.items()):
                if not self.stopping and time.monotonic() >= at:
                    del self.due[name]
                    self.start(name)
        self.shutdown()

    def shutdown(self) -> None:
        self.stack["supervisor"] = None
        for name in reversed(list(self.commands)):
            record = self.records.get(name)
            sig = signal.SIGUSR1 if self.keep_apps and name == "sandbox" else signal.SIGTERM
            if record and terminate(record, grace_s=15.0, sig=sig):
                log.info("stopped %s", name)
            proc = self.children.get(name)
            if proc:
                proc.poll()
        self.records.clear()
        self._save()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m starter.stack.supervisor", description=__doc__)
    parser.add_argument("--home", required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s supervisor %(message)s")
    supervisor = Supervisor(home_dir(args.home), float(os.environ.get(HEALTHY_ENV) or HEALTHY_AFTER_S))

    def _stop(*_: object) -> None:
        supervisor.stopping = True

    def _stop_keep_apps(*_: object) -> None:
        supervisor.keep_apps = True
        supervisor.stopping = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGUSR1, _stop_keep_apps)
    supervisor.run()


if __name__ == "__main__":
    main()
