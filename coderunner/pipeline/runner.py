"""The sandboxed workspace runner: the ONE place a pipeline task's command is started.

Policy (the same as the sandbox host's instances): the host filesystem read-only, the task's workspace
writable, a private /tmp, the state directory (keys, tokens, databases, the result cache) hidden
behind an empty tmpfs, its own PID namespace, killed with its parent. It uses bubblewrap (`bwrap`,
Debian package `bubblewrap`) when installed; without it the command runs as a plain child process in
its own session (the policy is then NOT enforced — `coderunner pipeline analyze` says so) so that a
machine without bwrap can still develop plans. When the hosts' isolation module grows a provider
interface, this function is where it slots in.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import shutil
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

from pydantic import BaseModel

from coderunner.hosts.isolation import command_paths, hidden_under, reveal

LOG_TAIL = 4000


class RunOutcome(BaseModel):
    exit_code: int
    timed_out: bool
    log_tail: str
    isolated: bool


PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL when the worker dies (bwrap does the same for its sandbox),
    so a worker killed -9 leaves no task command running on."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def bwrap_path() -> str | None:
    return shutil.which("bwrap")


def sandbox_argv(argv: list[str], workspace: Path, hidden: list[Path]) -> list[str]:
    """The bwrap command line for `argv` under the policy above (order matters: later mounts win)."""
    wrapped = [
        bwrap_path() or "bwrap",
        "--ro-bind",
        "/",
        "/",
        "--dev",
        "/dev",
        "--proc",
        "/proc",
        "--tmpfs",
        "/tmp",
        # the interpreter and anything the command names, when they live under /tmp (a CI checkout)
        *reveal(Path("/tmp"), hidden_under(Path("/tmp"), [Path(sys.prefix), *command_paths(argv)])),
    ]
    for path in hidden:
        if path.exists():
            wrapped += ["--tmpfs", str(path)]
    wrapped += [
        "--bind",
        str(workspace),
        str(workspace),
        "--chdir",
        str(workspace),
        "--unshare-pid",
        "--die-with-parent",
        "--new-session",
        "--",
        *argv,
    ]
    return wrapped


def resolve_argv(argv: list[str]) -> list[str]:
    """`python` means the Python that runs CodeRunner (as in deployment specs)."""
    return [sys.executable, *argv[1:]] if argv and argv[0] in ("python", "python3") else list(argv)


async def run_in_workspace(
    argv: list[str],
    workspace: Path,
    env: dict[str, str],
    timeout_s: float,
    hidden: list[Path],
    tick: Callable[[], Awaitable[None]] | None = None,
    tick_every_s: float = 2.0,
) -> RunOutcome:
    """Run `argv` in `workspace`; `tick` is awaited every `tick_every_s` while it runs (heartbeats)."""
    command = resolve_argv(argv)
    isolated = bwrap_path() is not None
    if isolated:
        command = sandbox_argv(command, workspace, hidden)
    base_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(workspace), "LANG": "C.UTF-8"}
    proc = await asyncio.create_subprocess_exec(
        *command,
        cwd=workspace,
        env={**base_env, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
        # bwrap --die-with-parent does this itself; a preexec_fn would force the slow fork+exec path
        preexec_fn=None if isolated else _die_with_parent,
    )
    output = bytearray()

    async def read() -> None:
        assert proc.stdout is not None
        while chunk := await proc.stdout.read(65536):
            output.extend(chunk)
            del output[: max(0, len(output) - LOG_TAIL)]

    reader = asyncio.ensure_future(read())
    timed_out = False
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    try:
        while True:
            try:
                await asyncio.wait_for(
                    asyncio.shield(proc.wait()), timeout=min(tick_every_s, deadline - loop.time())
                )
                break
            except TimeoutError:
                if loop.time() >= deadline:
                    timed_out = True
                    break
                if tick is not None:
                    await tick()
    finally:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
        await reader
    return RunOutcome(
        exit_code=proc.returncode if proc.returncode is not None else -9,
        timed_out=timed_out,
        log_tail=output.decode(errors="replace"),
        isolated=isolated,
    )
