"""Agents as plugins: the registry (entry points), plan checks, the command agent's cache identity,
and the OpenAI-compatible chat agent over its real HTTP path against a local stub server speaking
the chat-completions protocol — directly, and in a pipeline on the real stack with its endpoint and
API key from the config/secrets store (a fix attempt gets the QA output; the key shows nowhere)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import yaml
from aiohttp import web

from coderunner.agents.base import AgentContext, AgentDeps, AgentStatus
from coderunner.agents.command import CommandAgentRunner
from coderunner.agents.openai_chat import ChatOptions, OpenAIChatAgent
from coderunner.agents.registry import check_agents, installed, load_agent
from coderunner.config.ports import free_port
from coderunner.configstore.resolver import ConfigResolver
from coderunner.models.configstore import ConfigChange
from coderunner.models.pipeline import PipelineStatus, TaskSpec, TaskStatus, check_plan
from coderunner.pipeline.cache import cache_key
from coderunner.store.repository import Store
from starter.sdk import CodeRunner
from starter.sdk.pipelines import Pipelines
from tests.pipeline_helpers import plan_of, task

API_KEY = "sk-test-0123456789abcdef"
GOOD = "def greet(name):\n    return 'hi ' + name\n"
BAD = "def greet(name):\n    return 'hello ' + name\n"
Reply = Callable[[dict[str, Any]], web.Response]


def chat_task(tid: str = "greet", config: str | None = "llm/dev", **options: Any) -> dict[str, Any]:
    return {
        "id": tid,
        "owns": ["greet.py"],
        "config": config,
        "agent": {"kind": "openai-chat", "options": {"instructions": "write greet(name)", **options},
                  "qa": ["python", "-c", "from greet import greet; assert greet('x') == 'hi x', greet('x')"]},
        "estimate": 1,
    }


def answer(files: dict[str, str], fence: bool = False) -> web.Response:
    content = json.dumps({"files": files})
    if fence:
        content = f"```json\n{content}\n```"
    return web.json_response({"id": "c1", "object": "chat.completion",
                              "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                                           "finish_reason": "stop"}]})


class Stub:
    """A chat-completions endpoint: records each request; `reply` decides the answer."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], dict[str, Any]]] = []
        self.reply: Reply = lambda body: answer({"greet.py": GOOD})
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append((dict(request.headers), body))
        if request.headers.get("Authorization") != f"Bearer {API_KEY}":
            return web.json_response({"error": {"message": "invalid api key"}}, status=401)
        return self.reply(body)


@pytest_asyncio.fixture
async def stub() -> AsyncIterator[Stub]:
    server = Stub()
    app = web.Application()
    app.router.add_post("/v1/chat/completions", server.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    server.url = f"http://127.0.0.1:{port}/v1"
    yield server
    await runner.cleanup()


def deps_for(stub: Stub, key: str = API_KEY) -> AgentDeps:
    values = {"OPENAI_BASE_URL": stub.url, "OPENAI_MODEL": "stub-model", "OPENAI_API_KEY": key}
    return AgentDeps(config=lambda ref: values if (ref.project, ref.environment) == ("llm", "dev") else {})


def context(tmp_path: Path, feedback: str = "", **options: Any) -> AgentContext:
    (tmp_path / "greet.py").write_text("# to write\n")
    spec = TaskSpec.model_validate(chat_task(**options))
    return AgentContext(task=spec, workspace=tmp_path, env={}, feedback=feedback, timeout_s=30)


# ---- registry and plan checks -------------------------------------------------------------------


def test_both_agents_are_installed_entry_points() -> None:
    assert {"command", "openai-chat"} <= set(installed())
    assert isinstance(load_agent("command", AgentDeps()), CommandAgentRunner)
    assert isinstance(load_agent("openai-chat", AgentDeps()), OpenAIChatAgent)


def test_unknown_agents_and_bad_options_are_named() -> None:
    plan = plan_of(
        {**task("a", ["a.py"]), "agent": {"kind": "nope"}},
        {**task("b", ["b.py"]), "agent": {"kind": "openai-chat", "options": {"temprature": 1}}},
        chat_task("c"),
    )
    errors = [(e.task, e.field, e.message) for e in check_agents(plan)]
    assert errors[0][:2] == ("a", "agent.kind") and "no agent 'nope' is installed" in errors[0][2]
    assert ("b", "agent.options.instructions", "Field required") in errors
    assert ("b", "agent.options.temprature", "unknown key") in errors
    assert not [e for e in errors if e[0] == "c"]


def test_the_command_agent_needs_dev_and_takes_no_options() -> None:
    _, errors = check_plan({"name": "p", "project": ".", "tasks": [
        {"id": "a", "owns": ["a"], "agent": {}, "estimate": 1},
        {"id": "b", "owns": ["b"], "agent": {"dev": ["true"], "options": {"x": 1}}, "estimate": 1},
    ]})
    assert [(e.task, e.field) for e in errors] == [("a", "agent"), ("b", "agent")]
    assert "needs a dev command" in errors[0].message and "takes none" in errors[1].message


def test_command_agent_keeps_the_cache_keys_it_had() -> None:
    spec = plan_of(task("a", ["a.py"])).tasks[0]
    identity = CommandAgentRunner(AgentDeps()).cache_identity(spec)
    assert cache_key(spec, {"a.py": "h"}, identity) == cache_key(spec, {"a.py": "h"})


# ---- the chat agent's HTTP path -----------------------------------------------------------------


async def test_chat_agent_writes_the_proposed_files(stub: Stub, tmp_path: Path) -> None:
    agent = OpenAIChatAgent(deps_for(stub))
    stub.reply = lambda body: answer({"greet.py": GOOD}, fence=True)
    outcome = await agent.run(context(tmp_path, feedback="AssertionError: hello x"))
    assert outcome.status == AgentStatus.OK and outcome.changed == ["greet.py"], outcome
    assert (tmp_path / "greet.py").read_text() == GOOD
    headers, body = stub.requests[0]
    assert headers["Authorization"] == f"Bearer {API_KEY}" and body["model"] == "stub-model"
    user = body["messages"][-1]["content"]
    assert "write greet(name)" in user and "# to write" in user and "AssertionError: hello x" in user
    assert API_KEY not in outcome.log


@pytest.mark.parametrize(
    ("reply", "status", "text"),
    [
        (lambda body: web.json_response({"e": "busy"}, status=503), AgentStatus.RETRYABLE, "answered 503"),
        (lambda body: web.json_response({"error": "slow down"}, status=429), AgentStatus.RETRYABLE, "429"),
        (lambda body: web.json_response({"error": "bad"}, status=400), AgentStatus.FATAL, "answered 400"),
        (lambda body: answer({"other.py": "x"}), AgentStatus.FATAL, "does not own: other.py"),
        (lambda body: web.json_response({"choices": []}), AgentStatus.FATAL, "not a chat-completions answer"),
    ],
)
async def test_chat_agent_failures_are_retryable_or_fatal(
    stub: Stub, tmp_path: Path, reply: Reply, status: AgentStatus, text: str
) -> None:
    stub.reply = reply
    outcome = await OpenAIChatAgent(deps_for(stub)).run(context(tmp_path))
    assert outcome.status == status and text in outcome.log, outcome
    assert (tmp_path / "greet.py").read_text() == "# to write\n"  # nothing written


async def test_chat_agent_with_a_wrong_key_or_no_config(stub: Stub, tmp_path: Path) -> None:
    refused = await OpenAIChatAgent(deps_for(stub, key="sk-wrong")).run(context(tmp_path))
    assert refused.status == AgentStatus.FATAL and "answered 401" in refused.log
    assert "sk-wrong" not in refused.log
    unset = await OpenAIChatAgent(deps_for(stub)).run(context(tmp_path, config=None))
    assert unset.status == AgentStatus.FATAL and "needs `config: project/environment`" in unset.log
    closed = await OpenAIChatAgent(AgentDeps(config=lambda ref: {})).run(context(tmp_path))
    assert "has no OPENAI_BASE_URL, OPENAI_MODEL, OPENAI_API_KEY" in closed.log
    endpoint = OpenAIChatAgent(deps_for(stub)).endpoint(TaskSpec.model_validate(chat_task()),
                                                         ChatOptions(instructions="x"))
    assert endpoint.api_key == API_KEY and API_KEY not in repr(endpoint)  # never in a repr or log line


# ---- in a pipeline, on the real stack -------------------------------------------------------------


def configure_stub(store: Store, home: Path, project: str, stub: Stub) -> str:
    """The chat agent's endpoint, model and key (a secret) in the config store, as a user sets them."""
    ConfigResolver(store.engine, home).service().write(project, "development", [
        ConfigChange(key="OPENAI_BASE_URL", value=stub.url),
        ConfigChange(key="OPENAI_MODEL", value="stub-model"),
        ConfigChange(key="OPENAI_API_KEY", value=API_KEY, secret=True),
    ], actor="test")
    return project


async def test_a_pipeline_task_done_by_the_chat_agent_with_a_fix_attempt(
    cr: CodeRunner, store: Store, home: Path, stub: Stub, tmp_path: Path, name: str
) -> None:
    project = configure_stub(store, home, f"llm-{name}", stub)
    # the first answer fails QA; the fix attempt carries the QA output, and the answer is right
    stub.reply = lambda body: answer({"greet.py": GOOD if "previous attempt failed" in
                                      body["messages"][-1]["content"] else BAD})
    (tmp_path / "project").mkdir()
    (tmp_path / "project" / "greet.py").write_text("# to write\n")
    plan = tmp_path / "plan.yaml"
    plan.write_text(yaml.safe_dump({"name": f"llm-{name}", "project": "project",
                                    "failures": {"backoff_s": 0.1},
                                    "tasks": [chat_task(config=f"{project}/development")]}))
    pipes = Pipelines(cr.client, cr.settings.model_copy(update={"home": tmp_path / "home"}))
    workflow_id = await pipes.run(plan, "r1")
    result = await asyncio.wait_for(pipes.wait(workflow_id), 120)
    assert result.status == PipelineStatus.SUCCEEDED, result
    assert (Path(result.workspace) / "greet.py").read_text() == GOOD
    desc = await pipes.describe(workflow_id)
    assert [(t.id, t.status, t.attempt) for t in desc.tasks] == [("greet", TaskStatus.DONE, 2)]
    assert len(stub.requests) == 2
    assert "hello x" in stub.requests[1][1]["messages"][-1]["content"]  # QA's output reached the model
    assert API_KEY not in desc.model_dump_json() + result.model_dump_json()


async def test_a_retryable_answer_is_retried_without_spending_an_attempt(
    cr: CodeRunner, store: Store, home: Path, stub: Stub, tmp_path: Path, name: str
) -> None:
    project = configure_stub(store, home, f"llm-{name}", stub)
    busy = [web.json_response({"error": "overloaded"}, status=503)]
    stub.reply = lambda body: busy.pop() if busy else answer({"greet.py": GOOD})
    (tmp_path / "project").mkdir()
    (tmp_path / "project" / "greet.py").write_text("# to write\n")
    plan = tmp_path / "plan.yaml"
    plan.write_text(yaml.safe_dump({"name": f"llm-{name}", "project": "project",
                                    "tasks": [chat_task(config=f"{project}/development")]}))
    pipes = Pipelines(cr.client, cr.settings.model_copy(update={"home": tmp_path / "home"}))
    workflow_id = await pipes.run(plan, "r1")
    result = await asyncio.wait_for(pipes.wait(workflow_id), 120)
    assert result.status == PipelineStatus.SUCCEEDED, result
    desc = await pipes.describe(workflow_id)
    assert [(t.id, t.status, t.attempt) for t in desc.tasks] == [("greet", TaskStatus.DONE, 1)]
    assert len(stub.requests) == 2  # the 503, then the answer: one attempt, its step retried once


async def test_a_worker_without_the_agent_refuses_the_plan(cr: CodeRunner, tmp_path: Path, name: str) -> None:
    """The SDK does not check agents; the PM stage, where they would run, refuses the plan."""
    plan = tmp_path / "plan.yaml"
    (tmp_path / "project").mkdir()
    plan.write_text(yaml.safe_dump({"name": f"nope-{name}", "project": "project", "tasks": [
        {"id": "a", "owns": ["a.py"], "agent": {"kind": "nope"}, "estimate": 1}]}))
    pipes = Pipelines(cr.client, cr.settings.model_copy(update={"home": tmp_path / "home"}))
    result = await asyncio.wait_for(pipes.wait(await pipes.run(plan, "r1")), 60)
    assert result.status == PipelineStatus.FAILED
    assert result.reason.startswith("plan refused: task a: agent.kind: no agent 'nope' is installed"), result
