"""A rollout's analysis windows: the activity that judges one, and the book the decisions read.

The book keeps the verdicts since the last weight change (what `decide`/`next_action` read), the
latest KEEP_WINDOWS records (the status query and the abort's evidence), the sequential error
evidence, and the per-weight tally the evidence gate reads. It is carried over continue-as-new.
Raw latencies never enter the workflow: the activity returns statistics (patch `STATISTICS`).
"""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.analysis import AnalysisActivities
    from coderunner.models.rollout import AnalysisResult, AnalysisSettings, WindowVerdict
    from coderunner.models.rollout_api import RolloutCarry, RolloutInput, WindowRecord, WindowRequest

from coderunner.decisions import evidence_gate
from coderunner.decisions.canary import judge_summary, judge_window
from coderunner.decisions.window_summary import summarise_window
from workflows.options import SANDBOX_CALL

KEEP_WINDOWS = 40  # windows kept in the status query (the audit log has the abort's evidence)


class WindowBook:
    def __init__(self, carry: RolloutCarry, settings: AnalysisSettings) -> None:
        self.settings = settings
        self.history: list[WindowVerdict] = list(carry.history)
        self.windows: list[WindowRecord] = list(carry.windows)
        self.total = carry.windows_total
        self.evidence = carry.evidence
        self.tally = carry.tally

    def at_weight(self, weight: int) -> int:
        """Windows judged at this weight (what the evidence gate counts)."""
        return self.tally.windows if self.tally.weight == weight else 0

    def record(self, result: AnalysisResult, weight: int, step: int, at: datetime) -> None:
        self.total += 1
        self.history.append(result.verdict)
        self.tally = evidence_gate.tally(self.tally, weight, result)
        self.windows.append(WindowRecord(number=self.total, at=at, step=step, weight=weight,
                                         verdict=result.verdict, result=result))
        del self.windows[:-KEEP_WINDOWS]

    async def judge(self, inp: RolloutInput, canaries: list[str], weight: int, statistics: bool,
                    sequential: bool) -> AnalysisResult:
        """One window: statistics from the activity (new) or raw stats judged here (legacy runs)."""
        same_version = inp.spec.version == inp.from_version  # a config release
        request = WindowRequest(deployment=inp.deployment, canary_version=inp.spec.version,
                                window_s=self.settings.interval_s,
                                # a config release keeps the app version: only instance ids tell canary apart
                                canary_instances=canaries if same_version else [])
        summary_text = f"analysis window {self.total + 1} at {weight}%"
        if statistics:
            summary = await workflow.execute_activity_method(
                AnalysisActivities.analyse_window,
                request.model_copy(update={"settings": self.settings}),
                summary=summary_text, **SANDBOX_CALL)
        else:
            stats = await workflow.execute_activity_method(AnalysisActivities.collect_window, request,
                                                           summary=summary_text, **SANDBOX_CALL)
            if not sequential:
                return judge_window(stats.canary, stats.stable, self.settings)
            summary = summarise_window(stats.canary, stats.stable, self.settings)
        result, self.evidence = judge_summary(summary, self.settings, self.evidence)
        return result
