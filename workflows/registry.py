"""Everything a worker registers, in one list, so worker.py and the tests cannot drift apart."""

from __future__ import annotations

from activities.analysis import AnalysisActivities
from activities.autoscale import AutoscaleActivities
from activities.sandbox import SandboxActivities
from activities.store import StoreActivities
from sandbox.provider import SandboxProvider
from store.repository import Store
from workflows.autoscaler import AutoscalerWorkflow
from workflows.deployment import DeploymentWorkflow
from workflows.rollout import CanaryRolloutWorkflow

WORKFLOWS: list[type] = [DeploymentWorkflow, AutoscalerWorkflow, CanaryRolloutWorkflow]


def activities(provider: SandboxProvider, store: Store) -> list:
    return [*SandboxActivities(provider).all(), *StoreActivities(store).all(),
            *AutoscaleActivities(provider, store).all(), *AnalysisActivities(provider).all()]
