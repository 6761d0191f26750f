"""Run workspaces: each pipeline run works on its own copy of the project, each dev step on a scratch
copy of the run's workspace, so concurrent steps never see each other's half-written files and a
step's changes are exactly the diff of its scratch copy (checked against the files the task owns).
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

from coderunner.pipeline.filegraph import SKIP_DIRS, project_files


def run_dir(runs_dir: str | Path, name: str, run: str) -> Path:
    return Path(runs_dir) / name / run


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _ignore(_dir: str, names: list[str]) -> set[str]:
    return {n for n in names if n in SKIP_DIRS and n != "build" and n != "dist"}


def copy_tree(source: Path, dest: Path) -> Path:
    """Copy `source` to `dest` atomically (a temp dir renamed), once: a retried call finds it done."""
    if dest.exists():
        return dest
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(source, tmp, symlinks=True, ignore=_ignore)
    dest.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp, dest)
    return dest


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """project-relative path -> (size, mtime_ns) of every file: cheap (no reads). `copy_tree` keeps
    mtimes, so a file the command did not touch keeps its signature."""
    found: dict[str, tuple[int, int]] = {}
    for rel in project_files(root):
        st = (root / rel).stat()
        found[rel] = (st.st_size, st.st_mtime_ns)
    return found


def changes(
    scratch: Path, origin: Path, before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]
) -> dict[str, str | None]:
    """Files of `scratch` changed since `before` -> sha256 of the new content; deleted -> None.

    A file whose signature changed but whose content equals the original in `origin` (the workspace
    it was copied from, when that copy is itself unchanged since) was touched, not changed."""
    changed: dict[str, str | None] = {}
    for rel, sig in after.items():
        if before.get(rel) == sig:
            continue
        digest = sha256_file(scratch / rel)
        source = origin / rel
        if rel in before and source.is_file():
            st = source.stat()
            if (st.st_size, st.st_mtime_ns) == before[rel] and sha256_file(source) == digest:
                continue
        changed[rel] = digest
    changed.update({p: None for p in before if p not in after})
    return dict(sorted(changed.items()))


def content_hashes(root: Path, paths: list[str]) -> dict[str, str | None]:
    """sha256 per path (None when the file does not exist): the cache key's file inputs."""
    return {p: sha256_file(root / p) if (root / p).is_file() else None for p in sorted(paths)}
