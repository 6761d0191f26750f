"""Adoption: a restarted host takes over the instances the previous host left running.

A pid alone is not identity (pids are reused), so a process is adopted only if it is alive, not a
zombie, and its start time equals the one recorded at spawn. Anything recorded as running that fails
that test is reported LOST — kept in the list until destroyed, so the orchestrator sees it and
replaces it instead of it silently disappearing.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from coderunner.hosts.instance import META_FILE, Instance, same_process
from coderunner.models.sandbox import InstanceState

log = logging.getLogger("coderunner.hosts.adoption")


def load_instances(instances_dir: Path) -> list[Instance]:
    """Every instance recorded under `instances_dir`, running ones adopted or marked lost."""
    found: list[Instance] = []
    for meta_path in sorted(instances_dir.glob(f"*/{META_FILE}")):
        try:
            inst = Instance.from_meta(meta_path.parent, json.loads(meta_path.read_text()))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("ignoring unreadable %s: %s", meta_path, exc)
            continue
        if inst.state == InstanceState.RUNNING:
            _adopt_or_lose(inst)
        found.append(inst)
    return found


def _adopt_or_lose(inst: Instance) -> None:
    proc = same_process(inst.pid, inst.create_time)
    if proc is None:
        inst.state = InstanceState.LOST
        inst.save()
        log.info("%s lost: pid %s is gone", inst.instance_id, inst.pid)
        return
    inst.proc = proc
    inst.adopted = True
    log.info("%s adopted: pid %s port %s", inst.instance_id, inst.pid, inst.port)
