"""Config injection and safe reload on the real stack (Temporal dev server, sandbox host, worker, HTTP).

The workflow carries a reference and a version; the create_instance activity decrypts; the value
reaches only the app's environment. A new config version is released as a canary of the same app
version: a bad one (ERROR_RATE) is caught by analysis and reverted while stable never sees it; a
pinned deployment and an opted-out one do not move; a good one is promoted.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
from temporalio.api.common.v1 import Payload

from coderunner.codec.aes import ENCODING, EncryptionCodec
from coderunner.config.home import HomeLayout, read_or_create_keys
from coderunner.models.configstore import ConfigRef
from coderunner.models.deployment import DeploymentDescription, DeploymentSpec
from coderunner.models.rollout import RolloutPhase
from coderunner.models.sandbox import InstanceGroup
from starter.sdk import CodeRunner
from starter.sdk.errors import UserError
from starter.tools.harness import settled
from starter.tools.load_process import load
from tests.conftest import FAST
from tests.rollout_helpers import fast_strategy, router_stats
from tests.test_deployment_workflow import DEMO

MARKER = "inj-MARKER-5c0ffee"


def app_env(pid: int | None) -> dict[str, str]:
    """The environment of the app process (the instance's pid, or the python under a sandbox wrapper)."""
    assert pid is not None
    procs = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    for proc in reversed(procs):
        env = proc.environ()
        if "INSTANCE_ID" in env:
            return env
    raise AssertionError(f"no app process under pid {pid}")


def payloads(node: Any) -> Iterator[dict[str, Any]]:
    """Every Payload (as JSON) anywhere in a history's JSON."""
    if isinstance(node, dict):
        if "metadata" in node and "data" in node:
            yield node
        for value in node.values():
            yield from payloads(value)
    elif isinstance(node, list):
        for value in node:
            yield from payloads(value)


async def decrypted_history(cr: CodeRunner, workflow_id: str, home: Path) -> str:
    """The workflow's history with every payload decrypted: what a codec-server user could read."""
    codec = EncryptionCodec(read_or_create_keys(HomeLayout(home).codec_key))
    history = await cr.client.get_workflow_handle(workflow_id).fetch_history()
    texts = []
    for p in payloads(history.to_json_dict()):
        payload = Payload(
            metadata={k: base64.b64decode(v) for k, v in p["metadata"].items()},
            data=base64.b64decode(p.get("data", "")),
        )
        if payload.metadata.get("encoding") == ENCODING:
            payload = codec.decrypt(payload)
        texts.append(payload.data.decode(errors="replace"))
    assert texts, "no payloads found"
    return "\n".join(texts)


def config_spec(name: str, project: str, replicas: int = 2, **ref: Any) -> DeploymentSpec:
    return DeploymentSpec(
        name=name,
        command=["python", str(DEMO)],
        replicas=replicas,
        config=ConfigRef(project=project, environment="production", **ref),
    )


async def deploy(cr: CodeRunner, spec: DeploymentSpec) -> DeploymentDescription:
    await cr.deploy(spec, FAST)
    return await settled(cr, spec.name, timeout_s=60)


async def test_values_reach_only_the_app_environment(cr: CodeRunner, home: Path, name: str) -> None:
    configs = cr.config_releases.configs()
    configs.set(name, "production", {"GREETING": "hello", "VERSION": "v1"})
    configs.set_secret(name, "production", "API_TOKEN", MARKER)
    desc = await deploy(cr, config_spec(name, name))
    try:
        assert desc.spec.config == ConfigRef(project=name, environment="production", version=2, follow=True)
        for instance in desc.instances:
            env = app_env(instance.pid)
            assert env["API_TOKEN"] == MARKER and env["GREETING"] == "hello"  # the control
        history = await decrypted_history(cr, f"deployment/{name}", home)
        assert '"project":"' + name in history.replace(" ", "")  # the reference is there …
        assert MARKER not in history and "hello" not in history  # … values are not, even decrypted
        assert MARKER not in desc.model_dump_json()
    finally:
        await cr.delete(name)


async def test_unknown_config_reference_is_refused_before_anything_starts(cr: CodeRunner, name: str) -> None:
    cr.config_releases.configs().set(name, "production", {"A": "1"})
    for ref, message in [({"environment": "nope"}, "does not exist"), ({"version": 9}, "versions 1..1")]:
        spec = DeploymentSpec(
            name=name,
            command=["python", str(DEMO)],
            config=ConfigRef.model_validate({"project": name, "environment": "production", **ref}),
        )
        try:
            await cr.deploy(spec, FAST)
        except UserError as err:
            assert message in str(err)
        else:
            raise AssertionError("deploy with a bad config reference was accepted")


async def test_bad_config_is_caught_by_the_canary_and_reverted_good_one_promoted(
    cr: CodeRunner, sandbox_host: Any, name: str
) -> None:
    configs = cr.config_releases.configs()
    configs.set(name, "production", {"VERSION": "v1"})
    pinned, opted_out = f"{name}-pin", f"{name}-off"
    desc = await deploy(cr, config_spec(name, name))
    await deploy(cr, config_spec(pinned, name, replicas=1, version=1))
    await deploy(cr, config_spec(opted_out, name, replicas=1, reload=False))
    try:
        assert configs.set(name, "production", {"ERROR_RATE": "0.5"}, reason="bad idea") == 2
        async with load(desc.router_url or "", rps=400):
            outcomes = {
                o.deployment: o
                for o in await cr.config_releases.release(
                    name, "production", strategy=fast_strategy("25,100", "60s"), reason="test"
                )
            }
            assert outcomes[name].workflow_id == f"rollout/{name}/v1+config-2"
            assert (outcomes[pinned].action, outcomes[pinned].detail) == ("skipped", "pinned")
            assert (outcomes[opted_out].action, outcomes[opted_out].detail) == ("skipped", "reload opted out")
            status = await cr.rollouts.wait(name, timeout_s=180)
        assert status.phase == RolloutPhase.ABORTED, status.outcome
        assert "error rate" in (status.outcome or "")
        after = await settled(cr, name, timeout_s=90)
        assert after.spec.config is not None and after.spec.config.version == 1
        assert after.last_rollout is not None and after.last_rollout.versions() == "v1, config v1 → v2"
        # (a health sweep on a starved machine may replace a stable instance: it comes back on v1 too)
        assert all(i.group == InstanceGroup.STABLE for i in after.instances)
        for instance in after.instances:
            assert "ERROR_RATE" not in app_env(instance.pid)  # stable never saw the bad variable
        stable = [b for b in await router_stats(sandbox_host, name, 120) if b.group != InstanceGroup.CANARY]
        assert sum(b.requests for b in stable) > 100 and sum(b.errors for b in stable) == 0

        assert configs.unset(name, "production", ["ERROR_RATE"]) == 3
        configs.set(name, "production", {"FEATURE": "on"}, reason="good idea")  # v4
        async with load(desc.router_url or "", rps=200):
            await cr.config_releases.release(
                name,
                "production",
                strategy=fast_strategy("50,100", "1s", inconclusive_limit=20, degraded_limit=20),
            )
            status = await cr.rollouts.wait(name, timeout_s=180)
        assert status.phase == RolloutPhase.PROMOTED, status.outcome
        promoted = await settled(cr, name, timeout_s=90)
        assert promoted.spec.config is not None and promoted.spec.config.version == 4
        assert all(app_env(i.pid).get("FEATURE") == "on" for i in promoted.instances)
        pinned_desc = await cr.describe(pinned)
        assert pinned_desc.spec.config is not None and pinned_desc.spec.config.version == 1
        assert all("FEATURE" not in app_env(i.pid) for i in pinned_desc.instances)
    finally:
        for n in (name, pinned, opted_out):
            await cr.delete(n)
