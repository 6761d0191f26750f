"""AutoscalerWorkflow I/O: its input and carried state, its updates/signals, its activities' models.

The policy itself (`AutoscalePolicy`) and the decision models live in `models.autoscale`; this module
is what the workflow around `decisions.hpa.decide` needs. Times are workflow seconds
(`workflow.time()`), so the state survives continue-as-new and replays identically.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, HttpUrl

from coderunner.models.autoscale import (
    AutoscalePolicy,
    MetricName,
    MetricProposal,
    MetricSample,
    ScaleDirection,
    ScalingHistory,
)
from coderunner.models.deployment import MAX_REPLICAS
from coderunner.models.pricing import PricingMode
from coderunner.models.sandbox import Resources

MAX_DECISIONS = 20  # kept in state for `status` and describe


class BudgetSettings(BaseModel):
    """A monthly budget for one deployment; alerts at 75/90/100 % (action at 100 % is the policy's)."""

    monthly: float | None = Field(default=None, gt=0, allow_inf_nan=False, description="currency units")
    webhook_url: HttpUrl | None = Field(default=None, description="POSTed a JSON alert at each level")


class Override(BaseModel):
    replicas: int = Field(ge=0, le=MAX_REPLICAS)
    reason: str = ""
    actor: str = "cli"
    set_at_s: float
    expires_at_s: float | None = Field(default=None, description="workflow time; None = until cleared")


class OverrideRequest(BaseModel):
    """`replicas=None` clears the active override; `ttl_s=None` pins until cleared."""

    replicas: int | None = Field(default=None, ge=0, le=MAX_REPLICAS)
    reason: str = ""
    ttl_s: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    actor: str = "cli"


class OverrideResult(BaseModel):
    message: str
    replicas: int
    expires_in_s: float | None = None


class ControlRequest(BaseModel):
    """pause / resume / disable: who and why, for the audit log."""

    reason: str = ""
    actor: str = "cli"


class DecisionRecord(BaseModel):
    """One sync, as the UI, `autoscale status` and the audit log show it."""

    seq: int
    at: str  # ISO time, for humans
    at_s: float
    current: int
    ready: int
    recommended: int | None
    desired: int
    applied: int | None = Field(default=None, description="replicas asked of the deployment, if any")
    direction: ScaleDirection
    limited_by: str | None
    proposals: list[MetricProposal] = Field(default_factory=list)
    reasons: list[str] = Field(default_factory=list)

    def line(self) -> str:
        ratios = ", ".join(
            f"{p.metric.value} {p.ratio:.2f}" for p in self.proposals if p.ratio is not None
        ) or "no metrics"
        limit = f" (limited by {self.limited_by})" if self.limited_by else ""
        return f"#{self.seq} {self.at} {self.current}→{self.desired} [{ratios}]{limit}"


class Spend(BaseModel):
    month: str = ""  # "2025-06": spend and alert level restart each month
    amount: float = 0.0
    level: int = 0  # highest budget threshold reached this month (0, 75, 90, 100)
    last_at_s: float | None = None
    last_instances: int = 0
    # "flat": instance_hour_price per instance (autoscalers started before resource pricing, for good);
    # "resources": each instance priced by `last_resources`, what its deployment declares
    pricing: PricingMode = "flat"
    last_resources: Resources | None = None


class MonthSpend(BaseModel):
    """A month's final spend, closed when a sync's interval ran past its end."""

    month: str
    amount: float
    level: int = 0


class AutoscalerState(BaseModel):
    """Everything carried through continue-as-new, the stabilization history first of all."""

    policy: AutoscalePolicy
    history: ScalingHistory = Field(default_factory=ScalingHistory)
    paused: bool = False
    pause_reason: str = ""
    override: Override | None = None
    decisions: list[DecisionRecord] = Field(default_factory=list)
    seq: int = 0
    event_seq: int = 0
    last_logged: tuple[int, str | None] | None = None
    spend: Spend = Field(default_factory=Spend)
    runs: int = 1
    # accepted by a handler but not yet written when the run continued as new: written by the next run
    pending_events: list[dict[str, Any]] = Field(default_factory=list)
    pending_alerts: list[int] = Field(default_factory=list)
    pending_closed: list[MonthSpend] = Field(default_factory=list)


class AutoscalerInput(BaseModel):
    deployment: str
    policy: AutoscalePolicy
    budget: BudgetSettings = Field(default_factory=BudgetSettings)
    window_s: float | None = Field(default=None, gt=0, description="metrics window; default: sync interval")
    actor: str = "cli"
    state: AutoscalerState | None = None  # set when continuing as new


class AutoscalerStatus(BaseModel):
    deployment: str
    workflow_id: str
    policy: AutoscalePolicy
    paused: bool
    pause_reason: str
    override: Override | None
    override_remaining_s: float | None
    decisions: list[DecisionRecord]
    window: ScalingHistory
    spend: Spend
    budget: BudgetSettings
    run: int


# ---- activities -------------------------------------------------------------------------------


class MetricsRequest(BaseModel):
    deployment: str
    window_s: float = Field(gt=0)
    metrics: list[MetricName]


class MetricsObservation(BaseModel):
    """The stable group as the autoscaler sees it; canary instances only count towards cost."""

    found: bool = True
    status: str = ""
    current_replicas: int = 0  # the deployment's desired stable count (spec.replicas)
    ready_replicas: int = 0  # stable instances healthy
    instances: int = 0  # all instances, canary included: what costs money
    canary_instances: int = 0
    samples: list[MetricSample] = Field(default_factory=list)
    resources: Resources = Field(default_factory=Resources, description="declared per instance: its price")


class ScaleCall(BaseModel):
    deployment: str
    replicas: int = Field(ge=0, le=MAX_REPLICAS)
    reason: str
    actor: str = "autoscaler"
    update_id: str = Field(description="one per decision: a retried activity re-attaches, never re-scales")


class ScaleCallResult(BaseModel):
    replicas: int
    message: str


class AutoscaleRecord(BaseModel):
    """One store write per sync: spend (absolute, so a retry is harmless) and audit events."""

    deployment: str
    month: str
    spend: float
    budget: float | None
    level: int
    alerts: list[int] = Field(default_factory=list, description="thresholds crossed this sync")
    current: int | None = None
    desired: int | None = None
    direction: ScaleDirection | None = None
    reason: str | None = Field(default=None, description="the rule that limited the decision, if any")
    events: list[dict[str, Any]] = Field(default_factory=list)  # AuditEventInput fields
    closed: list[MonthSpend] = Field(default_factory=list, description="earlier months' final spend")


class BudgetAlert(BaseModel):
    deployment: str
    url: str
    level: int
    spend: float
    budget: float
    month: str


def autoscaler_id(name: str) -> str:
    return f"autoscaler/{name}"
