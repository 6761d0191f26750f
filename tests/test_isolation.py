"""Sandboxing on a real sandbox host: limits from the spec reach the kernel, the opt-out is explicit,
a missing bwrap is a clear error (never a silent fallback), no sandbox outlives its bwrap, and the
host's own files are private."""

from __future__ import annotations

import os
import resource
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from coderunner.hosts import isolation
from coderunner.hosts.isolation import BWRAP_ENV, decode_exit
from coderunner.hosts.limits import detect_cgroups, rlimits
from coderunner.hosts.provider import InvalidRequest
from coderunner.models.sandbox import InstanceSpec, InstanceState, Isolation, Resources
from starter.tools.harness import (
    HostProcess,
    alive,
    demo,
    eventually,
    processes_under,
    start_healthy,
    state_is,
)

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def host(tmp_path: Path) -> Iterator[HostProcess]:
    proc = HostProcess(tmp_path / "home")
    try:
        yield proc.start()
    finally:
        proc.cleanup()


def limits_of(pid: int) -> dict[str, str]:
    """/proc/<pid>/limits as {"Max open files": "64", …} (the soft limit)."""
    rows = Path(f"/proc/{pid}/limits").read_text().splitlines()[1:]
    return {row[:26].strip(): row[26:47].strip() for row in rows}


def app_pid(init_pid: int) -> int:
    """The app below the sandbox's init (the pid the host records)."""
    (app,) = psutil.Process(init_pid).children()
    return app.pid


async def test_spec_limits_reach_the_kernel(host: HostProcess) -> None:
    res = Resources(memory_mb=96, cpu=0.5, max_processes=40, open_files=80)
    spec = demo("lim-v1-0", "lim").model_copy(update={"resources": res})
    async with host.client() as client:
        await start_healthy(client, [spec])
        info = await client.get_instance("lim-v1-0")
    assert info.isolation == Isolation.SANDBOX and info.pid is not None
    limits = limits_of(app_pid(info.pid))
    assert limits["Max open files"] == "80" and limits["Max core file size"] == "0"
    assert limits["Max processes"] == "40"  # the instance's own uid: counts only its processes
    layout = detect_cgroups(host.home / "sandbox")
    assert layout is not None, "this machine offers a writable cgroup; the OOM tests rely on it"
    groups = layout.group_dirs("lim-v1-0")
    if layout.version == 1:
        assert (groups["memory"] / "memory.limit_in_bytes").read_text().strip() == str(96 << 20)
        assert (groups["pids"] / "pids.max").read_text().strip() == "40"
        assert (groups["cpu"] / "cpu.cfs_quota_us").read_text().strip() == "50000"
        assert app_pid(info.pid) in {int(p) for p in (groups["memory"] / "cgroup.procs").read_text().split()}
    else:
        assert (groups[""] / "memory.max").read_text().strip() == str(96 << 20)
        assert (groups[""] / "pids.max").read_text().strip() == "40"


async def test_cpu_time_limit_kills_and_says_so(host: HostProcess) -> None:
    spec = InstanceSpec(instance_id="cpu-v1-0", deployment="cpu", version="v1",
                        command=["python", "-c", "while True: pass"], resources=Resources(cpu_seconds=1))
    async with host.client() as client:
        await client.create_instance(spec)
        await eventually(lambda: state_is(client, "cpu-v1-0", InstanceState.EXITED), timeout_s=30)
        info = await client.get_instance("cpu-v1-0")
    assert info.exit_reason == "killed: CPU time limit (1 s)", info


async def test_isolation_none_is_explicit_and_loud(host: HostProcess) -> None:
    """The opt-out runs an app as a plain child — it can read the state dir — and the host says so."""
    probe = "import pathlib, sys; pathlib.Path('seen').write_text(str(pathlib.Path(sys.argv[1]).exists()))"
    spec = InstanceSpec(instance_id="open-v1-0", deployment="open", version="v1", isolation=Isolation.NONE,
                        command=["python", "-c", probe, str(host.home / "sandbox.token")])
    async with host.client() as client:
        info = await client.create_instance(spec)
        await eventually(lambda: state_is(client, "open-v1-0", InstanceState.EXITED))
    assert info.isolation == Isolation.NONE
    assert (Path(info.log_path).parent / "home" / "seen").read_text() == "True"
    assert "open-v1-0 runs UNCONFINED (isolation: none)" in host.log_path.read_text()


async def test_missing_bwrap_refuses_sandboxed_instances_with_the_fix(tmp_path: Path) -> None:
    host = HostProcess(tmp_path / "home", extra_env={BWRAP_ENV: str(tmp_path / "no-such-bwrap")})
    try:
        host.start()
        async with host.client() as client:
            with pytest.raises(InvalidRequest, match=r"apt-get install bubblewrap"):
                await client.create_instance(demo("nb-v1-0", "nb"))
            assert await client.list_instances() == []  # nothing started, nothing half-made
            unconfined = demo("nb-v1-1", "nb").model_copy(update={"isolation": Isolation.NONE})
            await start_healthy(client, [unconfined])  # the explicit opt-out still works
    finally:
        host.cleanup()


async def test_killing_bwrap_alone_leaves_no_orphan(host: HostProcess) -> None:
    async with host.client() as client:
        await start_healthy(client, [demo("orph-v1-0", "orph")])
        info = await client.get_instance("orph-v1-0")
        assert info.pid is not None
        monitor = psutil.Process(info.pid).parent()
        assert monitor is not None and monitor.name() == "bwrap"
        os.kill(monitor.pid, signal.SIGKILL)  # the sandbox's init and the app lose their monitor
        await eventually(lambda: state_is(client, "orph-v1-0", InstanceState.EXITED))
    async def gone() -> bool:
        return not alive(info.pid or 0) and processes_under(host.home) == []

    await eventually(gone)


async def test_state_files_are_private(host: HostProcess) -> None:
    async with host.client() as client:
        await start_healthy(client, [demo("priv-v1-0", "priv")])
        info = await client.get_instance("priv-v1-0")
    own = Path(info.log_path).parent
    for path in (host.home, host.home / "sandbox", own, own / "home"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o700, path
    for path in (own / "meta.json", own / "output.log", host.home / "sandbox.token"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    if os.geteuid() == 0:  # each sandboxed instance is its own unprivileged user
        assert (own / "home").stat().st_uid >= 200_000 and (own / "meta.json").stat().st_uid == 0


@pytest.mark.parametrize(
    ("code", "expected"), [(0, 0), (1, 1), (137, -9), (152, -24), (128, 128), (None, None)]
)
def test_bwrap_exit_codes_read_like_popen(code: int | None, expected: int | None) -> None:
    assert decode_exit(code) == expected


def test_rlimits_follow_the_spec() -> None:
    res = Resources(memory_mb=64, max_processes=16, open_files=100, cpu_seconds=5)
    limits = rlimits(res, own_uid=True, memory_by_cgroup=True)
    by_cgroup = {which: (soft, hard) for which, soft, hard in limits}
    assert by_cgroup[resource.RLIMIT_NOFILE] == (100, 100) and by_cgroup[resource.RLIMIT_CORE] == (0, 0)
    assert by_cgroup[resource.RLIMIT_CPU] == (5, 6)  # SIGXCPU first, so the exit says why
    assert by_cgroup[resource.RLIMIT_NPROC] == (16, 16) and resource.RLIMIT_DATA not in by_cgroup
    shared_uid = {which for which, _, _ in rlimits(res, own_uid=False, memory_by_cgroup=False)}
    assert resource.RLIMIT_NPROC not in shared_uid and resource.RLIMIT_DATA in shared_uid


def test_a_checkout_under_tmp_stays_visible_read_only_to_the_app() -> None:
    """A clone under /tmp (CI's, a user's scratch checkout) is hidden by the sandbox's private /tmp:
    the app's directory and interpreter are bound back, read-only, through 0755 directories."""
    tmp_path = Path(tempfile.mkdtemp(prefix="checkout-", dir="/tmp"))
    os.chmod(tmp_path, 0o755)
    app_dir = tmp_path / "checkout" / "app"
    app_dir.mkdir(parents=True)
    (app_dir / "app.py").write_text("print('hello from the checkout')\n")
    state = tmp_path / "checkout" / ".coderunner"
    home = state / "sandbox" / "instances" / "i-0" / "home"
    home.mkdir(parents=True)
    (state / "codec.key").write_text("secret")
    bwrap = isolation.bwrap_path()
    assert bwrap, "bubblewrap is required: `make install` installs it"
    uid = 61234 if isolation.privileged() else None
    argv = isolation.bwrap_argv(bwrap, state_dir=state, home=home, cwd=app_dir,
                                command=[sys.executable, str(app_dir / "app.py")], uid=uid,
                                max_processes=64, info_fd=2)
    assert ["--ro-bind", str(app_dir), str(app_dir)] == argv[argv.index(str(app_dir)) - 1:][:3]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert "hello from the checkout" in done.stdout
    hidden = subprocess.run([*argv[:-2], "/bin/ls", "-a", str(state)], capture_output=True, text=True,
                            timeout=30)
    assert "codec.key" not in hidden.stdout + hidden.stderr  # the state dir stays hidden
    shutil.rmtree(tmp_path)
