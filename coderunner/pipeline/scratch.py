"""Where a dev step's scratch copy of the workspace lives: on a memory filesystem when one has room.

Why: the copy is one new file per project file, and on this project's machines creating a file on
the disk costs ~0.3 ms (ext4 on a VM disk; measured 7-15 ms for a 30-file copy, ~1.4 ms on
/dev/shm), a large part of the per-task overhead that bench/pipeline_makespan.py reports. The
scratch copy holds nothing that must survive the worker's machine: the step's markers stay beside
the run on disk, and the contents of a step's outputs are stored in the result cache (content
addressed) before the step is marked as ran, so a retry after a reboot never needs the scratch.

`CODERUNNER_SCRATCH_DIR` names another directory for the copies (an empty value: beside the run, on
disk). A memory filesystem is used only while the workspace takes at most a quarter of its free
space: the copies of concurrent steps (up to the pool's max) must fit too.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

from coderunner.pipeline.workspace import copy_tree, project_files, snapshot

MEMORY_FS = Path("/dev/shm")
SCRATCH_ENV = "CODERUNNER_SCRATCH_DIR"
SHARE_OF_FREE = 4  # the workspace may take at most 1/4 of the fast filesystem's free space


def fast_root() -> Path | None:
    """The directory for scratch copies other than the run's own, or None (use the run's)."""
    configured = os.environ.get(SCRATCH_ENV)
    if configured is not None:
        return Path(configured) if configured else None
    if MEMORY_FS.is_dir() and os.access(MEMORY_FS, os.W_OK | os.X_OK):
        return MEMORY_FS / f"coderunner-scratch-{os.getuid()}"
    return None


def candidates(base: Path) -> list[Path]:
    """Every place the scratch of the step whose markers are named by `base` may be: the fast one
    (named by a hash of `base`, unique per run dir, task and attempt), then `base` itself."""
    root = fast_root()
    digest = hashlib.sha256(str(base.resolve()).encode()).hexdigest()[:24]
    return [root / digest, base] if root is not None else [base]


def _size(root: Path) -> int:
    return sum((root / rel).lstat().st_size for rel in project_files(root))


def fresh_scratch(workspace: Path, base: Path) -> tuple[Path, dict[str, tuple[int, int]]]:
    """A fresh copy of `workspace` for the step named by `base`, and its snapshot (one thread hop):
    on the fast filesystem when the workspace fits, else beside the run."""
    remove_scratch(base)
    place = candidates(base)
    chosen = base
    if len(place) > 1:
        place[0].parent.mkdir(parents=True, exist_ok=True)
        place[0].parent.chmod(0o700)  # copies of the project's sources: for this user only
        free = shutil.disk_usage(place[0].parent).free
        if _size(workspace) * SHARE_OF_FREE <= free:
            chosen = place[0]
    copy_tree(workspace, chosen)
    return chosen, snapshot(chosen)


def remove_scratch(base: Path) -> None:
    """Remove the step's scratch wherever it is (a retry may have chosen another place)."""
    for path in candidates(base):
        shutil.rmtree(path, ignore_errors=True)
