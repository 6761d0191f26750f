"""Environment variables as people read them, under one rule (README, "Plain variables and secrets"):

- a spec's inline `env` value is a secret, so it is masked, unless its key is listed in the spec's
  `plain_env` (e.g. `VERSION`, `LOG_LEVEL`);
- a config-store variable is plain and shown; a config-store secret is always masked;
- a value never reaches output any other way (no flag echoes one, errors name keys only).
"""

from __future__ import annotations

from coderunner.models.configstore import MASK, ConfigSnapshot
from coderunner.models.deployment import REDACTED, DeploymentSpec


def env_pairs(spec: DeploymentSpec) -> str:
    """`VERSION=v2, API_TOKEN=***redacted***` for a redacted spec (plain keys keep their values)."""
    plain = set(spec.plain_env)
    shown = [f"{k}={v if k in plain else REDACTED}" for k, v in spec.env.items()]
    return ", ".join(shown) or "-"


def config_pairs(snapshot: ConfigSnapshot) -> str:
    """`LOG_LEVEL=debug, API_TOKEN=********`: config variables shown, config secrets masked."""
    shown = [f"{e.key}={MASK if e.secret else e.value}" for e in snapshot.entries]
    return ", ".join(shown) or "-"


def env_changes(live: DeploymentSpec, wanted: DeploymentSpec) -> list[str]:
    """What a deploy would change in env: keys added and removed; for plain keys (declared on either
    side) the old and new values too. Masked values cannot be compared (the live ones are masked)."""
    plain = set(live.plain_env) | set(wanted.plain_env)
    changes = []
    added = sorted(set(wanted.env) - set(live.env))
    removed = sorted(set(live.env) - set(wanted.env))
    if added:
        changes.append("env: + " + ", ".join(f"{k}={wanted.env[k]}" if k in plain else k for k in added))
    if removed:
        changes.append(f"env: - {', '.join(removed)}")
    for key in sorted(set(live.env) & set(wanted.env) & plain):
        if live.env[key] != wanted.env[key]:
            changes.append(f"env: {key} {live.env[key]} → {wanted.env[key]}")
    return changes


def masked_note(live: DeploymentSpec, wanted: DeploymentSpec) -> str | None:
    """Keys on both sides whose values are masked: they cannot be compared, only sent as given."""
    masked = sorted((set(live.env) & set(wanted.env)) - set(live.plain_env) - set(wanted.plain_env))
    return f"env {', '.join(masked)}: masked (secrets), not compared" if masked else None
