"""Plain-text views of deployments for the terminal (the --json flags print the models instead)."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

from coderunner.models.configstore import ConfigRef, ConfigSnapshot
from coderunner.models.deployment import DeploymentDescription, DeploymentSpec, OperationResult
from coderunner.models.sandbox import Isolation
from coderunner.words import plural
from starter.views.env import config_pairs, env_changes, env_pairs, masked_note


def table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    if not rows:
        return "(none)"
    widths = {
        c: max(len(c), *(len(str(r.get(c) if r.get(c) is not None else "-")) for r in rows)) for c in columns
    }
    head = "  ".join(c.upper().ljust(widths[c]) for c in columns).rstrip()
    body = [
        "  ".join(str(r.get(c) if r.get(c) is not None else "-").ljust(widths[c]) for c in columns).rstrip()
        for r in rows
    ]
    return "\n".join([head, *body])


def progress_line(desc: DeploymentDescription) -> str:
    """As `kubectl rollout status`: `1/3 healthy — demo-v1-2: GET /health → 404`."""
    healthy = sum(1 for i in desc.instances if i.healthy)
    line = f"{desc.spec.name}: {healthy}/{desc.spec.replicas} healthy ({desc.status.value})"
    sick = next((i for i in desc.instances if not i.healthy and i.last_error), None)
    return line + (f" — {sick.instance_id}: {sick.last_error}" if sick else "")


def spec_changes(live: DeploymentSpec | None, wanted: DeploymentSpec) -> list[str]:
    """What `deploy` would change, field by field (`replicas: 2 → 3`); env values follow the rule of
    `views.env` (plain keys shown, every other value masked and not compared)."""
    if live is None:
        return [
            f"create {wanted.name} {wanted.version} x{wanted.replicas} in {wanted.environment}",
            f"  command {' '.join(wanted.command)}; health {wanted.health_path}; env {env_pairs(wanted)}",
        ]
    changes = []
    for field in SPEC_FIELDS:
        before, after = getattr(live, field), getattr(wanted, field)
        if before != after:
            changes.append(f"{field}: {show_field(field, before)} → {show_field(field, after)}")
    changes += env_changes(live, wanted)
    note = masked_note(live, wanted)
    return (changes or ["no change"]) + ([f"({note})"] if note else [])


SPEC_FIELDS = ("environment", "version", "command", "working_dir", "replicas", "health_path", "resources",
               "isolation", "config")


def show_field(field: str, value: Any) -> str:
    if field == "command":
        return " ".join(value)
    if isinstance(value, BaseModel):
        return ", ".join(f"{k}={v}" for k, v in value.model_dump(mode="json").items())
    return str(value)


def operation_line(result: OperationResult) -> str:
    """`demo: scale 2 → 3; status running; 3 instances: demo-v1-1, demo-v1-2, demo-v1-3`."""
    ids = ", ".join(result.instances)
    instances = plural(len(result.instances), "instance") + (f": {ids}" if ids else "")
    return f"{result.name}: {result.message}; status {result.status.value}; {instances}"


def age(since: datetime, now: datetime) -> str:
    """kubectl's AGE: the largest unit that fits, e.g. 45s, 12m, 3h, 2d."""
    secs = max(0, int((now - since).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if secs >= size:
            return f"{secs // size}{unit}"
    return f"{secs}s"


def statuses(counts: Mapping[str, int]) -> str:
    """`HTTP 200: 857, HTTP 500: 10` rather than a Python dict."""
    shown = [f"HTTP {k}: {v}" if k.isdigit() else f"{k}: {v}" for k, v in sorted(counts.items())]
    return ", ".join(shown) or "-"


def _mib(value: int | None) -> str:
    return f"{value / 2**20:.1f}MiB" if value else "-"


def _rollout_lines(desc: DeploymentDescription) -> list[str]:
    """The running rollout (or how the last one ended), so `describe` tells the whole story."""
    if desc.rollout:
        r = desc.rollout
        return [
            f"rollout     {r.versions()}: {r.phase.value}, canary at {r.canary_weight}%"
            f"   ({r.workflow_id}; `coderunner rollout status {desc.spec.name}`)"
        ]
    if desc.last_rollout:
        r = desc.last_rollout
        head = f"last rollout {r.versions()}: {r.phase.value}"
        return wrapped(head + (f" — {r.outcome}" if r.outcome else ""), indent=13)
    return []


def _sandbox_line(spec: DeploymentSpec) -> str:
    r = spec.resources
    limits = (f"{r.memory_mb} MiB, {r.cpu:g} cpu, {r.max_processes} processes, {r.open_files} files"
              + (f", {r.cpu_seconds} cpu-seconds" if r.cpu_seconds else ""))
    if spec.isolation == Isolation.NONE:
        return f"NONE — runs unconfined (isolation: none); limits {limits}"
    return f"bubblewrap; limits {limits}"


def _config_lines(ref: ConfigRef | None, snapshot: ConfigSnapshot | None) -> list[str]:
    """The config reference, and (when the config store is at hand) its variables shown, its secrets
    masked."""
    if ref is None:
        return []
    mode = "following" if ref.follow else "pinned"
    mode += "" if ref.reload else ", reload off"
    lines = [f"config      {ref.project}/{ref.environment} v{ref.version} ({mode})"]
    if snapshot is not None:
        lines += wrapped(f"            {config_pairs(snapshot)}", indent=12)
    return lines


def wrapped(text: str, indent: int, width: int = 100) -> list[str]:
    """Long reasons (an abort's numbers) over several lines instead of one very long one."""
    return textwrap.wrap(text, width=width, subsequent_indent=" " * indent) or [""]


def short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def description(desc: DeploymentDescription, events: int = 8, now: datetime | None = None,
                config: ConfigSnapshot | None = None) -> str:
    """The whole story once: a reason already told by the last rollout is not repeated in the status
    line, and events are shortened (`-o json` has every word); times read as kubectl's AGE."""
    spec = desc.spec
    now = now or datetime.now(UTC)
    healthy = sum(1 for i in desc.instances if i.healthy)
    told = desc.last_rollout.outcome if desc.last_rollout and desc.last_rollout.outcome else ""
    reason = desc.status_reason or ""
    reason = "see last rollout" if reason and told and (reason in told or told in reason) else reason
    lines = [
        f"deployment  {spec.name}  ({spec.environment})   workflow {desc.workflow_id}",
        *wrapped(f"status      {desc.status.value}" + (f" — {reason}" if reason else ""), indent=12),
        f"version     {spec.version}",
        f"replicas    {healthy}/{spec.replicas} healthy   replaced so far: {desc.replacements}",
        f"router      {desc.router_url or '-'}",
        *_rollout_lines(desc),
        f"command     {' '.join(spec.command)}",
        *wrapped(f"env         {env_pairs(spec)}", indent=12),
        *_config_lines(spec.config, config),
        f"sandbox     {_sandbox_line(spec)}",
        "",
        table(
            [
                {
                    "instance": i.instance_id,
                    "version": i.version,
                    "state": i.state,
                    "healthy": "yes" if i.healthy else "no",
                    "pid": i.pid,
                    "port": i.port,
                    "cpu": f"{i.cpu_percent:.1f}%" if i.cpu_percent is not None else None,
                    "memory": _mib(i.memory_bytes),
                }
                for i in desc.instances
            ],
            ["instance", "version", "state", "healthy", "pid", "port", "cpu", "memory"],
        ),
        "",
        "recent events:",
    ]
    rows = [
        {"age": age(e.at, now), "event": e.kind, "message": short(e.message), "by": e.actor}
        for e in desc.events[-events:]
    ]
    lines += ["  " + line for line in table(rows, ["age", "event", "message", "by"]).splitlines()]
    return "\n".join(lines)
