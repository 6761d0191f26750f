"""Every Temporal server the project starts runs with the same dynamic config
(coderunner/config/temporal_server.py): the embedded stack's dev server, the compose stack's server,
and the test and bench servers. Why it matters: without `history.transferProcessorMaxPollRPS` raised,
a workflow running short steps one after another waits ~25 ms a step on the transfer queue's read
limit (bench/pipeline_task_timeline.py measures it against the server's defaults)."""

from __future__ import annotations

from pathlib import Path

import yaml

from coderunner.config.temporal_server import DYNAMIC_CONFIG, dev_server_config_args
from starter.stack.supervisor import child_commands

REPO = Path(__file__).resolve().parent.parent


def _flag_values(command: list[str]) -> dict[str, str]:
    values = [command[i + 1] for i, arg in enumerate(command) if arg == "--dynamic-config-value"]
    return dict(value.split("=", 1) for value in values)


def test_the_transfer_queue_read_limit_is_raised() -> None:
    assert DYNAMIC_CONFIG["history.transferProcessorMaxPollRPS"] >= 100  # the server's default is 20


def test_the_embedded_stack_starts_its_dev_server_with_the_config(tmp_path: Path) -> None:
    stack = {"temporal_port": 7233, "ui_port": 8233, "codec_port": 8234, "sandbox_port": 8235}
    command = child_commands(tmp_path, stack)["temporal"]
    assert _flag_values(command) == {key: str(value) for key, value in DYNAMIC_CONFIG.items()}


def test_the_compose_server_has_the_same_values() -> None:
    compose = yaml.safe_load((REPO / "deploy/temporal/dynamicconfig.yaml").read_text())
    for key, value in DYNAMIC_CONFIG.items():
        assert compose.get(key) == [{"value": value, "constraints": {}}], key


def test_a_bench_can_ask_for_the_server_defaults() -> None:
    assert dev_server_config_args({}) == []
    assert dev_server_config_args({"a.b": 3}) == ["--dynamic-config-value", "a.b=3"]
