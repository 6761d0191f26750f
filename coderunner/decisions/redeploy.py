"""What `deploy` of an existing name does with a changed spec: a pure plan, so `--dry-run` and the
real deploy tell the same story.

The live spec comes from `describe`, so its env values are masked except the `plain_env` keys. A
changed spec goes out through the DeploymentWorkflow's `rollout` update (a canary), which carries a
new version, env values merged over the live env, and a config version — nothing else. So:

- version, added or changed env values, a new config version  → a canary rollout
- replicas                                                    → a scale (before the rollout)
- command, working_dir, health_path, resources, isolation, environment, another config reference,
  removed env keys                                            → refused, naming the fields: the
  rollout cannot carry them (the canary would run the live values)
- a changed env or config with the same version              → refused unless only the config
  version moved: the workflow rolls out a *new* version (its rollout id is per version)
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from coderunner.models.deployment import DeploymentSpec
from coderunner.models.sandbox import Resources

NOT_CARRIED = ("isolation", "environment")
CARRIED = ("command", "working_dir", "health_path", "resources")  # the canary's; kept on promotion


class RedeployPlan(BaseModel):
    replicas: int | None = None  # scale to this first
    rollout: bool = False
    version: str = ""
    env: dict[str, str] = Field(default_factory=dict)  # merged over the live env by the workflow
    config_version: int | None = None
    command: list[str] | None = None  # the canary's, when it changes
    working_dir: str | None = None
    health_path: str | None = None
    resources: Resources | None = None
    refused: list[str] = Field(default_factory=list)  # why it cannot go out, one line per reason
    notes: list[str] = Field(default_factory=list)

    @property
    def nothing(self) -> bool:
        return not self.refused and not self.rollout and self.replicas is None


def plan_redeploy(live: DeploymentSpec, wanted: DeploymentSpec) -> RedeployPlan:
    """`live` as `describe` shows it (env masked but for plain keys), `wanted` as the user gave it."""
    plan = RedeployPlan(version=wanted.version)
    fixed = [f"{f} changed" for f in NOT_CARRIED if getattr(live, f) != getattr(wanted, f)]
    removed = sorted(set(live.env) - set(wanted.env))
    if removed:
        fixed.append(f"env {', '.join(removed)} removed")
    config_moves = _config_version(live, wanted, fixed)
    if fixed:
        plan.refused.append(
            f"cannot go out as a rollout: {', '.join(fixed)} — a rollout carries a new version, env "
            f"values, a config version, command, working_dir, health_path and resources; to change the "
            f"rest, `coderunner delete {live.name}` and deploy it again"
        )
        return plan
    plain = set(live.plain_env)
    env_moves = bool(set(wanted.env) - set(live.env)) or any(
        live.env[k] != v for k, v in wanted.env.items() if k in plain and k in live.env)
    builds = [f for f in CARRIED if getattr(live, f) != getattr(wanted, f)]
    masked = sorted(k for k in wanted.env if k in live.env and k not in plain)
    if wanted.replicas != live.replicas:
        plan.replicas = wanted.replicas
    if wanted.version != live.version:
        plan.rollout, plan.env = True, dict(wanted.env)
        plan.config_version = config_moves
        for field in builds:
            setattr(plan, field, getattr(wanted, field))
    elif config_moves is not None and not env_moves and not builds:
        plan.rollout, plan.config_version = True, config_moves
    elif env_moves or builds:
        what = " and ".join([*(["env"] if env_moves else []), *builds])
        plan.refused.append(
            f"{what} changed but the version is still {live.version}: a changed spec goes out as a canary "
            f"rollout of a new version — deploy it with --version (e.g. {_next(live.version)})")
    if masked and not plan.rollout:
        plan.notes.append(f"env {', '.join(masked)}: masked values are not compared — if one of them "
                          "changed, deploy with a new --version to roll it out")
    if set(wanted.plain_env) != plain:
        plan.notes.append("plain_env stays as deployed (it only decides what output shows)")
    return plan


def _config_version(live: DeploymentSpec, wanted: DeploymentSpec, fixed: list[str]) -> int | None:
    """The config version to roll out, or None; another reference is added to `fixed`."""
    before, after = live.config, wanted.config
    if before == after:
        return None
    if before is None or after is None or before.model_copy(update={"version": after.version}) != after:
        fixed.append("config reference changed")
        return None
    return after.version


def _next(version: str) -> str:
    head = version.rstrip("0123456789")
    digits = version[len(head):]
    return f"{head}{int(digits) + 1}" if digits else f"{version}-2"
