"""Canary judgement on simulated windows: the sequential rule against the old fixed rule, one run.

    python bench/canary_judgement.py [--sick-runs 2000] [--healthy-runs 500] [--seed 1]

Both rules judge the same simulated windows (binomial error counts, no latency samples, so only
the error rules are compared):
- sick canary: 20 % errors at 25 % of 200 rps, 1 s analysis interval (50 canary requests a window,
  the setting of bench/rollback_latency.py): analysis intervals until the abort, p50 and p95
  (goal p50 <= 1.2; the window that aborts ends at that many intervals after onset).
- healthy canary: 0.5 % errors (stable 0.5 %) through the default plan 10/25/50/75/100 with three
  10 s windows per weight: false aborts over N rollouts (goal <= 1 %), at 200 rps and at a trickle
  of 20 rps where a window holds 20-150 canary requests.
- degraded canary: 6 % errors (documented band: not unhealthy) against a stable 0.5 %: how often
  each rule aborts it anyway (the old rule's "more than 5 points over stable" fires here).
Pure CPU; seeded, so the figures repeat.
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from coderunner.decisions.canary import decide, judge_summary, judge_window, next_action
from coderunner.decisions.window_summary import summarise_window
from coderunner.models.rollout import AnalysisSettings, ErrorEvidence, WindowVerdict
from coderunner.models.sandbox import BackendStats

Judge = Callable[[int, int, int, int], str]  # (canary req, canary err, stable req, stable err) -> action
MAX_WINDOWS = 60


def binomial(rng: random.Random, n: int, p: float) -> int:
    """Errors among n requests at rate p (geometric skips: exact, fast for small p)."""
    if p <= 0 or n <= 0:
        return 0
    count, position, log_q = 0, -1, math.log1p(-p)
    while True:
        position += int(math.log(1.0 - rng.random()) / log_q) + 1
        if position >= n:
            return count
        count += 1


def backends(requests: int, errors: int, version: str) -> list[BackendStats]:
    return [BackendStats(instance_id=f"{version}-1", version=version, requests=requests, errors=errors)]


class OldRule:
    """failure_limit UNHEALTHY windows in a row (and the other next_action rules)."""

    def __init__(self, settings: AnalysisSettings) -> None:
        self.settings = settings
        self.history: list[WindowVerdict] = []

    def __call__(self, cr: int, ce: int, sr: int, se: int) -> str:
        result = judge_window(backends(cr, ce, "v2"), backends(sr, se, "v1"), self.settings)
        self.history.append(result.verdict)
        return next_action(self.history, self.settings)

    def new_weight(self) -> None:
        self.history = []


class NewRule(OldRule):
    """The sequential error test (evidence carried across windows and weights) + next_action."""

    def __init__(self, settings: AnalysisSettings) -> None:
        super().__init__(settings)
        self.evidence = ErrorEvidence()

    def __call__(self, cr: int, ce: int, sr: int, se: int) -> str:
        summary = summarise_window(backends(cr, ce, "v2"), backends(sr, se, "v1"), self.settings)
        result, self.evidence = judge_summary(summary, self.settings, self.evidence)
        self.history.append(result.verdict)
        return decide(self.history, result, self.settings, self.evidence)


def sick_intervals(rule: type[OldRule], runs: int, seed: int, per_window: int = 50) -> tuple[list[int], int]:
    """Intervals until the abort per run, and how many runs paused for a human instead."""
    settings = AnalysisSettings(interval_s=1.0, min_requests=10, failure_limit=2, inconclusive_limit=5)
    rng, out, paused = random.Random(seed), [], 0
    for _ in range(runs):
        judge = rule(settings)
        for window in range(1, MAX_WINDOWS + 1):
            action = judge(per_window, binomial(rng, per_window, 0.20), 3 * per_window, 0)
            if action == "abort":
                out.append(window)
                break
            if action == "pause":
                paused += 1
                break
        else:
            out.append(MAX_WINDOWS)
    return out, paused


def rollout_aborts(rule: type[OldRule], runs: int, seed: int, rps: float, rate: float) -> tuple[int, int]:
    """(aborted, paused) over `runs` rollouts of the default plan, three 10 s windows per weight."""
    settings = AnalysisSettings(interval_s=10.0)
    rng = random.Random(seed)
    aborted = paused = 0
    for _ in range(runs):
        judge = rule(settings)
        outcome = "continue"
        for weight in (10, 25, 50, 75):
            judge.new_weight()
            for _ in range(3):
                cr = round(rps * 10 * weight / 100)
                sr = round(rps * 10) - cr
                outcome = judge(cr, binomial(rng, cr, rate), sr, binomial(rng, sr, 0.005))
                if outcome != "continue":
                    break
            if outcome != "continue":
                break
        aborted += outcome == "abort"
        paused += outcome == "pause"
    return aborted, paused


def pct(values: list[int], q: float) -> float:
    ordered = sorted(values)
    return float(ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)])


def main(sick_runs: int, healthy_runs: int, seed: int) -> None:
    for per_window, what in ((50, "25 % of 200 rps"), (12, "25 % of 50 rps, a trickle")):
        print(f"sick canary: 20 % errors, {what}, 1 s interval ({per_window} canary requests a window)")
        p50 = {}
        for label, rule in (("old rule (failure_limit 2)", OldRule), ("sequential rule", NewRule)):
            values, paused = sick_intervals(rule, sick_runs, seed, per_window)
            p50[label] = statistics.median(values) if values else float("nan")
            print(f"  {label:<28} rollback after p50 {p50[label]:.2f}  mean {statistics.mean(values):.2f}  "
                  f"p95 {pct(values, 0.95):.0f}  max {max(values)} analysis intervals; paused for a human "
                  f"instead in {paused} of {sick_runs} runs")
        print(f"  ratio p50 sequential/old: {p50['sequential rule'] / p50['old rule (failure_limit 2)']:.2f}"
              f"  (goal at 50 a window: sequential p50 <= 1.2 intervals)")
    for name, rate, goal in (("healthy canary 0.5 %", 0.005, "goal <= 1 %"),
                             ("degraded canary 6 % (not unhealthy)", 0.06, "documented: not unhealthy")):
        for rps in (200.0, 20.0):
            print(f"{name}, stable 0.5 %, {rps:g} rps, plan 10/25/50/75 x three 10 s windows, "
                  f"{healthy_runs} rollouts ({goal}):")
            for label, rule in (("old rule", OldRule), ("sequential rule", NewRule)):
                aborted, paused = rollout_aborts(rule, healthy_runs, seed, rps, rate)
                print(f"  {label:<28} aborted {aborted / healthy_runs:6.1%} ({aborted})   "
                      f"paused for a human {paused / healthy_runs:6.1%}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sick-runs", type=int, default=2000)
    parser.add_argument("--healthy-runs", type=int, default=500)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    main(args.sick_runs, args.healthy_runs, args.seed)
