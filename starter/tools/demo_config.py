"""`coderunner demo`, part three: config released like code.

A deployment follows shop/production. A bad config version (ERROR_RATE=0.3) is released as a canary
of the *same* app version, caught by analysis and reverted while the stable instances never see it;
then a good version is promoted. The secret in the same environment is injected but never printed.
"""

from __future__ import annotations

import secrets as _random
from collections.abc import Callable
from pathlib import Path

import typer

from coderunner.models.configstore import ConfigRef
from coderunner.models.deployment import DeploymentSpec, DeploymentTimings
from starter.sdk.client import CodeRunner
from starter.tools.demo_rollouts import DEMO_RPS, DEMO_STRATEGY, steady_load
from starter.views.rollouts import watch
from starter.views.tables import description, statuses

NAME, PROJECT, ENV = "shop", "shop", "production"


async def config_stories(
    cr: CodeRunner, repo: Path, timings: DeploymentTimings, say: Callable[[str], None]
) -> None:
    configs = cr.config_releases.configs()
    say(f"config for {PROJECT}/{ENV}: a variable and a secret (encrypted, audited)")
    version = configs.set(PROJECT, ENV, {"VERSION": "v1", "ERROR_RATE": "0"}, reason="demo: baseline")
    configs.set_secret(PROJECT, ENV, "API_TOKEN", _random.token_urlsafe(16), reason="demo: token")
    typer.echo(
        f"  coderunner config set VERSION=v1 ERROR_RATE=0 -p {PROJECT} -e {ENV}            → v{version}"
    )
    typer.echo(f"  openssl rand -hex 16 | coderunner config set API_TOKEN --secret -p {PROJECT} -e {ENV}")
    for entry in configs.snapshot(PROJECT, ENV).entries:
        typer.echo(f"    {entry.key:<12} {'********' if entry.secret else entry.value}")

    if any(row["name"] == NAME for row in await cr.list()):
        await cr.delete(NAME, reason="demo re-run", actor="demo")
    say(f"deploying {NAME} following {PROJECT}/{ENV} (config: {{project: {PROJECT}, environment: {ENV}}})")
    spec = DeploymentSpec(
        name=NAME,
        command=["python", str(repo / "examples/demo_app/app.py")],
        replicas=2,
        config=ConfigRef(project=PROJECT, environment=ENV),
    )
    await cr.deploy(spec, timings, actor="demo")
    desc = await cr.wait_settled(NAME, timeout_s=60)
    typer.echo(
        f"  running on config v{desc.spec.config.version if desc.spec.config else '?'}; "
        "the workflow carries only the reference, the activity decrypts into the app's env"
    )

    router = desc.router_url or ""
    say("a bad config change: ERROR_RATE=0.3, released as a canary of the same app version")
    typer.echo(f"  coderunner config set ERROR_RATE=0.3 -p {PROJECT} -e {ENV} -r 'tune'")
    bad = configs.set(PROJECT, ENV, {"ERROR_RATE": "0.3"}, reason="demo: a bad idea")
    async with steady_load(router, DEMO_RPS) as seen:
        for outcome in await cr.config_releases.release(PROJECT, ENV, bad, DEMO_STRATEGY, actor="demo"):
            typer.echo(f"  {outcome.deployment}: {outcome.detail} ({outcome.workflow_id})")
        final = await watch(cr.rollouts, NAME, live=False)
    typer.echo(f"  users saw: {statuses(seen)}; rollout {final.phase.value} — only the canary's share erred")
    desc = await cr.wait_settled(NAME, timeout_s=60)
    typer.echo(
        f"  {NAME} stays on config v{desc.spec.config.version if desc.spec.config else '?'}; "
        f"`coderunner config rollback -p {PROJECT} -e {ENV} --to {bad - 1}` restores the content"
    )

    say("a good config change: FEATURE=on (and ERROR_RATE back to 0), promoted step by step")
    configs.set(PROJECT, ENV, {"ERROR_RATE": "0", "FEATURE": "on"}, reason="demo: a good idea")
    async with steady_load(router, DEMO_RPS) as seen:
        await cr.config_releases.release(PROJECT, ENV, None, DEMO_STRATEGY, actor="demo")
        final = await watch(cr.rollouts, NAME, live=False)
    typer.echo(f"  users saw: {statuses(seen)}; rollout {final.phase.value}")
    typer.echo(description(await cr.wait_settled(NAME, timeout_s=60), events=4))
    typer.echo(
        f"  try: coderunner config history -p {PROJECT} -e {ENV} · coderunner config diff -p {PROJECT} "
        f"-e {ENV} --from 1 · coderunner config audit · coderunner config audit verify"
    )
