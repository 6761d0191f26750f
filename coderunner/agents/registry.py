"""Agents by kind, from the `coderunner.agents` entry points (the built-in `command` agent too)."""

from __future__ import annotations

import functools
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from pydantic import ValidationError

from coderunner.agents.base import GROUP, Agent, AgentDeps, AgentError
from coderunner.models.pipeline import PlanError, PlanSpec


@functools.cache
def _installed() -> dict[str, EntryPoint]:
    """Read once per process: `entry_points()` parses every installed distribution's metadata (~10 ms
    here), which was three quarters of a dev step's own time. A plugin installed later needs the worker
    restarted anyway, as any new Python code does."""
    found: dict[str, EntryPoint] = {}
    for ep in entry_points(group=GROUP):
        found.setdefault(ep.name, ep)
    return found


def installed() -> list[str]:
    return sorted(_installed())


def agent_class(kind: str) -> Any:
    found = _installed().get(kind)
    if found is None:
        raise AgentError(f"no agent {kind!r} is installed (installed: {', '.join(installed()) or 'none'})")
    return found.load()


def load_agent(kind: str, deps: AgentDeps) -> Agent:
    agent: Agent = agent_class(kind)(deps)
    return agent


def check_agents(plan: PlanSpec) -> list[PlanError]:
    """Every task's agent is installed and its options valid (where the agents run: the worker)."""
    errors: list[PlanError] = []
    for task in plan.tasks:
        try:
            cls = agent_class(task.agent.kind)
        except AgentError as err:
            errors.append(PlanError(task=task.id, field="agent.kind", message=str(err)))
            continue
        if cls.options_model is not None:
            try:
                cls.options_model.model_validate(task.agent.options)
            except ValidationError as err:
                for e in err.errors():
                    where = ".".join(str(p) for p in ("agent", "options", *e["loc"]))
                    message = "unknown key" if e["type"] == "extra_forbidden" else e["msg"]
                    errors.append(PlanError(task=task.id, field=where, message=message))
    return errors
