"""The autoscaler's scale-down delay, counted down (HPA's stabilization window, read from the status).

A scale-down waits until every recommendation at or above the current count has aged out of the
down window: the deployment keeps the highest recommendation of the last `window` seconds. So the
next scale-down is due when the newest such recommendation is `window` seconds old, and goes to the
highest recommendation still in the window then.
"""

from __future__ import annotations

from coderunner.models.autoscaler import AutoscalerStatus
from starter.views.step_clock import human


def scale_down_countdown(st: AutoscalerStatus, now_s: float) -> str | None:
    """`to 2 in 1m12s (down window 5m)`, or None when no scale-down is waiting."""
    if not st.decisions or st.paused or st.override is not None:
        return None
    current = st.decisions[-1].desired
    recs = st.window.recommendations
    if not recs or recs[-1].replicas >= current:
        return None
    window = st.policy.scale_down.stabilization_window_s
    holding = [r.at_s for r in recs if r.replicas >= current]
    due = (max(holding) if holding else now_s) + window
    still = [r.replicas for r in recs if r.replicas < current and r.at_s > due - window]
    target = max(still) if still else recs[-1].replicas
    target = max(target, st.policy.min_replicas)
    if target >= current:
        return None
    left = due - now_s
    return f"to {target} in {human(left)} (down window {human(window)})" if left > 0 else \
        f"to {target} at the next sync (down window {human(window)} passed)"
