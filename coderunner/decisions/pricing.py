"""Pure pricing: what one instance costs per hour, from the resources its deployment declares.

Like cloud pricing, an instance is charged for what it reserves: `resources.cpu` cores at the policy's
`vcpu_hour_price` and `resources.memory_mb` (in GiB, 1024 MiB each) at its `gib_hour_price`, plus an
optional flat `instance_hour_price`. Max processes, open files and a CPU-time limit are ceilings, not
capacity: they do not change the price. A spec that declares nothing is priced at the `Resources`
defaults (1 CPU, 512 MiB: 1 x 0.04 + 0.5 x 0.005 = 0.0425 per hour with the default prices).
Autoscalers started before resource pricing keep their flat price per instance-hour (`flat_rate`).
"""

from __future__ import annotations

from coderunner.decisions.cost import accrue
from coderunner.models.autoscale import AutoscalePolicy
from coderunner.models.autoscaler import Spend
from coderunner.models.pricing import InstanceRate
from coderunner.models.sandbox import Resources

MIB_PER_GIB = 1024
TIMES = "\u00d7"  # the multiplication sign, as the rate is shown


def instance_rate(policy: AutoscalePolicy, resources: Resources) -> InstanceRate:
    """One instance's price per hour: vCPUs x vcpu_hour_price + GiB x gib_hour_price + the flat fee."""
    vcpu, gib = resources.cpu, resources.memory_mb / MIB_PER_GIB
    per_hour = vcpu * policy.vcpu_hour_price + gib * policy.gib_hour_price + policy.instance_hour_price
    return InstanceRate(mode="resources", vcpu=vcpu, gib=gib, vcpu_hour_price=policy.vcpu_hour_price,
                        gib_hour_price=policy.gib_hour_price, flat=policy.instance_hour_price,
                        per_hour=per_hour)


def flat_rate(policy: AutoscalePolicy) -> InstanceRate:
    """The price before resource pricing: `instance_hour_price` per instance, whatever it declares."""
    return InstanceRate(mode="flat", flat=policy.instance_hour_price, per_hour=policy.instance_hour_price)


def rate_of(policy: AutoscalePolicy, spend: Spend) -> InstanceRate:
    """The rate a run charges its instances now: by its pricing mode, at the resources seen at its
    last sync (the `Resources` defaults before the first)."""
    if spend.pricing == "flat":
        return flat_rate(policy)
    return instance_rate(policy, spend.last_resources or Resources())


def resource_cost(policy: AutoscalePolicy, resources: Resources, instances: int, seconds: float) -> float:
    """What `instances` instances declaring `resources` cost over `seconds`."""
    return accrue(0.0, instances * seconds, instance_rate(policy, resources).per_hour)


def rate_text(rate: InstanceRate, instances: int) -> str:
    """`3 x (0.5 vCPU x 0.04 + 0.5 GiB x 0.005) /h = 0.0675/h`, or `3 x 0.05 flat /h = 0.15/h` (with
    the multiplication sign for x)."""
    x, total = TIMES, f"= {instances * rate.per_hour:.6g}/h"
    if rate.mode == "flat":
        return f"{instances} {x} {rate.flat:g} flat /h {total}"
    fee = f" + {rate.flat:g} flat" if rate.flat else ""
    return (f"{instances} {x} ({rate.vcpu:g} vCPU {x} {rate.vcpu_hour_price:g} + {rate.gib:g} GiB {x} "
            f"{rate.gib_hour_price:g}{fee}) /h {total}")
