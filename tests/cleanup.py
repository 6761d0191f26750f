"""Every test that creates a deployment removes it, even when an assertion fails half way.

`async with removed_after(cr, name):` deletes the deployment on the way out; a deployment that is
already gone (deleted by the test, or never started) is fine, any other error is not swallowed.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from starter.sdk import CodeRunner
from starter.sdk.errors import UserError


@contextlib.asynccontextmanager
async def removed_after(cr: CodeRunner, name: str) -> AsyncIterator[None]:
    try:
        yield
    finally:
        try:
            await cr.delete(name, reason="test cleanup")
        except UserError as err:  # gone already: "no deployment named" / "is deleted"
            if "no deployment" not in str(err) and "deleted" not in str(err):
                raise
