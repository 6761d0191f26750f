"""A worker process for bench/recovery_time.py: today's options, or (`--baseline`) the options before
they were sized to the work, so both are measured in one run.

    python -m bench.recovery_worker [--baseline]      (settings from CODERUNNER_* variables)

The baseline values are the record of what the options were: 15 s start-to-close on sandbox calls
and metric reads, 10 s on store writes and per health-wait attempt, the SDK's 10 s sticky queue timeout.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from temporalio.common import RetryPolicy

import workflows.options as options
from coderunner.config.settings import load_settings

BASELINE_STICKY = timedelta(seconds=10)
_baseline_health_wait = options.health_wait


def use_baseline() -> None:
    """Put the old values in place before any workflow module reads them (the dicts are shared)."""
    options.SANDBOX_CALL["start_to_close_timeout"] = timedelta(seconds=15)
    options.SANDBOX_CALL["retry_policy"] = RetryPolicy(
        initial_interval=timedelta(milliseconds=300),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(seconds=10),
        non_retryable_error_types=["InvalidInstanceSpec"],
    )
    options.STORE_CALL["start_to_close_timeout"] = timedelta(seconds=10)

    def health_wait(deadline_s: float) -> options.ActivityOptions:
        return {**_baseline_health_wait(deadline_s), "start_to_close_timeout": timedelta(seconds=10)}

    def stop_call(grace_s: float) -> options.ActivityOptions:
        return dict(options.SANDBOX_CALL)  # type: ignore[return-value]

    options.health_wait = health_wait  # type: ignore[assignment]
    options.stop_call = stop_call  # type: ignore[assignment]


# before `worker` imports the workflow modules, which bind health_wait and stop_call by name
BASELINE = "--baseline" in sys.argv[1:]
if BASELINE:
    use_baseline()

from worker import run_worker  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    sticky = BASELINE_STICKY if args.baseline else options.STICKY_QUEUE_TIMEOUT

    async def _main() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await run_worker(load_settings(None), stop, sticky)

    asyncio.run(_main())
    os._exit(0)


if __name__ == "__main__":
    main()
