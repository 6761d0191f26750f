"""Run workspaces and the result cache: diffs by content, touched-but-equal files, keys that move
exactly with their inputs."""

from __future__ import annotations

import os
from pathlib import Path

from coderunner.models.pipeline import TaskSpec
from coderunner.pipeline.cache import ResultCache, cache_key
from coderunner.pipeline.workspace import changes, content_hashes, copy_tree, snapshot


def test_changes_are_content_not_timestamps(tmp_path: Path) -> None:
    origin = tmp_path / "ws"
    (origin / "pkg").mkdir(parents=True)
    for name in ("a.txt", "b.txt", "c.txt", "pkg/d.txt"):
        (origin / name).write_text(name)
    scratch = copy_tree(origin, tmp_path / "scratch")
    assert copy_tree(origin, tmp_path / "scratch") == scratch  # a retried copy finds it done
    before = snapshot(scratch)
    (scratch / "a.txt").write_text("changed")
    (scratch / "b.txt").write_text("b.txt")  # rewritten with the same content: touched, not changed
    os.utime(scratch / "b.txt", ns=(1, 1))
    (scratch / "c.txt").unlink()
    (scratch / "pkg" / "new.txt").write_text("new")
    got = changes(scratch, origin, before, snapshot(scratch))
    assert set(got) == {"a.txt", "c.txt", "pkg/new.txt"}
    assert got["c.txt"] is None and got["a.txt"] is not None


def test_cache_key_moves_with_every_input_and_restores_outputs(tmp_path: Path) -> None:
    task = TaskSpec.model_validate({"id": "t", "owns": ["t.py"], "agent": {"dev": ["make"]}, "estimate": 1})
    inputs = {"t.py": "h1", "dep.py": "h2"}
    key = cache_key(task, inputs)
    assert cache_key(task, dict(inputs)) == key
    variants = [
        cache_key(task, {**inputs, "dep.py": "h3"}),
        cache_key(task.model_copy(update={"env": {"A": "1"}}), inputs),
        cache_key(task.model_copy(update={"agent": task.agent.model_copy(update={"version": "2"})}), inputs),
        cache_key(
            task.model_copy(update={"agent": task.agent.model_copy(update={"dev": ["make", "-j"]})}), inputs
        ),
        cache_key(task.model_copy(update={"estimate": 9}), inputs),  # the estimate is no input
    ]
    assert len({key, *variants[:4]}) == 5 and variants[4] == key
    cache = ResultCache(tmp_path / "cache")
    (tmp_path / "out.py").write_text("print(1)\n")
    outputs = {"out.py": cache.put_file(tmp_path / "out.py"), "gone.py": None}
    cache.record(key, outputs)
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "gone.py").write_text("old")
    hit = cache.lookup(key)
    assert hit == outputs and cache.lookup("0" * 64) is None
    cache.restore(hit, workspace)
    assert (workspace / "out.py").read_text() == "print(1)\n" and not (workspace / "gone.py").exists()
    assert content_hashes(workspace, ["out.py", "missing.py"])["missing.py"] is None
