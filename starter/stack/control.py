"""`coderunner up` / `down` / `stack`: the embedded stack, all of it under one state directory."""

from __future__ import annotations

import functools
import json
import signal
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import httpx

from coderunner.config.home import (
    HomeLayout,
    ensure_home,
    read_or_create_key,
    read_or_create_token,
    write_private,
)
from coderunner.config.ports import preferred_or_free
from starter.sdk.errors import OperationError
from starter.stack import port_claims
from starter.stack.leftovers import stop_leftovers
from starter.stack.processes import ProcessRecord, spawn, terminate, wait_until
from starter.stack.supervisor import port_open

PREFERRED = {
    "temporal_port": 7233,
    "ui_port": 8233,
    "sandbox_port": 7390,
    "codec_port": 7391,
    "metrics_port": 9464,
}


def read_stack(home: Path) -> dict[str, Any] | None:
    path = HomeLayout(home).stack_file
    return json.loads(path.read_text()) if path.exists() else None


def supervisor_alive(stack: dict[str, Any] | None) -> bool:
    record = (stack or {}).get("supervisor")
    return isinstance(record, dict) and ProcessRecord(**record).alive() is not None


def _write_stack(home: Path, stack: dict[str, Any]) -> None:
    write_private(HomeLayout(home).stack_file, json.dumps(stack, indent=2).encode())


def plan_ports(taken: set[int], preferred: Mapping[str, int] = PREFERRED) -> dict[str, int]:
    """The conventional ports where free, else free ones; never one of `taken`: the ports other
    stacks that are up have claimed (free at this moment, maybe — while their worker restarts)."""
    ports: dict[str, int] = {}
    for key, port in preferred.items():
        ports[key] = preferred_or_free(port, set(ports.values()) | taken)
    return ports


def _plan(home: Path, database_url: str | None, taken: set[int]) -> dict[str, Any]:
    ports = plan_ports(taken)
    return {
        "home": str(home),
        **ports,
        "temporal_address": f"127.0.0.1:{ports['temporal_port']}",
        "ui_url": f"http://localhost:{ports['ui_port']}",
        "sandbox_url": f"http://127.0.0.1:{ports['sandbox_port']}",
        "codec_url": f"http://127.0.0.1:{ports['codec_port']}",
        "metrics_url": f"http://127.0.0.1:{ports['metrics_port']}/metrics",
        "database_url": database_url,
    }


def _checks(home: Path, stack: dict[str, Any]) -> dict[str, Any]:
    layout = HomeLayout(home)

    def http_ok(method: str, url: str, **kw: Any) -> bool:
        try:
            return httpx.request(method, url, timeout=1.0, **kw).status_code < 300
        except httpx.HTTPError:
            return False

    def polling(url: str) -> bool:
        """The worker serves /metrics before it polls; the SDK's poller gauge appears once it polls,
        so `up` returns when a deploy's first query can be answered (under load that is seconds later)."""
        try:
            answer = httpx.get(url, timeout=1.0)
        except httpx.HTTPError:
            return False
        return answer.status_code < 300 and "temporal_num_pollers" in answer.text

    sandbox_auth = {"Authorization": f"Bearer {read_or_create_token(layout.sandbox_token)}"}
    codec_auth = {"Authorization": f"Bearer {read_or_create_token(layout.codec_token)}"}
    return {
        "temporal": lambda: port_open(stack["temporal_port"]),
        "web ui": lambda: http_ok("GET", stack["ui_url"]),
        "codec server": lambda: http_ok(
            "POST", stack["codec_url"] + "/decode", json={"payloads": []}, headers=codec_auth
        ),
        "sandbox host": lambda: http_ok("GET", stack["sandbox_url"] + "/v1/ping", headers=sandbox_auth),
        "worker": lambda: polling(stack["metrics_url"]),
    }


def health(home: Path, stack: dict[str, Any]) -> dict[str, bool]:
    return {name: check() for name, check in _checks(home, stack).items()}


def up(home: Path, database_url: str | None = None, timeout_s: float = 120.0) -> tuple[bool, dict[str, Any]]:
    """Start the stack; (False, stack) if it was already up — then nothing is changed."""
    ensure_home(home)
    layout = HomeLayout(home)
    current = read_stack(home)
    if supervisor_alive(current):
        return False, current or {}
    left = stop_leftovers(home, current)  # a supervisor killed -9 left its children running
    read_or_create_token(layout.sandbox_token)
    read_or_create_token(layout.codec_token)
    read_or_create_key(layout.codec_key)
    with port_claims.planning():
        database_url = database_url or (current or {}).get("database_url")
        stack = _plan(home, database_url, port_claims.claimed_by_others(home))
        port_claims.claim(home, {stack[key] for key in PREFERRED})
    stack["stopped_leftovers"] = left
    _write_stack(home, stack)
    _, record = spawn(
        "supervisor",
        [sys.executable, "-m", "starter.stack.supervisor", "--home", str(home)],
        layout.logs / "supervisor.log",
        detach=True,
    )
    checks = _checks(home, stack)
    for name, check in checks.items():
        if not wait_until(functools.partial(_up_or_gone, check, record), timeout_s) or record.alive() is None:
            raise OperationError(f"{name} did not come up within {timeout_s:g}s; see {layout.logs}/")
    return True, read_stack(home) or stack


def down(home: Path, keep_apps: bool = False) -> list[str]:
    """Stop exactly what `up` started: the supervisor, then any child it failed to stop or that a
    supervisor killed -9 left behind (recorded or found by its command line naming this home).

    With `keep_apps` the sandbox host is told (SIGUSR1, via the supervisor) to exit leaving app
    instances and routers serving; the next host adopts them."""
    stack = read_stack(home)
    if not stack:
        return []
    stopped = []
    keep = signal.SIGUSR1 if keep_apps else signal.SIGTERM
    if stack.get("supervisor") and terminate(ProcessRecord(**stack["supervisor"]), grace_s=90.0, sig=keep):
        stopped.append("supervisor")
    stopped += stop_leftovers(home, read_stack(home) or stack, sandbox_signal=keep)
    stack = read_stack(home) or stack
    stack["supervisor"] = None
    stack["processes"] = {}
    _write_stack(home, stack)
    port_claims.release(home)
    return stopped


def _up_or_gone(check: Callable[[], bool], supervisor: ProcessRecord) -> bool:
    """Stop waiting once the piece answers, or at once if the supervisor died meanwhile."""
    return check() or supervisor.alive() is None
