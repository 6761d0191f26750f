"""The built-in command agent: runs the task's `dev` command in the sandbox over the scratch copy."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel

from coderunner.agents.base import AgentContext, AgentDeps, AgentOutcome, AgentStatus
from coderunner.models.pipeline import TaskSpec
from coderunner.pipeline.runner import run_in_workspace

IDENTITY = "coderunner.command-agent"


class CommandAgentRunner:
    role: ClassVar[str] = "dev"
    options_model: ClassVar[type[BaseModel] | None] = None

    def __init__(self, deps: AgentDeps) -> None:
        self.deps = deps

    def cache_identity(self, task: TaskSpec) -> list[Any]:
        """As before plugins existed, so the result cache stays valid across the change."""
        return [IDENTITY, task.agent.kind, task.agent.version]

    async def run(self, ctx: AgentContext) -> AgentOutcome:
        outcome = await run_in_workspace(
            ctx.task.agent.argv(), ctx.workspace, ctx.env, ctx.timeout_s, hidden=ctx.hidden, tick=ctx.tick
        )
        ok = outcome.exit_code == 0 and not outcome.timed_out
        return AgentOutcome(
            status=AgentStatus.OK if ok else AgentStatus.FATAL,
            log=outcome.log_tail,
            exit_code=outcome.exit_code,
            timed_out=outcome.timed_out,
            isolated=outcome.isolated,
        )
