"""Terminal and Graphviz views of a pipeline: the analysis (batches, critical path, priorities), the
task graph as DOT with the critical path highlighted, and a run's status."""

from __future__ import annotations

from coderunner.models.pipeline import PipelineDescription, PlanAnalysis, PlanSpec
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


def status_text(d: PipelineDescription) -> str:
    head = [
        f"pipeline {d.name} run {d.run}: {d.status.value} (stage {d.stage})"
        + (f" — {d.reason}" if d.reason else ""),
        f"tasks: {d.done} done ({d.cached} cached), {d.running} running, {d.ready} ready, {d.failed} failed;"
        f" pool {d.pool_size}; {d.elapsed_s:.1f}s elapsed; critical path {d.critical_path_s:g}s estimated",
        *([f"circuit breaker: {d.breaker}"] if d.breaker else []),
        *([f"integration: {d.integration}"] if d.integration else []),
        *(
            [f"dead letters (waiting for a person): {', '.join(x.task for x in d.dead_letters)}"]
            if d.dead_letters
            else []
        ),
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
