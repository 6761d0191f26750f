"""A hostile app: it answers HTTP like any app, and on request tries to break out of its sandbox.

GET /health                  200, so it deploys like any other app
GET /attack                  every escape attempt below, as JSON: [{"name", "refused", "detail"}]
GET /forkbomb                forks without bound; reports how many processes it got before the limit
GET /killall                 answers, then kill(-1, SIGKILL): every process it may signal (Linux
                             spares the caller and its namespace's init)
GET /allocate                allocates memory 16 MiB at a time until the kernel stops it (never answers)

Targets come from the environment (paths and pids are not secrets): STATE_DIR (the stack's state
dir), OTHER_HOME (another instance's writable dir), OTHER_PID and HOST_PID (pids outside the
sandbox), SANDBOX_URL (the sandbox host API), WORKING_DIR (a host directory to write into).
Used by tests/test_hostile_app.py; never deploy it anywhere else. Safety catch for a broken
sandbox on a shared machine: the attempts that kill processes run only when the app sees a PID
namespace of its own (otherwise they count as NOT refused without running), the fork bomb stops at
1,000 children and the allocation at 1 GiB.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ENV = os.environ
Attempt = tuple[str, Callable[[], str]]
MAX_FORKS = 1000
MAX_ALLOCATION = 1 << 30


def in_own_pid_namespace() -> bool:
    return len([p for p in os.listdir("/proc") if p.isdigit()]) < 20 and os.getpid() < 64


def _destructive(attempt: Callable[[], str]) -> Callable[[], str]:
    def guarded() -> str:
        if not in_own_pid_namespace():
            return "NOT RUN: this app is not in a PID namespace of its own (no sandbox?)"
        return attempt()

    return guarded


def _read(path: str) -> str:
    return f"read {len(Path(path).read_bytes())} bytes of {path}"


def _write(path: str) -> str:
    Path(path).write_text("pwned")
    return f"wrote {path}"


def _list(path: str) -> str:
    return f"listed {os.listdir(path)}"


def _list_beyond_interpreter(path: str) -> str:
    """Root's home may show the Python install this app runs on (pyenv), read-only; anything else
    seen there is a leak."""
    mine = os.path.realpath(sys.base_prefix)
    seen = [e for e in os.listdir(path) if not mine.startswith(os.path.join(path, e) + os.sep)]
    if not seen:
        raise PermissionError(f"only the interpreter's own path is visible in {path}")
    return f"listed {seen}"


def _signal(pid: int) -> str:
    os.kill(pid, signal.SIGKILL)
    return f"killed {pid}"


def _foreign_pids() -> str:
    """Processes this sandbox can see that are not its own: anything beyond its namespace."""
    mine = {os.getpid(), 1}
    pids = [int(p) for p in os.listdir("/proc") if p.isdigit()]
    foreign = [p for p in pids if p not in mine and p > 64]
    if len(pids) > 20 or foreign:
        return f"sees {len(pids)} processes: {pids[:20]}"
    raise PermissionError(f"only its own namespace: {pids}")


def _host_visible() -> str:
    host = int(ENV["HOST_PID"])
    try:
        os.kill(host, 0)
    except ProcessLookupError:
        raise PermissionError("the host is not even visible from here") from None
    return f"host pid {host} visible"


def kill_everyone_soon() -> None:
    """kill(-1, SIGKILL) shortly after answering: every process this app may signal. Whether it was
    contained is for the caller to see (the neighbours and the host still serve)."""
    if not in_own_pid_namespace():
        return

    def later() -> None:
        time.sleep(0.3)
        os.kill(-1, signal.SIGKILL)

    threading.Thread(target=later, daemon=True).start()


def _setuid_root() -> str:
    os.setuid(0)
    return "became root"


def _remount_rw() -> str:
    libc = ctypes.CDLL(None, use_errno=True)
    ms_remount, ms_bind = 32, 4096
    if libc.mount(b"none", b"/", None, ms_remount | ms_bind, None) != 0:
        raise PermissionError(os.strerror(ctypes.get_errno()))
    return "remounted / read-write"


def _sandbox_api() -> str:
    try:
        with urllib.request.urlopen(ENV["SANDBOX_URL"] + "/v1/instances", timeout=5) as resp:
            return f"sandbox host answered {resp.status}"
    except urllib.error.HTTPError as err:
        raise PermissionError(f"sandbox host said {err.code}") from None


def attempts() -> list[Attempt]:
    state, other = ENV["STATE_DIR"], ENV["OTHER_HOME"]
    return [
        ("read codec key", lambda: _read(f"{state}/codec.key")),
        ("read codec token", lambda: _read(f"{state}/codec.token")),
        ("read sandbox token", lambda: _read(f"{state}/sandbox.token")),
        ("read app database", lambda: _read(f"{state}/coderunner.sqlite")),
        ("list state dir", lambda: _list(state)),
        ("list instances", lambda: _list(f"{state}/sandbox/instances")),
        ("read other instance's file", lambda: _read(f"{other}/secret.txt")),
        ("write other instance's dir", lambda: _write(f"{other}/pwned")),
        ("write state dir", lambda: _write(f"{state}/pwned")),
        ("write /etc", lambda: _write("/etc/pwned")),
        ("write working dir", lambda: _write(f"{ENV['WORKING_DIR']}/pwned")),
        ("write /var/tmp", lambda: _write("/var/tmp/coderunner-pwned")),
        ("read root's home", lambda: _list_beyond_interpreter("/root")),
        ("list host processes", _foreign_pids),
        ("read host environ", lambda: _read(f"/proc/{ENV['HOST_PID']}/environ")),
        ("kill other instance", _destructive(lambda: _signal(int(ENV["OTHER_PID"])))),
        ("kill sandbox host", _destructive(lambda: _signal(int(ENV["HOST_PID"])))),
        ("signal the sandbox host", _destructive(_host_visible)),
        ("setuid root", _setuid_root),
        ("remount / read-write", _remount_rw),
        ("call sandbox API without token", _sandbox_api),
    ]


def run_attempts() -> list[dict[str, object]]:
    results: list[dict[str, object]] = []
    for name, attempt in attempts():
        try:
            detail, refused = attempt(), False
        except (OSError, KeyError) as err:  # PermissionError, FileNotFoundError, ProcessLookupError…
            detail, refused = f"{type(err).__name__}: {err}", True
        results.append({"name": name, "refused": refused, "detail": detail})
    return results


def fork_bomb(seconds: float = 1.0) -> dict[str, object]:
    """Fork until refused; each child becomes a `sleep` (small, so the bomb hits the process limit
    rather than the memory one) and exits by itself, so the bomb cleans up after itself."""
    children, error = 0, ""
    deadline = time.monotonic() + 10 * seconds
    while time.monotonic() < deadline:
        try:
            pid = os.fork()
        except OSError as err:
            error = f"{type(err).__name__}: {err}"
            break
        if pid == 0:
            try:
                os.execv("/bin/sleep", ["sleep", str(seconds)])
            finally:
                os._exit(0)
        children += 1
        if children >= MAX_FORKS:
            break
    while True:
        try:
            os.wait()
        except ChildProcessError:
            break
    return {"forked": children, "refused": bool(error), "error": error}


def allocate() -> None:
    hog = []
    while len(hog) * 16 * 1024 * 1024 < MAX_ALLOCATION:
        hog.append(b"\x01" * (16 * 1024 * 1024))  # filled, so every page is really used


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/attack":
            body: object = run_attempts()
        elif self.path == "/forkbomb":
            body = fork_bomb()
        elif self.path == "/killall":
            kill_everyone_soon()
            body = {"scheduled": in_own_pid_namespace()}
        elif self.path == "/allocate":
            allocate()
            body = {"allocated": "without limit"}
        else:
            body = {"ok": True, "pid": os.getpid()}
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


def main() -> None:
    ThreadingHTTPServer(("127.0.0.1", int(ENV.get("PORT", "8000"))), Handler).serve_forever()


if __name__ == "__main__":
    main()
