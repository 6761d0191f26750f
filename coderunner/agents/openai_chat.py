"""An agent for any OpenAI-compatible chat-completions endpoint (`kind: openai-chat`; optional).

It sends the task's instructions, the current content of the files the task owns and, on a fix
attempt, the last failure's output, and asks for one JSON object `{"files": {path: content}}`; it
writes the proposed files into the step's scratch copy (only files the task owns: anything else is
refused). The base URL, model and API key come from the config/secrets store, by the task's
`config: project/environment` reference (entries OPENAI_BASE_URL, OPENAI_MODEL, OPENAI_API_KEY, names
changeable in `options`); the key is sent only in the Authorization header and never written to a
log, a result or history.

    - id: greet
      owns: [greet.py]
      config: llm/dev
      agent: {kind: openai-chat, options: {instructions: "Write greet(name) returning 'hi <name>'"},
              qa: [python, -c, "from greet import greet; assert greet('x') == 'hi x'"]}
      estimate: 30s
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from typing import Any, ClassVar

import httpx
from pydantic import BaseModel, ConfigDict, Field

from coderunner.agents.base import AgentContext, AgentDeps, AgentOutcome, AgentStatus, config_ref
from coderunner.models.pipeline import TaskSpec

IDENTITY = "coderunner.openai-chat"
RETRYABLE_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
FENCE = re.compile(r"^```[a-zA-Z]*\n(.*)\n```\s*$", re.DOTALL)
SYSTEM = (
    "You are a software engineer editing files of a project. Answer with exactly one JSON object and "
    'nothing else: {"files": {"<path>": "<the complete new content of that file>"}}. '
    "Only these paths may appear: "
)


class ChatOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    instructions: str = Field(min_length=1, description="what the task must do")
    base_url_key: str = "OPENAI_BASE_URL"
    model_key: str = "OPENAI_MODEL"
    api_key_key: str = "OPENAI_API_KEY"
    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    request_timeout_s: float = Field(default=120.0, gt=0)
    max_file_chars: int = Field(default=100_000, ge=1, description="larger owned files are not sent")


class Endpoint(BaseModel):
    base_url: str
    model: str
    api_key: str = Field(repr=False)


class Refused(Exception):
    """The endpoint or its answer cannot be used; `retryable` when trying again may help."""

    def __init__(self, message: str, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


class OpenAIChatAgent:
    role: ClassVar[str] = "dev"
    options_model: ClassVar[type[BaseModel] | None] = ChatOptions

    def __init__(self, deps: AgentDeps) -> None:
        self.deps = deps

    def cache_identity(self, task: TaskSpec) -> list[Any]:
        """The plugin, its version, its options and the endpoint's model (never the key)."""
        options = ChatOptions.model_validate(task.agent.options)
        endpoint = self.endpoint(task, options)
        digest = hashlib.sha256(options.model_dump_json().encode()).hexdigest()
        return [IDENTITY, task.agent.version, digest, endpoint.base_url, endpoint.model]

    def endpoint(self, task: TaskSpec, options: ChatOptions) -> Endpoint:
        ref = config_ref(task.config)
        if ref is None or self.deps.config is None:
            raise Refused(
                f"the openai-chat agent needs `config: project/environment` on task {task.id}, holding "
                f"{options.base_url_key}, {options.model_key} and {options.api_key_key}",
                retryable=False,
            )
        values = self.deps.config(ref)
        keys = (options.base_url_key, options.model_key, options.api_key_key)
        missing = [k for k in keys if not values.get(k)]
        if missing:
            raise Refused(f"config {task.config} has no {', '.join(missing)}", retryable=False)
        return Endpoint(base_url=values[keys[0]], model=values[keys[1]], api_key=values[keys[2]])

    async def run(self, ctx: AgentContext) -> AgentOutcome:
        task = ctx.task
        options = ChatOptions.model_validate(task.agent.options)
        try:
            endpoint = self.endpoint(task, options)
            answer = await self._ask(ctx, options, endpoint)
            files = proposed_files(answer, task.owns)
        except Refused as err:
            status = AgentStatus.RETRYABLE if err.retryable else AgentStatus.FATAL
            return AgentOutcome(status=status, log=str(err))
        for path, content in files.items():
            target = ctx.workspace / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content)
        log = f"{endpoint.model} proposed {len(files)} file(s): {', '.join(sorted(files)) or 'none'}"
        return AgentOutcome(status=AgentStatus.OK, changed=sorted(files), log=log)

    async def _ask(self, ctx: AgentContext, options: ChatOptions, endpoint: Endpoint) -> str:
        body = {
            "model": endpoint.model,
            "temperature": options.temperature,
            "messages": [
                {"role": "system", "content": SYSTEM + ", ".join(ctx.task.owns)},
                {"role": "user", "content": prompt(ctx, options)},
            ],
        }
        url = endpoint.base_url.rstrip("/") + "/chat/completions"
        headers = {"Authorization": f"Bearer {endpoint.api_key}"}
        try:
            async with httpx.AsyncClient(timeout=options.request_timeout_s) as http:
                request = asyncio.create_task(http.post(url, json=body, headers=headers))
                while not request.done():
                    if ctx.tick is not None:
                        await ctx.tick()
                    await asyncio.wait({request}, timeout=2.0)
                resp = request.result()
        except httpx.HTTPError as err:  # the message names the URL, never the headers
            raise Refused(f"{url}: {type(err).__name__}: {err}", retryable=True) from None
        if resp.status_code != 200:
            text = resp.text[:500].replace(endpoint.api_key, "***")
            raise Refused(f"{url} answered {resp.status_code}: {text}", resp.status_code in RETRYABLE_STATUS)
        try:
            content = resp.json()["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            not_chat = f"{url}: not a chat-completions answer: {resp.text[:300]}"
            raise Refused(not_chat, retryable=False) from None
        if not isinstance(content, str):
            raise Refused(f"{url}: the answer has no text content", retryable=False)
        return content


def prompt(ctx: AgentContext, options: ChatOptions) -> str:
    parts = [f"Task {ctx.task.id}: {options.instructions}", "Current files:"]
    for path in ctx.task.owns:
        file = ctx.workspace / path
        text = file.read_text(errors="replace") if file.is_file() else ""
        shown = text if len(text) <= options.max_file_chars else "(too large to show)"
        parts.append(f"--- {path}\n{shown}")
    if ctx.feedback:
        parts.append(f"The previous attempt failed; its output:\n{ctx.feedback}")
    return "\n\n".join(parts)


def proposed_files(answer: str, owns: list[str]) -> dict[str, str]:
    """The model's answer as {path: content}; refused unless it is the JSON asked for, over owned files."""
    text = answer.strip()
    fenced = FENCE.match(text)
    if fenced:
        text = fenced.group(1)
    try:
        data = json.loads(text)
    except ValueError:
        raise Refused(f"the answer is not JSON: {answer[:300]}", retryable=False) from None
    files = data.get("files") if isinstance(data, dict) else None
    if not isinstance(files, dict) or not all(isinstance(v, str) for v in files.values()):
        raise Refused('the answer has no {"files": {path: content}} object', retryable=False)
    outside = sorted(p for p in files if p not in owns)
    if outside:
        raise Refused(f"proposed files the task does not own: {', '.join(outside)}", retryable=False)
    return {str(p): v for p, v in files.items()}
