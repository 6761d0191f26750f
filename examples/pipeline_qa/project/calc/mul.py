"""Multiplication (written by the `mul` task)."""
