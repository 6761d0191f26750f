"""Every activity a worker registers, bound to its provider and store (the workflows' list is in
`workflows.registry`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from activities.analysis import AnalysisActivities
from activities.autoscale import AutoscaleActivities
from activities.pipeline import PipelineActivities
from activities.pipeline_metrics import PipelineMetricActivities
from activities.pipeline_ops import PipelineOpsActivities
from activities.pipeline_qa import PipelineQaActivities
from activities.rollout_watch import RolloutWatchActivities
from activities.sandbox import SandboxActivities
from activities.store import StoreActivities
from coderunner.agents.base import AgentDeps
from coderunner.config.home import home_dir
from coderunner.configstore.resolver import ConfigResolver
from coderunner.hosts.provider import SandboxProvider
from coderunner.store.repository import Store


def activities(provider: SandboxProvider, store: Store, home: Path | None = None) -> list[Callable[..., Any]]:
    """`home` holds the config master key (default $CODERUNNER_HOME or ./.coderunner)."""
    resolver = ConfigResolver(store.engine, home or home_dir())
    return [
        *SandboxActivities(provider, resolver.resolve).all(),
        *StoreActivities(store).all(),
        *AutoscaleActivities(provider, store).all(),
        *AnalysisActivities(provider).all(),
        *RolloutWatchActivities().all(),
        *PipelineActivities(AgentDeps(config=resolver.resolve_latest)).all(),
        *PipelineQaActivities().all(),
        *PipelineOpsActivities().all(),
        *PipelineMetricActivities().all(),
    ]
