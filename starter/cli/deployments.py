"""`coderunner deploy | list | describe | scale | restart | stop | start | delete | logs`."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from sqlalchemy.exc import SQLAlchemyError

from coderunner.config.settings import load_settings
from coderunner.decisions.redeploy import plan_redeploy
from coderunner.models.configstore import ConfigSnapshot
from coderunner.models.deployment import (
    DeploymentDescription,
    DeploymentStatus,
    DeploymentTimings,
    OperationResult,
)
from coderunner.models.sandbox import Isolation
from starter.cli.common import (
    AsJson,
    Home,
    Output,
    Reason,
    connect,
    emit,
    fail,
    op,
    parse_ttl,
    run,
    seconds,
    show,
    sub_app,
)
from starter.cli.logs import show_logs, show_previous
from starter.cli.redeploy import live_spec, plan_lines, redeploy
from starter.sdk.client import CodeRunner
from starter.sdk.configs import Configs
from starter.sdk.errors import OperationError, UserError
from starter.sdk.specfile import load_spec, parse_env_pairs
from starter.views import tables as render

app = sub_app()


@app.command()
def deploy(
    spec_file: Annotated[
        str | None, typer.Argument(help="deployment spec YAML; flags override its fields")
    ] = None,
    name: Annotated[str | None, typer.Option(help="deployment name (lowercase, digits, '-')")] = None,
    environment: Annotated[str | None, typer.Option("--environment", "-e")] = None,
    version: Annotated[str | None, typer.Option()] = None,
    command: Annotated[str | None, typer.Option(help="app command line, e.g. 'python app.py'")] = None,
    working_dir: Annotated[str | None, typer.Option()] = None,
    replicas: Annotated[int | None, typer.Option(help="instances (0-50)")] = None,
    health_path: Annotated[str | None, typer.Option()] = None,
    env: Annotated[list[str] | None, typer.Option("--env", help="KEY=VALUE, repeatable; masked")] = None,
    plain_env: Annotated[list[str] | None, typer.Option(
        "--plain-env", help="KEY of env that is not secret: its value is shown; repeatable")] = None,
    wait: Annotated[bool, typer.Option(
        "--wait", help="wait until healthy and print describe (an update: until the rollout ends)")] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="validate and show what would change; change nothing")
    ] = False,
    sweep_interval: Annotated[str, typer.Option(help="time between health sweeps: 10s, 1m")] = "10s",
    health_deadline: Annotated[str, typer.Option(help="time an instance has to become healthy")] = "60s",
    reason: Reason = "",
    home: Home = None,
) -> None:
    """Deploy an app: `coderunner deploy examples/demo_app/spec.yaml --replicas 3 --wait`.

    Deploying a name that already runs applies the changed spec: a new version or env values go out
    as a canary rollout, replicas as a scale; fields a rollout cannot carry (command, health path,
    resources…) are refused with exit 2. `--dry-run` shows the plan."""
    overrides: dict[str, Any] = {
        "name": name,
        "environment": environment,
        "version": version,
        "command": command,
        "working_dir": working_dir,
        "replicas": replicas,
        "health_path": health_path,
    }
    try:
        spec = load_spec(spec_file, overrides, parse_env_pairs(env or []), plain_env)
        deadline_s = seconds(health_deadline, "--health-deadline")
        timings = DeploymentTimings(
            sweep_interval_s=seconds(sweep_interval, "--sweep-interval"), health_deadline_s=deadline_s
        )
    except UserError as err:
        fail(err, 2)
    except ValueError as err:
        fail(UserError(str(err)), 2)

    if spec.isolation == Isolation.NONE:
        typer.echo(f"WARNING: {spec.name} runs UNCONFINED (isolation: none): it can read the stack's keys, "
                   "tokens and every other instance; use it for trusted code only", err=True)

    async def preview() -> None:
        cr = await connect(home)
        wanted = cr.config_releases.pin(spec)
        live = await live_spec(cr, spec.name)
        typer.echo(f"dry run, nothing changed — {spec.name}:")
        if live is None:
            for change in render.spec_changes(None, wanted):
                typer.echo(f"  {change}")
            return
        plan = plan_redeploy(live, wanted)
        for line in plan_lines(live, wanted, plan):
            typer.echo(line)
        if plan.refused:
            raise UserError(f"deploy {spec.name} would be refused (see above)")

    if dry_run:
        run(preview)
        return

    async def go() -> None:
        cr = await connect(home)
        live = await live_spec(cr, spec.name)
        if live is not None:
            await redeploy(cr, live, cr.config_releases.pin(spec), wait, reason)
            return
        workflow_id = await cr.deploy(spec, timings)
        typer.echo(f"deploying {spec.name} {spec.version} x{spec.replicas} (workflow {workflow_id})")
        if wait:
            desc = await cr.wait_settled(spec.name, timeout_s=deadline_s + 30, progress=say_progress())
            typer.echo(render.description(desc))
            if desc.status.value in ("failed", "degraded"):
                raise OperationError(f"{spec.name} is {desc.status.value}: {desc.status_reason}")

    run(go)


@app.command("list")
def list_cmd(
    all_: Annotated[bool, typer.Option("--all", help="include deleted/ended")] = False,
    as_json: AsJson = False,
    output: Output = "table",
    home: Home = None,
) -> None:
    """List deployments (from Temporal's visibility, as the Web UI shows them), with READY and AGE."""

    async def go() -> None:
        cr = await connect(home)
        rows = await cr.list(include_ended=all_)
        ready = await asyncio.gather(*(_ready(cr, r) for r in rows))
        now = datetime.now(UTC)
        for row, count in zip(rows, ready, strict=True):
            row["ready"] = count
            row["age"] = render.age(row["started"], now)
            row["started"] = row["started"].isoformat()
        wide = ["workflow_id"] if output == "wide" else []
        columns = ["name", "ready", "environment", "version", "status", "age", *wide]
        emit(rows, output, lambda r: render.table(r, columns), as_json)

    run(go)


async def _ready(cr: CodeRunner, row: dict[str, Any]) -> str:
    """`2/3`: healthy instances out of the replicas asked for (`-` for an ended deployment)."""
    if row.get("execution") != "running":
        return "-"
    try:
        desc = await cr.describe(row["name"])
    except (UserError, OperationError):
        return "-"
    return f"{sum(1 for i in desc.instances if i.healthy)}/{desc.spec.replicas}"


@app.command()
def describe(
    name: str,
    watch: Annotated[bool, typer.Option("--watch", "-w", help="redraw every second until Ctrl-C")] = False,
    as_json: AsJson = False,
    output: Output = "table",
    home: Home = None,
) -> None:
    """Spec (secrets hidden), status, instances with health/CPU/memory, recent events."""

    async def go() -> None:
        cr = await connect(home)
        await show(lambda: cr.describe(name), lambda d: render.description(d, config=config_of(d, home)),
                   output, as_json, watch)

    try:
        run(go)
    except KeyboardInterrupt:
        pass


def config_of(desc: DeploymentDescription, home: str | None) -> ConfigSnapshot | None:
    """The deployment's config version from the config store (secrets masked), when it is at hand
    (the store is local to the stack; elsewhere describe shows the reference only)."""
    ref = desc.spec.config
    if ref is None:
        return None
    try:
        return Configs.open(home).snapshot(ref.project, ref.environment, ref.version)
    except (UserError, OperationError, OSError, SQLAlchemyError):
        return None


@app.command()
def scale(
    name: str,
    replicas: int,
    reason: Reason = "",
    home: Home = None,
    for_: Annotated[str | None, typer.Option("--for", help="autoscaling on: pin for 30m, 2h...")] = None,
) -> None:
    """Set the number of instances (0 to 50); waits until done. With autoscaling on: an override."""
    ttl = parse_ttl(for_)
    result = run(lambda: op(home, lambda cr: cr.scale(name, replicas, reason, for_s=ttl)))
    report(result)


@app.command()
def restart(name: str, reason: Reason = "", home: Home = None) -> None:
    """Rolling restart, one instance at a time, never below capacity."""
    result = run(lambda: op(home, lambda cr: cr.restart(name, reason)))
    report(result)


@app.command()
def delete(name: str, reason: Reason = "", home: Home = None) -> None:
    """Tear down every instance and the router; the workflow completes."""
    result = run(lambda: op(home, lambda cr: cr.delete(name, reason)))
    typer.echo(f"{name}: {result.message}")


def say_progress() -> Callable[[DeploymentDescription], None]:
    """Print a progress line each time it changes (not every poll)."""
    last: list[str] = []

    def say(desc: DeploymentDescription) -> None:
        line = render.progress_line(desc)
        if not last or line != last[-1]:
            typer.echo(line)
            last.append(line)

    return say


def report(result: OperationResult) -> None:
    """What an operation did, in one line; on a failed deployment say so and exit 1, never a bare 'ok'."""
    typer.echo(render.operation_line(result))
    if result.status == DeploymentStatus.FAILED:
        fail(
            OperationError(
                f"{result.name} is failed, so nothing was started: `coderunner describe {result.name}` "
                f"says why; fix the spec, then `coderunner delete {result.name}` and deploy it again"
            ),
            1,
        )


Wait = Annotated[bool, typer.Option("--wait", help="return once it is done, like scale")]


@app.command()
def stop(name: str, reason: Reason = "", wait: Wait = False, home: Home = None) -> None:
    """Stop all instances but keep the deployment (signal; `start` brings it back)."""

    async def go(cr: CodeRunner) -> str:
        await cr.stop(name, reason)
        if not wait:
            return "stop requested"
        desc = await cr.wait_for(name, lambda d: d.status == DeploymentStatus.STOPPED and not d.instances)
        return f"stopped ({desc.status_reason or 'no instances running'})"

    typer.echo(f"{name}: {run(lambda: op(home, go))}")


@app.command()
def start(name: str, reason: Reason = "", wait: Wait = False, home: Home = None) -> None:
    """Start a stopped deployment again (signal)."""

    async def go(cr: CodeRunner) -> str:
        await cr.start(name, reason)
        if not wait:
            return "start requested"
        await cr.wait_for(name, lambda d: d.status != DeploymentStatus.STOPPED)
        desc = await cr.wait_settled(name)
        healthy = sum(1 for i in desc.instances if i.healthy)
        if desc.status != DeploymentStatus.RUNNING:
            raise OperationError(f"{name} is {desc.status.value}: {desc.status_reason}")
        return f"running, {healthy}/{desc.spec.replicas} healthy"

    typer.echo(f"{name}: {run(lambda: op(home, go))}")


@app.command()
def logs(
    name: str,
    follow: Annotated[bool, typer.Option("--follow", "-f")] = False,
    instance: Annotated[str | None, typer.Option("--instance", "-i", help="one instance id")] = None,
    tail: Annotated[int, typer.Option(help="lines per instance")] = 50,
    previous: Annotated[bool, typer.Option(
        "--previous", "-p", help="an instance that died or was replaced (newest, or --instance)")] = False,
    home: Home = None,
) -> None:
    """Show instance logs (all instances of NAME, or one with --instance; --previous: a gone one)."""
    if previous and follow:
        fail(UserError("--previous and --follow: a previous instance writes nothing more"), 2)
    if previous:
        run(lambda: show_previous(load_settings(home), name, instance, tail))
        return
    try:
        run(lambda: show_logs(load_settings(home), name, instance, tail, follow))
    except KeyboardInterrupt:
        pass
