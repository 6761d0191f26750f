"""Addition (written by the `add` task)."""
