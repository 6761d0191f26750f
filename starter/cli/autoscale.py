"""`coderunner autoscale …` and `coderunner cost NAME`: the autoscaler from the command line."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from coderunner.decisions.cost import project_month
from coderunner.decisions.policy_templates import (
    PolicyError,
    get_template,
    load_policy_file,
    template_names,
    validate_policy,
)
from coderunner.models.autoscale import AutoscalePolicy
from coderunner.models.autoscaler import AutoscalerStatus, BudgetSettings
from coderunner.store.repository import Store
from coderunner.store.spend import SpendStore
from starter.cli.common import AsJson, Home, Reason, T, connect, fail, run, sub_app
from starter.sdk.autoscaling import Autoscaling, human_s
from starter.sdk.errors import UserError
from starter.tools.simulate import TraceError, load_trace, render_timeline, simulate_trace
from starter.tools.simulate_plot import PlotFormatError, check_plot_path, write_plot
from starter.views import tables as render

autoscale_app = sub_app("Autoscale a deployment on CPU, memory, rps, p95 latency and error rate.")
cost_app = sub_app()  # `coderunner cost NAME` sits at the top level
Opt = typer.Option


def build_policy(
    policy: str, policy_file: Path | None, overrides: dict[str, Any], targets: dict[str, float | None]
) -> AutoscalePolicy:
    """A template (or a YAML file), then the flags on top, validated as one policy."""
    try:
        base = load_policy_file(policy_file.read_text()) if policy_file else get_template(policy)
        data = base.model_dump(mode="json")
        data.update({k: v for k, v in overrides.items() if v is not None})
        metrics = {m["metric"]: m["target"] for m in data["metrics"]}
        metrics.update({k: v for k, v in targets.items() if v is not None})
        data["metrics"] = [{"metric": k, "target": v} for k, v in metrics.items()]
        return validate_policy(data)
    except (PolicyError, OSError) as err:
        fail(UserError(str(err)), 2)
    raise AssertionError("unreachable")


@autoscale_app.command()
def enable(
    name: str,
    policy: Annotated[str, Opt(help=f"template: {', '.join(template_names())}")] = "web-app",
    policy_file: Annotated[Path | None, Opt(help="policy YAML (may `extends:` a template)")] = None,
    min_: Annotated[int | None, Opt("--min", help="min replicas")] = None,
    max_: Annotated[int | None, Opt("--max", help="max replicas")] = None,
    target_cpu: Annotated[float | None, Opt(help="CPU % per instance")] = None,
    target_memory: Annotated[float | None, Opt(help="memory % per instance")] = None,
    target_rps: Annotated[float | None, Opt(help="requests/s per instance")] = None,
    target_latency: Annotated[float | None, Opt(help="p95 latency, ms")] = None,
    target_error_rate: Annotated[float | None, Opt(help="0..1")] = None,
    sync_interval: Annotated[int | None, Opt(help="seconds between decisions")] = None,
    price: Annotated[float | None, Opt(help="price per instance-hour")] = None,
    budget: Annotated[float | None, Opt(help="monthly budget; alerts at 75/90/100 %")] = None,
    budget_action: Annotated[str | None, Opt(help="at 100 %: cap-current | cap-min")] = None,
    webhook: Annotated[str | None, Opt(help="URL POSTed at each budget alert")] = None,
    home: Home = None,
) -> None:
    """Start the autoscaler of NAME (workflow autoscaler/NAME)."""
    pol = build_policy(
        policy,
        policy_file,
        {
            "min_replicas": min_,
            "max_replicas": max_,
            "sync_interval_s": sync_interval,
            "instance_hour_price": price,
            "budget_action": budget_action,
        },
        {
            "cpu": target_cpu,
            "memory": target_memory,
            "rps": target_rps,
            "latency_p95": target_latency,
            "error_rate": target_error_rate,
        },
    )
    try:
        settings = BudgetSettings.model_validate({"monthly": budget, "webhook_url": webhook})
    except ValueError as err:
        fail(UserError(f"budget: {err}"), 2)

    async def go() -> None:
        wid = await (await connect(home)).autoscaling.enable(name, pol, settings)
        typer.echo(
            f"autoscaling {name} with policy {pol.name}: {pol.min_replicas} to {pol.max_replicas} "
            f"replicas, every {pol.sync_interval_s}s (workflow {wid})"
        )

    run(go)


@autoscale_app.command()
def disable(name: str, reason: Reason = "", home: Home = None) -> None:
    """Stop autoscaling NAME; its replicas stay as they are."""
    run(lambda: _with(home, lambda a: a.disable(name, reason)))
    typer.echo(f"{name}: autoscaling disabled")


@autoscale_app.command()
def pause(name: str, reason: Reason = "", home: Home = None) -> None:
    """Freeze decisions (spend is still tracked, overrides still apply)."""
    run(lambda: _with(home, lambda a: a.pause(name, reason)))
    typer.echo(f"{name}: autoscaling paused")


@autoscale_app.command()
def resume(name: str, reason: Reason = "", home: Home = None) -> None:
    """Resume decisions; the next one is made at once."""
    run(lambda: _with(home, lambda a: a.resume(name, reason)))
    typer.echo(f"{name}: autoscaling resumed")


@autoscale_app.command("clear-override")
def clear_override(name: str, reason: Reason = "", home: Home = None) -> None:
    """End a manual override (`coderunner scale … [--for]`) now."""
    result = run(lambda: _with(home, lambda a: a.override(name, None, reason)))
    typer.echo(f"{name}: {result.message}")


@autoscale_app.command()
def status(
    name: str,
    watch: Annotated[bool, Opt("--watch", "-w")] = False,
    as_json: AsJson = False,
    home: Home = None,
) -> None:
    """Policy, override, pause, spend and the last decisions with their per-metric ratios."""

    async def go() -> None:
        auto = (await connect(home)).autoscaling
        while True:
            st = await auto.status(name)
            if watch:
                typer.echo("\x1b[2J\x1b[H", nl=False)
            typer.echo(st.model_dump_json(indent=2) if as_json else render_status(st))
            if not watch:
                return
            await asyncio.sleep(1)

    try:
        run(go)
    except KeyboardInterrupt:
        pass


def render_status(st: AutoscalerStatus) -> str:
    p = st.policy
    targets = ", ".join(f"{m.metric.value}={m.target:g}" for m in p.metrics)
    lines = [
        f"autoscaler {st.deployment} ({st.workflow_id}, run {st.run})",
        f"  policy    {p.name}: {p.min_replicas} to {p.max_replicas} replicas, targets {targets}, "
        f"sync {p.sync_interval_s}s, down window {p.scale_down.stabilization_window_s}s",
    ]
    if st.paused:
        lines.append(f"  PAUSED    {st.pause_reason}")
    if st.override:
        o, rem = st.override, st.override_remaining_s
        left = f"{human_s(round(rem))} left" if rem is not None else "until cleared"
        lines.append(f"  override  {o.replicas} replicas ({left}) by {o.actor} {o.reason}")
    window = ", ".join(str(r.replicas) for r in st.window.recommendations)
    lines.append(f"  window    recommendations [{window}]")
    lines.append(f"  spend     {spend_line(st)}")
    lines.append("  decisions:")
    for d in st.decisions[-8:]:
        lines.append(f"    {d.line()}" + (f" applied {d.applied}" if d.applied is not None else ""))
    if st.decisions:
        lines += [f"      {r}" for r in st.decisions[-1].reasons]
    return "\n".join(lines)


def spend_line(st: AutoscalerStatus) -> str:
    now = datetime.now(UTC)
    start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    nxt = start.replace(month=start.month % 12 + 1, year=start.year + (start.month == 12))
    projection = project_month(st.spend.amount, (now - start).total_seconds(), (nxt - start).total_seconds())
    text = f"{st.spend.month}: {st.spend.amount:.4f} so far, projected {projection:.2f} for the month"
    if st.budget.monthly:
        share = st.spend.amount / st.budget.monthly
        text += f", budget {st.budget.monthly:g} ({share:.0%}, level {st.spend.level}%)"
    return text


@autoscale_app.command()
def policies(as_json: AsJson = False) -> None:
    """The built-in policy templates and their values."""
    rows = []
    for name in template_names():
        t = get_template(name)
        rows.append(
            {
                "name": name,
                "min": t.min_replicas,
                "max": t.max_replicas,
                "targets": ", ".join(f"{m.metric.value}={m.target:g}" for m in t.metrics),
                "tolerance": t.tolerance,
                "sync_s": t.sync_interval_s,
                "up_window_s": t.scale_up.stabilization_window_s,
                "down_window_s": t.scale_down.stabilization_window_s,
                "price_h": t.instance_hour_price,
                "description": t.description,
            }
        )
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    typer.echo(
        render.table(
            rows,
            [
                "name",
                "min",
                "max",
                "targets",
                "tolerance",
                "sync_s",
                "up_window_s",
                "down_window_s",
                "price_h",
            ],
        )
    )
    for r in rows:
        typer.echo(f"\n{r['name']}: {r['description']}")


@autoscale_app.command()
def simulate(
    trace: Annotated[Path, Opt(help="CSV: t_s,rps[,cpu,memory,latency_p95,error_rate]")],
    policy: Annotated[str, Opt(help="template name")] = "web-app",
    policy_file: Annotated[Path | None, Opt(help="policy YAML")] = None,
    plot: Annotated[Path | None, Opt(help="plot load, replicas, spend: out.png|out.svg")] = None,
    start: Annotated[int | None, Opt(help="replicas at t=0 [default: min]")] = None,
    boot_s: Annotated[float, Opt(help="seconds before a new instance is ready")] = 5.0,
) -> None:
    """Replay a metric trace through the same decision function; print the replica timeline."""
    pol = build_policy(policy, policy_file, {}, {})
    try:
        if plot:
            check_plot_path(plot)
        rows = load_trace(trace.read_text())
    except (TraceError, PlotFormatError, OSError) as err:
        fail(UserError(str(err)), 2)
    result = simulate_trace(pol, rows, start_replicas=start, boot_s=boot_s)
    typer.echo(render_timeline(result))
    if plot:
        try:
            write_plot(result, plot, trace.name)
        except OSError as err:
            fail(UserError(f"--plot {plot}: {err}"), 2)
        typer.echo(f"plot written to {plot}")


@cost_app.command()
def cost(name: str, as_json: AsJson = False, home: Home = None) -> None:
    """Spend this month, projection and budget (live from the autoscaler, else from the store)."""

    async def go() -> None:
        auto = (await connect(home)).autoscaling
        if await auto.is_on(name):
            st = await auto.status(name)
            typer.echo(st.spend.model_dump_json(indent=2) if as_json else f"{name}: {spend_line(st)}")
            return
        rows = SpendStore(Store(url=auto.cr.settings.resolved_database_url())).history(name)
        if not rows:
            raise UserError(f"no spend recorded for {name!r}: autoscaling was never on for it")
        data = [
            {"month": r.month, "spend": round(r.amount, 4), "budget": r.budget, "level": r.level}
            for r in rows
        ]
        cols = ["month", "spend", "budget", "level"]
        typer.echo(json.dumps(data, indent=2) if as_json else render.table(data, cols))

    run(go)


async def _with(home: str | None, fn: Callable[[Autoscaling], Awaitable[T]]) -> T:
    return await fn((await connect(home)).autoscaling)
