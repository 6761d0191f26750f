"""The bubblewrap command line that confines one instance.

Inside, the instance sees the host filesystem read-only, its own writable home, a private /tmp,
fresh /dev and /proc, and nothing of the state directory (a tmpfs is mounted over it: keys, tokens,
databases and other instances' dirs are simply not there). It gets its own PID, IPC and UTS
namespaces and no capabilities; the network namespace is shared so the app answers on its port.

Two modes. A host running as root starts bwrap privileged (it can reach the 0700 state dir to bind
the instance's home) and bwrap execs `setpriv`, which drops to the instance's own uid with an empty
bounding set and no-new-privs before exec'ing the app: every instance is a distinct unprivileged
user, so file modes and RLIMIT_NPROC separate instances too. A host running as an ordinary user
starts bwrap unprivileged (a user namespace without capabilities) and instances share its uid.

No `--die-with-parent`: an instance must survive a crash (SIGKILL) of the host and be adopted by the
next one; a normal stop of the host (SIGTERM, `coderunner down`) stops it (LocalSandbox.shutdown).

Where bwrap is missing or cannot create namespaces, sandboxed instances are refused with the
one-line fix; only `isolation: none` in the spec runs an app unconfined, and that is logged loudly.
"""

from __future__ import annotations

import functools
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

BWRAP_ENV = "CODERUNNER_BWRAP"  # path of the bwrap binary, for hosts where it is not on PATH
INSTALL_FIX = (
    "bubblewrap (bwrap) is required to sandbox instances: run `sudo apt-get install bubblewrap` "
    "(or `make install` as root), or set `isolation: none` in the spec to run this app unconfined"
)


def bwrap_path() -> str | None:
    explicit = os.environ.get(BWRAP_ENV)
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    return shutil.which("bwrap")


def read_child_pid(fd: int, timeout_s: float = 15.0) -> int | None:
    """The sandbox init's pid from bwrap's --info-fd (`{"child-pid": N}`), or None if bwrap ended
    first (it failed: its stderr is in the instance log). Closes `fd`."""
    data = b""
    deadline = time.monotonic() + timeout_s
    try:
        while b"}" not in data:
            ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
            chunk = os.read(fd, 4096) if ready else b""
            if not chunk:
                return None
            data += chunk
    finally:
        os.close(fd)
    pid = json.loads(data.decode()).get("child-pid")
    return int(pid) if pid else None


def decode_exit(code: int | None) -> int | None:
    """bwrap reports an app killed by signal N as exit code 128+N; report it as Popen does (-N)."""
    if code is not None and 128 < code < 128 + signal.NSIG:
        return -(code - 128)
    return code


def privileged() -> bool:
    return os.geteuid() == 0


@functools.cache
def check_bwrap(path: str | None) -> str | None:
    """None when `path` can build a sandbox here, else why not (with the fix)."""
    if path is None:
        return INSTALL_FIX
    helper = "setpriv" if privileged() else "prlimit"
    if shutil.which(helper) is None:
        return f"{helper} is required to sandbox instances: run `sudo apt-get install util-linux`"
    probe = [path, "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", "--unshare-pid",
             *([] if privileged() else ["--unshare-user"]), "--cap-drop", "ALL", "--", "/bin/true"]
    try:
        done = subprocess.run(probe, capture_output=True, timeout=20, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"bwrap at {path} cannot run ({exc}): {INSTALL_FIX}"
    if done.returncode != 0:
        why = done.stderr.decode(errors="replace").strip()[:200]
        return (f"bwrap cannot create a sandbox here ({why}): allow unprivileged user namespaces "
                f"(sysctl kernel.unprivileged_userns_clone=1) or set `isolation: none`")
    return None


def command_paths(command: list[str]) -> list[Path]:
    """Directories holding the files a command names by absolute path (its program, its script),
    also inside a shell string (`sh -c '… exec python /checkout/app.py'`)."""
    words = [w.strip("'\";&|()") for arg in command for w in arg.split()]
    return [Path(w).parent for w in words if w.startswith("/") and Path(w).exists()]


def hidden_under(top: Path, paths: list[Path], state_dir: Path | None = None) -> list[Path]:
    """Those of `paths` (resolved) that a tmpfs over `top` would hide — a checkout or venv under /tmp,
    an interpreter under a closed /root — outermost only, never the state directory or inside it."""
    real = {p.resolve() for p in paths}
    found = sorted(p for p in real if p.is_relative_to(top) and p != top)
    if state_dir is not None:
        found = [p for p in found if not p.is_relative_to(state_dir.resolve())]
    return [p for p in found if not any(p != q and p.is_relative_to(q) for q in found)]


def reveal(top: Path, paths: list[Path]) -> list[str]:
    """bwrap arguments that show `paths` read-only inside a tmpfs over `top`, with the directories
    leading to them created 0755 (bwrap's own would be 0700: closed to the app's user)."""
    args: list[str] = []
    made: set[Path] = set()
    for path in paths:
        for parent in reversed(path.relative_to(top).parents[:-1]):
            step = top / parent
            if step not in made:
                made.add(step)
                args += ["--perms", "0755", "--dir", str(step)]
        args += ["--ro-bind", str(path), str(path)]
    return args


def closed_to_others(path: Path) -> bool:
    try:
        return not path.stat().st_mode & 0o001
    except OSError:
        return False


def bwrap_argv(
    bwrap: str,
    *,
    state_dir: Path,
    home: Path,
    cwd: Path,
    command: list[str],
    uid: int | None,
    max_processes: int,
    info_fd: int,
) -> list[str]:
    """argv that runs `command` confined, `home` (the instance's writable dir, also its $HOME) bound
    read-write at the same path; the tmpfs hiding the state dir is read-only. With `uid` (a root
    host) the app runs as that user; without, the process limit is set inside the sandbox's own
    user namespace (`prlimit`), where it counts only the instance's processes. bwrap writes the pid
    of the sandbox's init (as the host sees it) to `info_fd` as JSON."""
    if uid is None:
        user = ["--unshare-user", "--cap-drop", "ALL"]
        drop: list[str] = [shutil.which("prlimit") or "/usr/bin/prlimit", f"--nproc={max_processes}", "--"]
    else:  # kept only until setpriv has switched users; setpriv then clears them all
        user = ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID",
                "--cap-add", "CAP_SETPCAP", "--cap-add", "CAP_DAC_OVERRIDE"]
        drop = [shutil.which("setpriv") or "/usr/bin/setpriv", f"--reuid={uid}", f"--regid={uid}",
                "--clear-groups", "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"]
    needed = [cwd, Path(sys.prefix), Path(sys.base_prefix), *command_paths(command)]
    tmp, root = Path("/tmp"), Path("/root")
    keep = reveal(tmp, hidden_under(tmp, needed, state_dir))
    in_root = hidden_under(root, needed, state_dir)
    if uid is not None and in_root and closed_to_others(root):
        # the app's own user cannot pass root's 0700 home: an interpreter installed there (pyenv) is
        # shown through a 0755 tmpfs instead, and the rest of root's home stays out of sight
        keep += ["--perms", "0755", "--tmpfs", str(root), *reveal(root, in_root)]
    return [
        bwrap,
        "--ro-bind", "/", "/",
        "--dev", "/dev",
        "--proc", "/proc",
        "--tmpfs", "/tmp",
        *keep,  # the app's code and interpreter stay visible, read-only, under /tmp or a closed /root
        "--tmpfs", "/dev/shm",
        "--perms", "0700", "--tmpfs", str(state_dir),
        "--bind", str(home), str(home),
        "--remount-ro", str(state_dir),
        "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
        *user,
        "--hostname", "sandbox",
        "--chdir", str(cwd),
        "--info-fd", str(info_fd),
        "--",
        *drop,
        *command,
    ]
