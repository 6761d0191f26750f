"""Fault injection for failure branches: a worker on its own task queue where chosen activities are
replaced by fakes registered under the same names.

Only the activity at the fault is fake; the workflows, the other activities, the sandbox host, the
store and Temporal are the real ones. A test's deployments live on its own queue, so a fake never
answers another test's workflow.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.registry import activities
from coderunner.store.repository import Store
from starter.sdk import CodeRunner
from starter.tools.harness import HostProcess
from tests.conftest import settings_for
from workflows.registry import WORKFLOW_RUNNER, WORKFLOWS


def activity_name(fn: Callable[..., Any]) -> str:
    """The name an `@activity.defn` callable is registered under."""
    return str(getattr(fn, "__temporal_activity_definition").name)


@contextlib.asynccontextmanager
async def injected_worker(
    home: Path,
    env: WorkflowEnvironment,
    host: HostProcess,
    store: Store,
    fakes: list[Callable[..., Any]],
) -> AsyncIterator[CodeRunner]:
    """A real worker with `fakes` in place of the activities of the same names; a client bound to it."""
    replaced = {activity_name(f) for f in fakes}
    provider = host.client()
    real = [a for a in activities(provider, store) if activity_name(a) not in replaced]
    assert len(real) + len(fakes) == len(activities(provider, store)), "a fake names no real activity"
    queue = f"inject-{uuid.uuid4().hex[:8]}"
    try:
        async with Worker(env.client, task_queue=queue, workflows=WORKFLOWS, workflow_runner=WORKFLOW_RUNNER,
                          activities=[*real, *fakes]):
            yield CodeRunner(env.client, settings_for(home, env, host, queue))
    finally:
        await provider.aclose()
