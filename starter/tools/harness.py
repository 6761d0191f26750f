"""A harness for tests and benchmarks that run the REAL sandbox host as a subprocess and real app instances.

Every process a test starts is found again at teardown — the host through its pid, instances
through the HOME the host gives them (their own dir under the test's home) — and killed, so a failing
test never leaves an app running.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import psutil

from coderunner.config.home import HomeLayout, read_or_create_token
from coderunner.hosts.client import SandboxClient
from coderunner.hosts.limits import remove_host_cgroups
from coderunner.models.deployment import DeploymentDescription, DeploymentStatus
from coderunner.models.sandbox import InstanceSpec, InstanceState, ProbeRequest
from starter.sdk.deployments import Deployments

REPO = Path(__file__).resolve().parents[2]
DEMO_APP = REPO / "examples" / "demo_app" / "app.py"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def alive(pid: int) -> bool:
    """Running and not a zombie (an orphan killed while its host was down may linger as one)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def processes_under(home: Path, everything: bool = False) -> list[psutil.Process]:
    """The instances a host started under `home` (their HOME lies inside it), one process each;
    `everything`: every process of theirs (see `instance_processes`)."""
    prefix = str(home.resolve()) + os.sep
    return instance_processes(lambda env: env.get("HOME", "").startswith(prefix), everything)


def instance_processes(
    match: Callable[[dict[str, str]], bool], everything: bool = False
) -> list[psutil.Process]:
    """Of the live processes whose environment `match`es, the topmost of each tree: one per
    instance — for a sandboxed instance the sandbox's init (the pid the host records), not the
    bwrap process above it. `everything`: every matching process."""
    found: dict[int, psutil.Process] = {}
    for proc in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            if proc.status() != psutil.STATUS_ZOMBIE and match(proc.environ()):
                found[proc.pid] = proc
    if everything:
        return list(found.values())
    tops = [p for p in found.values() if _ppid(p) not in found]
    return [_below_monitor(p, found) for p in tops]


def _ppid(proc: psutil.Process) -> int:
    try:
        return proc.ppid()
    except psutil.Error:
        return 0


def _below_monitor(top: psutil.Process, found: dict[int, psutil.Process]) -> psutil.Process:
    """For bwrap's monitor process, its child (the sandbox's init); any other process itself."""
    with contextlib.suppress(psutil.Error):
        if top.name() == "bwrap":
            inner = [c for c in top.children() if c.pid in found]
            if inner:
                return inner[0]
    return top


def routers_under(home: Path) -> list[psutil.Process]:
    """The router processes (HAProxy, HOME under <home>/sandbox/routers) a host started there."""
    prefix = str((home / "sandbox" / "routers").resolve()) + os.sep
    return [p for p in processes_under(home) if _home_of(p).startswith(prefix)]


def instances_under(home: Path) -> list[psutil.Process]:
    """The app instances a host started under `home` (its routers excluded)."""
    routers = {p.pid for p in routers_under(home)}
    return [p for p in processes_under(home) if p.pid not in routers]


def _home_of(proc: psutil.Process) -> str:
    try:
        return str(proc.environ().get("HOME", ""))
    except psutil.Error:
        return ""


def wait_until(predicate: Callable[[], bool], timeout_s: float = 10.0, interval_s: float = 0.05) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        time.sleep(interval_s)


class HostProcess:
    """`python -m coderunner.hosts.host` in its own session, its stderr in <home>/host-<n>.log."""

    def __init__(self, home: Path, port: int | None = None, extra_env: dict[str, str] | None = None) -> None:
        self.home = home
        self.port = port or free_port()
        self.extra_env = extra_env or {}
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def token(self) -> str:
        return read_or_create_token(HomeLayout(self.home).sandbox_token)

    @property
    def log_path(self) -> Path:
        return self.home / f"host-{self.starts}.log"

    def start(self, timeout_s: float = 15.0) -> HostProcess:
        self.starts += 1
        self.home.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as err:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "coderunner.hosts.host",
                    "--home",
                    str(self.home),
                    "--port",
                    str(self.port),
                ],
                cwd=REPO,
                env={**os.environ, **self.extra_env},
                stdout=subprocess.DEVNULL,
                stderr=err,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"host exited early:\n{self.log_path.read_text()}")
            with contextlib.suppress(httpx.HTTPError):
                headers = {"Authorization": f"Bearer {self.token}"}
                if httpx.get(f"{self.url}/v1/ping", headers=headers, timeout=1).status_code == 200:
                    return self
            time.sleep(0.05)
        raise TimeoutError(f"host not ready:\n{self.log_path.read_text()}")

    def client(self) -> SandboxClient:
        return SandboxClient(self.url, self.token)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def kill9(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def terminate(self, timeout_s: float = 20.0) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout_s)

    def cleanup(self) -> None:
        """Kill the host (its whole group) and every instance it started under this home."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        for proc in processes_under(self.home, everything=True):
            with contextlib.suppress(psutil.Error, ProcessLookupError):  # gone with an earlier group
                os.killpg(proc.pid, signal.SIGKILL) if os.getpgid(proc.pid) == proc.pid else proc.kill()
        wait_until(lambda: not processes_under(self.home), timeout_s=5)
        remove_host_cgroups(HomeLayout(self.home).sandbox_dir)


def demo(iid: str, deployment: str = "demo", version: str = "v1", **env: str) -> InstanceSpec:
    env = {"VERSION": version, "INSTANCE_ID": iid, **env}
    return InstanceSpec(
        instance_id=iid, deployment=deployment, version=version, command=["python", str(DEMO_APP)], env=env
    )


# an app that answers GET with STREAM_BYTES bytes in 1 MiB writes (GET /health: an empty 200)
STREAM_APP = """
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
SIZE = int(os.environ["STREAM_BYTES"]); CHUNK = b"x" * (1 << 20)
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        size = 0 if self.path == "/health" else SIZE
        self.send_response(200); self.send_header("Content-Length", str(size)); self.end_headers()
        for _ in range(size // len(CHUNK)):
            self.wfile.write(CHUNK)
    def log_message(self, *a): pass
ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
"""


def streamer(iid: str, deployment: str, size_bytes: int) -> InstanceSpec:
    """An instance that streams `size_bytes` (a multiple of 1 MiB) to every GET."""
    return InstanceSpec(instance_id=iid, deployment=deployment, version="v1",
                        command=["python", "-c", STREAM_APP], env={"STREAM_BYTES": str(size_bytes)})


def read_and_discard(port: int, path: str = "/") -> int:
    """GET `path` on 127.0.0.1:port and throw the body away as it comes; the bytes received."""
    got, buf = 0, bytearray(1 << 20)
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: stream\r\nConnection: close\r\n\r\n".encode())
        while n := sock.recv_into(buf):
            got += n
    return got


async def eventually(check: Callable[[], Awaitable[bool]], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not await check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def start_healthy(client: SandboxClient, specs: list[InstanceSpec]) -> None:
    for spec in specs:
        await client.create_instance(spec)
    ids = [s.instance_id for s in specs]

    async def all_healthy() -> bool:
        return all(r.healthy for r in await client.probe(ProbeRequest(instance_ids=ids)))

    await eventually(all_healthy)


async def state_is(client: SandboxClient, iid: str, state: InstanceState) -> bool:
    return (await client.get_instance(iid)).state == state


async def hit(port: int, n: int) -> Counter[str]:
    """GET / n times through `port`; counts of "<status>:<instance that served it>"."""
    served: Counter[str] = Counter()
    async with httpx.AsyncClient() as http:
        for _ in range(n):
            resp = await http.get(f"http://127.0.0.1:{port}/")
            served[f"{resp.status_code}:{resp.headers.get('X-CodeRunner-Instance')}"] += 1
    return served


async def settled(cr: Deployments, name: str, timeout_s: float = 30.0) -> DeploymentDescription:
    """Wait until the deployment has cleared its rollout and runs again."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        desc = await cr.describe(name)
        if desc.rollout is None and desc.status == DeploymentStatus.RUNNING:
            return desc
        assert asyncio.get_running_loop().time() < deadline, (desc.status, desc.rollout)
        await asyncio.sleep(0.1)
