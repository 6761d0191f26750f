"""The Python SDK: what the CLI does, as functions users can import and script.

from starter.sdk import CodeRunner
async with await CodeRunner.connect() as cr:
    await cr.deploy(spec)
    await cr.scale("demo", 5, reason="traffic")
"""

from starter.sdk.client import CodeRunner

__all__ = ["CodeRunner"]
