"""`coderunner list | describe | scale | restart | stop | start | delete | logs` (deploy: cli/deploy.py)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from sqlalchemy.exc import SQLAlchemyError

from coderunner.config.settings import load_settings
from coderunner.models.configstore import ConfigSnapshot
from coderunner.models.deployment import (
    DeploymentDescription,
    DeploymentStatus,
    OperationResult,
)
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
    show,
    sub_app,
)
from starter.cli.logs import show_logs, show_previous
from starter.sdk.client import CodeRunner
from starter.sdk.configs import Configs
from starter.sdk.errors import OperationError, UserError
from starter.views import tables as render

app = sub_app()


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
