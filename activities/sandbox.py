"""Sandbox activities: thin calls to the sandbox provider, idempotent by the workflow-made ids."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from temporalio import activity
from temporalio.exceptions import ApplicationError

from coderunner.configstore.crypto import TamperedCiphertext
from coderunner.configstore.errors import ConfigInputError
from coderunner.configstore.keyring import MasterKeyError
from coderunner.hosts.provider import InstanceNotFound, RouterNotFound, SandboxError, SandboxProvider
from coderunner.models.activity_io import (
    Ack,
    CheckReport,
    CheckRequest,
    DeploymentRef,
    HealthWaitRequest,
    InstanceObservation,
    InstanceRef,
)
from coderunner.models.configstore import ConfigRef
from coderunner.models.sandbox import (
    InstanceInfo,
    InstanceSpec,
    InstanceState,
    ProbeRequest,
    ProbeResult,
    RouterConfig,
    RouterInfo,
)
from coderunner.telemetry.metrics import HEALTH_CHECKS, INSTANCES_CREATED, LIMIT_KILLS

_GONE = {InstanceState.EXITED, InstanceState.LOST, InstanceState.STOPPED}


Resolve = Callable[[ConfigRef], dict[str, str]]


class SandboxActivities:
    def __init__(self, provider: SandboxProvider, resolve_config: Resolve | None = None) -> None:
        self.provider = provider
        self.resolve_config = resolve_config

    async def _with_config(self, spec: InstanceSpec) -> InstanceSpec:
        """Decrypt the spec's config reference into the instance's env (the spec's own env wins).

        This is the only place values meet an instance: the workflow and its history carry the
        reference, the host gets the env and never the reference.
        """
        if spec.config is None:
            return spec
        if self.resolve_config is None:
            raise ApplicationError("this worker has no config service", type="ConfigUnavailable")
        try:
            values = await asyncio.to_thread(self.resolve_config, spec.config)
        except (ConfigInputError, TamperedCiphertext) as err:
            raise ApplicationError(f"config: {err}", type="InvalidConfig", non_retryable=True) from None
        except MasterKeyError as err:
            raise ApplicationError(f"config: {err}", type="MasterKeyMissing") from None
        return spec.model_copy(update={"env": {**values, **spec.env}, "config": None})

    @activity.defn(name="create_instance")
    async def create_instance(self, spec: InstanceSpec) -> InstanceInfo:
        spec = await self._with_config(spec)
        try:
            info = await self.provider.create_instance(spec)
        except SandboxError as err:
            if getattr(err, "status", None) == 400:
                raise ApplicationError(str(err), type="InvalidInstanceSpec", non_retryable=True) from err
            raise
        INSTANCES_CREATED.labels(spec.deployment).inc()
        return info

    @activity.defn(name="wait_instance_healthy")
    async def wait_instance_healthy(self, req: HealthWaitRequest) -> ProbeResult:
        """A few quick probes per attempt; Temporal's retry policy supplies backoff and the deadline."""
        probe = ProbeRequest(instance_ids=[req.instance_id], path=req.path, timeout_s=req.timeout_s)
        for pause in (0.05, 0.1, 0.2, 0.4, 0):  # a fresh process needs a moment: spare the retry log
            result = (await self.provider.probe(probe))[0]
            HEALTH_CHECKS.labels("healthy" if result.healthy else "unhealthy").inc()
            if result.healthy or result.state != InstanceState.RUNNING:
                break
            await asyncio.sleep(pause)
        if result.healthy:
            return result
        if result.state is None or result.state in _GONE:
            tail = await self._log_tail(req.instance_id)
            raise ApplicationError(
                f"instance {req.instance_id} {result.error or 'is gone'}; last output: {tail}",
                type="InstanceExited",
                non_retryable=True,
            )
        raise ApplicationError(
            f"instance {req.instance_id} not healthy yet: {result.error}", type="NotHealthy"
        )

    async def _log_tail(self, instance_id: str) -> str:
        try:
            lines = (await self.provider.logs(instance_id, tail=3)).strip().splitlines()
        except SandboxError:
            return "(no log)"
        return " | ".join(line[:200] for line in lines) or "(empty)"

    @activity.defn(name="destroy_instance")
    async def destroy_instance(self, ref: InstanceRef) -> Ack:
        await self.provider.destroy_instance(ref.instance_id)
        return Ack()

    @activity.defn(name="set_router")
    async def set_router(self, config: RouterConfig) -> RouterInfo:
        return await self.provider.set_router(config)

    @activity.defn(name="delete_router")
    async def delete_router(self, ref: DeploymentRef) -> Ack:
        try:
            await self.provider.delete_router(ref.deployment)
        except RouterNotFound:
            return Ack(detail="no router")
        return Ack()

    @activity.defn(name="check_instances")
    async def check_instances(self, req: CheckRequest) -> CheckReport:
        """A sweep's view: presence and state from the host, a probe, and CPU/memory per instance."""
        known = {i.instance_id: i for i in await self.provider.list_instances(req.deployment)}
        wanted = [i for i in req.instance_ids if i in known]
        probes = (
            {
                p.instance_id: p
                for p in await self.provider.probe(
                    ProbeRequest(instance_ids=wanted, path=req.health_path, timeout_s=req.timeout_s)
                )
            }
            if wanted
            else {}
        )
        running = [i for i in wanted if known[i].state == InstanceState.RUNNING]
        stats = {s.instance_id: s for s in await self._stats(running)}
        observations = []
        for iid in req.instance_ids:
            info = known.get(iid)
            if info is None:
                observations.append(InstanceObservation(instance_id=iid, present=False))
                continue
            probe, stat = probes.get(iid), stats.get(iid)
            healthy = bool(probe and probe.healthy)
            if info.exit_reason:
                limit = "memory" if "memory" in info.exit_reason else "cpu"
                LIMIT_KILLS.labels(req.deployment, limit).inc()
            HEALTH_CHECKS.labels("healthy" if healthy else "unhealthy").inc()
            observations.append(
                InstanceObservation(
                    instance_id=iid,
                    present=True,
                    state=info.state,
                    healthy=healthy,
                    error=probe.error if probe else None,
                    exit_code=info.exit_code,
                    exit_reason=info.exit_reason,
                    pid=info.pid,
                    port=info.port,
                    cpu_percent=stat.cpu_percent if stat else None,
                    memory_bytes=stat.memory_bytes if stat else None,
                )
            )
        return CheckReport(observations=observations)

    async def _stats(self, ids: list[str]) -> list:
        if not ids:
            return []
        try:
            return await self.provider.stats(ids)
        except InstanceNotFound:  # one vanished between list and stats: the next sweep sees it
            return []

    def all(self) -> list:
        return [
            self.create_instance,
            self.wait_instance_healthy,
            self.destroy_instance,
            self.set_router,
            self.delete_router,
            self.check_instances,
        ]
