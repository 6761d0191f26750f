"""Terminal and Graphviz views of a pipeline: the analysis (batches, critical path, priorities), the
task graph as DOT with the critical path highlighted, and a run's status."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from coderunner.models.pipeline import PipelineDescription, PlanAnalysis, PlanSpec, TaskStatus
from starter.views.tables import table


def analysis_text(plan: PlanSpec, a: PlanAnalysis, isolated: bool) -> str:
    lines = [
        f"pipeline {plan.name}: {len(a.tasks)} tasks, {len(a.edges)} dependencies,"
        f" pool {plan.pool.min}-{plan.pool.max}",
        f"critical path ({a.critical_path_s:g}s estimated): {' → '.join(a.critical_path)}",
        f"total work {a.total_work_s:g}s; lower bound on {plan.pool.max} workers: "
        f"{max(a.critical_path_s, a.total_work_s / plan.pool.max):g}s",
        "",
        "batches (each can run in parallel once the previous ones are done):",
        *(f"  {n + 1}. {', '.join(batch)}" for n, batch in enumerate(a.batches)),
        "",
        table(
            [
                {
                    "rank": a.rank[t],
                    "task": t,
                    "estimate": f"{plan.task(t).estimate:g}s",
                    "to_end": f"{a.priority[t]:g}s",
                    "descendants": a.descendants[t],
                    "needs": ", ".join(sorted(e.on for e in a.edges if e.task == t)) or "-",
                }
                for t in a.tasks
            ],
            ["rank", "task", "estimate", "to_end", "descendants", "needs"],
        ),
    ]
    if a.type_checking_edges:
        lines += ["", "type-only imports (no ordering edge):"]
        lines += [f"  {e.source} → {e.target}" for e in a.type_checking_edges]
    if a.unresolved:
        lines += ["", "relative imports that resolve to no file:", *(f"  {u}" for u in a.unresolved)]
    if not isolated:
        lines += ["", "note: bubblewrap (bwrap) is not installed: task commands would run unsandboxed"]
    return "\n".join(lines)


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def dot_text(plan: PlanSpec, a: PlanAnalysis) -> str:
    """dependency → dependent; the critical path in red and bold."""
    on_path = set(a.critical_path)
    path_edges = set(zip(a.critical_path, a.critical_path[1:], strict=False))
    out = [
        f"digraph {_quote(plan.name)} {{",
        "  rankdir=LR;",
        '  node [shape=box, style="rounded,filled", fillcolor=white, fontname="Helvetica"];',
        f"  label={_quote(f'{plan.name}: critical path {a.critical_path_s:g}s (red)')}; labelloc=t;",
    ]
    for t in a.tasks:
        label = f"{t}\\n{plan.task(t).estimate:g}s · rank {a.rank[t]}"
        style = ', color=red, penwidth=2.5, fillcolor="#ffecec"' if t in on_path else ""
        out.append(f'  {_quote(t)} [label="{label}"{style}];')
    for e in a.edges:
        style = ", color=red, penwidth=2.5" if (e.on, e.task) in path_edges else ""
        out.append(f"  {_quote(e.on)} -> {_quote(e.task)} [tooltip={_quote(e.why)}{style}];")
    out.append("}")
    return "\n".join(out) + "\n"


STAGES = ("pm", "dev", "integration", "ops")


def stages_line(d: PipelineDescription) -> str:
    """pm ✓ → dev ▶ → integration → ops: where the run is (dev includes each task's QA step)."""
    if d.stage == "done":
        return "stages: " + " → ".join(f"{st} ✓" for st in STAGES if st != "ops" or d.ops is not None)
    at = STAGES.index(d.stage) if d.stage in STAGES else 0
    marks = [f"{st} ✓" if n < at else f"{st} ▶" if n == at else st for n, st in enumerate(STAGES)]
    return "stages: " + " → ".join(marks)


def task_counts(d: PipelineDescription) -> str:
    """Every task state that has a task, in the order work flows through them."""
    seen = Counter(t.status for t in d.tasks)
    order = [
        (TaskStatus.RUNNING, "running"), (TaskStatus.TESTING, "in QA"), (TaskStatus.READY, "queued"),
        (TaskStatus.RETRYING, "retrying"), (TaskStatus.WAITING, "waiting"), (TaskStatus.DONE, "done"),
        (TaskStatus.SKIPPED, "skipped"), (TaskStatus.FAILED, "failed"), (TaskStatus.DEAD, "dead"),
        (TaskStatus.BLOCKED, "blocked"),
    ]
    return ", ".join(f"{seen[st]} {label}" for st, label in order if seen[st]) or "none yet"


def counts_line(d: PipelineDescription) -> str:
    return f"tasks ({len(d.tasks)}): {task_counts(d)}"


def time_line(d: PipelineDescription) -> str:
    """Time against the plan's own estimate: the critical path is the least any schedule could take."""
    if d.critical_path_s <= 0:
        return f"time: {d.elapsed_s:.1f}s elapsed"
    return (
        f"time: {d.elapsed_s:.1f}s elapsed against a critical path of {d.critical_path_s:g}s estimated"
        f" ({d.elapsed_s / d.critical_path_s:.2f}x)"
    )


def cache_line(d: PipelineDescription) -> str:
    return f"cache: {d.cached} of {d.done} done tasks reused a recorded result"


def progress_state(d: PipelineDescription) -> str:
    """The run's progress without its clock: `--watch` prints a line when this changes."""
    breaker = f"; breaker {d.breaker_phase}" if d.breaker_phase else ""
    dead = f"; {len(d.dead_letters)} dead letter(s) wait for a person" if d.dead_letters else ""
    where = f"{d.status.value} ({d.stage})"
    return f"{where}: {task_counts(d)}; pool {d.pool_size}; {d.cached} cached{breaker}{dead}"


def progress_line(d: PipelineDescription) -> str:
    """One line per change for `--watch` off a terminal (and in logs)."""
    return f"[{d.elapsed_s:6.1f}s] {progress_state(d)}"


def decisions_lines(d: PipelineDescription) -> list[str]:
    """The audit trail of people's decisions on this run: who, what, why (env values never kept)."""
    if not d.decisions:
        return []
    lines = ["decisions:"]
    for x in d.decisions:
        at = datetime.fromtimestamp(x.at_s, UTC).strftime("%H:%M:%S")
        changes = f" ({x.changes})" if x.changes else ""
        lines.append(f"  {at} {x.actor}: {x.kind.value} {x.task}{changes} — {x.reason}")
    return lines


def status_text(d: PipelineDescription) -> str:
    head = [
        f"pipeline {d.name} run {d.run}: {d.status.value} (stage {d.stage})"
        + (f" — {d.reason}" if d.reason else ""),
        stages_line(d),
        f"{counts_line(d)}; pool {d.pool_size}",
        cache_line(d),
        time_line(d),
        *([f"circuit breaker: {d.breaker}"] if d.breaker else []),
        *([f"integration: {d.integration}"] if d.integration else []),
        *(
            [f"dead letters (waiting for a person): {', '.join(x.task for x in d.dead_letters)}"]
            if d.dead_letters
            else []
        ),
        *decisions_lines(d),
        "",
    ]
    rows = [
        {
            "rank": t.rank,
            "task": t.id,
            "status": t.status.value + (" (cached)" if t.cached else ""),
            "attempt": t.attempt,
            "detail": (t.detail.strip().splitlines() or [""])[0][:80],
        }
        for t in d.tasks
    ]
    return "\n".join(head) + table(rows, ["rank", "task", "status", "attempt", "detail"])
