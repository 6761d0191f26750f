"""`coderunner logs`: instance output straight from the sandbox host (not through Temporal)."""

from __future__ import annotations

import asyncio

import typer

from coderunner.config.settings import Settings
from coderunner.hosts.client import SandboxClient
from starter.sdk.errors import UserError


async def show_logs(settings: Settings, name: str, instance: str | None, tail: int, follow: bool) -> None:
    async with SandboxClient(settings.sandbox_url, settings.sandbox_token()) as client:
        ids = [i.instance_id for i in await client.list_instances(name)]
        if instance:
            if instance not in ids:
                raise UserError(
                    f"--instance {instance}: not an instance of {name}; known: {', '.join(ids) or 'none'}"
                )
            ids = [instance]
        if not ids:
            raise UserError(f"{name} has no instances on the sandbox host (`coderunner describe {name}`)")
        if not follow:
            for iid in ids:
                text = await client.logs(iid, tail=tail)
                for line in text.splitlines():
                    typer.echo(f"{iid} | {line}")
            return

        async def pump(iid: str) -> None:
            async for chunk in client.follow_logs(iid, tail=tail):
                for line in chunk.splitlines():
                    typer.echo(f"{iid} | {line}")

        await asyncio.gather(*(pump(i) for i in ids))
