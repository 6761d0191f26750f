"""`coderunner get NAME`: the one-screen view, against the real stack (worker, host, router, load).

A deployment of 2 with a canary rollout held at 50 % under real HTTP load, so analysis windows
carry verdicts: the screen must show the status line, both versions, the step and weights, the
verdicts, and every instance under its revision with health, CPU and memory. After the abort it
shows the stable version and the last rollout's outcome; `--watch` redraws in place in a terminal.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import sys
import time

import pytest

from starter.sdk import CodeRunner
from starter.tools.load_process import load
from tests.cli_helpers import REPO, acoderunner
from tests.rollout_helpers import deployed_v1, fast_strategy


@pytest.fixture
def wide_env(cli_env: dict[str, str]) -> dict[str, str]:
    return {**cli_env, "COLUMNS": "160"}


async def test_get_shows_status_versions_weights_verdicts_and_the_instance_tree(
    cr: CodeRunner, wide_env: dict[str, str], name: str
) -> None:
    desc = await deployed_v1(cr, name, replicas=2)
    try:
        async with load(desc.router_url or "", rps=60):
            await cr.rollouts.start(name, "v2", env={"VERSION": "v2"},
                                    strategy=fast_strategy("50,100", step_duration="10m"))
            await cr.rollouts.wait(name, lambda s: s.canary_weight == 50 and s.windows_total >= 2, 90)
            result = await acoderunner("get", name, env=wide_env)
        assert result.returncode == 0, result.stderr
        out = result.stdout
        now = await cr.describe(name)
        for expected in (f"Name:         {name}", "✔ Running", "rollout progressing", "Versions:",
                         "v1 (stable)  v2 (canary)", "Strategy:", "Step:", "canary 50 % / stable 50 %",
                         "plan [50] → 100", "desired 2  current 3  healthy 3", "Analysis:", "windows so far",
                         "errors, p95", f"⟳ {name}", "# revision v2 (canary, 50 % of traffic)",
                         "# revision v1 (stable, 50 % of traffic)", "cpu", "MiB"):
            assert expected in out, f"{expected!r} not in:\n{out}"
        assert out.index("revision v2") < out.index("revision v1")  # the canary first, like Argo
        lines = out.splitlines()
        for inst in now.instances:
            line = next(x for x in lines if inst.instance_id in x)
            assert "✔ healthy" in line and "cpu" in line and "mem" in line
        verdict = r"[✔⚠✖] #\d+ (healthy|degraded|inconclusive|unhealthy)  at 50 %: canary \d+/\d+"
        assert re.search(verdict, out)

        await cr.rollouts.abort(name, reason="seen enough")
        await cr.rollouts.wait(name, timeout_s=60)
        after = (await acoderunner("get", name, env=wide_env)).stdout
        assert "Version:" in after and "v1 (stable)" in after and "v1 → v2 aborted" in after
        assert "revision v2" not in after or "canary" not in after.split("revision v2")[1][:20]
    finally:
        await cr.delete(name, reason="test done")


async def test_get_unknown_deployment_exits_2(wide_env: dict[str, str]) -> None:
    result = await acoderunner("get", "no-such-app", env=wide_env)
    assert result.returncode == 2 and "no deployment named" in result.stderr


def tmux(server: str, *args: str) -> str:
    """One tmux command on its own server socket; its stdout."""
    return subprocess.run(["tmux", "-L", server, *args], capture_output=True, text=True, check=False).stdout


async def test_get_watch_redraws_in_place(cr: CodeRunner, wide_env: dict[str, str], name: str) -> None:
    """In a real terminal (tmux), a scale shows up on the same screen without a second header."""
    assert shutil.which("tmux"), "tmux drives a real terminal here (`make test` installs it)"
    await deployed_v1(cr, name, replicas=1)
    session = f"get-{name}"
    env_args = [a for k, v in wide_env.items() if k.startswith(("CODERUNNER_", "PATH", "HOME"))
                for a in ("-e", f"{k}={v}")]
    cmd = f"{sys.executable} -m starter.cli get {name} --watch"
    await asyncio.to_thread(tmux, session, "new-session", "-d", "-s", session, "-x", "160", "-y", "50",
                            *env_args, "-c", str(REPO), cmd)
    try:
        def screen() -> str:
            return tmux(session, "capture-pane", "-p", "-t", session)

        async def wait_for(text: str) -> str:
            """Poll the pane off the event loop (the in-process worker shares the loop)."""
            deadline = time.monotonic() + 60
            while text not in (shown := await asyncio.to_thread(screen)):
                assert time.monotonic() < deadline, f"{text!r} never shown:\n{shown}"
                await asyncio.sleep(0.3)
            return shown

        await wait_for("desired 1  current 1  healthy 1")
        await cr.scale(name, 2, reason="watch me")
        shown = await wait_for("desired 2  current 2  healthy 2")
        assert shown.count("Name:") == 1 and f"{name}-v1-1" in shown  # redrawn, not appended
    finally:
        await asyncio.to_thread(tmux, session, "kill-server")
        await cr.delete(name, reason="test done")
