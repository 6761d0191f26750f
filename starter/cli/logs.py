"""`coderunner logs`: instance output straight from the sandbox host (not through Temporal).

`--previous` (as kubectl's) shows an instance that is gone or died: one that exited and still waits
to be replaced, or one the host destroyed (replaced, scaled away, retired after a rollout), whose
log tail the host keeps (coderunner/hosts/previous.py). The newest one by default, or `--instance`.
"""

from __future__ import annotations

import asyncio

import typer

from coderunner.config.settings import Settings
from coderunner.hosts.client import SandboxClient
from coderunner.models.sandbox import InstanceState
from starter.sdk.errors import UserError


async def show_logs(settings: Settings, name: str, instance: str | None, tail: int, follow: bool) -> None:
    async with SandboxClient(settings.sandbox_url, settings.sandbox_token()) as client:
        ids = [i.instance_id for i in await client.list_instances(name)]
        if instance:
            if instance not in ids:
                raise UserError(
                    f"--instance {instance}: not an instance of {name}; known: {', '.join(ids) or 'none'}"
                    f" (a replaced one: `coderunner logs {name} --previous --instance ID`)"
                )
            ids = [instance]
        if not ids:
            raise UserError(f"{name} has no instances on the sandbox host (`coderunner describe {name}`; "
                            f"gone ones: `coderunner logs {name} --previous`)")
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


async def show_previous(settings: Settings, name: str, instance: str | None, tail: int) -> None:
    """The log of an instance that died or was replaced: newest first, or the one asked for."""
    async with SandboxClient(settings.sandbox_url, settings.sandbox_token()) as client:
        dead = [i for i in await client.list_instances(name) if i.state != InstanceState.RUNNING]
        gone = await client.previous_instances(name)
        known = [i.instance_id for i in dead] + [g.instance_id for g in gone]
        if not known:
            raise UserError(f"{name} has no previous instance: none died or was replaced since the "
                            "sandbox host kept logs")
        chosen = instance or known[0]
        if chosen not in known:
            raise UserError(f"--instance {chosen}: not a previous instance of {name}; known: "
                            f"{', '.join(known)}")
        ended = next((d for d in dead if d.instance_id == chosen), None)
        if ended is not None:
            why = f", {ended.exit_reason}" if ended.exit_reason else ""
            typer.echo(f"# {chosen} ({ended.version}): {ended.state.value}, exit code {ended.exit_code}"
                       f"{why}; not replaced yet", err=True)
            text = await client.logs(chosen, tail=tail)
        else:
            g = next(g for g in gone if g.instance_id == chosen)
            code = f", exit code {g.exit_code}" if g.state == InstanceState.EXITED else ""
            why = f", {g.exit_reason}" if g.exit_reason else ""
            typer.echo(f"# {chosen} ({g.version}, {g.group.value}): {g.state.value}{code}{why}; destroyed "
                       f"{g.ended_at:%Y-%m-%d %H:%M:%S} UTC", err=True)
            text = await client.previous_logs(name, chosen, tail=tail)
        others = [k for k in known if k != chosen]
        if others and instance is None:
            typer.echo(f"# also kept: {', '.join(others)} (pick one with --instance)", err=True)
        for line in text.splitlines():
            typer.echo(f"{chosen} | {line}")
