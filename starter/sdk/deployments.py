"""Deployments from Python: deploy, describe, list, scale, restart, stop, start, delete.

The core every other sub-client builds on (rollouts and autoscaling take a `Deployments` in their
constructor); `starter.sdk.client.CodeRunner` puts them together.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import TracebackType
from typing import Any, Self

from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from coderunner.client import connect
from coderunner.config.settings import Settings, load_settings
from coderunner.models import search_attributes as sa
from coderunner.models.deployment import (
    DeploymentDescription,
    DeploymentInput,
    DeploymentSpec,
    DeploymentStatus,
    DeploymentTimings,
    OperationRequest,
    OperationResult,
    ScaleRequest,
    workflow_id_for,
)
from starter.sdk.errors import OperationError, UserError, update_failure
from starter.sdk.querying import NoWorker, ask
from workflows.deployment import DeploymentWorkflow
from workflows.options import WORKFLOW_TASK_TIMEOUT

SETTLED = {
    DeploymentStatus.RUNNING,
    DeploymentStatus.DEGRADED,
    DeploymentStatus.FAILED,
    DeploymentStatus.STOPPED,
    DeploymentStatus.DELETED,
}


class Deployments:
    def __init__(self, client: Client, settings: Settings) -> None:
        self.client = client
        self.settings = settings

    @classmethod
    async def connect(cls, home: str | None = None) -> Self:
        settings = load_settings(home)
        return cls(await connect(settings), settings)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        return None

    def handle(self, name: str) -> WorkflowHandle[Any, Any]:
        return self.client.get_workflow_handle(workflow_id_for(name))

    async def deploy(
        self, spec: DeploymentSpec, timings: DeploymentTimings | None = None, actor: str = "cli"
    ) -> str:
        """Start the deployment's workflow; refuse (exit 2) if one with that name is already live."""
        timings = timings or DeploymentTimings()
        try:
            handle = await self.client.start_workflow(
                DeploymentWorkflow.run,
                DeploymentInput(spec=spec, timings=timings, actor=actor),
                id=workflow_id_for(spec.name),
                task_timeout=WORKFLOW_TASK_TIMEOUT,  # a task lost with its worker is retried soon
                task_queue=self.settings.task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
                search_attributes=TypedSearchAttributes(
                    [
                        SearchAttributePair(sa.DEPLOYMENT, spec.name),
                        SearchAttributePair(sa.ENVIRONMENT, spec.environment),
                        SearchAttributePair(sa.VERSION, spec.version),
                        SearchAttributePair(sa.STATUS, DeploymentStatus.PROVISIONING.value),
                    ]
                ),
                static_summary=f"Deployment **{spec.name}** in {spec.environment}",
                static_details=(
                    f"Keeps {spec.name} at the requested replicas, replaces dead instances and serves "
                    "scale / restart / stop / start / delete. Query `describe` for the live view."
                ),
            )
        except WorkflowAlreadyStartedError as err:
            raise UserError(
                f"deployment {spec.name!r} already exists: use `coderunner scale/restart {spec.name}` "
                f"or `coderunner delete {spec.name}` first"
            ) from err
        return handle.id

    async def describe(self, name: str) -> DeploymentDescription:
        handle = self.handle(name)
        try:
            return await ask(lambda: handle.query(DeploymentWorkflow.describe), f"deployment {name}",
                             self.settings.task_queue)
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                raise UserError(f"no deployment named {name!r}: `coderunner list` shows what exists") from err
            raise

    async def wait_settled(
        self,
        name: str,
        timeout_s: float = 120.0,
        progress: Callable[[DeploymentDescription], None] | None = None,
    ) -> DeploymentDescription:
        """Poll `describe` until the deployment leaves provisioning (or the timeout passes);
        `progress` sees every description on the way (the CLI prints "1/3 healthy — …")."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            try:
                desc = await self.describe(name)
            except NoWorker:
                if loop.time() > deadline:
                    raise
                await asyncio.sleep(0.5)
                continue
            if progress is not None:
                progress(desc)
            done = desc.status in SETTLED and all(i.healthy for i in desc.instances)
            if done or desc.status == DeploymentStatus.FAILED or loop.time() > deadline:
                return desc
            await asyncio.sleep(0.3)

    async def wait_for(
        self, name: str, check: Callable[[DeploymentDescription], bool], timeout_s: float = 120.0
    ) -> DeploymentDescription:
        """Poll `describe` until `check` holds; OperationError naming the last status otherwise."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            desc = await self.describe(name)
            if check(desc):
                return desc
            if loop.time() > deadline:
                raise OperationError(
                    f"{name}: not there within {timeout_s:g}s — status {desc.status.value}"
                    + (f" ({desc.status_reason})" if desc.status_reason else "")
                )
            await asyncio.sleep(0.3)

    async def list(self, include_ended: bool = False) -> list[dict[str, Any]]:
        query = 'WorkflowType = "DeploymentWorkflow"'
        if not include_ended:
            query += ' AND ExecutionStatus = "Running"'
        rows: dict[str, dict[str, Any]] = {}
        async for wf in self.client.list_workflows(query):
            attrs = wf.typed_search_attributes
            name = attrs.get(sa.DEPLOYMENT) or wf.id.removeprefix("deployment/")
            rows.setdefault(
                name,
                {
                    "name": name,
                    "environment": attrs.get(sa.ENVIRONMENT),
                    "version": attrs.get(sa.VERSION),
                    "status": attrs.get(sa.STATUS),
                    "workflow_id": wf.id,
                    "started": wf.start_time,
                    "execution": wf.status.name.lower() if wf.status else None,
                },
            )
        return sorted(rows.values(), key=lambda r: r["name"])

    async def scale(self, name: str, replicas: int, reason: str = "", actor: str = "cli") -> OperationResult:
        """Set the instance count directly (`CodeRunner.scale` turns it into an override while
        autoscaling is on)."""
        if not 0 <= replicas <= 50:
            raise UserError(f"replicas: {replicas} is out of range — use 0 to 50")
        return await self.update(
            name, DeploymentWorkflow.scale, ScaleRequest(replicas=replicas, reason=reason, actor=actor)
        )

    async def restart(self, name: str, reason: str = "", actor: str = "cli") -> OperationResult:
        return await self.update(
            name, DeploymentWorkflow.restart, OperationRequest(reason=reason, actor=actor)
        )

    async def delete(self, name: str, reason: str = "", actor: str = "cli") -> OperationResult:
        return await self.update(
            name, DeploymentWorkflow.delete, OperationRequest(reason=reason, actor=actor)
        )

    async def stop(self, name: str, reason: str = "", actor: str = "cli") -> None:
        await self.signal(name, DeploymentWorkflow.stop, OperationRequest(reason=reason, actor=actor))

    async def start(self, name: str, reason: str = "", actor: str = "cli") -> None:
        await self.signal(name, DeploymentWorkflow.start, OperationRequest(reason=reason, actor=actor))

    async def signal(self, name: str, signal: Any, arg: Any) -> None:
        """Signal the deployment's workflow, after a clear "no deployment named …" check."""
        await self.describe(name)  # a clear "no deployment named …" before signalling
        try:
            await self.handle(name).signal(signal, arg)
        except RPCError as err:
            raise self._ended(name, err) from err

    def _ended(self, name: str, err: RPCError) -> Exception:
        if err.status == RPCStatusCode.NOT_FOUND:
            return UserError(f"deployment {name!r} is deleted (its workflow has completed): deploy it again")
        return err

    async def update(self, name: str, update: Any, arg: Any) -> Any:
        """Run an update on the deployment's workflow; a refusal by its validator is a UserError."""
        await self.describe(name)
        try:
            return await self.handle(name).execute_update(update, arg)
        except RPCError as err:
            raise self._ended(name, err) from err
        except WorkflowUpdateFailedError as err:
            raise update_failure(err) from err
