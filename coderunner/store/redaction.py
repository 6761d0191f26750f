"""Redact environment values before a spec or an event detail reaches the app database.

Env values carry secrets (API keys, passwords). The database is read by humans, backups and
dashboards, so only the env *keys* are kept: enough to answer "which variables does this deployment
set" without ever holding a secret in plaintext. Redaction is structural (any mapping under an
env-like key, at any depth), so new spec shapes stay covered without touching this module.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

REDACTED = "***redacted***"

# Keys whose value is a name -> secret-value mapping (or a list of "NAME=value" strings).
ENV_KEYS = frozenset({"env", "environment_variables", "env_vars", "secrets", "secret_env"})


def _redact_name_value(item: Any) -> Any:
    """Kubernetes-style `{"name": ..., "value": ...}` entries: keep the name, hide the value."""
    if isinstance(item, Mapping):
        return {k: REDACTED if str(k).lower() == "value" else redact_env(v) for k, v in item.items()}
    return redact_env(item)


def _redact_env_value(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): REDACTED for k in value}
    if isinstance(value, list | tuple):
        return [
            f"{item.split('=', 1)[0]}={REDACTED}"
            if isinstance(item, str) and "=" in item
            # a bare name ("DB_PASSWORD") is a reference, not a value: keep it
            else _redact_name_value(item)
            for item in value
        ]
    return value


def redact_env(spec: Any) -> Any:
    """Return a deep copy of `spec` with every env value replaced by REDACTED (keys kept).

    A plain string under an env-like key (e.g. `environment: "prod"`) is not a mapping of secrets
    and is left alone, which is why `environment` (the deployment's target) survives.
    """
    if isinstance(spec, Mapping):
        return {
            k: _redact_env_value(v) if str(k).lower() in ENV_KEYS else redact_env(v) for k, v in spec.items()
        }
    if isinstance(spec, list | tuple):
        return [redact_env(item) for item in spec]
    return spec
