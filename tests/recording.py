"""A stack of its own for recording histories and for tests that need their own dev server settings.

Plain pydantic data converter (no codec), so recorded histories replay anywhere; optionally a tiny
continue-as-new threshold; a real worker in this process, with activities swapped by name to inject
a fault. Used by tests/record_*.py and tests whose server must differ from the session one.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.registry import activities
from coderunner.config.home import HomeLayout
from coderunner.config.settings import Settings
from coderunner.config.temporal_bin import temporal_binary
from coderunner.config.temporal_server import dev_server_config_args
from coderunner.models import search_attributes as sa
from coderunner.store.repository import Store
from starter.sdk import CodeRunner
from starter.tools.harness import HostProcess
from workflows.registry import WORKFLOW_RUNNER, WORKFLOWS

CAN_AFTER = 400  # history events before the server suggests continue-as-new


@contextlib.asynccontextmanager
async def local_stack(
    home: Path,
    host: HostProcess,
    task_queue: str,
    can_after: int | None = None,
    swap: Sequence[Callable[..., Any]] = (),
) -> AsyncIterator[CodeRunner]:
    """A dev server (continue-as-new suggested after `can_after` events) and a worker on `task_queue`
    whose activities named like one in `swap` are replaced by it."""
    args = ["--log-level", "error", *dev_server_config_args()]
    if can_after is not None:
        args += ["--dynamic-config-value", f"limit.historyCount.suggestContinueAsNew={can_after}"]
    swapped = {fn.__name__ for fn in swap}
    async with await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_binary(),
        search_attributes=sa.ALL,
        data_converter=pydantic_data_converter,
        dev_server_extra_args=args,
    ) as env:
        store = Store(url=f"sqlite:///{HomeLayout(home).app_db}")
        acts = [a for a in activities(host.client(), store, home) if a.__name__ not in swapped]
        async with Worker(env.client, task_queue=task_queue, workflows=WORKFLOWS,
                          workflow_runner=WORKFLOW_RUNNER, activities=[*acts, *swap]):
            settings = Settings(home=home, temporal_address="-", task_queue=task_queue, sandbox_url=host.url)
            yield CodeRunner(env.client, settings)


@contextlib.asynccontextmanager
async def recording_stack(can_after: int | None = CAN_AFTER) -> AsyncIterator[tuple[Client, CodeRunner]]:
    """`local_stack` in a throw-away home with its own sandbox host, for the history recorders;
    `can_after` None: the server's default continue-as-new suggestion."""
    home = Path(tempfile.mkdtemp(prefix="record-"))
    host = HostProcess(home).start()
    try:
        async with local_stack(home, host, "record", can_after) as cr:
            yield cr.client, cr
    finally:
        host.cleanup()
