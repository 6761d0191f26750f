"""Reading a deployment spec: YAML file, then flag overrides, then validation, all before any call."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from coderunner.models.deployment import DeploymentSpec
from starter.sdk.errors import UserError, describe_validation


def load_spec(
    path: str | None, overrides: dict[str, Any], env: dict[str, str] | None = None,
    plain: list[str] | None = None,
) -> DeploymentSpec:
    """The spec from `path`, flags in `overrides`, `env` (merged over the file's env) and `plain` (keys
    added to `plain_env`) applied, validated once so every error is reported the same way (and no env
    value is ever echoed)."""
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
    if env:
        file_env = data.get("env")
        data["env"] = {**(file_env if isinstance(file_env, dict) else {}), **env}
    if plain:
        listed = data.get("plain_env")
        data["plain_env"] = list(dict.fromkeys([*(listed if isinstance(listed, list) else []), *plain]))
    if "working_dir" in data and data["working_dir"] and not Path(data["working_dir"]).is_absolute():
        data["working_dir"] = str((base / data["working_dir"]).resolve())
    try:
        return DeploymentSpec.model_validate(data)
    except ValidationError as err:
        raise UserError(describe_validation(err, model=DeploymentSpec)) from err


def parse_env_pairs(pairs: list[str], flag: str = "--env") -> dict[str, str]:
    """`KEY=VALUE` flags as a dict; a malformed one is named by flag and position, never echoed (it may
    be a secret pasted without its key)."""
    env = {}
    for n, pair in enumerate(pairs, start=1):
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UserError(f"{flag} (#{n}): write KEY=VALUE, e.g. {flag} LOG_LEVEL=debug")
        env[key] = value
    return env
