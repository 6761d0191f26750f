"""The agent plugin interface: what a pipeline task's dev step asks of an agent.

An agent is a class registered under the Python entry point group `coderunner.agents` (name = the
plan's `agent.kind`), built with the worker's `AgentDeps`. It has a `role`, a cache identity (what
besides the task's input files decides its output: the result cache keys on it) and a `run` that
changes files in the step's scratch copy of the workspace and says how it went:
- ok: done (the step then checks the changed files against the task's `owns`);
- retryable: a passing trouble (an endpoint down, rate limited): the step is retried by Temporal
  (up to its retry policy) before the task's attempt counts as failed;
- fatal: this attempt failed (a failing command, a refused request): a fix attempt or the DLQ follow.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar, Protocol

from pydantic import BaseModel

from coderunner.models.configstore import ConfigRef
from coderunner.models.pipeline import TaskSpec

GROUP = "coderunner.agents"

ConfigLookup = Callable[[ConfigRef], dict[str, str]]


class AgentStatus(StrEnum):
    OK = "ok"
    RETRYABLE = "retryable"
    FATAL = "fatal"


class AgentOutcome(BaseModel):
    status: AgentStatus
    changed: list[str] = []  # what the agent says it changed (the step diffs the workspace anyway)
    log: str = ""  # the tail of its output: shown in the task's detail, passed to a fix attempt
    exit_code: int | None = None  # a command's exit code
    timed_out: bool = False
    isolated: bool = False  # ran in a sandbox


@dataclass
class AgentContext:
    task: TaskSpec
    workspace: Path  # the step's scratch copy: change files here
    env: dict[str, str]
    feedback: str  # the last failure's output when this is a fix attempt, else ''
    timeout_s: float
    hidden: list[Path] = field(default_factory=list)  # never visible to what the agent runs
    tick: Callable[[], Awaitable[None]] | None = None  # await it now and then (heartbeats)


@dataclass
class AgentDeps:
    """What the worker gives every agent: config and secrets by reference (the store decrypts)."""

    config: ConfigLookup | None = None


class Agent(Protocol):
    role: ClassVar[str]  # "dev"
    options_model: ClassVar[type[BaseModel] | None]  # validates the plan's `agent.options`

    def cache_identity(self, task: TaskSpec) -> list[Any]: ...

    async def run(self, ctx: AgentContext) -> AgentOutcome: ...


class AgentError(Exception):
    """An agent that cannot be used: not installed, or its options refused; the message says why."""


def config_ref(text: str | None) -> ConfigRef | None:
    """`project/environment` (the task's `config`) as a reference."""
    if not text:
        return None
    project, _, environment = text.partition("/")
    return ConfigRef(project=project, environment=environment)
