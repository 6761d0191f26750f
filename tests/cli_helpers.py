"""Run the real `coderunner` console script as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def coderunner(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120.0
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "starter.cli", *args],
        cwd=REPO,
        env=env or dict(os.environ),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


async def acoderunner(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120.0  # noqa: ASYNC109
) -> subprocess.CompletedProcess[str]:
    """The same from an async test: off the event loop, so the in-process worker keeps running."""
    import asyncio

    return await asyncio.to_thread(coderunner, *args, env=env, timeout=timeout)
