"""AutoscalerWorkflow (id `autoscaler/<name>`): HPA-style decisions on a durable timer.

Each sync: observe the stable group (activity), decide (`decisions.hpa.decide`, pure), apply the
outer rules (`decisions.autoscale_rules.constrain`: override, budget, canary), and ask the
DeploymentWorkflow — the one writer of the instance set — to scale through its `scale` update (an
activity, with an update id per decision so a retry never scales twice). Spend accrues from the
instances observed between syncs. The stabilization history, override, spend and counters are
state, carried through continue-as-new so no window restarts. The conditions for continuing as new
are checked again after the wait for running handlers: a `disable` accepted in that wait ends the
workflow, and audit events not yet written travel with the state.

An override's TTL is an absolute workflow-time deadline (`expires_at_s`); the loop's wait is cut
to it, so an override ends on time even with a long sync interval, and the next decision is made
at once.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

# Only models and activities pass through the sandbox; decisions and workflow helpers (below) are
# re-imported inside it, so its determinism checks cover them. The models come first, so the
# decisions' own model imports find the passed-through classes (one MetricSample, not two).
with workflow.unsafe.imports_passed_through():
    import coderunner.models.sandbox  # noqa: F401  (used by decisions.autoscale_rules)
    from activities.autoscale import AutoscaleActivities
    from coderunner.models import search_attributes as sa
    from coderunner.models.activity_io import Ack
    from coderunner.models.autoscale import AutoscalePolicy, ScaleDirection, ScalingInput
    from coderunner.models.autoscaler import (
        MAX_DECISIONS,
        AutoscaleRecord,
        AutoscalerInput,
        AutoscalerState,
        AutoscalerStatus,
        BudgetAlert,
        ControlRequest,
        DecisionRecord,
        MetricsObservation,
        MetricsRequest,
        MonthSpend,
        Override,
        OverrideRequest,
        OverrideResult,
        ScaleCall,
    )

from coderunner.decisions.autoscale_rules import constrain
from coderunner.decisions.cost import accrue, budget_level, charge, crossed_thresholds
from coderunner.decisions.hpa import decide
from coderunner.decisions.pricing import rate_of
from workflows.autoscaler_calls import SCALE_CALL, WEBHOOK_CALL, audit, metrics_call
from workflows.instance_ops import failure_message
from workflows.options import STORE_CALL
from workflows.timer_clock import TimerClock

# workflow.patched ids: each guards one behavioural change for runs started before it
CAN_CARRIES_ACCEPTED = "autoscaler-can-carries-accepted"  # disable and unwritten events survive CAN
SPEND_BY_MONTH = "autoscaler-spend-by-month"  # each second of an interval charged to its own month
SPEND_COUNTS_SCALED = "autoscaler-spend-counts-scaled"  # instances a decision added/removed cost now
HPA_PARITY = "autoscaler-hpa-parity"  # the replica calculator's rules for unready and missing instances
SPEND_BY_RESOURCES = "autoscaler-spend-by-resources"  # instances priced by their declared resources
# A fired timer means its moment has come, whatever clock the task carries (see workflows/rollout_patches.py
# TIMER_CLOCK: a worker answering a query ran the code for a fired timer with the previous task's clock)
TIMER_CLOCK = "autoscaler-timer-clock"


@workflow.defn
class AutoscalerWorkflow:
    @workflow.init
    def __init__(self, inp: AutoscalerInput) -> None:
        self._inp = inp
        self._s: AutoscalerState = inp.state or AutoscalerState(policy=inp.policy)
        self._lock = asyncio.Lock()
        self._sync_now = False
        self._disabled = False
        self._events: list[dict] = self._s.pending_events
        self._alerts: list[int] = self._s.pending_alerts
        self._closed: list[MonthSpend] = self._s.pending_closed
        self._s.pending_events, self._s.pending_alerts, self._s.pending_closed = [], [], []
        self._clock = TimerClock()  # on with TIMER_CLOCK (decided at the start of the run)

    def _now(self) -> float:
        return self._clock.now()

    @property
    def _name(self) -> str:
        return self._inp.deployment

    @workflow.run
    async def run(self, inp: AutoscalerInput) -> Ack:
        self._clock.on = workflow.patched(TIMER_CLOCK)
        if inp.state is None and workflow.patched(SPEND_BY_RESOURCES):
            self._s.spend.pricing = "resources"  # for this autoscaler's life; runs before it stay flat
        if inp.state is None:
            self._event("autoscale_enabled", f"autoscaling on with policy {self._s.policy.name}", inp.actor)
        next_sync = self._now()
        while not self._disabled:
            wake_at = next_sync
            if self._s.override and self._s.override.expires_at_s is not None:
                wake_at = min(wake_at, self._s.override.expires_at_s)
            try:
                await workflow.wait_condition(
                    lambda: self._sync_now or self._disabled,
                    timeout=timedelta(seconds=max(0.0, wake_at - self._now())),
                    timeout_summary="next autoscaler sync",
                )
            except TimeoutError:
                self._clock.fired(wake_at)
            if self._disabled:
                break
            async with self._lock:
                expired = self._expire_override()
                if expired or self._sync_now or self._now() >= next_sync:
                    self._sync_now = False
                    await self._sync()
                    next_sync = self._now() + self._s.policy.sync_interval_s
            if workflow.info().is_continue_as_new_suggested() and not self._disabled:
                await workflow.wait_condition(workflow.all_handlers_finished)
                if workflow.patched(CAN_CARRIES_ACCEPTED):
                    if self._disabled:  # a `disable` accepted during the wait: end here, not in a new run
                        break
                    self._s.pending_events, self._s.pending_alerts = self._events, self._alerts
                    self._s.pending_closed = self._closed
                self._s.runs += 1
                workflow.continue_as_new(inp.model_copy(update={"state": self._s}))
        await workflow.wait_condition(workflow.all_handlers_finished)
        await self._record(None)
        return Ack(detail=f"autoscaling of {self._name} ended")

    # ---- updates, signals, query ----------------------------------------------------------------

    @workflow.update
    async def override(self, req: OverrideRequest) -> OverrideResult:
        """Pin (or with replicas=None release) the replica count; applied at once, before returning."""
        async with self._lock:
            if req.replicas is None:
                had = self._s.override
                self._s.override = None
                self._event("override_cleared", "override cleared" if had else "no override was active",
                            req.actor, req.reason)
                await self._sync()
                return OverrideResult(message="override cleared; the autoscaler decides again",
                                      replicas=self._current())
            now = self._now()
            expires = now + req.ttl_s if req.ttl_s is not None else None
            self._s.override = Override(replicas=req.replicas, reason=req.reason, actor=req.actor,
                                        set_at_s=now, expires_at_s=expires)
            until = f"for {req.ttl_s:g}s" if req.ttl_s is not None else "until cleared"
            self._event("override", f"override: {req.replicas} replicas {until}", req.actor, req.reason)
            await self._sync()
            return OverrideResult(message=f"pinned {req.replicas} replicas {until}; the autoscaler "
                                  "resumes after", replicas=self._current(), expires_in_s=req.ttl_s)

    @override.validator
    def _check_override(self, req: OverrideRequest) -> None:
        if self._disabled:
            raise ValueError(f"autoscaling of {self._name} is being disabled")

    @workflow.update
    async def set_policy(self, policy: AutoscalePolicy) -> Ack:
        async with self._lock:
            old = self._s.policy.name
            self._s.policy = policy
            self._event("autoscale_policy", f"policy {old} → {policy.name}", "cli")
            self._sync_now = True
            return Ack(detail=f"policy is now {policy.name}")

    @workflow.signal
    def pause(self, req: ControlRequest) -> None:
        self._s.paused, self._s.pause_reason = True, req.reason
        self._event("autoscale_paused", "decisions paused", req.actor, req.reason)

    @workflow.signal
    def resume(self, req: ControlRequest) -> None:
        self._s.paused, self._s.pause_reason = False, ""
        self._event("autoscale_resumed", "decisions resumed", req.actor, req.reason)
        self._sync_now = True

    @workflow.signal
    def disable(self, req: ControlRequest) -> None:
        self._event("autoscale_disabled", "autoscaling off; replicas stay as they are", req.actor, req.reason)
        self._disabled = True

    @workflow.query
    def status(self) -> AutoscalerStatus:
        o = self._s.override
        remaining = None
        if o is not None and o.expires_at_s is not None:
            remaining = max(0.0, o.expires_at_s - self._now())
        return AutoscalerStatus(
            deployment=self._name, workflow_id=workflow.info().workflow_id, policy=self._s.policy,
            paused=self._s.paused, pause_reason=self._s.pause_reason, override=o,
            override_remaining_s=remaining, decisions=self._s.decisions, window=self._s.history,
            spend=self._s.spend, budget=self._inp.budget, run=self._s.runs,
        )

    # ---- the sync -------------------------------------------------------------------------------

    async def _sync(self) -> None:
        policy, now = self._s.policy, self._now()
        try:
            obs = await workflow.execute_activity_method(
                AutoscaleActivities.gather_metrics,
                MetricsRequest(deployment=self._name, window_s=self._inp.window_s or policy.sync_interval_s,
                               metrics=[m.metric for m in policy.metrics]),
                summary=f"metrics of {self._name}", **metrics_call(policy.sync_interval_s),
            )
        except ActivityError as err:
            self._details(f"metrics unavailable: {failure_message(err)}")
            return
        self._accrue(now, obs)
        if not obs.found:
            self._event("autoscale_disabled", f"deployment {self._name} is {obs.status}: autoscaler stops")
            self._disabled = True
        elif obs.status == "stopped":
            self._details("deployment is stopped: no decision")
        elif self._s.paused and self._s.override is None:
            self._details(f"paused{': ' + self._s.pause_reason if self._s.pause_reason else ''}")
        else:
            await self._decide(now, obs)
        await self._record(obs)

    async def _decide(self, now: float, obs: MetricsObservation) -> None:
        policy, s = self._s.policy, self._s
        s.seq += 1
        decision = decide(policy, ScalingInput(now_s=now, current_replicas=obs.current_replicas,
                                               ready_replicas=obs.ready_replicas, metrics=obs.samples,
                                               history=s.history,
                                               unready_as_target=not workflow.patched(HPA_PARITY)))
        c = constrain(decision, policy, now, override=s.override, budget_level=s.spend.level,
                      canary=obs.canary_instances > 0)
        reasons = [*decision.reasons, *([c.reason] if c.reason else [])]
        history, applied = c.history, None
        if c.replicas != obs.current_replicas:
            why = f"autoscaler #{s.seq}: {c.limited_by or 'metrics'} → {c.replicas}"
            try:
                result = await workflow.execute_activity_method(
                    AutoscaleActivities.request_scale,
                    ScaleCall(deployment=self._name, replicas=c.replicas, reason=why,
                              update_id=f"{workflow.info().workflow_id}/{workflow.info().first_execution_run_id}"
                              f"/{s.seq}"),
                    summary=f"scale {self._name} {obs.current_replicas} → {c.replicas}", **SCALE_CALL,
                )
                applied = result.replicas
            except ActivityError as err:
                reasons.append(f"the deployment did not scale: {failure_message(err)}")
                history = history.model_copy(update={"events": [e for e in history.events if e.at_s != now]})
        s.history = history
        cur = obs.current_replicas
        direction = ScaleDirection.of(cur, c.replicas)
        rec = DecisionRecord(
            seq=s.seq, at=workflow.now().isoformat(timespec="seconds"), at_s=now, current=cur,
            ready=obs.ready_replicas, recommended=decision.recommended_replicas, desired=c.replicas,
            applied=applied, direction=direction, limited_by=c.limited_by,
            proposals=decision.metric_proposals, reasons=reasons,
        )
        s.decisions = [*s.decisions, rec][-MAX_DECISIONS:]
        if applied is not None:
            obs.instances += applied - obs.current_replicas
            if workflow.patched(SPEND_COUNTS_SCALED):  # from now on the new count is what costs money
                s.spend.last_instances = obs.instances
        if applied is not None or s.last_logged != (c.replicas, c.limited_by):
            s.last_logged = (c.replicas, c.limited_by)
            self._event("autoscale_decision", rec.line(), reason="; ".join(reasons[-2:]),
                        decision=rec.model_dump(mode="json", exclude={"reasons"}))
        self._details(rec.line() + "\n\n" + "\n".join(f"- {r}" for r in reasons))

    def _accrue(self, now: float, obs: MetricsObservation) -> None:
        """Spend from instance time since the last sync, each instance at the rate of what it declared
        then (or the flat price, for autoscalers started before); alerts once per threshold per month."""
        budget = self._inp.budget.monthly
        hourly = rate_of(self._s.policy, self._s.spend).per_hour
        if workflow.patched(SPEND_BY_MONTH):  # an interval over a month's end: the tail to the old month
            charged = charge(self._s.spend, now, hourly)
            self._s.spend, before = charged.spend, charged.before
            self._closed += charged.closed
            sp = self._s.spend
        else:
            sp = self._s.spend
            month = workflow.now().strftime("%Y-%m")
            if sp.month != month:
                sp.month, sp.amount, sp.level = month, 0.0, 0
            before = sp.amount
            if sp.last_at_s is not None:
                sp.amount = accrue(sp.amount, sp.last_instances * max(0.0, now - sp.last_at_s), hourly)
        sp.last_at_s, sp.last_instances = now, obs.instances
        if sp.pricing == "resources":
            sp.last_resources = obs.resources
        if budget is None:
            return
        for level in crossed_thresholds(before, sp.amount, budget):
            self._alerts.append(level)
            self._event("budget_alert", f"spend {sp.amount:.4f} reached {level}% of the monthly budget "
                        f"{budget:g}", level=level, spend=sp.amount, budget=budget)
        sp.level = max(sp.level, budget_level(sp.amount, budget))

    async def _record(self, obs: MetricsObservation | None) -> None:
        sp, alerts, events, closed = self._s.spend, self._alerts, self._events, self._closed
        self._alerts, self._events, self._closed = [], [], []
        last = self._s.decisions[-1] if self._s.decisions else None
        if obs is None or last is None or last.at_s != sp.last_at_s:
            last = None  # this sync made no decision: leave the replica gauges as they are
        await workflow.execute_activity_method(
            AutoscaleActivities.record,
            AutoscaleRecord(
                deployment=self._name, month=sp.month or workflow.now().strftime("%Y-%m"), spend=sp.amount,
                budget=self._inp.budget.monthly, level=sp.level, alerts=alerts, events=events,
                current=last.current if last else None, desired=last.desired if last else None,
                direction=last.direction if last else None, reason=last.limited_by if last else None,
                closed=closed,
            ),
            summary=f"record autoscaler sync of {self._name}", **STORE_CALL,
        )
        if alerts:
            workflow.upsert_search_attributes([sa.BUDGET_LEVEL.value_set(sp.level)])
        url = self._inp.budget.webhook_url
        for level in alerts if url else []:
            try:
                await workflow.execute_activity_method(
                    AutoscaleActivities.budget_webhook,
                    BudgetAlert(deployment=self._name, url=str(url), level=level, spend=sp.amount,
                                budget=self._inp.budget.monthly or 0.0, month=sp.month),
                    summary=f"budget webhook {level}%", **WEBHOOK_CALL,
                )
            except ActivityError as err:
                workflow.logger.warning("budget webhook failed: %s", failure_message(err))

    # ---- helpers --------------------------------------------------------------------------------

    def _expire_override(self) -> bool:
        o = self._s.override
        if o is None or o.expires_at_s is None or self._now() < o.expires_at_s:
            return False
        self._s.override = None
        self._event("override_expired", f"override of {o.replicas} replicas expired; autoscaler takes over")
        return True

    def _current(self) -> int:
        return self._s.decisions[-1].desired if self._s.decisions else 0

    def _event(self, kind: str, message: str, actor: str = "autoscaler", reason: str = "",
               **details: object) -> None:
        self._s.event_seq += 1
        info = workflow.info()
        key = f"{info.workflow_id}/{info.first_execution_run_id}/{self._s.event_seq}"
        self._events.append(audit(kind, key, message, actor, reason, **details))

    def _details(self, text: str) -> None:
        s, o = self._s, self._s.override
        head = f"**autoscaler {self._name}** — policy {s.policy.name}, sync {s.policy.sync_interval_s}s"
        flags = (" — **paused**" if s.paused else "") + (f" — override {o.replicas}" if o else "")
        spend = f"spend {s.spend.month}: {s.spend.amount:.4f}" + (
            f" of {self._inp.budget.monthly:g} ({s.spend.level}%)" if self._inp.budget.monthly else "")
        workflow.set_current_details(f"{head}{flags}\n\n{text}\n\n{spend}")
