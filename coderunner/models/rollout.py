"""Models of a canary rollout: the strategy a user asks for and the verdict of each analysis window.

The strategy is validated here, at the edge, so a rollout workflow never starts with a plan it
cannot finish (weights that fall, never reach 100, or a zero analysis interval). The analysis
models are what `decisions.canary.judge_window` returns; they carry the measured numbers and
human-readable reasons so the Web UI and `coderunner describe` can explain every decision.

Pure: stdlib + pydantic only, because workflows import these models.
"""

from __future__ import annotations

import itertools
import math
import re
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

# ---------------------------------------------------------------------------------------------
# Steps


class SetWeightStep(BaseModel):
    """Send `weight` percent of the traffic to the canary."""

    kind: Literal["set_weight"] = "set_weight"
    weight: int

    @field_validator("weight")
    @classmethod
    def _weight_in_range(cls, value: int) -> int:
        if not 1 <= value <= 100:
            raise ValueError(
                f"weight {value} is out of range — use 1..100 (percent of traffic sent to the canary)"
            )
        return value


class PauseStep(BaseModel):
    """Hold the current weight; `duration_s=None` waits until a human promotes (or aborts)."""

    kind: Literal["pause"] = "pause"
    duration_s: float | None = None

    @field_validator("duration_s")
    @classmethod
    def _non_negative(cls, value: float | None) -> float | None:
        if value is not None and not (math.isfinite(value) and value >= 0):
            raise ValueError(
                f"pause duration_s {value} is invalid — use seconds >= 0, or omit it to wait for promote"
            )
        return value


class AnalysisStep(BaseModel):
    """Run `windows` analysis windows at the current weight before moving on."""

    kind: Literal["analysis"] = "analysis"
    windows: int = Field(default=1, ge=1)


Step = Annotated[SetWeightStep | PauseStep | AnalysisStep, Field(discriminator="kind")]


# ---------------------------------------------------------------------------------------------
# Analysis settings


class AnalysisSettings(BaseModel):
    """How each analysis window is judged and how many bad windows end the rollout.

    Error-rate bands on the canary: rate < error_rate_degraded is healthy, error_rate_degraded <=
    rate <= error_rate_unhealthy is degraded, rate > error_rate_unhealthy is unhealthy.
    """

    interval_s: float = Field(default=30.0, gt=0, description="length of one analysis window")
    min_requests: int = Field(default=20, ge=1, description="below it a window is inconclusive")
    failure_limit: int = Field(default=2, ge=1, description="consecutive unhealthy windows -> abort")
    inconclusive_limit: int = Field(default=3, ge=1, description="consecutive inconclusive -> pause")
    degraded_limit: int = Field(
        default=3, ge=1, description="consecutive degraded/unhealthy windows (no abort) -> pause"
    )
    error_rate_degraded: float = Field(default=0.05, ge=0, le=1)
    error_rate_unhealthy: float = Field(default=0.10, ge=0, le=1)
    p95_latency_ms_limit: float = Field(default=200.0, gt=0)
    # baseline comparison (canary vs stable, same window)
    max_error_rate_increase: float = Field(default=0.05, ge=0, le=1, description="absolute, canary - stable")
    max_p95_ratio: float = Field(default=1.5, gt=0, description="canary p95 / stable p95")
    mann_whitney_alpha: float = Field(default=0.01, gt=0, lt=1)
    min_slowdown_ratio: float = Field(default=1.2, ge=1, description="canary median / stable median")
    min_slowdown_ms: float = Field(default=10.0, ge=0, description="canary median - stable median")
    # sequential test on error counts (decisions.error_evidence): abort as soon as the canary's
    # errors since it got traffic are `error_evidence_ratio` times likelier under the unhealthy rate
    # (error_rate_unhealthy) than under the healthy limit (error_rate_degraded)
    error_evidence_ratio: float = Field(
        default=50.0, gt=1, description="likelihood ratio unhealthy:healthy that aborts at once"
    )
    # issue 16: a canary leaves a weight only after this many HEALTHY windows at that weight
    healthy_windows_per_step: int = Field(
        default=1, ge=0, description="healthy windows a weight needs before the next step; 0 = no gate"
    )

    @model_validator(mode="after")
    def _bands_ordered(self) -> AnalysisSettings:
        if self.error_rate_degraded > self.error_rate_unhealthy:
            raise ValueError(
                f"error_rate_degraded {self.error_rate_degraded} > error_rate_unhealthy "
                f"{self.error_rate_unhealthy} — the degraded band must start below the unhealthy limit"
            )
        return self


# ---------------------------------------------------------------------------------------------
# Durations (CLI shorthand)

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?|\.\d+)\s*(ms|s|m|h)?\s*$")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(value: str | float | int, field: str = "duration") -> float:
    """Seconds from "500ms", "30s", "2m", "1h" or plain seconds; the CLI passes user text here."""
    if isinstance(value, bool):
        raise ValueError(f"{field}: {value!r} is not a duration — use e.g. 500ms, 30s, 2m, 1h or seconds")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _DURATION.match(value)
        if match is None:
            raise ValueError(
                f"{field}: {value!r} is not a duration — use e.g. 500ms, 30s, 2m, 1h or plain seconds"
            )
        seconds = float(match.group(1)) * _UNIT_S[match.group(2)]
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"{field}: {value!r} must be a finite number of seconds >= 0")
    return seconds


# ---------------------------------------------------------------------------------------------
# Strategy


def _check_weights(weights: list[tuple[int, int]]) -> None:
    """Weights as (1-based step number, weight): at least one, strictly rising, ending at 100."""
    example = "e.g. 10,25,50,75,100"
    if not weights:
        raise ValueError(f"steps: no set_weight step — add at least one, ending at 100 ({example})")
    for (_, previous), (number, weight) in itertools.pairwise(weights):
        if weight <= previous:
            raise ValueError(
                f"steps: weights must rise: {weight} follows {previous} at step {number} — "
                f"order them ascending, {example}"
            )
    if weights[-1][1] != 100:
        raise ValueError(
            f"steps: the last weight is {weights[-1][1]}, not 100 — end with 100 so the canary is "
            f"fully promoted, {example}"
        )


def _default_steps(step_duration_s: float) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = []
    for weight in (10, 25, 50, 75, 100):
        steps.append({"kind": "set_weight", "weight": weight})
        if weight != 100:
            steps.append({"kind": "pause", "duration_s": step_duration_s})
    return steps


class RolloutStrategy(BaseModel):
    """An ordered canary plan. Omitting `steps` gives 10/25/50/75/100 with `step_duration_s` pauses."""

    steps: list[Step]
    analysis: AnalysisSettings = Field(default_factory=AnalysisSettings)
    step_duration_s: float = Field(default=30.0, ge=0)

    @model_validator(mode="before")
    @classmethod
    def _fill_default_steps(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("steps") is None:
            try:
                duration = float(data.get("step_duration_s", 30.0))
            except (TypeError, ValueError):
                return data  # the field validator reports the bad step_duration_s
            if math.isfinite(duration) and duration >= 0:
                data = {**data, "steps": _default_steps(duration)}
        return data

    @model_validator(mode="after")
    def _weights_valid(self) -> RolloutStrategy:
        _check_weights(
            [(i, s.weight) for i, s in enumerate(self.steps, start=1) if isinstance(s, SetWeightStep)]
        )
        return self

    def dwell_problem(self) -> str | None:
        """Why a timed step is too short for the evidence gate (a canary leaves a weight only after
        `healthy_windows_per_step` healthy windows there), or None. Checked where a user's request
        enters (CLI, SDK), not on deserialisation, so rollouts already running still load."""
        settings = self.analysis
        need = settings.healthy_windows_per_step * settings.interval_s
        timed = [s.duration_s for s in self.steps if isinstance(s, PauseStep) and s.duration_s is not None]
        short = [d for d in timed if d < need]
        if not short:
            return None
        return (f"step_duration {min(short):g}s is shorter than the {need:g}s the analysis needs "
                f"({settings.healthy_windows_per_step} healthy window(s) of {settings.interval_s:g}s "
                f"at each weight before the canary moves on) — use a step duration of at least "
                f"{need:g}s, or a shorter analysis interval")

    @classmethod
    def from_shorthand(
        cls,
        steps: str = "10,25,50,75,100",
        step_duration: str | float = "30s",
        analysis_interval: str | float = "10s",
        analysis: AnalysisSettings | None = None,
    ) -> RolloutStrategy:
        """Build a strategy from CLI flags: `set_weight N` + `pause(step_duration)` per entry.

        No pause follows the final entry (100). Raises ValueError with a message naming the flag.
        """
        weights: list[tuple[int, int]] = []
        for number, raw in enumerate(steps.split(","), start=1):
            text = raw.strip().removesuffix("%").strip()
            if not text.isdigit():
                raise ValueError(
                    f"steps: {raw.strip()!r} at step {number} is not a whole percentage — "
                    f"use comma-separated integers, e.g. 10,25,50,75,100"
                )
            weight = int(text)
            if not 1 <= weight <= 100:
                raise ValueError(
                    f"steps: weight {weight} at step {number} is out of range — use 1..100, "
                    f"e.g. 10,25,50,75,100"
                )
            weights.append((number, weight))
        _check_weights(weights)
        pause_s = parse_duration(step_duration, "step_duration")
        interval_s = parse_duration(analysis_interval, "analysis_interval")
        if interval_s <= 0:
            raise ValueError(f"analysis_interval: {analysis_interval!r} must be > 0 — use e.g. 10s")
        built: list[SetWeightStep | PauseStep | AnalysisStep] = []
        for _, weight in weights:
            built.append(SetWeightStep(weight=weight))
            if weight != 100:
                built.append(PauseStep(duration_s=pause_s))
        settings = (analysis or AnalysisSettings()).model_copy(update={"interval_s": interval_s})
        strategy = cls(steps=built, analysis=settings, step_duration_s=pause_s)
        problem = strategy.dwell_problem()
        if problem:
            raise ValueError(problem)
        return strategy


# ---------------------------------------------------------------------------------------------
# Analysis results


class WindowVerdict(StrEnum):
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    UNHEALTHY = "unhealthy"
    INCONCLUSIVE = "inconclusive"


class GroupStats(BaseModel):
    """One group's (canary or stable) traffic over a window, pooled over its backends."""

    backends: int = 0
    requests: int = 0
    errors: int = 0
    error_rate: float = 0.0  # errors / requests; 0 when there were no requests
    p50_ms: float | None = None  # None when there were no latency samples
    p95_ms: float | None = None
    p99_ms: float | None = None
    latency_samples: int = 0


class Comparison(BaseModel):
    """Canary against stable over the same window."""

    error_rate_delta: float  # canary - stable, absolute
    p95_ratio: float | None = None  # canary p95 / stable p95; None without samples or stable p95 == 0
    median_ratio: float | None = None  # canary p50 / stable p50
    median_delta_ms: float | None = None  # canary p50 - stable p50
    mann_whitney_u: float | None = None  # U of the canary sample; None without samples on both sides
    p_value: float | None = None  # one-sided: canary latencies greater than stable's
    canary_slower: bool = False  # significant (p < alpha) AND the minimum effect


class AnalysisResult(BaseModel):
    verdict: WindowVerdict
    reasons: list[str] = Field(default_factory=list)
    canary: GroupStats
    stable: GroupStats | None = None
    comparison: Comparison | None = None
    conclusive: bool = False  # UNHEALTHY on strong evidence (sequential error test): abort at once


class ErrorEvidence(BaseModel):
    """The sequential error test's running state (a CUSUM of log-likelihood ratios).

    `llr` is max(0, running sum) of log P(errors | unhealthy rate) / P(errors | healthy limit) over
    the canary's windows since it got traffic; `requests`/`errors` count the same windows.
    """

    llr: float = 0.0
    requests: int = 0
    errors: int = 0


class WeightTally(BaseModel):
    """The analysis windows seen at the current canary weight (issue 16's evidence gate)."""

    weight: int = 0
    windows: int = 0
    healthy: int = 0
    degraded: int = 0
    unhealthy: int = 0
    inconclusive: int = 0
    requests: int = 0  # canary requests over those windows


class WindowSummary(BaseModel):
    """One analysis window as statistics, computed inside the analysis activity.

    Raw latency samples (up to 5,000 per backend) never leave the activity: history only holds
    these counts, percentiles and the Mann-Whitney comparison (computed there by the pure
    `decisions.window_summary.summarise_window`).
    """

    canary: GroupStats
    stable: GroupStats | None = None
    comparison: Comparison | None = None
    notes: list[str] = Field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# Rollout lifecycle (shared by the deployment's state and the rollout workflow)


class RolloutPhase(StrEnum):
    PROVISIONING = "provisioning"  # canary instances starting; no traffic yet
    PROGRESSING = "progressing"
    PAUSED = "paused"  # waiting for a human: resume, promote or abort
    PROMOTING = "promoting"
    PROMOTED = "promoted"
    ABORTING = "aborting"
    ABORTED = "aborted"
    FAILED = "failed"  # the rollout workflow itself ended abnormally (terminated, bug)


FINISHED_PHASES = frozenset({RolloutPhase.PROMOTED, RolloutPhase.ABORTED, RolloutPhase.FAILED})


class RolloutLink(BaseModel):
    """What the DeploymentWorkflow knows of its (current or last) rollout: enough to route and to
    point users at the rollout workflow; the rollout's own `status` query has the details."""

    workflow_id: str
    version: str
    from_version: str
    canary_weight: int = Field(default=0, ge=0, le=100)
    phase: RolloutPhase = RolloutPhase.PROVISIONING
    outcome: str | None = None  # why it ended (promoted / aborted + reason)
    # a config release (the code version may stay the same): the config versions it moves between
    config_version: int | None = None
    from_config_version: int | None = None

    def versions(self) -> str:
        """"v1 → v2", or for a config release of the same code "v1, config v3 → v4"."""
        code = f"{self.from_version} → {self.version}"
        if self.config_version is None:
            return code
        if self.version == self.from_version:
            code = self.version
        return f"{code}, config v{self.from_config_version or '?'} → v{self.config_version}"


# ---------------------------------------------------------------------------------------------
# Explicit rollout state: what the phase is derived from (decisions.rollout_phase), and what a
# continue-as-new carries.


class Control(StrEnum):
    """The human controls of a running rollout."""

    PAUSE = "pause"
    RESUME = "resume"
    PROMOTE = "promote"  # one step
    PROMOTE_FULL = "promote_full"  # every remaining step
    ABORT = "abort"


class Hold(BaseModel):
    """A pause condition (Argo's `pauseConditions`): who paused and why."""

    reason: str
    actor: str = "workflow"


class Stage(StrEnum):
    """How far the rollout's own control flow got; set only by the workflow's run loop."""

    PROVISIONING = "provisioning"  # canary instances starting, no traffic
    STEPPING = "stepping"  # walking the steps
    PROMOTING = "promoting"  # promotion committed: no abort, pause or step control applies
    ROLLING_BACK = "rolling_back"
    DONE = "done"


class ControlState(BaseModel):
    """Everything the phase and the acceptance of a control depend on (the spec+status of Argo).

    `abort`, `hold`, `promote_full` and `skip_step` are requests the run loop acts on at its next
    decision point; `stage` and `outcome` are what the run loop has done.
    """

    stage: Stage = Stage.PROVISIONING
    abort: Hold | None = None  # reason (already phrased "aborted by …: …") and actor
    hold: Hold | None = None  # paused, by a person or by analysis
    promote_full: bool = False
    skip_step: bool = False
    outcome: Literal["promoted", "aborted"] | None = None
