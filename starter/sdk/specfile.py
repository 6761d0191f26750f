"""Reading a deployment spec: YAML file, then flag overrides, then validation, all before any call."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from coderunner.models.deployment import DeploymentSpec
from starter.sdk.errors import UserError, describe_validation


def load_spec(path: str | None, overrides: dict[str, Any]) -> DeploymentSpec:
    data: dict[str, Any] = {}
    base = Path.cwd()
    if path:
        file = Path(path)
        if not file.exists():
            raise UserError(f"spec file {path} not found: give the path of a YAML deployment spec")
        try:
            loaded = yaml.safe_load(file.read_text()) or {}
        except yaml.YAMLError as err:
            raise UserError(f"spec file {path} is not valid YAML: {err}") from err
        if not isinstance(loaded, dict):
            raise UserError(f"spec file {path} must hold a mapping (name:, command:, replicas: …)")
        data, base = loaded, file.resolve().parent
    data.update({k: v for k, v in overrides.items() if v is not None})
    if "working_dir" in data and data["working_dir"] and not Path(data["working_dir"]).is_absolute():
        data["working_dir"] = str((base / data["working_dir"]).resolve())
    try:
        return DeploymentSpec.model_validate(data)
    except ValidationError as err:
        raise UserError(describe_validation(err)) from err


def parse_env_pairs(pairs: list[str], flag: str = "--env") -> dict[str, str]:
    """KEY=VALUE pairs from a repeatable flag; an error names the flag the user typed, never a value."""
    env = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            shown = key if sep else "(no '=')"
            raise UserError(f"{flag} {shown}=…: write KEY=VALUE, e.g. {flag} LOG_LEVEL=debug")
        env[key] = value
    return env
