"""`coderunner deploy | list | describe | scale | restart | stop | start | delete | logs`."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

import typer

from coderunner.config.settings import load_settings
from coderunner.models.deployment import DeploymentTimings
from coderunner.models.sandbox import Isolation
from starter.cli.common import AsJson, Home, Reason, connect, fail, op, parse_ttl, run, sub_app
from starter.cli.logs import show_logs
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
    env: Annotated[list[str] | None, typer.Option("--env", help="KEY=VALUE, repeatable")] = None,
    wait: Annotated[bool, typer.Option("--wait", help="wait until healthy and print describe")] = False,
    sweep_interval: Annotated[float, typer.Option(help="seconds between health sweeps")] = 10.0,
    health_deadline: Annotated[float, typer.Option(help="seconds an instance has to become healthy")] = 60.0,
    home: Home = None,
) -> None:
    """Deploy an app: `coderunner deploy examples/demo_app/spec.yaml --replicas 3 --wait`."""
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
        spec = load_spec(spec_file, overrides, parse_env_pairs(env or []))
        timings = DeploymentTimings(sweep_interval_s=sweep_interval, health_deadline_s=health_deadline)
    except UserError as err:
        fail(err, 2)
    except ValueError as err:
        fail(UserError(str(err)), 2)

    if spec.isolation == Isolation.NONE:
        typer.echo(f"WARNING: {spec.name} runs UNCONFINED (isolation: none): it can read the stack's keys, "
                   "tokens and every other instance; use it for trusted code only", err=True)

    async def go() -> None:
        cr = await connect(home)
        workflow_id = await cr.deploy(spec, timings)
        typer.echo(f"deploying {spec.name} {spec.version} x{spec.replicas} (workflow {workflow_id})")
        if wait:
            desc = await cr.wait_settled(spec.name, timeout_s=health_deadline + 30)
            typer.echo(render.description(desc))
            if desc.status.value in ("failed", "degraded"):
                raise OperationError(f"{spec.name} is {desc.status.value}: {desc.status_reason}")

    run(go)


@app.command("list")
def list_cmd(
    all_: Annotated[bool, typer.Option("--all", help="include deleted/ended")] = False,
    as_json: AsJson = False,
    home: Home = None,
) -> None:
    """List deployments (from Temporal's visibility, as the Web UI shows them)."""

    async def go() -> None:
        rows = await (await connect(home)).list(include_ended=all_)
        typer.echo(
            json.dumps(rows, indent=2)
            if as_json
            else render.table(rows, ["name", "environment", "version", "status", "workflow_id"])
        )

    run(go)


@app.command()
def describe(
    name: str,
    watch: Annotated[bool, typer.Option("--watch", "-w", help="refresh every second")] = False,
    as_json: AsJson = False,
    home: Home = None,
) -> None:
    """Spec (secrets hidden), status, instances with health/CPU/memory, recent events."""

    async def go() -> None:
        cr = await connect(home)
        while True:
            desc = await cr.describe(name)
            if as_json:
                typer.echo(desc.model_dump_json(indent=2))
            else:
                if watch:
                    typer.echo("\x1b[2J\x1b[H", nl=False)
                typer.echo(render.description(desc))
            if not watch:
                return
            await asyncio.sleep(1)

    try:
        run(go)
    except KeyboardInterrupt:
        pass


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
    typer.echo(f"{name}: {result.message}; status {result.status.value}")


@app.command()
def restart(name: str, reason: Reason = "", home: Home = None) -> None:
    """Rolling restart, one instance at a time, never below capacity."""
    result = run(lambda: op(home, lambda cr: cr.restart(name, reason)))
    typer.echo(f"{name}: {result.message}; instances {', '.join(result.instances)}")


@app.command()
def delete(name: str, reason: Reason = "", home: Home = None) -> None:
    """Tear down every instance and the router; the workflow completes."""
    result = run(lambda: op(home, lambda cr: cr.delete(name, reason)))
    typer.echo(f"{name}: {result.message}")


@app.command()
def stop(name: str, reason: Reason = "", home: Home = None) -> None:
    """Stop all instances but keep the deployment (signal; `start` brings it back)."""
    run(lambda: op(home, lambda cr: cr.stop(name, reason)))
    typer.echo(f"{name}: stop requested")


@app.command()
def start(name: str, reason: Reason = "", home: Home = None) -> None:
    """Start a stopped deployment again (signal)."""
    run(lambda: op(home, lambda cr: cr.start(name, reason)))
    typer.echo(f"{name}: start requested")


@app.command()
def logs(
    name: str,
    follow: Annotated[bool, typer.Option("--follow", "-f")] = False,
    instance: Annotated[str | None, typer.Option("--instance", "-i", help="one instance id")] = None,
    tail: Annotated[int, typer.Option(help="lines per instance")] = 50,
    home: Home = None,
) -> None:
    """Show instance logs (all instances of NAME, or one with --instance)."""
    try:
        run(lambda: show_logs(load_settings(home), name, instance, tail, follow))
    except KeyboardInterrupt:
        pass
