"""A sequential test on the canary's error counts: abort as soon as the evidence is strong.

Why not "N unhealthy windows in a row": a window's error rate on a few dozen requests is noisy,
so a fixed count is at once too slow for a clearly sick canary (20 % errors needs two full
windows) and too quick on thin evidence (2 errors in a 20-request window read as 10 %). Wald's
sequential probability ratio test weighs each request instead. Its running sum is floored at
-ln(error_evidence_ratio) (a CUSUM-like barrier), so a long healthy past delays a later fault by
at most about one window instead of hiding it, while a canary hovering just above the break-even
rate cannot ratchet up evidence from noise alone:

    p0 = error_rate_degraded (the healthy limit, 5 %), p1 = error_rate_unhealthy (10 %)
    each error adds ln(p1/p0), each success subtracts ln((1-p0)/(1-p1))
    abort when the sum reaches ln(error_evidence_ratio) (default ln 50 = 3.9) and the canary has
    served at least min_requests since it got traffic.

Semantics that follow (defaults): a window whose rate is at or below the break-even rate
ln((1-p0)/(1-p1)) / ln(p1(1-p0) / (p0(1-p1))) = 7.2 % never adds evidence, so a canary at 6 %
(degraded band) is never aborted on errors, and neither is one at 0.5 %; 2 errors in 20 requests
add 0.41 of the 3.9 needed; 10 errors in 50 requests (20 %) add 4.8 and abort after one window.
Deliberately, the test decides between the two band edges: a canary persistently between the
break-even rate and 10 % (say 9 %) is aborted once the evidence is strong, because a one-window
abort at 20 % on 50 requests is only possible with a test calibrated at the edges (50 requests
cannot show strong evidence of "more than 10 %"). bench/canary_judgement.py shows the cost: a 6 %
canary is aborted in a few % of simulated rollouts (the old rule: 60-80 %), and paused otherwise.
Counts per window are all the workflow has (not the order of requests), so each window is one
increment: conservative, because a floor inside a window could only raise the sum.
"""

from __future__ import annotations

import math

from coderunner.models.rollout import AnalysisSettings, ErrorEvidence

_FLOOR, _CEIL = 1e-4, 1 - 1e-4


def weights(settings: AnalysisSettings) -> tuple[float, float]:
    """(added per error, subtracted per success). Rates are clamped into (0, 1) and p1 > p0, so
    band settings such as degraded == unhealthy or 0 % still give a finite, working test."""
    p0 = min(max(settings.error_rate_degraded, _FLOOR), 0.5)
    p1 = min(max(settings.error_rate_unhealthy, p0 * 1.25), _CEIL)
    return math.log(p1 / p0), math.log((1 - p0) / (1 - p1))


def break_even_rate(settings: AnalysisSettings) -> float:
    """The error rate at which a window adds no evidence either way."""
    up, down = weights(settings)
    return down / (up + down)


def update(
    evidence: ErrorEvidence, errors: int, requests: int, settings: AnalysisSettings
) -> ErrorEvidence:
    up, down = weights(settings)
    floor = -math.log(settings.error_evidence_ratio)
    llr = max(floor, evidence.llr + errors * up - (requests - errors) * down)
    return ErrorEvidence(llr=llr, requests=evidence.requests + requests, errors=evidence.errors + errors)


def conclusive(evidence: ErrorEvidence, settings: AnalysisSettings) -> bool:
    """Strong evidence of an unhealthy error rate, on at least min_requests requests."""
    strong = evidence.llr >= math.log(settings.error_evidence_ratio)
    return strong and evidence.requests >= settings.min_requests
