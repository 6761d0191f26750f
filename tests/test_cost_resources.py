"""Instances are priced by what they declare: vCPU-hours and GiB-hours at the policy's prices."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coderunner.decisions.cost import charge
from coderunner.decisions.policy_templates import PolicyError, load_policy_file
from coderunner.decisions.pricing import flat_rate, instance_rate, rate_of, rate_text, resource_cost
from coderunner.models.autoscale import AutoscalePolicy
from coderunner.models.autoscaler import Spend
from coderunner.models.sandbox import Resources

HOUR = 3600.0


def policy(**prices: float) -> AutoscalePolicy:
    metrics = [{"metric": "cpu", "target": 50}]
    return AutoscalePolicy.model_validate({"name": "p", "metrics": metrics, **prices})


@pytest.mark.parametrize(
    ("resources", "prices", "per_hour"),
    [
        ({}, {}, 1 * 0.04 + 0.5 * 0.005),  # declared nothing: the Resources defaults, 1 CPU and 512 MiB
        ({"cpu": 2, "memory_mb": 1024}, {}, 2 * 0.04 + 1 * 0.005),
        ({"cpu": 0.25, "memory_mb": 256}, {}, 0.25 * 0.04 + 0.25 * 0.005),
        ({"cpu": 0.5, "memory_mb": 512}, {"instance_hour_price": 0.5}, 0.5 * 0.04 + 0.5 * 0.005 + 0.5),
        ({"cpu": 4, "memory_mb": 8192}, {"vcpu_hour_price": 0.1, "gib_hour_price": 0.01}, 0.4 + 0.08),
        ({"cpu": 4, "memory_mb": 8192}, {"vcpu_hour_price": 0, "gib_hour_price": 0}, 0.0),
        # ceilings, not capacity: processes, open files and a CPU-time limit do not change the price
        ({"max_processes": 65536, "open_files": 1 << 20, "cpu_seconds": 5}, {}, 0.0425),
    ],
)
def test_instance_rate(resources: dict[str, float], prices: dict[str, float], per_hour: float) -> None:
    rate = instance_rate(policy(**prices), Resources.model_validate(resources))
    assert rate.mode == "resources"
    assert rate.per_hour == pytest.approx(per_hour)
    assert rate.per_hour == pytest.approx(rate.vcpu * rate.vcpu_hour_price + rate.gib * rate.gib_hour_price
                                          + rate.flat)


def test_a_bigger_instance_costs_more() -> None:
    big, small = Resources(cpu=2, memory_mb=1024), Resources(cpu=0.25, memory_mb=256)
    assert resource_cost(policy(), big, 1, HOUR) == pytest.approx(0.085)
    assert resource_cost(policy(), small, 1, HOUR) == pytest.approx(0.01125)


def test_resource_cost_of_instances_over_time() -> None:
    half = Resources(cpu=0.5, memory_mb=512)
    assert resource_cost(policy(), half, 3, HOUR) == pytest.approx(3 * 0.0225)
    assert resource_cost(policy(), half, 3, 0) == 0.0
    assert resource_cost(policy(), half, 0, HOUR) == 0.0
    with pytest.raises(ValueError, match="instance_seconds"):
        resource_cost(policy(), half, 1, -1)


@pytest.mark.parametrize(
    ("rate", "instances", "text"),
    [
        (instance_rate(policy(), Resources(cpu=0.5, memory_mb=512)), 3,
         "3 \u00d7 (0.5 vCPU \u00d7 0.04 + 0.5 GiB \u00d7 0.005) /h = 0.0675/h"),
        (instance_rate(policy(instance_hour_price=0.5), Resources()), 1,
         "1 \u00d7 (1 vCPU \u00d7 0.04 + 0.5 GiB \u00d7 0.005 + 0.5 flat) /h = 0.5425/h"),
        (flat_rate(policy(instance_hour_price=0.05)), 3, "3 \u00d7 0.05 flat /h = 0.15/h"),
        (instance_rate(policy(), Resources()), 0,
         "0 \u00d7 (1 vCPU \u00d7 0.04 + 0.5 GiB \u00d7 0.005) /h = 0/h"),
    ],
)
def test_rate_text_shows_what_the_rate_is_made_of(rate: object, instances: int, text: str) -> None:
    assert rate_text(rate, instances) == text  # type: ignore[arg-type]


def test_rate_of_follows_the_runs_pricing_mode() -> None:
    p, big = policy(instance_hour_price=0.05), Resources(cpu=2, memory_mb=1024)
    flat = rate_of(p, Spend(last_resources=big))  # started before resource pricing: flat, whatever it says
    assert (flat.mode, flat.per_hour) == ("flat", 0.05)
    by_res = rate_of(p, Spend(pricing="resources", last_resources=big))
    assert by_res.per_hour == pytest.approx(0.085 + 0.05)
    before_first_sync = rate_of(p, Spend(pricing="resources"))
    assert before_first_sync.per_hour == pytest.approx(0.0425 + 0.05)


def test_charge_at_the_declared_rate() -> None:
    """Three instances of 2 CPU / 1 GiB for an hour: 3 x 0.085, not 3 x a flat price."""
    big = Resources(cpu=2, memory_mb=1024)
    spend = Spend(month="2027-01", pricing="resources", last_resources=big, last_at_s=1.8e9, last_instances=3)
    charged = charge(spend, 1.8e9 + HOUR, rate_of(policy(), spend).per_hour)
    assert charged.spend.amount == pytest.approx(3 * 0.085)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("extends: web-app\nvcpu_hour_price: -0.1", r"vcpu_hour_price: .*greater than or equal to 0"),
        ("extends: web-app\ngib_hour_price: .nan", r"gib_hour_price: .*finite number"),
        ("extends: web-app\ncpu_hour_price: 1", r"cpu_hour_price: Extra inputs are not permitted"),
    ],
)
def test_bad_prices_are_refused(text: str, message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        load_policy_file(text)


def test_prices_set_in_policy_yaml() -> None:
    p = load_policy_file("extends: web-app\nvcpu_hour_price: 0.03\ngib_hour_price: 0.004")
    assert (p.vcpu_hour_price, p.gib_hour_price, p.instance_hour_price) == (0.03, 0.004, 0.0)


# --- properties -----------------------------------------------------------------------------------

cpus = st.floats(min_value=0.01, max_value=256)
mems = st.integers(min_value=16, max_value=1 << 20)
prices = st.floats(min_value=0, max_value=100)
counts = st.integers(min_value=0, max_value=50)
durations = st.floats(min_value=0, max_value=31 * 24 * HOUR)


@given(cpus, cpus, mems, mems, prices, prices, prices, counts, durations)
def test_monotone_in_each_resource(cpu_a: float, cpu_b: float, mem_a: int, mem_b: int, vcpu_p: float,
                                   gib_p: float, flat: float, n: int, seconds: float) -> None:
    p = policy(vcpu_hour_price=vcpu_p, gib_hour_price=gib_p, instance_hour_price=flat)
    lo_cpu, hi_cpu = sorted((cpu_a, cpu_b))
    lo_mem, hi_mem = sorted((mem_a, mem_b))
    base = resource_cost(p, Resources(cpu=lo_cpu, memory_mb=lo_mem), n, seconds)
    assert resource_cost(p, Resources(cpu=hi_cpu, memory_mb=lo_mem), n, seconds) >= base
    assert resource_cost(p, Resources(cpu=lo_cpu, memory_mb=hi_mem), n, seconds) >= base
    assert resource_cost(p, Resources(cpu=hi_cpu, memory_mb=hi_mem), n, seconds) >= base


@given(cpus, mems, prices, prices, counts, counts, durations, durations)
def test_linear_in_instances_and_time(cpu: float, mem: int, vcpu_p: float, gib_p: float, n: int, m: int,
                                      s: float, t: float) -> None:
    p, res = policy(vcpu_hour_price=vcpu_p, gib_hour_price=gib_p), Resources(cpu=cpu, memory_mb=mem)
    one = resource_cost(p, res, 1, s)
    assert resource_cost(p, res, n, s) == pytest.approx(n * one, rel=1e-9, abs=1e-9)
    assert resource_cost(p, res, n + m, s) == pytest.approx(
        resource_cost(p, res, n, s) + resource_cost(p, res, m, s), rel=1e-9, abs=1e-9)
    assert resource_cost(p, res, n, s + t) == pytest.approx(
        resource_cost(p, res, n, s) + resource_cost(p, res, n, t), rel=1e-9, abs=1e-9)
