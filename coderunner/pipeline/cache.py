"""The result cache of dev steps, shared by every run of every pipeline on this machine.

The key is a hash of the agent's identity and version, the command, the env it sees, and the content
of the task's own files, of the project files its command names, and of every file they transitively
import. An entry records the task's outputs by content hash; the contents live once in `blobs/`.
A hit writes the recorded outputs into the workspace without running the agent.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from coderunner.models.pipeline import TaskSpec
from coderunner.pipeline.workspace import sha256_file

AGENT_IDENTITY = "coderunner.command-agent"


def cache_key(task: TaskSpec, inputs: dict[str, str | None], identity: list[Any] | None = None) -> str:
    """`identity`: the agent's cache identity (coderunner/agents); default the command agent's."""
    material = {
        "agent": identity or [AGENT_IDENTITY, task.agent.kind, task.agent.version],
        "command": task.agent.argv(),
        "env": sorted(task.env.items()),
        "config": task.config,
        "inputs": sorted(inputs.items()),
    }
    if task.agent.qa is not None:  # the entry is recorded only once QA passed: its command counts
        material["qa"] = task.agent.qa_argv()
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()


class ResultCache:
    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "blobs").mkdir(parents=True, exist_ok=True)
        (root / "entries").mkdir(parents=True, exist_ok=True)

    def _write_atomic(self, path: Path, data: bytes) -> None:
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)

    def put_file(self, file: Path) -> str:
        digest = sha256_file(file)
        blob = self.root / "blobs" / digest
        if not blob.exists():
            self._write_atomic(blob, file.read_bytes())
        return digest

    def lookup(self, key: str) -> dict[str, str | None] | None:
        entry = self.root / "entries" / f"{key}.json"
        if not entry.exists():
            return None
        outputs: dict[str, str | None] = json.loads(entry.read_text())
        if any(h is not None and not (self.root / "blobs" / h).exists() for h in outputs.values()):
            return None
        return outputs

    def record(self, key: str, outputs: dict[str, str | None]) -> None:
        self._write_atomic(
            self.root / "entries" / f"{key}.json", json.dumps(outputs, sort_keys=True).encode()
        )

    def restore(self, outputs: dict[str, str | None], dest: Path) -> None:
        """Write recorded outputs into `dest` (a workspace): contents by hash, deletions as deletions."""
        for rel, digest in outputs.items():
            target = dest / rel
            if digest is None:
                target.unlink(missing_ok=True)
                continue
            if target.is_file() and sha256_file(target) == digest:
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            self._write_atomic(target, (self.root / "blobs" / digest).read_bytes())
