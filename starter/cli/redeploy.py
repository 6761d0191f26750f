"""`deploy` of a name that already runs: the changed spec goes out as a canary rollout (plus a scale),
as `kubectl apply` would; `deploy --dry-run` prints the same plan and changes nothing.

The plan is `coderunner.decisions.redeploy.plan_redeploy`; what a rollout can carry is listed there.
"""

from __future__ import annotations

import sys

import typer

from coderunner.decisions.redeploy import RedeployPlan, plan_redeploy
from coderunner.models.deployment import DeploymentSpec, DeploymentStatus
from coderunner.models.rollout import RolloutPhase
from starter.sdk.client import CodeRunner
from starter.sdk.errors import OperationError, UserError
from starter.views import tables as render
from starter.views.rollouts import watch


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
                                      config_version=plan.config_version, reason=why)
    weights = " → ".join(f"{w}%" for w in started.weights)
    typer.echo(f"{live.name} exists: rolling out {started.from_version} → {started.version} as a canary, "
               f"weights {weights} (workflow {started.workflow_id}); "
               f"`coderunner rollout status {live.name} -w` follows it")
    if wait:
        final = await watch(cr.rollouts, live.name, live=sys.stdout.isatty())
        if final.phase != RolloutPhase.PROMOTED:
            raise OperationError(f"rollout of {plan.version} did not complete: {final.phase.value}")
