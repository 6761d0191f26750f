"""Formatting (written by the `fmt` task)."""
