"""One polling helper for tests: wait for a condition, with the deadline used only as a timeout.

A test that polls asserts on what it saw (events, counts, states), never on how long it took; the
deadline is generous so a loaded 2-core machine slows a test down instead of failing it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

GENEROUS_S = 60.0


async def until(
    fetch: Callable[[], Awaitable[T]],
    check: Callable[[T], bool],
    what: str,
    timeout_s: float = GENEROUS_S,
    every_s: float = 0.1,
) -> T:
    """Call `fetch` until `check` holds on its result; fail naming `what` and the last value seen."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = await fetch()
        if check(value):
            return value
        assert time.monotonic() < deadline, f"{what}: not seen within {timeout_s:g}s; last: {value!r}"
        await asyncio.sleep(every_s)
