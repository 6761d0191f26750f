"""A pipeline task's agent as the plan declares it (what runs it: coderunner/agents)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from coderunner.models.rollout import parse_duration


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


AGENT_KIND_RE = r"^[a-z][a-z0-9-]{0,39}$"
COMMAND = "command"


class AgentSpec(_Strict):
    """A task's agent. `kind: command` (the default) is the built-in command agent: it runs `dev`, a
    shell-free argv (or a `sh -c` string), in the task's workspace. Any other kind is a plugin
    (Python entry point group `coderunner.agents`, see coderunner/agents) configured by `options`."""

    kind: str = Field(default=COMMAND, pattern=AGENT_KIND_RE, description="command, or an installed plugin")
    dev: list[str] | str | None = Field(
        default=None, description="the dev command: argv list, or one string run by sh -c"
    )
    qa: list[str] | str | None = Field(default=None, description="the QA command, run after each dev step")
    version: str = "1"
    timeout: float | None = Field(default=None, description="seconds (or 30s, 2m); default 4x estimate")
    options: dict[str, Any] = Field(default={}, description="a plugin agent's settings")

    @field_validator("dev", "qa")
    @classmethod
    def _dev_not_empty(cls, value: list[str] | str | None) -> list[str] | str | None:
        if value is None:
            return value
        if not value or (isinstance(value, list) and not all(isinstance(a, str) and a for a in value)):
            raise ValueError("must be a non-empty command, e.g. dev: [python, gen.py] or dev: 'make x'")
        return value

    @field_validator("timeout", mode="before")
    @classmethod
    def _timeout(cls, value: Any) -> float | None:
        return None if value is None else parse_duration(value, "timeout")

    @model_validator(mode="after")
    def _command_needs_dev(self) -> AgentSpec:
        if self.kind == COMMAND and self.dev is None:
            raise ValueError("dev: the command agent needs a dev command, e.g. dev: [python, gen.py]")
        if self.kind == COMMAND and self.options:
            raise ValueError("options: the command agent takes none (they are for plugin agents)")
        return self

    def argv(self) -> list[str]:
        """The dev command ([] for a plugin agent without one)."""
        return [] if self.dev is None else as_argv(self.dev)

    def qa_argv(self) -> list[str] | None:
        return None if self.qa is None else as_argv(self.qa)


def as_argv(command: list[str] | str) -> list[str]:
    """A command as argv: a list as is, a string through `sh -c`."""
    return ["sh", "-c", command] if isinstance(command, str) else list(command)
