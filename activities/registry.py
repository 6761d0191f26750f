"""Every activity a worker registers, bound to its provider and store (the workflows' list is in
`workflows.registry`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from activities.analysis import AnalysisActivities
from activities.autoscale import AutoscaleActivities
from activities.pipeline import PipelineActivities
from activities.sandbox import SandboxActivities
from activities.store import StoreActivities
from coderunner.hosts.provider import SandboxProvider
from coderunner.store.repository import Store


def activities(provider: SandboxProvider, store: Store) -> list[Callable[..., Any]]:
    return [
        *SandboxActivities(provider).all(),
        *StoreActivities(store).all(),
        *AutoscaleActivities(provider, store).all(),
        *AnalysisActivities(provider).all(),
        *PipelineActivities().all(),
    ]
