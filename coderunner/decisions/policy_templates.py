"""Built-in autoscale policies and the parser for user policy YAML.

Most users should not have to tune an HPA from scratch: they pick a template (`web-app`, `api`, …)
or write a few lines of YAML that `extends:` one and override what differs. The templates live here
as validated pydantic objects rather than YAML files so a typo in one fails at import, in tests.
Parsing is pure: the caller reads the file and passes its text.
"""

from __future__ import annotations

from typing import Any

import yaml
from pydantic import ValidationError

from coderunner.models.autoscale import AutoscalePolicy, MetricName, MetricTarget, ScalingRules


class PolicyError(ValueError):
    """A policy that cannot be used; the message names the field and how to fix it."""


def _rules(window_s: int, *policies: tuple[str, int, int], select: str = "Max") -> ScalingRules:
    return ScalingRules.model_validate(
        {
            "stabilization_window_s": window_s,
            "select_policy": select,
            "policies": [{"type": t, "value": v, "period_s": p} for t, v, p in policies],
        }
    )


def _targets(**targets: float) -> list[MetricTarget]:
    return [MetricTarget(metric=MetricName(name), target=value) for name, value in targets.items()]


_TEMPLATES: tuple[AutoscalePolicy, ...] = (
    AutoscalePolicy(
        name="web-app",
        description="A typical web app: two replicas for availability, scale on CPU and p95 latency "
        "with Kubernetes' default behaviour (fast up, 5-minute scale-down window).",
        min_replicas=2,
        max_replicas=10,
        metrics=_targets(cpu=70, latency_p95=300),
    ),
    AutoscalePolicy(
        name="api",
        description="A latency-sensitive API: lower CPU target and a request-rate target, doubles "
        "quickly under load and gives back at most half the replicas per minute.",
        min_replicas=2,
        max_replicas=20,
        metrics=_targets(cpu=60, rps=200, latency_p95=200),
        scale_up=_rules(0, ("Percent", 100, 15), ("Pods", 4, 15)),
        scale_down=_rules(300, ("Percent", 50, 60)),
    ),
    AutoscalePolicy(
        name="batch-worker",
        description="Queue workers: run hot (80% CPU/memory), tolerate noise (15%), add workers in "
        "batches and release them slowly so in-flight jobs can drain.",
        min_replicas=1,
        max_replicas=20,
        metrics=_targets(cpu=80, memory=80),
        tolerance=0.15,
        scale_up=_rules(0, ("Pods", 5, 30)),
        scale_down=_rules(600, ("Pods", 2, 60)),
        sync_interval_s=30,
    ),
    AutoscalePolicy(
        name="ml-inference",
        description="Model serving on expensive instances: scale on per-instance request rate and p95 "
        "latency, confirm load for 30 s before adding (model load is slow), shrink one at a time.",
        min_replicas=1,
        max_replicas=8,
        metrics=_targets(rps=20, latency_p95=500),
        scale_up=_rules(30, ("Pods", 2, 60)),
        scale_down=_rules(900, ("Pods", 1, 120)),
        instance_hour_price=0.50,  # a flat fee for the accelerator, on top of the declared CPU and memory
    ),
    AutoscalePolicy(
        name="dev",
        description="Development: at most 3 small instances, scale-down window of 30 s so an idle "
        "environment shrinks quickly.",
        min_replicas=1,
        max_replicas=3,
        metrics=_targets(cpu=80),
        scale_up=_rules(0, ("Pods", 2, 15)),
        scale_down=_rules(30, ("Percent", 100, 15)),
        sync_interval_s=10,
    ),
    AutoscalePolicy(
        name="cost-saver",
        description="Spend as little as possible: few instances run hot (85%), with long windows so "
        "short spikes never buy an instance, and quick release once load is really gone.",
        min_replicas=1,
        max_replicas=4,
        metrics=_targets(cpu=85, memory=85),
        tolerance=0.15,
        scale_up=_rules(120, ("Pods", 1, 60)),
        scale_down=_rules(600, ("Percent", 50, 60)),
        sync_interval_s=30,
    ),
)
TEMPLATES: dict[str, AutoscalePolicy] = {t.name: t for t in _TEMPLATES}


def template_names() -> list[str]:
    return sorted(TEMPLATES)


def get_template(name: str) -> AutoscalePolicy:
    """A fresh copy of a built-in policy, so a caller's changes never leak into the next caller."""
    template = TEMPLATES.get(name)
    if template is None:
        raise PolicyError(
            f"unknown policy template {name!r}: known templates are {', '.join(template_names())}"
        )
    return template.model_copy(deep=True)


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Mappings merge key by key (so `scale_down: {stabilization_window_s: 60}` keeps the template's
    policies); anything else, lists included, replaces the template's value."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _describe(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        where = ""
        for part in err["loc"]:
            where += f"[{part}]" if isinstance(part, int) else f".{part}" if where else str(part)
        message = err["msg"].removeprefix("Value error, ")
        lines.append(f"{where}: {message}" if where else message)
    return "invalid autoscale policy: " + "; ".join(lines)


def validate_policy(data: dict[str, Any]) -> AutoscalePolicy:
    """Validate a policy mapping, turning pydantic's errors into one readable PolicyError."""
    try:
        return AutoscalePolicy.model_validate(data)
    except ValidationError as exc:
        raise PolicyError(_describe(exc)) from None


def load_policy_file(text: str) -> AutoscalePolicy:
    """Parse a user's policy YAML; `extends: <template>` starts from a built-in policy.

    A policy that extends a template and gives no `name` keeps the template's name.
    """
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PolicyError(f"policy is not valid YAML: {exc}") from None
    if data is None:
        raise PolicyError("policy is empty: give at least `extends: <template>` or name, metrics, ...")
    if not isinstance(data, dict):
        raise PolicyError(f"policy must be a mapping of fields, got a {type(data).__name__}")
    data = dict(data)
    base = data.pop("extends", None)
    if base is not None:
        if not isinstance(base, str):
            raise PolicyError(f"extends must be a template name ({', '.join(template_names())})")
        data = _merge(get_template(base).model_dump(mode="json"), data)
    return validate_policy(data)
