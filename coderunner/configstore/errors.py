"""What the config service refuses, by kind: the CLI maps input errors to exit 2, conflicts to a retry."""

from __future__ import annotations


class ConfigInputError(ValueError):
    """Bad input: the message names the field and the fix; nothing was changed."""


class ConfigNotFound(ConfigInputError):
    """An unknown project, environment or version (also bad input for the CLI: exit 2)."""


class VersionConflict(RuntimeError):
    """The environment moved past the expected version: re-read and retry."""
