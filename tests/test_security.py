"""Secrets stay secret: ciphertext-only history, redacted store and CLI views, token-guarded servers."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from aiohttp import web
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.client import Client

from coderunner.codec.aes import EncryptionCodec
from coderunner.codec.server import build_app
from coderunner.config.home import HomeLayout, read_or_create_key
from coderunner.config.ports import free_port
from starter.sdk import CodeRunner
from tests.test_deployment_workflow import deployed, spec

UI = "http://localhost:8233"


def files_containing(root: Path, needle: bytes, skip: tuple[str, ...] = ()) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and p.name not in skip and needle in p.read_bytes()]


async def test_secret_in_env_never_in_history_store_or_describe(
    cr: CodeRunner, client: Client, home: Path, name: str
) -> None:
    marker = f"s3cr3t-{uuid.uuid4().hex}"
    desc = await deployed(cr, spec(name, 1, API_TOKEN=marker))
    await cr.scale(name, 2, reason="more")
    history = await cr.handle(name).fetch_history()
    raw = b"".join(event.SerializeToString() for event in history.events)
    assert marker.encode() not in raw
    assert marker not in history.to_json()
    # the control: the marker *is* in the first event's input once decrypted with the key
    codec = EncryptionCodec(read_or_create_key(HomeLayout(home).codec_key))
    first_input = history.events[0].workflow_execution_started_event_attributes.input.payloads
    assert marker.encode() in b"".join(p.data for p in await codec.decode(list(first_input)))

    assert marker not in desc.model_dump_json()
    assert desc.spec.env["API_TOKEN"] == "***redacted***"
    # store (SQLite file + WAL) and the sandbox host's own files (meta.json, routers.json, logs)
    assert files_containing(home, marker.encode(), skip=("output.log",)) == []
    await cr.delete(name)


@pytest_asyncio.fixture
async def codec_server() -> AsyncIterator[tuple[str, str, EncryptionCodec]]:
    codec, token = EncryptionCodec(bytes(range(32))), "tok-" + uuid.uuid4().hex
    runner = web.AppRunner(build_app(codec, token, [UI]))
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}", token, codec
    await runner.cleanup()


def _body(payloads: list[Payload]) -> str:
    return json_format.MessageToJson(Payloads(payloads=payloads))


async def test_codec_server_requires_token_and_decodes(
    codec_server: tuple[str, str, EncryptionCodec],
) -> None:
    url, token, codec = codec_server
    plain = Payload(metadata={"encoding": b"json/plain"}, data=b'{"k": "v"}')
    encrypted = _body(await codec.encode([plain]))
    async with httpx.AsyncClient() as http:
        assert (await http.post(f"{url}/decode", content=encrypted)).status_code == 401
        wrong = {"Authorization": "Bearer nope"}
        assert (await http.post(f"{url}/decode", content=encrypted, headers=wrong)).status_code == 401
        assert (await http.post(f"{url}/nope/decode", content=encrypted)).status_code == 401
        for resp in (
            await http.post(f"{url}/decode", content=encrypted, headers={"Authorization": f"Bearer {token}"}),
            await http.post(f"{url}/{token}/decode", content=encrypted, headers={"Origin": UI}),
        ):
            assert resp.status_code == 200
            decoded = json_format.Parse(resp.text, Payloads())
            assert decoded.payloads[0].data == plain.data
        preflight = await http.options(f"{url}/{token}/decode", headers={"Origin": UI})
        assert preflight.headers["Access-Control-Allow-Origin"] == UI
        other = await http.options(f"{url}/{token}/decode", headers={"Origin": "http://evil.example"})
        assert "Access-Control-Allow-Origin" not in other.headers


async def test_payloads_are_ciphertext(codec_server: tuple[str, str, EncryptionCodec]) -> None:
    _, _, codec = codec_server
    plain = Payload(metadata={"encoding": b"json/plain"}, data=json.dumps({"secret": "hunter2"}).encode())
    (enc,) = await codec.encode([plain])
    assert b"hunter2" not in enc.SerializeToString()
    assert enc.metadata["encoding"] == b"binary/encrypted"
    other = EncryptionCodec(bytes(32))
    with pytest.raises(ValueError, match="unknown key id"):
        await other.decode([enc])


async def test_sandbox_host_refuses_without_token(sandbox_host) -> None:  # type: ignore[no-untyped-def]
    async with httpx.AsyncClient() as http:
        for method, path in [("GET", "/v1/ping"), ("GET", "/v1/instances"), ("PUT", "/v1/routers/x")]:
            assert (await http.request(method, sandbox_host.url + path)).status_code == 401
