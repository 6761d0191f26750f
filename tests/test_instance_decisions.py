"""Table tests of the pure instance decisions the README's promises rest on.

`plan_scale` (newest removed first, canaries never counted), `judge_sweep` (dead replaced at once, live
but unhealthy only after N failed probes in a row, one good probe resets the count) and `status_for`
(running / degraded / failed). The workflow tests show these are wired; these show each rule alone.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coderunner.decisions.instances import judge_sweep, plan_scale, status_for
from coderunner.models.activity_io import InstanceObservation
from coderunner.models.deployment import InstanceRecord
from coderunner.models.sandbox import InstanceGroup, InstanceState


def rec(ordinal: int, group: InstanceGroup = InstanceGroup.STABLE, failures: int = 0) -> InstanceRecord:
    return InstanceRecord(
        instance_id=f"d-v1-{ordinal}",
        ordinal=ordinal,
        version="v1",
        group=group,
        healthy=failures == 0,
        state="running",
        consecutive_failures=failures,
    )


def obs(
    ordinal: int,
    healthy: bool = True,
    state: InstanceState | None = InstanceState.RUNNING,
    present: bool = True,
    exit_code: int | None = None,
) -> InstanceObservation:
    return InstanceObservation(
        instance_id=f"d-v1-{ordinal}",
        present=present,
        state=state,
        healthy=healthy,
        error=None if healthy else "GET /health: timed out",
        exit_code=exit_code,
    )


CANARY = InstanceGroup.CANARY


@pytest.mark.parametrize(
    ("ordinals", "canaries", "target", "add", "remove"),
    [
        ([], [], 3, 3, []),  # fresh deployment
        ([0, 1, 2], [], 3, 0, []),  # already there
        ([0, 1], [], 5, 3, []),  # scale up
        ([0, 1, 2, 3, 4], [], 2, 0, ["d-v1-4", "d-v1-3", "d-v1-2"]),  # newest first
        ([4, 0, 7, 2], [], 3, 0, ["d-v1-7"]),  # by ordinal, not by list position
        ([3, 9], [], 1, 0, ["d-v1-9"]),  # after replacements the ordinals have gaps
        ([0, 1], [5, 6], 2, 0, []),  # canaries are not stable capacity
        ([0, 1], [5], 1, 0, ["d-v1-1"]),  # ... and are never removed by a scale
        ([0], [5], 3, 2, []),
        ([0, 1, 2], [], 0, 0, ["d-v1-2", "d-v1-1", "d-v1-0"]),
    ],
)
def test_plan_scale(
    ordinals: list[int], canaries: list[int], target: int, add: int, remove: list[str]
) -> None:
    records = [rec(o) for o in ordinals] + [rec(o, CANARY) for o in canaries]
    plan = plan_scale(records, target)
    assert (plan.add, plan.remove) == (add, remove)


@settings(deadline=None, max_examples=200)
@given(
    ordinals=st.lists(st.integers(0, 500), unique=True, max_size=12),
    target=st.integers(0, 15),
)
def test_plan_scale_keeps_the_oldest(ordinals: list[int], target: int) -> None:
    plan = plan_scale([rec(o) for o in ordinals], target)
    kept = sorted(set(ordinals) - {int(i.rsplit("-", 1)[1]) for i in plan.remove})
    assert len(kept) + plan.add == target
    assert kept == sorted(ordinals)[: len(kept)]  # whatever survives is the oldest
    assert not (plan.add and plan.remove)


@pytest.mark.parametrize(
    ("failures_before", "observation", "threshold", "replaced", "why", "failures_after"),
    [
        (0, obs(0), 2, False, None, 0),
        (0, obs(0, healthy=False), 2, False, None, 1),  # one slow answer costs no restart
        (1, obs(0, healthy=False), 2, True, "2 failed health checks", 2),  # the threshold-th does
        (1, obs(0), 2, False, None, 0),  # a good probe resets the count
        (0, obs(0, healthy=False), 1, True, "1 failed health checks", 1),
        (3, obs(0, healthy=False), 5, False, None, 4),
        (
            0,
            obs(0, healthy=False, state=InstanceState.EXITED, exit_code=3),
            5,
            True,
            "process exited (exit code 3)",
            1,
        ),  # dead: at once, whatever the threshold
        (0, obs(0, healthy=False, state=InstanceState.LOST), 5, True, "process lost", 1),
        (0, obs(0, healthy=False, state=InstanceState.STOPPED), 5, True, "process stopped", 1),
        (0, obs(0, healthy=False, state=None, present=False), 5, True, "instance missing", 0),
    ],
)
def test_judge_sweep_one_instance(
    failures_before: int,
    observation: InstanceObservation,
    threshold: int,
    replaced: bool,
    why: str | None,
    failures_after: int,
) -> None:
    verdict = judge_sweep([rec(0, failures=failures_before)], [observation], threshold)
    assert ("d-v1-0" in verdict.replace) is replaced
    if why:
        assert why in verdict.replace["d-v1-0"]
    [after] = verdict.records
    assert after.consecutive_failures == failures_after
    assert after.healthy is observation.healthy


def test_judge_sweep_missing_observation_means_missing_instance() -> None:
    verdict = judge_sweep([rec(0), rec(1)], [obs(1)], 2)
    assert verdict.replace == {"d-v1-0": "instance missing on the sandbox host"}
    assert [(r.instance_id, r.healthy, r.state) for r in verdict.records] == [
        ("d-v1-0", False, "missing"),
        ("d-v1-1", True, "running"),
    ]


def test_judge_sweep_keeps_last_error_of_an_unhealthy_probe_and_order() -> None:
    records = [rec(2), rec(0, failures=1), rec(1)]
    verdict = judge_sweep(records, [obs(0, healthy=False), obs(1), obs(2)], 3)
    assert [r.instance_id for r in verdict.records] == ["d-v1-2", "d-v1-0", "d-v1-1"]
    assert verdict.records[1].last_error == "GET /health: timed out"
    assert verdict.records[1].consecutive_failures == 2
    assert verdict.replace == {}


def test_judge_sweep_does_not_mutate_its_input() -> None:
    records = [rec(0, failures=1)]
    judge_sweep(records, [obs(0, healthy=False)], 5)
    assert records[0].consecutive_failures == 1


@pytest.mark.parametrize(
    ("healthy", "desired", "failure", "status", "reason"),
    [
        (3, 3, None, "running", None),
        (4, 3, None, "running", None),  # surge during a restart is still running
        (3, 3, "boom", "running", None),  # a failure that left full capacity is not reported
        (0, 0, None, "running", None),  # scaled to zero
        (2, 3, None, "degraded", "2/3 instances healthy"),
        (
            1,
            3,
            "d-v1-2: not healthy within 20s",
            "degraded",
            "1/3 instances healthy: d-v1-2: not healthy within 20s",
        ),
        (0, 2, "exit code 1", "failed", "exit code 1"),
        (0, 2, None, "degraded", "0/2 instances healthy"),  # no known cause: not declared failed
    ],
)
def test_status_for(healthy: int, desired: int, failure: str | None, status: str, reason: str | None) -> None:
    assert status_for(healthy, desired, failure) == (status, reason)
