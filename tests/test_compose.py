"""Checks of docker-compose.yml: no Docker engine runs in CI, so a broken reference (a missing
file, a misspelt service, a module that was renamed) would otherwise surface only when someone runs
`docker compose up`. The static tests read the YAML and the repo; the `docker-compose config` tests
let Compose itself (Debian's docker-compose) validate and resolve the file.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.system_tools import require

REPO = Path(__file__).resolve().parent.parent
COMPOSE_FILE = REPO / "docker-compose.yml"
SEARCH_ATTRIBUTES = {
    "CodeRunnerDeployment": "Keyword",
    "CodeRunnerEnvironment": "Keyword",
    "CodeRunnerVersion": "Keyword",
    "CodeRunnerStatus": "Keyword",
    "CodeRunnerRolloutPhase": "Keyword",
    "CodeRunnerCanaryWeight": "Int",
    "CodeRunnerBudgetLevel": "Int",
    "CodeRunnerPipeline": "Keyword",
    "CodeRunnerPipelineStage": "Keyword",
    "CodeRunnerPipelineDeadLetters": "Int",
}


def _compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


SERVICES: dict[str, dict[str, Any]] = _compose()["services"]


def _depends_on(service: dict[str, Any]) -> dict[str, str]:
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return {name: "service_started" for name in deps}
    return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}


def _bind_sources(service: dict[str, Any]) -> list[str]:
    """Host paths of bind mounts (short `./src:/dst[:ro]` or long `type: bind` syntax)."""
    sources = []
    for volume in service.get("volumes") or []:
        if isinstance(volume, str):
            source = volume.split(":", 1)[0]
            if source.startswith((".", "/", "~")):
                sources.append(source)
        elif volume.get("type") == "bind":
            sources.append(volume["source"])
    return sources


def _command(service: dict[str, Any]) -> list[str]:
    command = service.get("command") or []
    return command.split() if isinstance(command, str) else [str(part) for part in command]


def _is_coderunner(service: dict[str, Any]) -> bool:
    return "build" in service


def _module_exists(module: str) -> bool:
    path = REPO.joinpath(*module.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def test_every_service_has_an_image_or_build() -> None:
    missing = [
        name for name, service in SERVICES.items() if "image" not in service and "build" not in service
    ]
    assert missing == []


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_depends_on_names_existing_services(name: str) -> None:
    unknown = set(_depends_on(SERVICES[name])) - set(SERVICES)
    assert not unknown, f"{name} depends on unknown services {unknown}"


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_referenced_repo_paths_exist(name: str) -> None:
    service = SERVICES[name]
    build = service.get("build")
    if build is not None:
        build = {"context": build} if isinstance(build, str) else build
        context = (REPO / build.get("context", ".")).resolve()
        assert context.is_dir(), f"{name}: build context {context} missing"
        dockerfile = context / build.get("dockerfile", "Dockerfile")
        assert dockerfile.is_file(), f"{name}: Dockerfile {dockerfile} missing"
    for source in _bind_sources(service):
        assert (REPO / source).exists(), f"{name}: bind-mounted {source} missing from the repo"


def test_named_volumes_are_declared() -> None:
    declared = set(_compose().get("volumes") or {})
    for name, service in SERVICES.items():
        for volume in service.get("volumes") or []:
            source = volume.split(":", 1)[0] if isinstance(volume, str) else volume.get("source", "")
            is_named = isinstance(volume, str) and not source.startswith((".", "/", "~")) and ":" in volume
            if is_named or (isinstance(volume, dict) and volume.get("type") == "volume"):
                assert source in declared, f"{name}: volume {source} not declared"


@pytest.mark.parametrize("name", sorted(n for n, s in SERVICES.items() if _is_coderunner(s)))
def test_coderunner_commands_point_at_repo_code(name: str) -> None:
    """`python file.py`, `python -m pkg.mod` and `python -c` imports must exist in the repo."""
    argv = _command(SERVICES[name])
    assert argv[:1] == ["python"], f"{name}: expected a python command, got {argv}"
    if argv[1] == "-m":
        assert _module_exists(argv[2]), f"{name}: module {argv[2]} not in the repo"
    elif argv[1] == "-c":
        imported = [n.module for n in ast.walk(ast.parse(argv[2])) if isinstance(n, ast.ImportFrom)]
        assert imported and all(_module_exists(m) for m in imported if m), f"{name}: {imported}"
    else:
        assert (REPO / argv[1]).is_file(), f"{name}: {argv[1]} not in the repo"


def test_expected_coderunner_services() -> None:
    commands = {name: " ".join(_command(s)) for name, s in SERVICES.items() if _is_coderunner(s)}
    assert commands["worker"] == "python worker.py"
    assert commands["sandbox-host"].startswith("python -m coderunner.hosts.host --home /data --port 7390")
    assert commands["codec-server"].startswith("python -m coderunner.codec.server --home /data --port 8081")
    assert "--bind 0.0.0.0" in commands["sandbox-host"] and "--bind 0.0.0.0" in commands["codec-server"]


def test_worker_configuration() -> None:
    worker = SERVICES["worker"]
    env = worker["environment"]
    assert env["CODERUNNER_TEMPORAL_ADDRESS"] == "temporal:7233"
    assert env["CODERUNNER_DATABASE_URL"].startswith("postgresql+psycopg://")
    assert env["CODERUNNER_SANDBOX_URL"] == "http://sandbox-host:7390"
    assert env["CODERUNNER_HOME"] == "/data"
    assert str(env["CODERUNNER_METRICS_PORT"]) == "9464"
    assert worker["deploy"]["replicas"] >= 2
    assert "container_name" not in worker  # a fixed name would forbid replicas
    assert _depends_on(worker)["temporal-register"] == "service_completed_successfully"


def test_temporal_setup_order() -> None:
    assert "auto-setup" not in COMPOSE_FILE.read_text()
    assert SERVICES["temporal"]["image"].startswith("temporalio/server")
    assert SERVICES["temporal"]["environment"]["DB"] == "postgres12"
    assert _depends_on(SERVICES["temporal"]) == {"temporal-admin-tools": "service_completed_successfully"}
    assert _depends_on(SERVICES["temporal-admin-tools"])["postgresql"] == "service_healthy"
    assert _depends_on(SERVICES["temporal-register"])["temporal"] == "service_healthy"
    assert "healthcheck" in SERVICES["postgresql"] and "healthcheck" in SERVICES["temporal"]
    assert SERVICES["temporal-ui"]["environment"]["TEMPORAL_CODEC_ENDPOINT"]


def test_search_attributes_registered() -> None:
    """Every attribute is named in compose and registered, with its type, by a mounted script."""
    text = COMPOSE_FILE.read_text()
    scripts = "\n".join(
        (REPO / src).read_text() for s in SERVICES.values() for src in _bind_sources(s) if src.endswith(".sh")
    )
    for name, kind in SEARCH_ATTRIBUTES.items():
        assert name in text, f"{name} missing from docker-compose.yml"
        assert re.search(rf"\b{name}\b.*\b{kind}\b", scripts), f"{name} ({kind}) not registered"


def test_prometheus_scrapes_worker_metrics() -> None:
    config = yaml.safe_load((REPO / "deploy" / "prometheus" / "prometheus.yml").read_text())
    targets = yaml.safe_dump(config["scrape_configs"])
    assert "worker" in targets and "9464" in targets


def test_dockerfile_defaults() -> None:
    dockerfile = (REPO / "deploy" / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim", dockerfile, re.M)
    assert 'CMD ["python", "worker.py"]' in dockerfile
    # fresh named volumes take the ownership of the image's dirs: both must be the app user's
    assert re.search(r"chown coderunner /data /releases", dockerfile), "the volumes' dirs are not chowned"


def test_setup_scripts_parse() -> None:
    scripts = sorted((REPO / "deploy").rglob("*.sh"))
    assert scripts, "no setup script under deploy/"
    for script in scripts:
        result = subprocess.run(["sh", "-n", str(script)], capture_output=True, text=True, check=False)
        assert result.returncode == 0, f"{script}: {result.stderr}"


def test_init_state_writes_shared_secrets(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "CODERUNNER_HOME": str(tmp_path), "CODERUNNER_CODEC_TOKEN": "tok-123"}
    subprocess.run([sys.executable, str(REPO / "deploy" / "init_state.py")], env=env, check=True, cwd=REPO)
    assert (tmp_path / "codec.token").read_text() == "tok-123"
    assert len(bytes.fromhex((tmp_path / "codec.key").read_text())) == 32
    assert (tmp_path / "sandbox.token").stat().st_mode & 0o077 == 0


# ---- `docker-compose config`: Compose itself validates the file (no Docker engine needed) ------


def _compose_config(**env: str) -> subprocess.CompletedProcess[str]:
    binary = require("docker-compose", "docker-compose")
    return subprocess.run([binary, "-f", str(COMPOSE_FILE), "config"], cwd=REPO, capture_output=True,
                          text=True, check=False, timeout=120, env={"PATH": "/usr/bin:/bin", **env})


def test_compose_validates_the_file() -> None:
    result = _compose_config(CODERUNNER_CODEC_TOKEN="t0ken")
    assert result.returncode == 0, result.stderr
    resolved = yaml.safe_load(result.stdout)
    assert set(resolved["services"]) == set(SERVICES)
    ui = resolved["services"]["temporal-ui"]["environment"]
    assert ui["TEMPORAL_CODEC_ENDPOINT"].endswith("/t0ken")


def test_compose_refuses_to_start_without_the_codec_token() -> None:
    result = _compose_config()
    assert result.returncode != 0 and "CODERUNNER_CODEC_TOKEN" in result.stderr


def _mounts(service: dict[str, Any]) -> dict[str, str]:
    """target -> source of a service's volumes in `docker-compose config`'s resolved output."""
    out = {}
    for volume in service.get("volumes") or []:
        if isinstance(volume, str):
            source, target = volume.split(":")[:2]
            out[target] = source
        else:
            out[volume["target"]] = volume["source"]
    return out


def test_compose_runs_prometheus_with_the_rules_and_grafana_with_the_dashboard() -> None:
    resolved = yaml.safe_load(_compose_config(CODERUNNER_CODEC_TOKEN="t").stdout)
    prometheus = _mounts(resolved["services"]["prometheus"])
    prom_dir = Path(prometheus["/etc/prometheus"])
    config = yaml.safe_load((prom_dir / "prometheus.yml").read_text())
    assert config["rule_files"] == ["/etc/prometheus/rules.yml"] and (prom_dir / "rules.yml").is_file()
    grafana = resolved["services"]["grafana"]
    mounts = _mounts(grafana)
    dashboards = Path(mounts["/var/lib/grafana/dashboards"])
    assert (dashboards / "coderunner.json").is_file()
    provisioning = Path(mounts["/etc/grafana/provisioning"])
    provider = yaml.safe_load((provisioning / "dashboards" / "coderunner.yml").read_text())
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
    sources = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())
    datasource = sources["datasources"][0]
    assert datasource["url"] == "http://prometheus:9090"
    panels = json.loads((dashboards / "coderunner.json").read_text())["panels"]
    panel_uids = {t["datasource"]["uid"] for p in panels for t in p.get("targets", [])}
    assert panel_uids == {datasource["uid"]}  # every panel reads the provisioned datasource
    assert "prometheus" in _depends_on(grafana)


def test_the_workers_and_the_sandbox_host_share_the_releases_and_the_state() -> None:
    """A worker's Ops stage writes a pipeline's release; the sandbox host starts the app in it. Both
    must see the same volume at CODERUNNER_RELEASES_DIR (outside the state dir, which sandboxes never
    see), and the same state volume (the run dirs, keys and tokens)."""
    resolved = yaml.safe_load(_compose_config(CODERUNNER_CODEC_TOKEN="t").stdout)["services"]
    worker, host = resolved["worker"], resolved["sandbox-host"]
    releases = worker["environment"]["CODERUNNER_RELEASES_DIR"]
    home = worker["environment"]["CODERUNNER_HOME"]
    assert host["environment"]["CODERUNNER_RELEASES_DIR"] == releases
    assert not Path(releases).is_relative_to(home), (releases, home)
    assert _mounts(worker)[releases] == _mounts(host)[releases] == "coderunner-releases"
    assert _mounts(worker)[home] == _mounts(host)[home] == "coderunner-data"
