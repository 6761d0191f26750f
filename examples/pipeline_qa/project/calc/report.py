"""A report over the legacy bridge (written by the `report` task)."""

from calc import legacy  # noqa: F401
