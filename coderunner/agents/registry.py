"""Agents by kind, from the `coderunner.agents` entry points (the built-in `command` agent too)."""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any

from pydantic import ValidationError

from coderunner.agents.base import GROUP, Agent, AgentDeps, AgentError
from coderunner.models.pipeline import PlanError, PlanSpec


def installed() -> list[str]:
    return sorted({ep.name for ep in entry_points(group=GROUP)})


def agent_class(kind: str) -> Any:
    found = [ep for ep in entry_points(group=GROUP) if ep.name == kind]
    if not found:
        raise AgentError(f"no agent {kind!r} is installed (installed: {', '.join(installed()) or 'none'})")
    return found[0].load()


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
