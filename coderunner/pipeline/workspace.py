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


def snapshot(root: Path) -> dict[str, str]:
    """project-relative path -> sha256 of every file."""
    return {rel: sha256_file(root / rel) for rel in project_files(root) if (root / rel).is_file()}


def changes(before: dict[str, str], after: dict[str, str]) -> dict[str, str | None]:
    """Changed or new files -> new hash; deleted -> None."""
    changed: dict[str, str | None] = {p: h for p, h in after.items() if before.get(p) != h}
    changed.update({p: None for p in before if p not in after})
    return dict(sorted(changed.items()))


def content_hashes(root: Path, paths: list[str]) -> dict[str, str | None]:
    """sha256 per path (None when the file does not exist): the cache key's file inputs."""
    return {p: sha256_file(root / p) if (root / p).is_file() else None for p in sorted(paths)}
