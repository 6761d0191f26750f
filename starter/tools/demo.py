"""`coderunner demo`: the foundation story end to end on the embedded stack, narrated; then the
canary rollout stories (starter/tools/demo_rollouts.py), config released as a canary
(starter/tools/demo_config.py) and a delivery pipeline released by its Ops stage
(starter/tools/demo_pipeline.py)."""

from __future__ import annotations

import asyncio
import collections
import os
import signal
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import httpx
import typer

from coderunner.models.deployment import DeploymentDescription, DeploymentTimings
from starter.sdk.client import CodeRunner
from starter.sdk.errors import OperationError
from starter.sdk.specfile import load_spec
from starter.stack import control as stack_mod
from starter.tools.demo_config import config_stories
from starter.tools.demo_pipeline import pipeline_story
from starter.tools.demo_rollouts import rollout_stories
from starter.views.tables import description

DEMO_TIMINGS = DeploymentTimings(sweep_interval_s=2.0, health_deadline_s=30.0)


def say(text: str) -> None:
    typer.secho(f"\n▶ {text}", bold=True)


async def traffic(router_url: str, requests: int = 30) -> collections.Counter[str]:
    """Real HTTP through the deployment's router; count answers per instance."""
    seen: collections.Counter[str] = collections.Counter()
    async with httpx.AsyncClient(timeout=5) as client:
        for _ in range(requests):
            resp = await client.get(router_url + "/")
            seen[
                resp.json().get("instance", "?") if resp.status_code == 200 else f"HTTP {resp.status_code}"
            ] += 1
    return seen


async def show_traffic(cr: CodeRunner, name: str) -> None:
    desc = await cr.describe(name)
    assert desc.router_url
    counts = await traffic(desc.router_url)
    typer.echo(
        f"  30 requests through {desc.router_url}: "
        + ", ".join(f"{k}: {v}" for k, v in sorted(counts.items()))
    )


async def wait_for(
    cr: CodeRunner, name: str, check: Callable[[DeploymentDescription], bool], timeout_s: float = 60.0
) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while asyncio.get_running_loop().time() < deadline:
        if check(await cr.describe(name)):
            return
        await asyncio.sleep(0.5)
    raise OperationError(f"demo: {name} did not reach the expected state within {timeout_s:g}s")


async def run_demo(home: Path, repo: Path) -> None:
    say("starting the embedded stack (coderunner up)")
    started, stack = await asyncio.to_thread(stack_mod.up, home)
    typer.echo(f"  {'started' if started else 'already up'}; Web UI at {stack['ui_url']}")
    cr = await CodeRunner.connect(str(home))
    name = "demo"
    if any(row["name"] == name for row in await cr.list()):
        say("removing the previous demo deployment")
        await cr.delete(name, reason="demo re-run", actor="demo")

    say("deploying examples/demo_app with 3 instances")
    spec = load_spec(str(repo / "examples/demo_app/spec.yaml"), {"replicas": 3})
    await cr.deploy(spec, DEMO_TIMINGS, actor="demo")
    desc = await cr.wait_settled(name, timeout_s=60)
    typer.echo(description(desc, events=4))
    await show_traffic(cr, name)

    say("scaling to 5")
    await cr.scale(name, 5, reason="demo: more traffic", actor="demo")
    await show_traffic(cr, name)

    say("scaling back to 2")
    await cr.scale(name, 2, reason="demo: quiet again", actor="demo")
    await show_traffic(cr, name)

    victim = (await cr.describe(name)).instances[0]
    say(f"killing instance {victim.instance_id} (pid {victim.pid}) with SIGKILL")
    before = (await cr.describe(name)).replacements
    if victim.pid:
        os.kill(victim.pid, signal.SIGKILL)
    await wait_for(cr, name, lambda d: d.replacements > before and sum(i.healthy for i in d.instances) == 2)
    desc = await cr.describe(name)
    typer.echo(description(desc, events=5))
    await show_traffic(cr, name)

    await rollout_stories(cr, name, say)
    await config_stories(cr, repo, DEMO_TIMINGS, say)
    await pipeline_story(cr, repo, DEMO_TIMINGS, say)

    url = f"{stack['ui_url']}/namespaces/default/workflows/{quote('deployment/' + name, safe='')}"
    say("every step is in the Temporal Web UI:")
    typer.echo(f"  {url}\n  (payloads are encrypted; the UI decrypts them through the codec server)")
    typer.echo(
        "  try: coderunner describe demo · coderunner logs demo · coderunner delete demo · coderunner down"
    )
