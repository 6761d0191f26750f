"""Config changes released like code: each deployment that follows an environment gets the new
config version as a canary rollout of the same app version (automatic revert on failed analysis).

A deployment pinned to a version (`config: {…, version: N}`) never moves; one with `reload: false`
opted out; one already rolling something out is left alone (reported, not queued).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from pydantic import BaseModel

from coderunner.models.configstore import ConfigRef
from coderunner.models.deployment import DeploymentSpec
from coderunner.models.rollout import RolloutStrategy
from coderunner.store.repository import Store
from starter.sdk.configs import Configs
from starter.sdk.errors import UserError

if TYPE_CHECKING:
    from starter.sdk.client import CodeRunner

LIVE = {"running", "degraded"}


class ReleaseOutcome(BaseModel):
    deployment: str
    action: str  # "rollout" | "skipped"
    detail: str
    workflow_id: str | None = None


class ConfigReleases:
    def __init__(self, cr: CodeRunner) -> None:
        self.cr = cr

    def configs(self) -> Configs:
        return Configs.open(str(self.cr.settings.home), database_url=self.cr.settings.resolved_database_url())

    def pin(self, spec: DeploymentSpec) -> DeploymentSpec:
        """A followed reference gets the environment's current version, so every instance of this
        deployment runs the same config until a release moves it. Unknown project/env: UserError."""
        ref = spec.config
        if ref is None:
            return spec
        head = self.configs().environments(ref.project).get(ref.environment)
        if head is None:
            raise UserError(
                f"config.environment: {ref.environment!r} does not exist in project {ref.project!r}"
            )
        if head == 0:
            raise UserError(
                f"config: {ref.project}/{ref.environment} has no version yet — `coderunner config set` first"
            )
        if ref.version is not None and ref.version > head:
            raise UserError(
                f"config.version: {ref.project}/{ref.environment} has versions 1..{head}, not {ref.version}"
            )
        if ref.version is None:
            ref = ref.model_copy(update={"version": head})
        return spec.model_copy(update={"config": ref})

    def followers(self, project: str, environment: str) -> list[tuple[str, ConfigRef]]:
        store = Store(url=self.cr.settings.resolved_database_url())
        found = []
        for record in store.list_deployments():  # deleted ones are left out
            raw = json.loads(record.spec_json).get("config")
            if raw and raw.get("project") == project and raw.get("environment") == environment:
                found.append((record.name, ConfigRef.model_validate(raw)))
        return found

    async def release(
        self,
        project: str,
        environment: str,
        version: int | None = None,
        strategy: RolloutStrategy | None = None,
        actor: str = "cli",
        reason: str = "",
    ) -> list[ReleaseOutcome]:
        """Start a config canary on every live deployment following project/environment."""
        target = version or self.configs().environments(project).get(environment)
        if not target:
            raise UserError(f"--env: {project}/{environment} has no version to release")
        outcomes = []
        for name, _ref in self.followers(project, environment):
            desc = await self.cr.describe(name)  # the workflow is the truth; the store row may lag
            ref = desc.spec.config
            if desc.status.value not in LIVE:
                outcomes.append(ReleaseOutcome(deployment=name, action="skipped", detail=desc.status.value))
            elif ref is None or not ref.follow or not ref.reload:
                why = "pinned" if ref is not None and not ref.follow else "reload opted out"
                outcomes.append(ReleaseOutcome(deployment=name, action="skipped", detail=why))
            elif ref.version == target:
                outcomes.append(
                    ReleaseOutcome(deployment=name, action="skipped", detail=f"already on v{target}")
                )
            elif desc.rollout is not None:
                outcomes.append(
                    ReleaseOutcome(
                        deployment=name, action="skipped", detail=f"{desc.rollout.workflow_id} in progress"
                    )
                )
            else:
                started = await self.cr.rollouts.start(
                    name,
                    desc.spec.version,
                    strategy=strategy,
                    config_version=target,
                    actor=actor,
                    reason=reason or f"config {project}/{environment} v{ref.version} → v{target}",
                )
                outcomes.append(
                    ReleaseOutcome(
                        deployment=name,
                        action="rollout",
                        workflow_id=started.workflow_id,
                        detail=f"config v{ref.version} → v{target} as a canary",
                    )
                )
        return outcomes
