"""User-facing errors and their exit codes: 2 for bad input (nothing changed), 1 for operations."""

from __future__ import annotations

from pydantic import ValidationError
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError


class UserError(Exception):
    """Bad input: the message names the field and the fix. Exit code 2."""

    exit_code = 2


class OperationError(Exception):
    """The request was fine but the system could not do it. Exit code 1."""

    exit_code = 1


_HINTS = {
    "less_than_equal": "lower it",
    "greater_than_equal": "raise it",
    "string_pattern_mismatch": "use lowercase letters, digits and '-'",
    "missing": "add it",
    "too_short": "give at least one value",
}


def describe_validation(err: ValidationError, what: str = "spec") -> str:
    """One line per bad field: `spec.replicas: Input should be ≤ 50 (got 80) — lower it`."""
    lines = []
    for e in err.errors():
        field = ".".join(str(p) for p in e["loc"]) or "(root)"
        got = f" (got {e['input']!r})" if "input" in e and not isinstance(e["input"], dict) else ""
        hint = _HINTS.get(e["type"], "")
        lines.append(f"{what}.{field}: {e['msg']}{got}" + (f" — {hint}" if hint else ""))
    return "invalid " + what + ":\n  " + "\n  ".join(lines)


def update_failure(err: WorkflowUpdateFailedError) -> Exception:
    """A refused update (its validator raised ValueError) is bad input; anything else, an operation."""
    cause = err.cause
    message = cause.message if isinstance(cause, ApplicationError) else str(cause)
    if isinstance(cause, ApplicationError) and cause.type == "ValueError":
        return UserError(message)
    return OperationError(message)
