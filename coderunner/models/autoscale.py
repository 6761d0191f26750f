"""Autoscaler models: the policy users write, what the autoscaler observes, and what it decides.

The semantics follow the Kubernetes HPA v2 (`autoscaling/v2`) so that anyone who has tuned an HPA can
tune CodeRunner: per-metric targets, a tolerance band, stabilization windows and behaviour policies.
Policy models forbid unknown keys, so a typo in a YAML policy (`max_replica`) is refused instead of
silently ignored. Every timestamp is a float of seconds supplied by the caller (workflow time or
simulated time): nothing here reads a clock.
"""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from coderunner.models.deployment import MAX_REPLICAS, NAME_PATTERN
from coderunner.models.pricing import DEFAULT_GIB_HOUR_PRICE, DEFAULT_VCPU_HOUR_PRICE

MAX_WINDOW_S = 3600  # HPA's limit on stabilizationWindowSeconds
MAX_PERIOD_S = 1800  # HPA's limit on periodSeconds


class MetricName(StrEnum):
    CPU = "cpu"  # percent of one instance's CPU, averaged over ready instances
    MEMORY = "memory"  # percent of one instance's memory
    RPS = "rps"  # requests per second per instance
    LATENCY_P95 = "latency_p95"  # milliseconds
    ERROR_RATE = "error_rate"  # 0..1


KNOWN_METRICS = ", ".join(m.value for m in MetricName)


class ScaleDirection(StrEnum):
    UP = "up"
    DOWN = "down"
    NONE = "none"

    @classmethod
    def of(cls, current: int, desired: int) -> ScaleDirection:
        return cls.UP if desired > current else cls.DOWN if desired < current else cls.NONE


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MetricTarget(_Strict):
    """One metric and the per-instance average the autoscaler steers towards."""

    metric: MetricName
    target: float = Field(gt=0, allow_inf_nan=False, description="desired average per ready instance")

    @field_validator("metric", mode="before")
    @classmethod
    def _known_metric(cls, value: Any) -> Any:
        if isinstance(value, str) and value not in {m.value for m in MetricName}:
            raise ValueError(f"unknown metric {value!r}: known metrics are {KNOWN_METRICS}")
        return value


class ScalingPolicy(_Strict):
    """At most `value` pods (or percent of the replicas at period start) per `period_s` seconds."""

    type: Literal["Pods", "Percent"]
    value: int = Field(gt=0)
    period_s: int = Field(gt=0, le=MAX_PERIOD_S)

    @property
    def label(self) -> str:
        return f"policy {self.type} {self.value}/{self.period_s}s"


class ScalingRules(_Strict):
    """One direction's behaviour. `hpa_scale_up()` / `hpa_scale_down()` are Kubernetes' defaults."""

    stabilization_window_s: int = Field(ge=0, le=MAX_WINDOW_S)
    select_policy: Literal["Max", "Min", "Disabled"] = "Max"
    policies: list[ScalingPolicy] = Field(default_factory=list)

    @model_validator(mode="after")
    def _needs_a_policy(self) -> ScalingRules:
        if self.select_policy != "Disabled" and not self.policies:
            raise ValueError(
                "policies is empty: add at least one policy (e.g. {type: Percent, value: 100, period_s: 15})"
                " or set select_policy: Disabled to forbid this direction"
            )
        return self

    @classmethod
    def hpa_scale_up(cls) -> ScalingRules:
        return cls(
            stabilization_window_s=0,
            select_policy="Max",
            policies=[
                ScalingPolicy(type="Percent", value=100, period_s=15),
                ScalingPolicy(type="Pods", value=4, period_s=15),
            ],
        )

    @classmethod
    def hpa_scale_down(cls) -> ScalingRules:
        return cls(
            stabilization_window_s=300,
            select_policy="Max",
            policies=[ScalingPolicy(type="Percent", value=100, period_s=15)],
        )


def _fill_rules(given: Any, default: ScalingRules) -> Any:
    """A partial `scale_down: {stabilization_window_s: 60}` keeps the direction's other defaults."""
    if isinstance(given, dict):
        return {**default.model_dump(), **given}
    return given


class AutoscalePolicy(_Strict):
    """How one deployment scales. Validated at the edge so a workflow never sees a bad policy."""

    name: str = Field(pattern=NAME_PATTERN, description="lowercase letters, digits and '-'")
    description: str = ""
    min_replicas: int = Field(default=1, ge=1)
    max_replicas: int = Field(default=10, ge=1, le=MAX_REPLICAS)
    metrics: list[MetricTarget] = Field(min_length=1)
    tolerance: float = Field(default=0.10, ge=0, lt=1, description="no change while |ratio - 1| <= this")
    scale_up: ScalingRules = Field(default_factory=ScalingRules.hpa_scale_up)
    scale_down: ScalingRules = Field(default_factory=ScalingRules.hpa_scale_down)
    sync_interval_s: int = Field(default=15, gt=0, le=MAX_WINDOW_S)
    vcpu_hour_price: float = Field(
        default=DEFAULT_VCPU_HOUR_PRICE, ge=0, allow_inf_nan=False,
        description="price of one declared CPU core (resources.cpu) for an hour",
    )
    gib_hour_price: float = Field(
        default=DEFAULT_GIB_HOUR_PRICE, ge=0, allow_inf_nan=False,
        description="price of one GiB of declared memory (resources.memory_mb) for an hour",
    )
    instance_hour_price: float = Field(
        default=0.0, ge=0, allow_inf_nan=False,
        description="flat price per instance-hour, added to the resources' price (an accelerator, a "
        "licence); autoscalers started before resource pricing charge only this",
    )
    budget_action: Literal["cap-current", "cap-min"] = Field(
        default="cap-current",
        description="at 100% of the monthly budget: never grow past the current count, or shrink to min",
    )

    @model_validator(mode="before")
    @classmethod
    def _direction_defaults(cls, data: Any) -> Any:
        if isinstance(data, dict):
            data = dict(data)
            if "scale_up" in data:
                data["scale_up"] = _fill_rules(data["scale_up"], ScalingRules.hpa_scale_up())
            if "scale_down" in data:
                data["scale_down"] = _fill_rules(data["scale_down"], ScalingRules.hpa_scale_down())
        return data

    @model_validator(mode="after")
    def _consistent(self) -> AutoscalePolicy:
        if self.min_replicas > self.max_replicas:
            raise ValueError(
                f"min_replicas ({self.min_replicas}) is above max_replicas ({self.max_replicas}):"
                " lower min_replicas or raise max_replicas"
            )
        seen: set[MetricName] = set()
        for target in self.metrics:
            if target.metric in seen:
                raise ValueError(f"metrics lists {target.metric.value!r} twice: keep one target per metric")
            seen.add(target.metric)
        return self

    @property
    def recommendation_horizon_s(self) -> int:
        """How long a recommendation can still matter: the longer stabilization window."""
        return max(self.scale_up.stabilization_window_s, self.scale_down.stabilization_window_s)

    @property
    def event_horizon_s(self) -> int:
        """How long a scale event can still matter: the longest behaviour-policy period."""
        periods = [p.period_s for p in self.scale_up.policies + self.scale_down.policies]
        return max(periods, default=0)


class MetricSample(BaseModel):
    """One metric's average over the READY instances that reported it; `value=None` means no data.

    `missing` counts the ready instances that reported nothing for it (HPA's "missing pods"), which
    the decision fills in as 0 % on a scale-up and 100 % on a scale-down.
    """

    metric: MetricName
    value: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    error: str | None = Field(default=None, description="set when the metric could not be read")
    missing: int = Field(default=0, ge=0, description="ready instances without a value for this metric")


class TimedRecommendation(BaseModel):
    at_s: float
    replicas: int = Field(ge=0)


class ScaleEvent(BaseModel):
    at_s: float
    delta: int = Field(description="replicas added (> 0) or removed (< 0) by one decision")


class ScalingHistory(BaseModel):
    """What HPA keeps in controller memory; here it is data the workflow carries between decisions.

    `recommendations` feed the stabilization windows, `events` the behaviour-policy periods. Both are
    pruned by `pruned()`, which keeps them small enough to pass through `continue_as_new`.
    """

    recommendations: list[TimedRecommendation] = Field(default_factory=list)
    events: list[ScaleEvent] = Field(default_factory=list)

    def pruned(self, now_s: float, recommendation_horizon_s: float, event_horizon_s: float) -> ScalingHistory:
        """Drop what can no longer influence a decision at `now_s` or later.

        Recommendations older than the horizon are dropped, and so is any recommendation that a later
        one dominates for both windows (a later value >= it for the max of the down window and a later
        value <= it for the min of the up window): every future window that contains the earlier entry
        also contains the later one, so the result is unchanged. That bounds the list by about twice the
        number of distinct replica counts, however often the autoscaler runs.
        """
        recent = sorted(
            (r for r in self.recommendations if r.at_s > now_s - recommendation_horizon_s),
            key=lambda r: r.at_s,
        )
        kept: list[TimedRecommendation] = []
        later_max, later_min = -math.inf, math.inf
        for rec in reversed(recent):
            if rec.replicas > later_max or rec.replicas < later_min:
                kept.append(rec)
            later_max, later_min = max(later_max, rec.replicas), min(later_min, rec.replicas)
        events = [e for e in self.events if e.at_s > now_s - event_horizon_s]
        return ScalingHistory(recommendations=kept[::-1], events=sorted(events, key=lambda e: e.at_s))


class ScalingInput(BaseModel):
    """One observation: gathered by activities, decided on by `decisions.hpa.decide`."""

    now_s: float = Field(allow_inf_nan=False)
    current_replicas: int = Field(ge=0)
    ready_replicas: int = Field(ge=0, description="instances serving and reporting metrics")
    metrics: list[MetricSample] = Field(default_factory=list)
    history: ScalingHistory = Field(default_factory=ScalingHistory)
    unready_as_target: bool = Field(
        default=False,
        description="the rule before HPA parity (unready instances counted as 0 %/100 % of the target "
        "in both directions): only for autoscalers started before it, which must replay unchanged",
    )

    @model_validator(mode="after")
    def _one_sample_per_metric(self) -> ScalingInput:
        names = [s.metric for s in self.metrics]
        duplicated = sorted({n.value for n in names if names.count(n) > 1})
        if duplicated:
            raise ValueError(f"metrics has more than one sample for {', '.join(duplicated)}")
        return self


class MetricProposal(BaseModel):
    metric: MetricName
    current_value: float | None
    target: float
    ratio: float | None = Field(description="current_value / target, over ready instances")
    adjusted_ratio: float | None = Field(
        default=None, description="after filling in unready (scale-up) and missing instances"
    )
    proposed_replicas: int | None = Field(description="None when the metric is missing or errored")
    note: str


class ScalingDecision(BaseModel):
    desired_replicas: int
    current_replicas: int
    direction: ScaleDirection
    recommended_replicas: int | None = Field(
        default=None, description="the metrics' raw proposal before windows, policies and bounds"
    )
    metric_proposals: list[MetricProposal] = Field(default_factory=list)
    limited_by: str | None = None
    reasons: list[str] = Field(default_factory=list)
    history: ScalingHistory = Field(default_factory=ScalingHistory)
