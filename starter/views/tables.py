"""Plain-text views of deployments for the terminal (the --json flags print the models instead)."""

from __future__ import annotations

from typing import Any

from coderunner.models.deployment import DeploymentDescription, DeploymentSpec
from coderunner.models.sandbox import Isolation


def table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    if not rows:
        return "(none)"
    widths = {
        c: max(len(c), *(len(str(r.get(c) if r.get(c) is not None else "-")) for r in rows)) for c in columns
    }
    head = "  ".join(c.upper().ljust(widths[c]) for c in columns)
    body = [
        "  ".join(str(r.get(c) if r.get(c) is not None else "-").ljust(widths[c]) for c in columns)
        for r in rows
    ]
    return "\n".join([head, *body])


def _mib(value: int | None) -> str:
    return f"{value / 2**20:.1f}MiB" if value else "-"


def _rollout_lines(desc: DeploymentDescription) -> list[str]:
    """The running rollout (or how the last one ended), so `describe` tells the whole story."""
    if desc.rollout:
        r = desc.rollout
        return [f"rollout     {r.from_version} → {r.version}: {r.phase.value}, canary at {r.canary_weight}%"
                f"   ({r.workflow_id}; `coderunner rollout status {desc.spec.name}`)"]
    if desc.last_rollout:
        r = desc.last_rollout
        return [f"last rollout {r.from_version} → {r.version}: {r.phase.value}"
                + (f" — {r.outcome}" if r.outcome else "")]
    return []


def _sandbox_line(spec: DeploymentSpec) -> str:
    r = spec.resources
    limits = (f"{r.memory_mb} MiB, {r.cpu:g} cpu, {r.max_processes} processes, {r.open_files} files"
              + (f", {r.cpu_seconds} cpu-seconds" if r.cpu_seconds else ""))
    if spec.isolation == Isolation.NONE:
        return f"NONE — runs unconfined (isolation: none); limits {limits}"
    return f"bubblewrap; limits {limits}"


def description(desc: DeploymentDescription, events: int = 8) -> str:
    spec = desc.spec
    healthy = sum(1 for i in desc.instances if i.healthy)
    lines = [
        f"deployment  {spec.name}  ({spec.environment})   workflow {desc.workflow_id}",
        f"status      {desc.status.value}" + (f" — {desc.status_reason}" if desc.status_reason else ""),
        f"version     {spec.version}",
        f"replicas    {healthy}/{spec.replicas} healthy   replaced so far: {desc.replacements}",
        f"router      {desc.router_url or '-'}",
        *_rollout_lines(desc),
        f"command     {' '.join(spec.command)}",
        f"env         {', '.join(f'{k}={v}' for k, v in spec.env.items()) or '-'}",
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
    for event in desc.events[-events:]:
        lines.append(f"  {event.at:%H:%M:%S}  {event.kind:<18} {event.message}  [{event.actor}]")
    return "\n".join(lines)
