"""What one instance costs per hour, and what that figure is made of.

Cloud pricing charges what an instance reserves: a price per vCPU-hour and per GiB-hour of memory
(the `resources:` an instance declares, which the sandbox host enforces as its limits), plus an optional
flat fee per instance-hour (an accelerator, a licence). Autoscalers started before resource pricing
keep charging a flat price per instance-hour; `Spend.pricing` says which of the two a run uses.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

PricingMode = Literal["flat", "resources"]

DEFAULT_VCPU_HOUR_PRICE = 0.04  # about a cloud container's on-demand vCPU-hour
DEFAULT_GIB_HOUR_PRICE = 0.005  # about a cloud container's on-demand GiB-hour of memory


class InstanceRate(BaseModel):
    """One instance's price per hour and its parts: vcpu x vcpu_price + gib x gib_price + flat."""

    mode: PricingMode
    vcpu: float = Field(default=0.0, ge=0, description="declared CPU cores (resources.cpu)")
    gib: float = Field(default=0.0, ge=0, description="declared memory in GiB (resources.memory_mb / 1024)")
    vcpu_hour_price: float = Field(default=0.0, ge=0)
    gib_hour_price: float = Field(default=0.0, ge=0)
    flat: float = Field(default=0.0, ge=0, description="price per instance-hour on top of the resources")
    per_hour: float = Field(ge=0, description="the instance's total price per hour")
