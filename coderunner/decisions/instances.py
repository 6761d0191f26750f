"""Pure decisions about a deployment's instance set: ids, which to add or remove, which to replace."""

from __future__ import annotations

from pydantic import BaseModel, Field

from coderunner.models.activity_io import InstanceObservation
from coderunner.models.deployment import InstanceRecord
from coderunner.models.sandbox import InstanceGroup, InstanceState


def instance_id(deployment: str, version: str, ordinal: int) -> str:
    """`<deployment>-<version>-<n>`: made by the workflow, so a retried create is the same instance."""
    return f"{deployment}-{version.lower()}-{ordinal}"


class ScalePlan(BaseModel):
    add: int = 0
    remove: list[str] = Field(default_factory=list)


def plan_scale(records: list[InstanceRecord], target: int) -> ScalePlan:
    """Scale down removes the newest instances first (the oldest have proven themselves)."""
    stable = [r for r in records if r.group == InstanceGroup.STABLE]
    if target >= len(stable):
        return ScalePlan(add=target - len(stable))
    newest_first = sorted(stable, key=lambda r: r.ordinal, reverse=True)
    return ScalePlan(remove=[r.instance_id for r in newest_first[: len(stable) - target]])


class SweepVerdict(BaseModel):
    records: list[InstanceRecord]
    replace: dict[str, str] = Field(default_factory=dict)  # instance id -> why


_DEAD = {InstanceState.EXITED, InstanceState.LOST, InstanceState.STOPPED}


def judge_sweep(
    records: list[InstanceRecord], observations: list[InstanceObservation], unhealthy_threshold: int
) -> SweepVerdict:
    """Fold one sweep's observations into the records and pick instances to replace.

    A dead process is replaced at once; a live one only after `unhealthy_threshold` failed probes in a
    row, so one slow answer does not cost a restart.
    """
    seen = {o.instance_id: o for o in observations}
    updated: list[InstanceRecord] = []
    replace: dict[str, str] = {}
    for record in records:
        obs = seen.get(record.instance_id)
        if obs is None or not obs.present:
            updated.append(record.model_copy(update={"healthy": False, "state": "missing"}))
            replace[record.instance_id] = "instance missing on the sandbox host"
            continue
        failures = 0 if obs.healthy else record.consecutive_failures + 1
        new = record.model_copy(
            update={
                "healthy": obs.healthy,
                "state": obs.state.value if obs.state else "unknown",
                "consecutive_failures": failures,
                "cpu_percent": obs.cpu_percent,
                "memory_bytes": obs.memory_bytes,
                "pid": obs.pid or record.pid,
                "port": obs.port or record.port,
                "last_error": obs.error if not obs.healthy else record.last_error,
            }
        )
        updated.append(new)
        if obs.state in _DEAD:
            code = f" (exit code {obs.exit_code})" if obs.exit_code is not None else ""
            reason = f": {obs.exit_reason}" if obs.exit_reason else ""
            replace[record.instance_id] = f"process {obs.state.value}{code}{reason}"
        elif failures >= unhealthy_threshold:
            replace[record.instance_id] = f"{failures} failed health checks: {obs.error}"
    return SweepVerdict(records=updated, replace=replace)


def status_for(healthy: int, desired: int, failure: str | None) -> tuple[str, str | None]:
    """Deployment status from healthy vs desired counts; `failure` explains a shortfall if known."""
    if healthy >= desired:
        return "running", None
    if healthy == 0 and failure:
        return "failed", failure
    reason = f"{healthy}/{desired} instances healthy" + (f": {failure}" if failure else "")
    return "degraded", reason


ROUTER_WEIGHT_SCALE = 10  # per-mille resolution of a split; a backend's router weight is <= 1000


def split_weights(stable: list[str], canary: list[str], canary_percent: int) -> dict[str, int]:
    """Router weights that send `canary_percent` % of requests to the canary group as a whole.

    Without canaries: even weights (1 each), as before rollouts existed. 0 % keeps canaries in the
    router at weight 0 (no traffic, instant to raise); 100 % sets stable to 0 but keeps it wired,
    so an abort is one router write. Shares are per-mille split evenly inside each group, at least 1
    when the group's share is not 0, so no healthy backend of a live group is starved by rounding.
    """
    if not canary:
        return {iid: 1 for iid in stable}
    if not 0 <= canary_percent <= 100:
        raise ValueError(f"canary_percent {canary_percent} is outside 0..100")
    canary_share = canary_percent * ROUTER_WEIGHT_SCALE
    stable_share = (100 - canary_percent) * ROUTER_WEIGHT_SCALE
    if not stable:  # nothing else to send traffic to
        canary_share = max(canary_share, 1)
    weights = {iid: _part(stable_share, len(stable)) for iid in stable}
    weights.update({iid: _part(canary_share, len(canary)) for iid in canary})
    return weights


def _part(share: int, members: int) -> int:
    return 0 if share == 0 else max(1, round(share / members))


def canary_replicas(stable_replicas: int, canary_percent: int) -> int:
    """Canary instances for a weight: the same share of capacity as of traffic, at least one."""
    return max(1, -(-stable_replicas * canary_percent // 100))
