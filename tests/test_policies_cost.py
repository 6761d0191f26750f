"""Policy templates, user policy YAML, and the cost helpers."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from coderunner.decisions.cost import accrue, budget_level, crossed_thresholds, project_month
from coderunner.decisions.policy_templates import (
    TEMPLATES,
    PolicyError,
    get_template,
    load_policy_file,
    template_names,
)
from coderunner.models.autoscale import AutoscalePolicy, MetricName, ScalingRules

EXPECTED = ["api", "batch-worker", "cost-saver", "dev", "ml-inference", "web-app"]


# --- templates ------------------------------------------------------------------------------------


def test_the_six_templates_exist_are_valid_and_distinct() -> None:
    assert template_names() == EXPECTED
    dumps = []
    for name in EXPECTED:
        t = get_template(name)
        assert t.name == name and len(t.description) > 40
        assert AutoscalePolicy.model_validate(t.model_dump()) == t  # round-trips through validation
        dumps.append(t.model_dump_json(exclude={"name", "description"}))
    assert len(set(dumps)) == len(dumps)


def test_templates_have_their_character() -> None:
    dev, cost, web = get_template("dev"), get_template("cost-saver"), get_template("web-app")
    assert dev.scale_down.stabilization_window_s < web.scale_down.stabilization_window_s
    assert dev.max_replicas <= 3
    assert cost.max_replicas < min(
        get_template(n).max_replicas for n in EXPECTED if n not in {"dev", "cost-saver"}
    )
    assert cost.scale_up.stabilization_window_s > 0 and cost.scale_down.stabilization_window_s >= 600
    assert cost.metrics and all(m.target >= 85 for m in cost.metrics)
    assert web.min_replicas >= 2  # availability


def test_get_template_returns_a_copy() -> None:
    t = get_template("web-app")
    t.max_replicas = 1
    assert TEMPLATES["web-app"].max_replicas == get_template("web-app").max_replicas != 1


def test_unknown_template_lists_the_known_ones() -> None:
    with pytest.raises(PolicyError, match=r"unknown policy template 'webapp'.*api, batch-worker"):
        get_template("webapp")


# --- user YAML ------------------------------------------------------------------------------------


def test_yaml_extends_a_template_and_overrides_fields() -> None:
    p = load_policy_file(
        """
        extends: web-app
        name: shop
        max_replicas: 6
        scale_down:
          stabilization_window_s: 60
        """.replace("\n        ", "\n")
    )
    web = get_template("web-app")
    assert (p.name, p.max_replicas, p.min_replicas) == ("shop", 6, web.min_replicas)
    assert p.metrics == web.metrics
    assert p.scale_down.stabilization_window_s == 60
    assert p.scale_down.policies == web.scale_down.policies  # the rest of scale_down is kept


def test_yaml_extends_keeps_the_template_name_and_replaces_lists() -> None:
    p = load_policy_file("extends: api\nmetrics: [{metric: rps, target: 50}]")
    assert p.name == "api"
    assert [(m.metric, m.target) for m in p.metrics] == [(MetricName.RPS, 50)]


def test_yaml_without_extends_gets_hpa_defaults_per_direction() -> None:
    p = load_policy_file(
        "name: svc\nmax_replicas: 4\nmetrics:\n  - {metric: cpu, target: 60}\n"
        "scale_up: {stabilization_window_s: 30}\nscale_down: {select_policy: Min}\n"
    )
    assert p.scale_up.policies == ScalingRules.hpa_scale_up().policies
    assert p.scale_up.stabilization_window_s == 30
    assert p.scale_down.stabilization_window_s == 300
    assert p.scale_down.select_policy == "Min"
    assert (p.tolerance, p.sync_interval_s, p.min_replicas) == (0.10, 15, 1)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("extends: web-app\nmax_replica: 3", r"max_replica: Extra inputs are not permitted"),
        (
            "extends: web-app\nmin_replicas: 5\nmax_replicas: 3",
            r"min_replicas \(5\) is above max_replicas \(3\): lower min_replicas or raise max_replicas",
        ),
        ("extends: web-app\nmetrics: [{metric: cpu, target: 0}]", r"metrics\[0\]\.target: .*greater than 0"),
        (
            "extends: web-app\nmetrics: [{metric: qps, target: 5}]",
            r"metrics\[0\]\.metric: unknown metric 'qps': known metrics are cpu, memory, rps, latency_p95, "
            r"error_rate",
        ),
        (
            "extends: web-app\nmetrics: [{metric: cpu, target: 5}, {metric: cpu, target: 9}]",
            r"metrics lists 'cpu' twice",
        ),
        ("extends: web-app\nmetrics: []", r"metrics: List should have at least 1 item"),
        ("extends: web-app\nscale_up: {select_policy: Fastest}", r"scale_up\.select_policy: Input should be"),
        ("extends: web-app\nscale_down: {policies: []}", r"scale_down: policies is empty: add at least one"),
        (
            "extends: web-app\nscale_up: {policies: [{type: Pods, value: 0, period_s: 15}]}",
            r"scale_up\.policies\[0\]\.value: .*greater than 0",
        ),
        ("extends: web-app\ntolerance: 1.5", r"tolerance: Input should be less than 1"),
        ("extends: web-app\ninstance_hour_price: -1", r"instance_hour_price: .*greater than or equal to 0"),
        ("extends: web-app\nmax_replicas: 500", r"max_replicas: Input should be less than or equal to"),
        ("name: Bad Name\nmetrics: [{metric: cpu, target: 5}]", r"name: String should match pattern"),
        ("max_replicas: 3", r"name: Field required; metrics: Field required"),
        ("extends: webapp", r"unknown policy template 'webapp': known templates are api"),
        ("extends: [web-app]", r"extends must be a template name"),
        ("- web-app", r"policy must be a mapping of fields, got a list"),
        ("", r"policy is empty"),
        ("name: [", r"policy is not valid YAML"),
    ],
)
def test_bad_yaml_is_refused_naming_the_field(text: str, message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        load_policy_file(text)


def test_scale_down_may_be_disabled_without_policies() -> None:
    p = load_policy_file("extends: dev\nscale_down: {select_policy: Disabled, policies: []}")
    assert p.scale_down.select_policy == "Disabled"


def test_min_above_max_refused_in_python_too() -> None:
    with pytest.raises(ValidationError, match="min_replicas \\(5\\) is above max_replicas \\(3\\)"):
        AutoscalePolicy(name="x", min_replicas=5, max_replicas=3, metrics=[{"metric": "cpu", "target": 50}])


# --- cost -----------------------------------------------------------------------------------------


def test_accrue() -> None:
    assert accrue(0.0, 3600, 0.05) == pytest.approx(0.05)
    assert accrue(1.0, 3 * 1800, 0.10) == pytest.approx(1.15)  # three instances for half an hour
    assert accrue(2.5, 0, 1.0) == 2.5
    with pytest.raises(ValueError, match="instance_seconds"):
        accrue(0.0, -1, 0.05)
    with pytest.raises(ValueError, match="price_per_hour"):
        accrue(0.0, 1, float("nan"))


@pytest.mark.parametrize(
    ("spend", "level"),
    [(0, 0), (74.99, 0), (75, 75), (89.9, 75), (90, 90), (99.99, 90), (100, 100), (250, 100)],
)
def test_budget_level(spend: float, level: int) -> None:
    assert budget_level(spend, 100) == level


def test_budget_level_is_robust_to_float_noise_and_rejects_no_budget() -> None:
    assert budget_level(0.89, 1.0) == 75
    assert budget_level(0.9, 1.0) == 90
    assert budget_level(0.7 + 0.2, 1.0) == 90  # 0.8999999999999999 of 1.0 is 90% within 1e-9
    with pytest.raises(ValueError, match="budget"):
        budget_level(1, 0)


def test_project_month() -> None:
    month = 30 * 86400.0
    assert project_month(10.0, month / 3, month) == pytest.approx(30.0)
    assert project_month(10.0, 0, month) == 10.0  # nothing to extrapolate from yet
    assert project_month(10.0, month * 2, month) == 10.0  # the month is over: the actual spend
    with pytest.raises(ValueError, match="month_s"):
        project_month(1.0, 1.0, 0)


@pytest.mark.parametrize(
    ("prev", "new", "crossed"),
    [
        (0, 50, []),
        (70, 76, [75]),
        (76, 80, []),  # each alert fires once
        (70, 95, [75, 90]),
        (10, 120, [75, 90, 100]),
        (89, 100, [90, 100]),
        (100, 150, []),
        (95, 5, []),  # spend went down (a new month): nothing newly crossed
    ],
)
def test_crossed_thresholds(prev: float, new: float, crossed: list[int]) -> None:
    assert crossed_thresholds(prev, new, 100) == crossed
