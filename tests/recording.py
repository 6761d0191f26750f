"""The throw-away stack the history recorders run on (`python -m tests.record_*`)."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.registry import activities
from coderunner.config.home import HomeLayout
from coderunner.config.settings import Settings
from coderunner.config.temporal_bin import temporal_binary
from coderunner.models import search_attributes as sa
from coderunner.store.repository import Store
from starter.sdk import CodeRunner
from starter.tools.harness import HostProcess
from workflows.registry import WORKFLOW_RUNNER, WORKFLOWS

CAN_AFTER = 400  # history events before the server suggests continue-as-new


@asynccontextmanager
async def recording_stack(can_after: int | None = CAN_AFTER) -> AsyncIterator[tuple[Client, CodeRunner]]:
    """A throw-away dev server (no codec), sandbox host and worker; `can_after` sets the server's
    continue-as-new suggestion (None: the server's default)."""
    home = Path(tempfile.mkdtemp(prefix="record-"))
    host = HostProcess(home).start()
    extra = ["--log-level", "error"]
    if can_after is not None:
        extra += ["--dynamic-config-value", f"limit.historyCount.suggestContinueAsNew={can_after}"]
    try:
        async with await WorkflowEnvironment.start_local(
            dev_server_existing_path=temporal_binary(),
            search_attributes=sa.ALL,
            data_converter=pydantic_data_converter,
            dev_server_extra_args=extra,
        ) as env:
            store = Store(url=f"sqlite:///{HomeLayout(home).app_db}")
            async with Worker(
                env.client,
                task_queue="record",
                workflows=WORKFLOWS, workflow_runner=WORKFLOW_RUNNER,
                activities=activities(host.client(), store),
            ):
                settings = Settings(
                    home=home, temporal_address="-", task_queue="record", sandbox_url=host.url
                )
                yield env.client, CodeRunner(env.client, settings)
    finally:
        host.cleanup()
