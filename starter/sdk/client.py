"""`CodeRunner`: the one object a script needs — deployments, plus `.rollouts`, `.autoscaling`, `.pipelines`.

async with await CodeRunner.connect() as cr:
    await cr.deploy(spec)
    await cr.scale("demo", 5, reason="traffic")
    await cr.rollouts.start("demo", "v2")
"""

from __future__ import annotations

from temporalio.client import Client

from coderunner.config.settings import Settings
from coderunner.models.deployment import DeploymentSpec, DeploymentTimings, OperationResult
from starter.sdk.autoscaling import Autoscaling
from starter.sdk.config_release import ConfigReleases
from starter.sdk.deployments import Deployments
from starter.sdk.errors import UserError
from starter.sdk.pipelines import Pipelines
from starter.sdk.rollouts import Rollouts


class CodeRunner(Deployments):
    """Deployments with their sub-clients attached; `scale` respects a running autoscaler."""

    def __init__(self, client: Client, settings: Settings) -> None:
        super().__init__(client, settings)
        self.rollouts = Rollouts(self)
        self.autoscaling = Autoscaling(self)
        self.config_releases = ConfigReleases(self)
        self.pipelines = Pipelines(client, settings)

    async def deploy(
        self, spec: DeploymentSpec, timings: DeploymentTimings | None = None, actor: str = "cli"
    ) -> str:
        """A `config:` reference is pinned to a concrete version here, so the workflow (and its
        history) carries the reference and version only, and every instance runs the same config."""
        return await super().deploy(self.config_releases.pin(spec), timings, actor)

    async def scale(
        self, name: str, replicas: int, reason: str = "", actor: str = "cli", for_s: float | None = None
    ) -> OperationResult:
        """With autoscaling on, the scale becomes an override on the autoscaler (for `for_s`, or until
        cleared) so the two never fight; otherwise `for_s` is refused."""
        if not 0 <= replicas <= 50:
            raise UserError(f"replicas: {replicas} is out of range — use 0 to 50")
        if await self.autoscaling.is_on(name):
            return await self.autoscaling.pin(name, replicas, reason, for_s, actor)
        if for_s is not None:
            raise UserError(
                f"--for only applies while autoscaling is on for {name!r} "
                f"(`coderunner autoscale enable {name} --policy web-app`)"
            )
        return await super().scale(name, replicas, reason, actor)
