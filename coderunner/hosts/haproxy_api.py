"""A client for HAProxy's runtime API (the admin "stats socket", a UNIX socket per router).

One command per connection (HAProxy answers and closes), so a reply is everything read until EOF.
"""

from __future__ import annotations

import asyncio
import csv
from dataclasses import dataclass
from pathlib import Path

from coderunner.hosts.haproxy_config import BACKEND, RING

TIMEOUT_S = 5.0


class RuntimeApiError(RuntimeError):
    """HAProxy refused a command, or its socket did not answer."""


async def command(socket_path: Path, line: str, timeout_s: float = TIMEOUT_S) -> str:
    async def run() -> str:
        reader, writer = await asyncio.open_unix_connection(str(socket_path), limit=1 << 20)
        try:
            writer.write(line.encode() + b"\n")
            await writer.drain()
            return (await reader.read()).decode(errors="replace")
        finally:
            writer.close()

    try:
        return await asyncio.wait_for(run(), timeout_s)
    except (OSError, TimeoutError) as exc:
        raise RuntimeApiError(f"runtime API {socket_path}: {type(exc).__name__}: {exc}") from exc


@dataclass(frozen=True)
class ServerState:
    name: str
    port: int
    weight: int
    in_maintenance: bool


async def servers(socket_path: Path) -> dict[str, ServerState]:
    """`show servers state`: what the running router really has (the truth to reconcile against)."""
    text = await command(socket_path, f"show servers state {BACKEND}")
    found: dict[str, ServerState] = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 19 or line.startswith("#") or fields[1] != BACKEND:
            continue
        # be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight ... srv_port(18)
        found[fields[3]] = ServerState(name=fields[3], port=int(fields[18]), weight=int(fields[7]),
                                       in_maintenance=int(fields[6]) & 0x01 != 0)
    return found


async def total_requests(socket_path: Path) -> int:
    """HTTP requests the frontend received since the router started (`show stat`, req_tot)."""
    text = await command(socket_path, "show stat -1 1 -1")
    rows = list(csv.reader(text.lstrip("# ").splitlines()))
    if len(rows) < 2:
        return 0
    header = rows[0]
    for row in rows[1:]:
        if len(row) == len(header) and row[1] == "FRONTEND":
            return int(row[header.index("req_tot")] or 0)
    return 0


async def request_log(socket_path: Path) -> str:
    """The whole request ring, oldest first."""
    return await command(socket_path, f"show events {RING}")


async def apply(socket_path: Path, commands: list[str]) -> list[str]:
    """Run commands one by one; returns the non-empty answers that look like refusals."""
    problems: list[str] = []
    for line in commands:
        answer = (await command(socket_path, line)).strip()
        if answer and not answer.startswith(("New server registered", "Server deleted")):
            problems.append(f"{line}: {answer}")
    return problems
