"""The CodeRunner worker: every workflow and activity, a /metrics endpoint, graceful SIGTERM.

Run `python worker.py` (or `coderunner worker`). Where the stack is comes from the environment
(CODERUNNER_TEMPORAL_ADDRESS, CODERUNNER_SANDBOX_URL, CODERUNNER_DATABASE_URL, CODERUNNER_HOME, …)
or, for the embedded stack, from the stack.json that `coderunner up` wrote.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from datetime import timedelta

from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.worker import Worker

from activities.registry import activities
from coderunner.client import connect
from coderunner.config.ports import free_port
from coderunner.config.settings import Settings, StackNotRunning, load_settings
from coderunner.hosts.client import SandboxClient
from coderunner.store.repository import Store
from coderunner.telemetry.live import LiveSource
from coderunner.telemetry.pipelines import PipelineSource
from coderunner.telemetry.server import build_metrics_app, serve_metrics
from workflows.options import STICKY_QUEUE_TIMEOUT
from workflows.registry import WORKFLOW_RUNNER, WORKFLOWS

log = logging.getLogger("coderunner.worker")


class WorkerRefused(Exception):
    """The worker cannot start for a reason the user can fix: said in one line, exit 1."""


async def run_worker(
    settings: Settings, stop: asyncio.Event, sticky_timeout: timedelta = STICKY_QUEUE_TIMEOUT
) -> None:
    sdk_port = free_port()
    runtime = Runtime(
        telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=f"127.0.0.1:{sdk_port}"))
    )
    client = await connect(settings, runtime=runtime)
    store = Store(url=settings.resolved_database_url())
    provider = SandboxClient(settings.sandbox_url, settings.sandbox_token())
    runner = None
    if settings.metrics_port:
        app = build_metrics_app(store, f"http://127.0.0.1:{sdk_port}/metrics", LiveSource(client, provider),
                                PipelineSource(client))
        try:
            runner = await serve_metrics(app, settings.metrics_bind, settings.metrics_port)
        except OSError as err:
            raise WorkerRefused(
                f"metrics port {settings.metrics_port} is taken ({err.strerror}): the embedded stack already "
                "runs a worker (`coderunner stack`); stop it with `coderunner down`, or give this one "
                "another port with CODERUNNER_METRICS_PORT"
            ) from err
        log.info("metrics on %s:%d/metrics", settings.metrics_bind, settings.metrics_port)
    worker = Worker(
        client,
        task_queue=settings.task_queue,
        workflows=WORKFLOWS,
        workflow_runner=WORKFLOW_RUNNER,
        activities=activities(provider, store, settings.home),
        graceful_shutdown_timeout=timedelta(seconds=10),
        sticky_queue_schedule_to_start_timeout=sticky_timeout,  # a killed worker's workflows move on
    )
    log.info("worker polling %s on %s", settings.task_queue, settings.temporal_address)
    async with worker:
        await stop.wait()
        log.info("shutting down: finishing in-flight activities")
    await provider.aclose()
    if runner:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python worker.py", description=__doc__.splitlines()[0])
    parser.add_argument("--home", default=None, help="state dir (default $CODERUNNER_HOME or ./.coderunner)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s worker %(levelname)s %(message)s")
    settings = load_settings(args.home)

    async def _main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await run_worker(settings, stop)

    try:
        asyncio.run(_main())
    except (WorkerRefused, StackNotRunning) as err:
        print(f"error: {err}", file=sys.stderr, flush=True)
        os._exit(1)
    # skip interpreter teardown: the Temporal core's threads can abort it (sdk-python#300)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
