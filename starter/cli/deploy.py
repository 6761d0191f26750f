"""`coderunner deploy`: create a deployment, or apply a changed spec to one that already runs — a new
version or env values go out as a canary rollout (plus a scale for replicas), as `kubectl apply`
would; `deploy --dry-run` prints the same plan and changes nothing.

The plan is `coderunner.decisions.redeploy.plan_redeploy`; what a rollout can carry is listed there.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Annotated, Any

import typer

from coderunner.decisions.redeploy import RedeployPlan, plan_redeploy
from coderunner.models.deployment import (
    DeploymentDescription,
    DeploymentSpec,
    DeploymentStatus,
    DeploymentTimings,
)
from coderunner.models.rollout import RolloutPhase
from coderunner.models.sandbox import Isolation
from starter.cli.common import Home, Reason, connect, fail, run, seconds, sub_app
from starter.sdk.client import CodeRunner
from starter.sdk.errors import OperationError, UserError
from starter.sdk.specfile import load_spec, parse_env_pairs
from starter.views import tables as render
from starter.views.rollouts import watch

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
            ignored = [flag for flag, value, default in (("--sweep-interval", sweep_interval, "10s"),
                                                         ("--health-deadline", health_deadline, "60s"))
                       if value != default]
            if ignored:
                typer.echo(f"note: {' and '.join(ignored)} apply when a deployment is created; {spec.name} "
                           "keeps its own (delete and deploy again to change them)", err=True)
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


def say_progress() -> Callable[[DeploymentDescription], None]:
    """Print a progress line each time it changes (not every poll)."""
    last: list[str] = []

    def say(desc: DeploymentDescription) -> None:
        line = render.progress_line(desc)
        if not last or line != last[-1]:
            typer.echo(line)
            last.append(line)

    return say


async def live_spec(cr: CodeRunner, name: str) -> DeploymentSpec | None:
    """The running deployment's spec (env masked but for plain keys), None if there is none."""
    try:
        desc = await cr.describe(name)
    except UserError:
        return None
    return None if desc.status == DeploymentStatus.DELETED else desc.spec


def plan_lines(live: DeploymentSpec, wanted: DeploymentSpec, plan: RedeployPlan) -> list[str]:
    lines = [f"  {change}" for change in render.spec_changes(live, wanted)]
    if plan.refused:
        lines += [f"  refused: {why}" for why in plan.refused]
        return lines
    if plan.replicas is not None:
        lines.append(f"  would scale {live.replicas} → {plan.replicas}")
    if plan.rollout:
        config = f" with config v{plan.config_version}" if plan.config_version else ""
        lines.append(f"  would roll out {live.version} → {plan.version}{config} as a canary "
                     f"(`coderunner rollout status {live.name}` follows it)")
    lines += [f"  note: {note}" for note in plan.notes]
    return lines


async def redeploy(cr: CodeRunner, live: DeploymentSpec, wanted: DeploymentSpec, wait: bool,
                   reason: str) -> None:
    """Scale and/or start the rollout the plan asks for; refused plans exit 2 before any change."""
    plan = plan_redeploy(live, wanted)
    if plan.refused:
        raise UserError(f"deploy {live.name}: " + "; ".join(plan.refused))
    for note in plan.notes:
        typer.echo(f"note: {note}", err=True)
    if plan.nothing:
        typer.echo(f"{live.name}: no change ({live.version} x{live.replicas} already deployed)")
        return
    if plan.replicas is not None:
        result = await cr.scale(live.name, plan.replicas, reason or "deploy: replicas changed")
        typer.echo(render.operation_line(result))
    if not plan.rollout:
        return
    why = reason or "deploy: spec changed"
    started = await cr.rollouts.start(live.name, plan.version, env=plan.env,
                                      config_version=plan.config_version, command=plan.command,
                                      working_dir=plan.working_dir, health_path=plan.health_path,
                                      resources=plan.resources, reason=why)
    weights = " → ".join(f"{w}%" for w in started.weights)
    typer.echo(f"{live.name} exists: rolling out {started.from_version} → {started.version} as a canary, "
               f"weights {weights} (workflow {started.workflow_id}); "
               f"`coderunner rollout status {live.name} -w` follows it")
    if wait:
        final = await watch(cr.rollouts, live.name, live=sys.stdout.isatty())
        if final.phase != RolloutPhase.PROMOTED:
            raise OperationError(f"rollout of {plan.version} did not complete: {final.phase.value}")
