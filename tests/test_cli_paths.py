"""CLI commands no other test ran, through the real `coderunner` entry point against the test stack:
`restart`, `stop --wait` / `start --wait`, `logs --tail N` / `--instance` / `-f`, `describe --watch`,
`cost` and the `autoscale` subcommands beyond simulate/policies.

Each asserts what the command did (ids, states, line counts), not only its exit code.
"""

from __future__ import annotations

import asyncio
import json
import queue
import signal
import subprocess
import sys
import threading
from typing import Any

from coderunner.models.deployment import DeploymentSpec
from starter.sdk import CodeRunner
from starter.tools.harness import HostProcess
from tests.cleanup import removed_after
from tests.cli_helpers import REPO, acoderunner
from tests.polling import until
from tests.test_deployment_workflow import DEMO, deployed, host_instances, spec

# the demo app behind a bounded ticker, so an instance's log has more lines than any --tail asks for
TICKS = 400
TICKING = [
    "sh",
    "-c",
    f'(i=0; while [ $i -lt {TICKS} ]; do i=$((i+1)); echo "tick $i"; sleep 0.1; done) '
    f"& exec {sys.executable} {DEMO}",
]


async def cli_json(env: dict[str, str], *args: str) -> dict:  # type: ignore[type-arg]
    result = await acoderunner(*args, "--json", env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


async def autoscale_status(env: dict[str, str], name: str, check: Any, what: str) -> dict:  # type: ignore[type-arg]
    """`autoscale status --json` polled until `check` holds (signals apply asynchronously)."""
    return await until(lambda: cli_json(env, "autoscale", "status", name), check, what)


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    return result.stdout


async def test_restart_stop_wait_start_wait(
    cr: CodeRunner, sandbox_host: HostProcess, cli_env: dict[str, str], name: str
) -> None:
    async with removed_after(cr, name):
        before = {i.instance_id for i in (await deployed(cr, spec(name, 2))).instances}
        ok(await acoderunner("restart", name, "--reason", "new config", env=cli_env))
        desc = await cli_json(cli_env, "describe", name)
        after = {i["instance_id"] for i in desc["instances"]}
        assert len(after) == 2 and after.isdisjoint(before) and all(i["healthy"] for i in desc["instances"])
        assert any(e["kind"] == "restarted" for e in desc["events"])

        ok(await acoderunner("stop", name, "--wait", "--reason", "night", env=cli_env))
        stopped = await cli_json(cli_env, "describe", name)  # --wait: already stopped when it returns
        assert stopped["status"] == "stopped" and stopped["instances"] == []
        assert await host_instances(sandbox_host, name) == []
        refused = await acoderunner("restart", name, env=cli_env)
        assert refused.returncode == 2 and "stopped" in refused.stderr

        ok(await acoderunner("start", name, "--wait", env=cli_env))
        started = await cli_json(cli_env, "describe", name)
        assert started["status"] == "running"
        assert sum(i["healthy"] for i in started["instances"]) == 2


def lines_of(out: str, prefix: str = "") -> list[str]:
    return [line for line in out.splitlines() if line.startswith(prefix)]


class Streamed:
    """A long-running CLI command (`-f`, `--watch`) whose stdout lines the test reads as they come."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "starter.cli", *args],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    async def next_line(self) -> str:
        """Off the event loop (the in-process worker shares it); 60 s only guards a hang."""
        return await asyncio.to_thread(self.lines.get, True, 60)

    def interrupt(self) -> str:
        """Ctrl-C, as a user stops it; returns its stderr."""
        self.proc.send_signal(signal.SIGINT)
        try:
            _, err = self.proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        return err or ""


async def test_logs_tail_instance_and_follow(cr: CodeRunner, cli_env: dict[str, str], name: str) -> None:
    ticking = DeploymentSpec(name=name, command=TICKING, replicas=2, env={"VERSION": "v1"})
    async with removed_after(cr, name):
        desc = await deployed(cr, ticking)
        first, second = sorted(i.instance_id for i in desc.instances)
        await until(
            lambda: acoderunner("logs", name, "--instance", first, "--tail", "100", env=cli_env),
            lambda r: len(lines_of(r.stdout, f"{first} | tick")) >= 8,
            "eight ticks in the log",
        )
        one = lines_of(ok(await acoderunner("logs", name, "--instance", first, "--tail", "5", env=cli_env)))
        assert len(one) == 5 and all(line.startswith(f"{first} | ") for line in one), one
        both = lines_of(ok(await acoderunner("logs", name, "--tail", "3", env=cli_env)))
        assert len(both) == 6, both
        assert {line.split(" | ")[0] for line in both} == {first, second}
        unknown = await acoderunner("logs", name, "--instance", f"{name}-v1-99", env=cli_env)
        assert unknown.returncode == 2 and first in unknown.stderr  # names the instances that exist

        follow = Streamed(["logs", name, "-f", "--instance", second, "--tail", "1"], cli_env)
        try:
            ticks: list[int] = []
            while len(ticks) < 6:  # new lines keep arriving: it follows, not prints once
                line = await follow.next_line()
                assert line.startswith(f"{second} | "), line
                if " | tick " in line:
                    ticks.append(int(line.rsplit(" ", 1)[1]))
            assert ticks == list(range(ticks[0], ticks[0] + 6)), ticks  # in order, none lost
        finally:
            follow.interrupt()


async def test_describe_watch_redraws_until_interrupted(
    cr: CodeRunner, cli_env: dict[str, str], name: str
) -> None:
    async with removed_after(cr, name):
        await deployed(cr, spec(name, 1))
        watch = Streamed(["describe", name, "--watch"], cli_env)
        err = ""
        try:
            redraws = 0
            while redraws < 3:  # bounded by events (three redraws), the timeout only guards a hang
                line = await watch.next_line()
                redraws += f"deployment  {name}" in line  # one header per redraw (cleared on a tty)
                assert "Traceback" not in line
        finally:
            err = watch.interrupt()
        assert redraws >= 3
        assert "Traceback" not in err, err


async def test_autoscale_subcommands_and_cost(cr: CodeRunner, cli_env: dict[str, str], name: str) -> None:
    async with removed_after(cr, name):
        await deployed(cr, spec(name, 1))
        try:
            policy = ["--policy", "dev", "--min", "1", "--target-rps", "1000", "--sync-interval", "1s"]
            budget = ["--price", "3.6", "--budget", "100"]
            ok(await acoderunner("autoscale", "enable", name, *policy, "--max", "3", *budget, env=cli_env))
            status = await cli_json(cli_env, "autoscale", "status", name)
            assert status["policy"]["max_replicas"] == 3 and status["paused"] is False

            ok(await acoderunner("autoscale", "pause", name, "--reason", "freeze", env=cli_env))
            status = await autoscale_status(cli_env, name, lambda s: s["paused"] is True, "paused")
            ok(await acoderunner("autoscale", "resume", name, env=cli_env))
            await autoscale_status(cli_env, name, lambda s: s["paused"] is False, "resumed")

            ok(await acoderunner("autoscale", "set-policy", name, *policy, "--max", "4", env=cli_env))
            await autoscale_status(
                cli_env, name, lambda s: s["policy"]["max_replicas"] == 4, "the new policy in place"
            )

            ok(await acoderunner("scale", name, "2", "--reason", "by hand", env=cli_env))
            await autoscale_status(
                cli_env,
                name,
                lambda s: s["override"] is not None and s["override"]["replicas"] == 2,
                "a manual scale becomes an override",
            )
            ok(await acoderunner("autoscale", "clear-override", name, env=cli_env))
            await autoscale_status(cli_env, name, lambda s: s["override"] is None, "the override cleared")

            [month] = await cli_json(cli_env, "cost", name)  # spend accrues from instance time
            assert month["budget"] == 100.0 and month["spend"] > 0 and month["projection"] >= month["spend"]
            table = ok(await acoderunner("cost", name, env=cli_env)).splitlines()
            assert table[0].split() == ["MONTH", "SPEND", "BUDGET", "LEVEL", "PROJECTION"], table
            assert table[1].split()[0] == month["month"]
        finally:
            disabled = await acoderunner("autoscale", "disable", name, env=cli_env)
        ok(disabled)
        handle = cr.client.get_workflow_handle(f"autoscaler/{name}")
        await until(
            handle.describe,
            lambda d: d.status is not None and d.status.name != "RUNNING",
            "the autoscaler workflow ended",
        )
        again = await acoderunner("autoscale", "status", name, env=cli_env)
        assert again.returncode == 2 and "autoscaling is not on" in again.stderr, again.stderr
