"""System tools some tests drive for real (promtool, prometheus, docker-compose): found or explained.

`make test` installs them (Debian packages `prometheus` and `docker-compose`, see the Makefile's
`tools` target). Under CI=true a missing tool fails the test, so a green run really ran it;
elsewhere the test is skipped with the one-line fix.
"""

from __future__ import annotations

import os
import shutil

import pytest


def require(binary: str, package: str) -> str:
    """The path of `binary`, else fail (CI) or skip with the install command."""
    path = shutil.which(binary)
    if path:
        return path
    hint = f"{binary} not found: run `make tools` (or `sudo apt-get install {package}`)"
    if os.environ.get("CI", "").lower() in ("true", "1"):
        pytest.fail(f"{hint}; required under CI=true")
    pytest.skip(f"{hint} (skipped only because CI is not true)")
