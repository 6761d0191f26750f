"""`coderunner get NAME`: one screen for one deployment, like `kubectl argo rollouts get rollout`.

A header (status line, versions, rollout step and weights, replicas), the rollout's analysis
verdicts, and a tree: deployment → revisions (one per version, canary first) → instances with
health, CPU and memory. Built from the `describe` query and, during a rollout, the rollout's `status`
query, so what it shows is what the workflows hold. `--watch` redraws it in place (rich Live).
"""

from __future__ import annotations

import collections
from collections.abc import Sequence

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from coderunner.models.deployment import DeploymentDescription, DeploymentStatus, InstanceRecord
from coderunner.models.rollout import FINISHED_PHASES, RolloutLink, RolloutPhase, WindowVerdict
from coderunner.models.rollout_api import RolloutStatus, WindowRecord

STATUS_MARK = {
    DeploymentStatus.PROVISIONING: ("◌", "yellow"), DeploymentStatus.RUNNING: ("✔", "green"),
    DeploymentStatus.DEGRADED: ("⚠", "yellow"), DeploymentStatus.FAILED: ("✖", "red"),
    DeploymentStatus.STOPPED: ("■", "dim"), DeploymentStatus.DELETING: ("⌫", "dim"),
    DeploymentStatus.DELETED: ("⌫", "dim"),
}
PHASE_MARK = {
    RolloutPhase.PROVISIONING: ("◌", "yellow"), RolloutPhase.PROGRESSING: ("◌", "cyan"),
    RolloutPhase.PAUSED: ("॥", "yellow"), RolloutPhase.PROMOTING: ("◌", "cyan"),
    RolloutPhase.PROMOTED: ("✔", "green"), RolloutPhase.ABORTING: ("✖", "red"),
    RolloutPhase.ABORTED: ("✖", "red"), RolloutPhase.FAILED: ("✖", "red"),
}
VERDICT_MARK = {WindowVerdict.HEALTHY: ("✔", "green"), WindowVerdict.UNHEALTHY: ("✖", "red")}
WINDOWS_SHOWN = 5


def _mark(pair: tuple[str, str], label: str) -> Text:
    return Text(f"{pair[0]} {label}", style=pair[1])


def _mib(value: int | None) -> str:
    return "-" if value is None else f"{value / 2**20:.1f} MiB"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} %"


def status_line(desc: DeploymentDescription, rollout: RolloutStatus | None) -> Text:
    """One line a person reads first: the deployment's status, and the rollout's if one runs."""
    line = _mark(STATUS_MARK[desc.status], desc.status.value.capitalize())
    if rollout is not None:
        line.append("  ")
        line.append_text(_mark(PHASE_MARK[rollout.phase], f"rollout {rollout.phase.value}"))
        reason = rollout.paused_reason or rollout.outcome
        if reason:
            line.append(f" — {reason}")
    elif desc.status_reason:
        line.append(f" — {desc.status_reason}")
    return line


def _plan(rollout: RolloutStatus) -> str:
    live = rollout.phase not in FINISHED_PHASES
    return " → ".join(f"[{w}]" if live and w == rollout.canary_weight else str(w) for w in rollout.weights)


def header(desc: DeploymentDescription, rollout: RolloutStatus | None, step: str | None = None) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    healthy = sum(1 for i in desc.instances if i.healthy)
    table.add_row("Name:", desc.spec.name)
    table.add_row("Environment:", desc.spec.environment)
    table.add_row("Status:", status_line(desc, rollout))
    if rollout is not None:
        table.add_row("Versions:", f"{rollout.from_version} (stable)  {rollout.version} (canary)")
        table.add_row("Strategy:", "Canary")
        table.add_row("  Step:", (step or "").removeprefix("step ")
                      or f"{rollout.step}/{rollout.steps}: {rollout.step_description}")
        weight = rollout.canary_weight
        table.add_row("  Weights:", f"canary {weight} % / stable {100 - weight} %   plan {_plan(rollout)}")
    else:
        table.add_row("Version:", f"{desc.spec.version} (stable)")
        if desc.last_rollout is not None:
            table.add_row("Last rollout:", _last_rollout(desc.last_rollout))
    table.add_row("Replicas:", f"desired {desc.spec.replicas}  current {len(desc.instances)}  "
                               f"healthy {healthy}")
    table.add_row("Router:", desc.router_url or "-")
    return table


def _last_rollout(link: RolloutLink) -> Text:
    text = _mark(PHASE_MARK[link.phase], f"{link.versions()} {link.phase.value}")
    if link.outcome:
        text.append(f" — {link.outcome}")
    return text


def verdicts(windows: Sequence[WindowRecord], total: int) -> Text:
    """The last analysis windows, newest last, each with its verdict and the canary's numbers."""
    if not windows:
        return Text("no analysis window yet", style="dim")
    counts = collections.Counter(w.verdict.value for w in windows)
    text = Text(f"{total} windows so far; of the last {len(windows)}: "
                f"{', '.join(f'{n} {v}' for v, n in sorted(counts.items()))}\n")
    for w in windows[-WINDOWS_SHOWN:]:
        c = w.result.canary
        mark = VERDICT_MARK.get(w.verdict, ("⚠", "yellow"))
        text.append_text(_mark(mark, f"#{w.number} {w.verdict.value}"))
        text.append(f"  at {w.weight} %: canary {c.errors}/{c.requests} errors, p95 "
                    f"{'-' if c.p95_ms is None else f'{c.p95_ms:.0f} ms'}")
        if w.result.reasons:
            text.append(f" — {'; '.join(w.result.reasons)}")
        text.append("\n")
    text.rstrip()
    return text


def _instance(inst: InstanceRecord) -> Text:
    ok = inst.healthy
    health = _mark(("✔", "green") if ok else ("✖", "red"), "healthy" if ok else inst.state)
    text = Text(f"□ {inst.instance_id:<24} ")
    text.append_text(health)
    text.append(f"   cpu {_pct(inst.cpu_percent):>8}   mem {_mib(inst.memory_bytes):>11}")
    if inst.last_error and not inst.healthy:
        text.append(f"   {inst.last_error}", style="dim")
    return text


def tree(desc: DeploymentDescription, rollout: RolloutStatus | None) -> Tree:
    """deployment → revision per version (canary first) → instances."""
    root = Tree(Text.assemble(f"⟳ {desc.spec.name}  ", status_line(desc, None)))
    by_version: dict[str, list[InstanceRecord]] = collections.defaultdict(list)
    for inst in desc.instances:
        by_version[inst.version].append(inst)
    canary = rollout.version if rollout is not None else None
    order = sorted(by_version, key=lambda v: (v != canary, v != desc.spec.version, v))
    for version in order:
        if version == canary and rollout is not None:
            role = f"canary, {rollout.canary_weight} % of traffic"
        else:
            role = "stable" + (f", {100 - rollout.canary_weight} % of traffic" if rollout is not None else "")
        branch = root.add(Text(f"# revision {version} ({role})", style="bold"))
        for inst in sorted(by_version[version], key=lambda i: i.ordinal):
            branch.add(_instance(inst))
    if not desc.instances:
        root.add(Text("no instances", style="dim"))
    return root


def render(
    desc: DeploymentDescription, rollout: RolloutStatus | None, step: str | None = None
) -> RenderableType:
    """`step`: the step in words with its clock (`views.step_clock.step_text`), if known."""
    parts: list[RenderableType] = [header(desc, rollout, step), Text("")]
    if rollout is not None:
        parts += [Text("Analysis:", style="bold"), verdicts(rollout.windows, rollout.windows_total), Text("")]
    parts.append(tree(desc, rollout))
    return Group(*parts)
