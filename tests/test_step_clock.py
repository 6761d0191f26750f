"""Issue 16: watch views say each step's kind and time left, the autoscaler's scale-down delay counts
down, and steps are numbered one way (their place in the plan, as the workflow's events number them)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from coderunner.decisions.policy_templates import get_template
from coderunner.models.autoscale import ScaleDirection, ScalingHistory, TimedRecommendation
from coderunner.models.autoscaler import AutoscalerStatus, BudgetSettings, DecisionRecord, Spend
from coderunner.models.deployment import DeploymentEvent
from coderunner.models.rollout import RolloutPhase, RolloutStrategy
from coderunner.models.rollout_api import RolloutStatus
from coderunner.models.rollout_view import RolloutView
from starter.sdk import CodeRunner
from starter.views.autoscale import scale_down_countdown
from starter.views.rollouts import status_text
from starter.views.step_clock import plan_text, step_text
from tests.cli_helpers import acoderunner
from tests.rollout_helpers import deployed_v1

T0 = datetime(2026, 1, 1, 12, tzinfo=UTC)


def view(step: int, phase: RolloutPhase = RolloutPhase.PROGRESSING,
         *events: tuple[float, str]) -> RolloutView:
    strategy = RolloutStrategy.from_shorthand("10,50,100", "30s", "10s")
    status = RolloutStatus(workflow_id="rollout/demo/v2", deployment="demo", version="v2", from_version="v1",
                           phase=phase, step=step, steps=len(strategy.steps), step_description="",
                           canary_weight=10, weights=[10, 50, 100])
    happened = [DeploymentEvent(at=T0 + timedelta(seconds=at), kind=kind, message="") for at, kind in
                [(-5.0, "rollout_started"), (0.0, "canary_weight"), *events]]
    return RolloutView(status=status, steps=strategy.steps, events=happened)


def test_a_timed_step_says_its_kind_and_time_left() -> None:
    assert step_text(view(2), T0 + timedelta(seconds=18)) == "step 2/5: pause 30s at 10%, 12s left"
    paused_10s = view(2, RolloutPhase.PROGRESSING, (5.0, "rollout_paused"), (15.0, "rollout_resumed"))
    assert step_text(paused_10s, T0 + timedelta(seconds=18)) == "step 2/5: pause 30s at 10%, 22s left"
    held = view(2, RolloutPhase.PAUSED, (5.0, "rollout_paused"))
    assert "paused: the clock stops" in step_text(held, T0 + timedelta(seconds=18))
    extended = view(2, RolloutPhase.PROGRESSING, (30.0, "rollout_step_extended"))
    assert "extended: waiting for a healthy" in step_text(extended, T0 + timedelta(seconds=31))
    slow = RolloutStrategy.from_shorthand("10,100", "2m", "10s")
    long_pause = view(2).model_copy(update={"steps": slow.steps})
    assert step_text(long_pause, T0 + timedelta(seconds=48)).endswith("pause 2m at 10%, 1m12s left")


def test_the_workflows_own_deadline_wins_over_the_events() -> None:
    """A status that says when the step ends (pauses by a person included) is read as is."""
    told = view(2).model_copy(deep=True)
    told.status.step_ends_at = T0 + timedelta(seconds=40)  # e.g. resumed after a 10 s pause
    assert step_text(told, T0 + timedelta(seconds=18)) == "step 2/5: pause 30s at 10%, 22s left"
    told.status.step_ends_at = T0 + timedelta(seconds=10)
    assert step_text(told, T0 + timedelta(seconds=18)).endswith("ending: at the next analysis window")


def test_one_numbering_the_plan_as_the_events_count_it() -> None:
    # the workflow's event says "canary v2 at 10% (step 1/5)": step 1 sets 10 %, step 2 holds it
    assert plan_text(view(2)) == "1:10% [2:pause 30s] 3:50% 4:pause 30s 5:100%"
    page = status_text(view(2), now=T0 + timedelta(seconds=18))
    assert "step        2/5: pause 30s at 10%, 12s left" in page and "plan        1:10% [2:pause 30s]" in page


def autoscaler(recommendations: list[tuple[float, int]], desired: int) -> AutoscalerStatus:
    policy = get_template("web-app")
    decision = DecisionRecord(seq=1, at="", at_s=0.0, current=desired, ready=desired, recommended=None,
                              desired=desired, direction=ScaleDirection.NONE, limited_by=None)
    return AutoscalerStatus(
        deployment="demo", workflow_id="autoscaler/demo", policy=policy, paused=False, pause_reason="",
        override=None, override_remaining_s=None, decisions=[decision],
        window=ScalingHistory(recommendations=[TimedRecommendation(at_s=a, replicas=r)
                                               for a, r in recommendations]),
        spend=Spend(), budget=BudgetSettings(), run=1)


def test_the_scale_down_delay_counts_down() -> None:
    window = get_template("web-app").scale_down.stabilization_window_s
    st = autoscaler([(1000.0, 4), (1100.0, 2)], desired=4)
    due = 1000.0 + window
    assert scale_down_countdown(st, due - 72) == f"to 2 in 1m12s (down window {window // 60}m)"
    assert "at the next sync" in (scale_down_countdown(st, due + 1) or "")
    assert scale_down_countdown(autoscaler([(1000.0, 4)], desired=4), 1010.0) is None  # nothing waits


async def test_rollout_status_shows_the_step_and_its_clock(cli_env: dict[str, str], cr: CodeRunner,
                                                           name: str) -> None:
    await deployed_v1(cr, name, replicas=1)
    try:
        started = await acoderunner("rollout", "start", name, "--version", "v2", "--set", "VERSION=v2",
                                    "--steps", "10,100", "--step-duration", "5m",
                                    "--analysis-interval", "30s", env=cli_env)
        assert started.returncode == 0, started.stderr
        status = await cr.rollouts.wait(name, lambda s: s.canary_weight == 10 and s.step == 2
                                        and s.step_ends_at is not None)
        assert status.step_ends_at is not None
        left = (status.step_ends_at - datetime.now(UTC)).total_seconds()
        assert 0 < left <= 300  # the 5 m step's own deadline, from the workflow
        shown = await acoderunner("rollout", "status", name, env=cli_env)
        assert "step        2/3: pause 5m at 10%, " in shown.stdout and " left" in shown.stdout, shown.stdout
        assert "plan        1:10% [2:pause 5m] 3:100%" in shown.stdout
        events = json.loads((await acoderunner("describe", name, "-o", "json", env=cli_env)).stdout)["events"]
        assert any(e["kind"] == "canary_weight" and "at 10% (step 1/3)" in e["message"] for e in events)
        got = await acoderunner("get", name, env=cli_env)
        assert "2/3: pause 5m at 10%, " in got.stdout
        assert (await acoderunner("abort", name, "-r", "done", env=cli_env)).returncode == 0
    finally:
        await cr.delete(name)
