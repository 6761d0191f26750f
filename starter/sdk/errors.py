"""User-facing errors and their exit codes: 2 for bad input (nothing changed), 1 for operations."""

from __future__ import annotations

import difflib
from typing import Any

from pydantic import BaseModel, ValidationError
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


SECRET_FIELDS = frozenset({"env"})  # values under these keys are never echoed, errors included


def _model_at(model: type[BaseModel] | None, loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The nested model that holds the last element of `loc` (spec.resources.memry -> Resources)."""
    for part in loc[:-1]:
        field = model.model_fields.get(str(part)) if model is not None else None
        annotation = field.annotation if field is not None else None
        model = annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
    return model


def unknown_key_hint(model: type[BaseModel] | None, loc: tuple[Any, ...]) -> str:
    """`did you mean 'replicas'?` for `replica`, or the list of valid keys when nothing is close."""
    holder = _model_at(model, loc)
    if holder is None:
        return "remove it"
    valid = list(holder.model_fields)
    close = difflib.get_close_matches(str(loc[-1]), valid, n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}?" if close else f"remove it (valid keys: {', '.join(valid)})"


def _shown_input(e: Any) -> str:
    """The offending value, unless it is a container or sits under a secret field such as env."""
    if "input" not in e or isinstance(e["input"], dict | list) or e["type"] == "extra_forbidden":
        return ""
    if any(str(part) in SECRET_FIELDS for part in e["loc"]):
        return ""
    return f" (got {e['input']!r})"


def describe_validation(
    err: ValidationError, what: str = "spec", model: type[BaseModel] | None = None
) -> str:
    """One line per bad field: `spec.replicas: Input should be ≤ 50 (got 80) — lower it`.

    Values under `env` are never shown (they are often secrets): only the key and what is wrong.
    Unknown keys name the nearest valid one when `model` is given.
    """
    lines = []
    for e in err.errors():
        loc = tuple(e["loc"])
        field = ".".join(str(p) for p in loc) or "(root)"
        if e["type"] == "extra_forbidden":
            lines.append(f"{what}.{field}: unknown key — {unknown_key_hint(model, loc)}")
            continue
        hint = _HINTS.get(e["type"], "")
        lines.append(f"{what}.{field}: {e['msg']}{_shown_input(e)}" + (f" — {hint}" if hint else ""))
    return "invalid " + what + ":\n  " + "\n  ".join(lines)


def update_failure(err: WorkflowUpdateFailedError) -> Exception:
    """A refused update (its validator raised ValueError) is bad input; anything else, an operation."""
    cause = err.cause
    message = cause.message if isinstance(cause, ApplicationError) else str(cause)
    if isinstance(cause, ApplicationError) and cause.type == "ValueError":
        return UserError(message)
    return OperationError(message)
