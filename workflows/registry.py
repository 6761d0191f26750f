"""Everything a worker registers, in one list, so worker.py and the tests cannot drift apart."""

from __future__ import annotations

from activities.sandbox import SandboxActivities
from activities.store import StoreActivities
from sandbox.provider import SandboxProvider
from store.repository import Store
from workflows.deployment import DeploymentWorkflow

WORKFLOWS: list[type] = [DeploymentWorkflow]


def activities(provider: SandboxProvider, store: Store) -> list:
    return [*SandboxActivities(provider).all(), *StoreActivities(store).all()]
