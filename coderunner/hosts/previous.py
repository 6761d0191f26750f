"""Logs of instances that are gone, kept for `coderunner logs NAME --previous` (as kubectl's).

Destroying an instance removes its directory; just before, the host copies the tail of its
output.log (at most MAX_LOG_BYTES) and what it knows of its end into `<sandbox dir>/previous/
<deployment>/`. The newest KEEP_PER_DEPLOYMENT are kept, so the directory stays bounded. It lives
next to the instances' directories, in the state dir no sandbox can see.
"""

from __future__ import annotations

import contextlib
import os
import re
from datetime import UTC, datetime
from pathlib import Path

from coderunner.hosts import logfiles
from coderunner.hosts.instance import Instance
from coderunner.hosts.provider import InstanceNotFound, InvalidRequest
from coderunner.models.sandbox import INSTANCE_ID_PATTERN, PreviousInstance

KEEP_PER_DEPLOYMENT = 10
MAX_LOG_BYTES = 1 << 20
_SAFE = re.compile(INSTANCE_ID_PATTERN)


class PreviousLogs:
    def __init__(self, sandbox_dir: Path) -> None:
        self.root = sandbox_dir / "previous"
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)

    def _dir(self, deployment: str) -> Path:
        if not _SAFE.match(deployment):
            raise InvalidRequest("deployment: not a valid name")
        return self.root / deployment

    def keep(self, inst: Instance) -> None:
        """Copy the tail of the instance's log and its ending; never fails the destroy."""
        try:
            where = self._dir(inst.deployment)
            where.mkdir(mode=0o700, exist_ok=True)
            with contextlib.suppress(FileNotFoundError), inst.log_path.open("rb") as log:
                size = log.seek(0, os.SEEK_END)
                log.seek(max(0, size - MAX_LOG_BYTES))
                (where / f"{inst.instance_id}.log").write_bytes(log.read())
            record = PreviousInstance(
                instance_id=inst.instance_id, deployment=inst.deployment, version=inst.version,
                group=inst.group, state=inst.state, exit_code=inst.exit_code, exit_reason=inst.exit_reason,
                started_at=inst.started_at, ended_at=datetime.now(UTC))
            (where / f"{inst.instance_id}.json").write_text(record.model_dump_json())
            self._prune(where)
        except (OSError, InvalidRequest):
            return

    def _prune(self, where: Path) -> None:
        for old in self._records(where)[KEEP_PER_DEPLOYMENT:]:
            for suffix in (".json", ".log"):
                (where / f"{old.instance_id}{suffix}").unlink(missing_ok=True)

    @staticmethod
    def _records(where: Path) -> list[PreviousInstance]:
        found = []
        for path in where.glob("*.json"):
            with contextlib.suppress(OSError, ValueError):
                found.append(PreviousInstance.model_validate_json(path.read_text()))
        return sorted(found, key=lambda r: r.ended_at, reverse=True)

    def list(self, deployment: str) -> list[PreviousInstance]:
        """Newest first."""
        return self._records(self._dir(deployment))

    def tail(self, deployment: str, instance_id: str, lines: int) -> str:
        if not _SAFE.match(instance_id):
            raise InvalidRequest("instance_id: not a valid id")
        path = self._dir(deployment) / f"{instance_id}.log"
        if not (self._dir(deployment) / f"{instance_id}.json").exists():
            raise InstanceNotFound(f"no previous instance {instance_id!r} of {deployment!r}")
        return logfiles.tail(path, lines)
