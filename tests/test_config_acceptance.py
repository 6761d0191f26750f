"""Acceptance on the embedded stack (`coderunner up`): a marker secret set through the CLI never
appears in plaintext in Temporal's database, the app database, any log or state file, or any CLI
output except `get --reveal` — and it does appear in the running instance's environment (the control)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import psutil

from tests.cli_helpers import REPO, coderunner
from tests.test_embedded_stack import stack_env

MARKER = "ACCEPT-marker-7d1e44b0"
APP = REPO / "examples" / "demo_app" / "app.py"


def files_containing(root: Path, needle: bytes) -> list[str]:
    return [str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


def test_marker_secret_only_in_the_instance_environment(tmp_path: Path) -> None:
    home = tmp_path / "state"
    env = stack_env(home)
    outputs: list[str] = []

    def cli(*args: str, stdin: str | None = None) -> str:
        if stdin is None:
            result = coderunner(*args, env=env, timeout=180)
        else:
            result = subprocess.run(
                [sys.executable, "-m", "starter.cli", *args],
                input=stdin,
                env=env,
                cwd=REPO,
                capture_output=True,
                text=True,
                timeout=180,
            )
        assert result.returncode == 0, result.stdout + result.stderr
        if args[:3] != ("config", "get", "API_TOKEN") or "--reveal" not in args:
            outputs.append(result.stdout + result.stderr)
        return result.stdout

    try:
        cli("up")
        p = ["-p", "shop", "-e", "production"]
        cli("config", "set", "API_TOKEN", "--secret", *p, "-r", "acceptance", stdin=MARKER + "\n")
        cli("config", "set", "VERSION=v1", *p)
        spec = tmp_path / "spec.yaml"
        spec.write_text(
            f"name: shop\ncommand: [python, {APP}]\nreplicas: 2\n"
            "config: {project: shop, environment: production}\n"
        )
        cli("deploy", str(spec), "--wait")
        desc = json.loads(cli("describe", "shop", "--json"))
        assert desc["spec"]["config"] == {
            "project": "shop",
            "environment": "production",
            "version": 2,
            "follow": True,
            "reload": True,
        }
        for instance in desc["instances"]:  # the control: the app got it
            procs = [
                psutil.Process(instance["pid"]),
                *psutil.Process(instance["pid"]).children(recursive=True),
            ]
            assert any(proc.environ().get("API_TOKEN") == MARKER for proc in procs)
        for args in (
            ["list"],
            ["describe", "shop"],
            ["logs", "shop"],
            ["config", "list", *p],
            ["config", "history", *p],
            ["config", "audit"],
            ["config", "export", *p, "-o", "json"],
            ["config", "export", *p],
            ["config", "diff", *p, "--from", "1", "--to", "2"],
            ["config", "get", "API_TOKEN", *p],
            ["stack"],
        ):
            cli(*args)
        assert "config      shop/production v2 (following)" in cli("describe", "shop")
        revealed = cli("config", "get", "API_TOKEN", *p, "--reveal", "--yes")
        assert revealed.strip() == MARKER  # the one place it may be shown
        time.sleep(1.0)  # let the worker's and Temporal's writes land
        assert all(MARKER not in out for out in outputs)
        assert files_containing(home, MARKER.encode()) == []  # temporal.sqlite, coderunner.sqlite, logs, …
        assert (home / "temporal.sqlite").exists() and (home / "coderunner.sqlite").exists()
        cli("delete", "shop", "--reason", "acceptance done")
    finally:
        coderunner("down", env=env, timeout=120)
    assert files_containing(home, MARKER.encode()) == []
