"""Reading an instance's output.log: a cheap tail and a follow that polls for new bytes.

Logs can grow without bound, so the tail reads backwards from the end in blocks instead of loading
the file; follow polls (no inotify dependency) because a log line a few 100 ms late is fine.
"""

from __future__ import annotations

import asyncio
import codecs
import os
from collections.abc import AsyncIterator
from pathlib import Path

_BLOCK = 64 * 1024
FOLLOW_POLL_S = 0.2


def tail_bytes(path: Path, lines: int) -> tuple[bytes, int]:
    """The last `lines` lines of the file and the file size they end at (0 lines -> b"")."""
    try:
        with path.open("rb") as f:
            end = f.seek(0, os.SEEK_END)
            if lines <= 0:
                return b"", end
            pos, data = end, b""
            while pos > 0 and data.count(b"\n") <= lines:
                step = min(_BLOCK, pos)
                pos -= step
                f.seek(pos)
                data = f.read(step) + data
    except FileNotFoundError:
        return b"", 0
    parts = data.splitlines(keepends=True)
    return b"".join(parts[-lines:]), end


def tail(path: Path, lines: int) -> str:
    return tail_bytes(path, lines)[0].decode("utf-8", errors="replace")


async def follow(path: Path, lines: int = 0, heartbeat: bool = False) -> AsyncIterator[str]:
    """Yield the last `lines` lines, then whatever is appended, forever (the caller stops it).

    With `heartbeat`, an idle poll yields "" so a streaming caller gets a chance to notice that its
    client went away even when the app prints nothing.
    """
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")  # chunks may split a char
    first, offset = tail_bytes(path, lines)
    if first:
        yield decoder.decode(first)
    while True:
        chunk, offset = _read_from(path, offset)
        text = decoder.decode(chunk) if chunk else ""
        if text:
            yield text
        else:
            await asyncio.sleep(FOLLOW_POLL_S)
            if heartbeat:
                yield ""


def _read_from(path: Path, offset: int) -> tuple[bytes, int]:
    try:
        with path.open("rb") as f:
            size = f.seek(0, os.SEEK_END)
            if size < offset:  # truncated: start over
                offset = 0
            f.seek(offset)
            data = f.read(_BLOCK * 4)
    except FileNotFoundError:
        return b"", offset
    return data, offset + len(data)
