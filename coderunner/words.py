"""Counted nouns for messages people read ("1 instance", "3 instances"), on both sides of the wire:
workflow events and CLI views say it the same way."""

from __future__ import annotations


def plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")
