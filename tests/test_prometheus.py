"""The alert rules, checked and unit-tested by Prometheus' own promtool.

deploy/prometheus/rules.test.yml feeds series per worker (`instance` label) and pins when each
alert fires and what it says: a rolled-back rollout (including a deployment's first rollback, whose
counter is born at 1), a rollout paused for a person, budget at 90 %, a non-empty pipeline DLQ, an
open circuit breaker and a worker that stopped answering.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from tests.system_tools import require

PROM_DIR = Path(__file__).resolve().parents[1] / "deploy" / "prometheus"
ALERTS = {"CodeRunnerRolloutRolledBack", "CodeRunnerRolloutPausedWaitingForPerson",
          "CodeRunnerBudget90Percent", "CodeRunnerPipelineDeadLetters",
          "CodeRunnerPipelineCircuitBreakerOpen", "CodeRunnerWorkerDown"}


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([require("promtool", "prometheus"), *args], cwd=PROM_DIR, capture_output=True,
                          text=True, check=False, timeout=120)


def test_rules_pass_promtool_check() -> None:
    result = _promtool("check", "rules", "rules.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(ALERTS)} rules found" in result.stdout


def test_rules_unit_tests_pass() -> None:
    result = _promtool("test", "rules", "rules.test.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_is_unit_tested() -> None:
    rules = yaml.safe_load((PROM_DIR / "rules.yml").read_text())
    defined = {r["alert"] for g in rules["groups"] for r in g["rules"]}
    tests = yaml.safe_load((PROM_DIR / "rules.test.yml").read_text())
    tested = {c["alertname"] for t in tests["tests"] for c in t["alert_rule_test"] if c["exp_alerts"]}
    assert defined == ALERTS and tested == ALERTS


def test_a_broken_rule_is_caught(tmp_path: Path) -> None:
    """promtool really checks: the same file with one expression broken fails."""
    text = (PROM_DIR / "rules.yml").read_text().replace(") >= 90", " >= 90", 1)
    (tmp_path / "rules.yml").write_text(text)
    result = _promtool("check", "rules", str(tmp_path / "rules.yml"))
    assert result.returncode != 0


def test_compose_prometheus_config_passes_promtool(tmp_path: Path) -> None:
    """The config compose mounts, with its rule file path pointed at the repo's copy."""
    config = yaml.safe_load((PROM_DIR / "prometheus.yml").read_text())
    assert config["rule_files"] == ["/etc/prometheus/rules.yml"]
    config["rule_files"] = [str(PROM_DIR / "rules.yml")]
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    result = _promtool("check", "config", str(tmp_path / "prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
