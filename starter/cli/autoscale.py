"""`coderunner autoscale …` and `coderunner cost NAME`: the autoscaler from the command line."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from coderunner.decisions.cost import project_month_at_rate
from coderunner.decisions.policy_templates import (
    PolicyError,
    get_template,
    load_policy_file,
    template_names,
    validate_policy,
)
from coderunner.decisions.pricing import rate_of, rate_text
from coderunner.models.autoscale import AutoscalePolicy
from coderunner.models.autoscaler import AutoscalerStatus, BudgetSettings
from coderunner.store.repository import Store
from coderunner.store.spend import SpendStore
from coderunner.words import plural
from starter.cli.common import (
    AsJson,
    Home,
    Output,
    Reason,
    T,
    connect,
    emit,
    fail,
    run,
    seconds,
    show,
    sub_app,
)
from starter.sdk.autoscaling import Autoscaling, human_s
from starter.sdk.errors import UserError
from starter.tools.simulate import TraceError, load_trace, render_timeline, simulate_trace
from starter.tools.simulate_plot import PlotFormatError, check_plot_path, write_plot
from starter.views import tables as render
from starter.views.autoscale import scale_down_countdown

autoscale_app = sub_app("Autoscale a deployment on CPU, memory, rps, p95 latency and error rate.")
cost_app = sub_app()  # `coderunner cost NAME` sits at the top level
Opt = typer.Option


TargetCpu = Annotated[float | None, Opt(min=1, max=100, help="CPU % per instance (1-100)")]
TargetMemory = Annotated[float | None, Opt(min=1, max=100, help="memory % per instance (1-100)")]
TargetRps = Annotated[float | None, Opt(min=0.001, help="requests/s per instance (> 0)")]
TargetLatency = Annotated[float | None, Opt(min=0.001, help="p95 latency, ms (> 0)")]
TargetErrorRate = Annotated[float | None, Opt(min=0.0001, max=1, help="error rate, 0..1 (e.g. 0.05)")]
SyncInterval = Annotated[str | None, Opt(help="time between decisions: 15s, 1m")]
PolicyName = Annotated[str, Opt(help=f"template: {', '.join(template_names())}")]
PolicyFile = Annotated[Path | None, Opt(help="policy YAML (may `extends:` a template)")]
MinReplicas = Annotated[int | None, Opt("--min", help="min replicas")]
MaxReplicas = Annotated[int | None, Opt("--max", help="max replicas")]


def targets(
    cpu: float | None,
    memory: float | None,
    rps: float | None,
    latency: float | None,
    error_rate: float | None,
) -> dict[str, float | None]:
    """The --target-* flags by metric name (None: keep the template's)."""
    return {"cpu": cpu, "memory": memory, "rps": rps, "latency_p95": latency, "error_rate": error_rate}


def sync_seconds(text: str | None) -> int | None:
    """`--sync-interval 15s` → 15 (the policy counts whole seconds)."""
    if text is None:
        return None
    value = seconds(text, "--sync-interval")
    if value != int(value):
        fail(UserError(f"--sync-interval {text}: use whole seconds, e.g. 15s or 1m"), 2)
    return int(value)


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
    policy: PolicyName = "web-app",
    policy_file: PolicyFile = None,
    min_: MinReplicas = None,
    max_: MaxReplicas = None,
    target_cpu: TargetCpu = None,
    target_memory: TargetMemory = None,
    target_rps: TargetRps = None,
    target_latency: TargetLatency = None,
    target_error_rate: TargetErrorRate = None,
    sync_interval: SyncInterval = None,
    price: Annotated[
        float | None, Opt(min=0, help="flat price per instance-hour, on top of its declared CPU and memory")
    ] = None,
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
            "sync_interval_s": sync_seconds(sync_interval),
            "instance_hour_price": price,
            "budget_action": budget_action,
        },
        targets(target_cpu, target_memory, target_rps, target_latency, target_error_rate),
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


@autoscale_app.command("set-policy")
def set_policy(
    name: str,
    policy: PolicyName = "web-app",
    policy_file: PolicyFile = None,
    min_: MinReplicas = None,
    max_: MaxReplicas = None,
    target_cpu: TargetCpu = None,
    target_memory: TargetMemory = None,
    target_rps: TargetRps = None,
    target_latency: TargetLatency = None,
    target_error_rate: TargetErrorRate = None,
    sync_interval: SyncInterval = None,
    home: Home = None,
) -> None:
    """Change the policy of a running autoscaler in place (its decision window is kept)."""
    pol = build_policy(
        policy,
        policy_file,
        {"min_replicas": min_, "max_replicas": max_, "sync_interval_s": sync_seconds(sync_interval)},
        targets(target_cpu, target_memory, target_rps, target_latency, target_error_rate),
    )
    run(lambda: _with(home, lambda a: a.set_policy(name, pol)))
    typer.echo(f"{name}: policy {pol.name}, {pol.min_replicas} to {pol.max_replicas} replicas")


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
    watch: Annotated[bool, Opt("--watch", "-w", help="redraw every second until Ctrl-C")] = False,
    as_json: AsJson = False,
    output: Output = "table",
    home: Home = None,
) -> None:
    """Policy, override, pause, spend and the last decisions with their per-metric ratios."""

    async def go() -> None:
        auto = (await connect(home)).autoscaling
        await show(lambda: auto.status(name), render_status, output, as_json, watch)

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
    lines.append(f"  window    recommendations {window or '-'}")
    countdown = scale_down_countdown(st, time.time())
    if countdown:
        lines.append(f"  scale-down {countdown}")
    lines.append(f"  spend     {spend_line(st)}")
    lines.append("  decisions:")
    for d in st.decisions[-8:]:
        lines.append(f"    {d.line()}" + (f" applied {d.applied}" if d.applied is not None else ""))
    if st.decisions:
        lines += [f"      {r}" for r in st.decisions[-1].reasons]
    return "\n".join(lines)


def spend_line(st: AutoscalerStatus) -> str:
    projection = month_projection(st, datetime.now(UTC))
    text = (
        f"{st.spend.month}: {st.spend.amount:.4f} so far, {plural(st.spend.last_instances, 'instance')} "
        f"running at {rate_line(st)}, projected {projection:.2f} for the month at this rate"
    )
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
                "vcpu_h": t.vcpu_hour_price,
                "gib_h": t.gib_hour_price,
                "flat_h": t.instance_hour_price,
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
                "vcpu_h",
                "gib_h",
                "flat_h",
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
    output: Output = "table",
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
    emit(result, output, render_timeline)
    if plot:
        try:
            write_plot(result, plot, trace.name)
        except OSError as err:
            fail(UserError(f"--plot {plot}: {err}"), 2)
        typer.echo(f"plot written to {plot}")


@cost_app.command()
def cost(name: str, as_json: AsJson = False, output: Output = "table", home: Home = None) -> None:
    """Spend by month, budget and level; this month also its projection at the current rate
    (instances running now x their rate x hours left + spent) and that rate, made of the declared
    vCPUs and GiB at the policy's prices. The same layout after a delete."""

    async def go() -> None:
        cr = await connect(home)
        rows: list[dict[str, object]] = [
            {
                "month": r.month,
                "spend": round(r.amount, 4),
                "budget": r.budget,
                "level": f"{r.level}%",
                "projection": None,
                "rate": None,  # known for the month running now, while autoscaling is on
                "rate_per_hour": None,
            }
            for r in SpendStore(Store(url=cr.settings.resolved_database_url())).history(name)
        ]
        if await cr.autoscaling.is_on(name):
            st = await cr.autoscaling.status(name)
            live: dict[str, object] = {
                "month": st.spend.month,
                "spend": round(st.spend.amount, 4),
                "budget": st.budget.monthly,
                "level": f"{st.spend.level}%",
                "projection": round(month_projection(st, datetime.now(UTC)), 4),
                "rate": rate_line(st),
                "rate_per_hour": round(st.spend.last_instances * rate_of(st.policy, st.spend).per_hour, 6),
            }
            rows = [live, *(r for r in rows if r["month"] != st.spend.month)]
        if not rows:
            raise UserError(f"no spend recorded for {name!r}: autoscaling was never on for it")
        emit(rows, output, render_cost, as_json)

    run(go)


def render_cost(rows: list[dict[str, object]]) -> str:
    """The months as a table; under it, the current rate when the autoscaler is on."""
    text = render.table(rows, ["month", "spend", "budget", "level", "projection"])
    rate = rows[0].get("rate")
    return f"{text}\n\nrate now: {rate}" if rate else text


def rate_line(st: AutoscalerStatus) -> str:
    """The last sync's instances at their rate: `3 x (0.5 vCPU x 0.04 + 0.5 GiB x 0.005) /h = …`."""
    return rate_text(rate_of(st.policy, st.spend), st.spend.last_instances)


def month_projection(st: AutoscalerStatus, now: datetime) -> float:
    """This month at the current rate: the instances of the last sync keep running until it ends,
    each at the rate of the resources it declares (or the flat price of an autoscaler from before)."""
    start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    nxt = start.replace(month=start.month % 12 + 1, year=start.year + (start.month == 12))
    hourly = rate_of(st.policy, st.spend).per_hour
    left_s = (nxt - now).total_seconds()
    return project_month_at_rate(st.spend.amount, st.spend.last_instances, hourly, left_s)


async def _with(home: str | None, fn: Callable[[Autoscaling], Awaitable[T]]) -> T:
    return await fn((await connect(home)).autoscaling)
