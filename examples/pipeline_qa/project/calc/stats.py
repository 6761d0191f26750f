"""Statistics (written by the `stats` task)."""

from calc.add import add  # noqa: F401
