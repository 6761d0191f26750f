"""`coderunner`: deploy apps into sandboxes and steer them, durably, on Temporal.

Start with `coderunner up` (embedded stack), then `coderunner demo` or `coderunner deploy spec.yaml`.
Exit codes: 0 success, 2 bad input (nothing changed), 1 operational failure.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from config.home import home_dir
from config.settings import StackNotRunning, load_settings
from models.deployment import DeploymentTimings
from sandbox.provider import SandboxError
from starter import render
from starter import stack as stack_mod
from starter.errors import OperationError, UserError
from starter.sdk import CodeRunner
from starter.specfile import load_spec, parse_env_pairs

app = typer.Typer(
    help=__doc__,
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)
T = TypeVar("T")
Home = Annotated[
    str | None,
    typer.Option(
        "--home", envvar="CODERUNNER_HOME", help="state dir of the embedded stack [default: ./.coderunner]"
    ),
]
Reason = Annotated[str, typer.Option("--reason", "-r", help="why: kept in the audit log and on the workflow")]
AsJson = Annotated[bool, typer.Option("--json", help="print JSON instead of a table")]


def fail(err: Exception, code: int) -> None:
    typer.echo(f"error: {err}", err=True)
    raise typer.Exit(code)


def run(fn: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine, mapping failures to the documented exit codes and one-line messages."""
    try:
        return asyncio.run(fn())
    except (UserError, OperationError) as err:
        fail(err, err.exit_code)
    except (StackNotRunning, SandboxError) as err:
        fail(err, 1)
    raise AssertionError("unreachable")


async def _connect(home: str | None) -> CodeRunner:
    return await CodeRunner.connect(home)


@app.command()
def up(
    home: Home = None,
    database_url: Annotated[str | None, typer.Option(help="app DB URL, e.g. postgresql+psycopg://…")] = None,
) -> None:
    """Start the embedded stack (Temporal dev server, codec server, sandbox host, worker)."""
    root = home_dir(home)
    try:
        started, stack = stack_mod.up(root, database_url)
    except OperationError as err:
        fail(err, 1)
    typer.echo(("started" if started else "already up — nothing changed") + f" (state in {root})")
    _print_urls(stack)


def _print_urls(stack: dict[str, Any]) -> None:
    typer.echo(f"  Temporal     {stack['temporal_address']}")
    typer.echo(f"  Web UI       {stack['ui_url']}")
    typer.echo(f"  sandbox host {stack['sandbox_url']}")
    typer.echo(f"  codec server {stack['codec_url']}")
    typer.echo(f"  metrics      {stack['metrics_url']}")


@app.command()
def down(home: Home = None) -> None:
    """Stop exactly the processes `up` started. Deployments resume on the next `up`."""
    stopped = stack_mod.down(home_dir(home))
    typer.echo("stopped: " + ", ".join(stopped) if stopped else "nothing was running")


@app.command("stack")
def stack_cmd(home: Home = None) -> None:
    """Show what runs where, and whether each piece answers."""
    root = home_dir(home)
    current = stack_mod.read_stack(root)
    if not current or not stack_mod.supervisor_alive(current):
        fail(StackNotRunning(), 1)
    assert current is not None
    _print_urls(current)
    for name, ok in stack_mod.health(root, current).items():
        pid = (current.get("processes") or {}).get(name.split()[0], {}).get("pid", "")
        typer.echo(f"  {name:<13} {'up' if ok else 'DOWN'} {pid}")


@app.command()
def worker(home: Home = None) -> None:
    """Run a worker in the foreground (the embedded stack already runs one)."""
    import worker as worker_module

    worker_module.main(["--home", home] if home else [])


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
        spec = load_spec(spec_file, overrides)
        if env:
            spec = spec.model_copy(update={"env": {**spec.env, **parse_env_pairs(env)}})
            spec = type(spec).model_validate(spec.model_dump())
        timings = DeploymentTimings(sweep_interval_s=sweep_interval, health_deadline_s=health_deadline)
    except UserError as err:
        fail(err, 2)
    except ValueError as err:
        fail(UserError(str(err)), 2)

    async def go() -> None:
        cr = await _connect(home)
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
        rows = await (await _connect(home)).list(include_ended=all_)
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
        cr = await _connect(home)
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
    from starter.autoscale_cli import parse_ttl

    ttl = parse_ttl(for_)
    result = run(lambda: _op(home, lambda cr: cr.scale(name, replicas, reason, for_s=ttl)))
    typer.echo(f"{name}: {result.message}; status {result.status.value}")


@app.command()
def restart(name: str, reason: Reason = "", home: Home = None) -> None:
    """Rolling restart, one instance at a time, never below capacity."""
    result = run(lambda: _op(home, lambda cr: cr.restart(name, reason)))
    typer.echo(f"{name}: {result.message}; instances {', '.join(result.instances)}")


@app.command()
def delete(name: str, reason: Reason = "", home: Home = None) -> None:
    """Tear down every instance and the router; the workflow completes."""
    result = run(lambda: _op(home, lambda cr: cr.delete(name, reason)))
    typer.echo(f"{name}: {result.message}")


@app.command()
def stop(name: str, reason: Reason = "", home: Home = None) -> None:
    """Stop all instances but keep the deployment (signal; `start` brings it back)."""
    run(lambda: _op(home, lambda cr: cr.stop(name, reason)))
    typer.echo(f"{name}: stop requested")


@app.command()
def start(name: str, reason: Reason = "", home: Home = None) -> None:
    """Start a stopped deployment again (signal)."""
    run(lambda: _op(home, lambda cr: cr.start(name, reason)))
    typer.echo(f"{name}: start requested")


async def _op(home: str | None, fn: Callable[[CodeRunner], Awaitable[T]]) -> T:
    return await fn(await _connect(home))


@app.command()
def logs(
    name: str,
    follow: Annotated[bool, typer.Option("--follow", "-f")] = False,
    instance: Annotated[str | None, typer.Option("--instance", "-i", help="one instance id")] = None,
    tail: Annotated[int, typer.Option(help="lines per instance")] = 50,
    home: Home = None,
) -> None:
    """Show instance logs (all instances of NAME, or one with --instance)."""
    from starter.logs import show_logs

    try:
        run(lambda: show_logs(load_settings(home), name, instance, tail, follow))
    except KeyboardInterrupt:
        pass


@app.command()
def loadgen(
    name: str,
    rps: Annotated[float, typer.Option(help="requests per second (open loop)")] = 50.0,
    duration: Annotated[str, typer.Option(help="how long: 30s, 2m, 500ms")] = "10s",
    path: Annotated[str, typer.Option(help="request path")] = "/",
    home: Home = None,
) -> None:
    """Send real HTTP through NAME's router at a fixed rate; report status counts and latency."""
    from models.rollout import parse_duration
    from starter.loadgen import run_load

    try:
        seconds = parse_duration(duration, "--duration")
    except ValueError as err:
        fail(UserError(str(err)), 2)
    if rps <= 0:
        fail(UserError("--rps must be > 0, e.g. --rps 50"), 2)

    async def go() -> None:
        desc = await (await _connect(home)).describe(name)
        if not desc.router_url:
            raise OperationError(f"{name} has no router yet (status {desc.status.value})")
        typer.echo((await run_load(desc.router_url, rps, seconds, path)).summary())

    run(go)


@app.command()
def demo(home: Home = None) -> None:
    """Deploy the demo app x3, send traffic, scale 5 → 2, kill an instance and watch it replaced;
    then canary rollouts: a sick v2 rolled back by analysis, a healthy v3 promoted."""
    from starter.demo import run_demo

    run(lambda: run_demo(home_dir(home), Path(__file__).resolve().parent.parent))


def _register_autoscale() -> None:
    from starter.autoscale_cli import autoscale_app, cost

    app.add_typer(autoscale_app, name="autoscale")
    app.command("cost")(cost)


_register_autoscale()


def _register_rollouts() -> None:
    from starter.rollout_cli import register

    register(app)  # rollout [status], promote, abort, pause, resume, undo


_register_rollouts()


def main() -> None:
    """Exit without interpreter teardown: the Temporal core's threads can abort it (sdk-python#300)."""
    code = 0
    try:
        app(prog_name="coderunner")
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
