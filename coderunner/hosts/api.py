"""The host's JSON API under /v1: a thin HTTP skin over LocalSandbox.

Every route, health included, needs the bearer token: the host can start arbitrary commands, so an
unauthenticated route is a remote-execution hole. Errors always come back as {"error", "kind"} so
SandboxClient can raise the same exception class the host raised. Validation messages name the
field but never echo the input (a spec's env may hold secrets).
"""

from __future__ import annotations

import hmac
import json
import logging
import os
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Middleware
from pydantic import BaseModel, TypeAdapter, ValidationError

from coderunner.hosts import logfiles
from coderunner.hosts.cpu import DEFAULT_READER
from coderunner.hosts.local import LocalSandbox
from coderunner.hosts.provider import InvalidRequest, SandboxError, SandboxUnauthorized
from coderunner.models.sandbox import InstanceSpec, ProbeRequest, RouterConfig

log = logging.getLogger("coderunner.hosts.api")

SANDBOX_KEY = web.AppKey("sandbox", LocalSandbox)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_ID_LIST = TypeAdapter(list[str])


def _error(status: int, kind: str, message: str) -> web.Response:
    return web.json_response({"error": message, "kind": kind}, status=status)


def _describe_validation(exc: ValidationError) -> str:
    parts = [f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()]
    return "; ".join(parts)


def auth_middleware(token: str) -> Middleware:
    expected = f"Bearer {token}".encode()

    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        given = request.headers.get("Authorization", "").encode()
        if not hmac.compare_digest(given, expected):
            return _error(401, SandboxUnauthorized.kind, "missing or invalid bearer token")
        return await handler(request)

    return check


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except SandboxError as exc:
        return _error(exc.status, exc.kind, str(exc))
    except ValidationError as exc:
        return _error(400, InvalidRequest.kind, _describe_validation(exc))
    except web.HTTPException as exc:
        return _error(exc.status, "http", exc.reason)
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return _error(500, "internal", "internal error in the sandbox host")


async def _body(request: web.Request) -> Any:
    try:
        return json.loads(await request.read() or b"null")
    except ValueError as exc:
        raise InvalidRequest(f"body: not valid JSON ({exc})") from exc


def _float_query(request: web.Request, name: str, default: float | None) -> float | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise InvalidRequest(f"{name}: not a number: {raw!r}") from exc


def _json(value: BaseModel | Sequence[BaseModel] | dict[str, Any]) -> web.Response:
    if isinstance(value, BaseModel):
        text = value.model_dump_json()
    elif isinstance(value, Sequence):
        text = "[" + ",".join(v.model_dump_json() for v in value) + "]"
    else:
        text = json.dumps(value)
    return web.Response(text=text, content_type="application/json")


def _sandbox(request: web.Request) -> LocalSandbox:
    return request.app[SANDBOX_KEY]


async def ping(request: web.Request) -> web.Response:
    sb = _sandbox(request)
    return _json({"ok": True, "pid": os.getpid(), "instances": len(sb.instances.instances),
                  "routers": len(sb.routers.routers)})


async def put_instance(request: web.Request) -> web.Response:
    spec = InstanceSpec.model_validate(await _body(request))
    if spec.instance_id != request.match_info["id"]:
        raise InvalidRequest("instance_id: does not match the id in the URL")
    return _json(await _sandbox(request).create_instance(spec))


async def stop_instance(request: web.Request) -> web.Response:
    grace = _float_query(request, "grace_s", 5.0)
    return _json(await _sandbox(request).stop_instance(request.match_info["id"], grace or 0.0))


async def delete_instance(request: web.Request) -> web.Response:
    await _sandbox(request).destroy_instance(request.match_info["id"])
    return _json({"deleted": request.match_info["id"]})


async def list_instances(request: web.Request) -> web.Response:
    return _json(await _sandbox(request).list_instances(request.query.get("deployment") or None))


async def get_instance(request: web.Request) -> web.Response:
    return _json(await _sandbox(request).get_instance(request.match_info["id"]))


async def probe(request: web.Request) -> web.Response:
    req = ProbeRequest.model_validate(await _body(request))
    return _json(await _sandbox(request).probe(req))


async def stats(request: web.Request) -> web.Response:
    ids = _ID_LIST.validate_python(await _body(request))
    return _json(await _sandbox(request).stats(ids, request.query.get("reader", DEFAULT_READER)))


async def logs(request: web.Request) -> web.StreamResponse:
    sb, iid = _sandbox(request), request.match_info["id"]
    tail = int(_float_query(request, "tail", 100) or 0)
    await sb.get_instance(iid)  # 404 before any streaming starts
    if request.query.get("follow") not in ("1", "true", "yes"):
        return web.Response(text=await sb.logs(iid, tail), content_type="text/plain")
    resp = web.StreamResponse(headers={"Content-Type": "text/plain; charset=utf-8"})
    resp.enable_chunked_encoding()
    await resp.prepare(request)
    path = sb.instances.require(iid).log_path
    async for chunk in logfiles.follow(path, tail, heartbeat=True):
        if request.transport is None or request.transport.is_closing():
            break  # the client went away: that is how a follow ends
        if chunk:
            try:
                await resp.write(chunk.encode())
            except ConnectionError:
                break
    return resp


async def previous_instances(request: web.Request) -> web.Response:
    return _json(await _sandbox(request).previous_instances(request.match_info["deployment"]))


async def previous_logs(request: web.Request) -> web.Response:
    tail = int(_float_query(request, "tail", 100) or 0)
    where = request.match_info
    text = await _sandbox(request).previous_logs(where["deployment"], where["id"], tail)
    return web.Response(text=text, content_type="text/plain")


async def put_router(request: web.Request) -> web.Response:
    config = RouterConfig.model_validate(await _body(request))
    if config.deployment != request.match_info["deployment"]:
        raise InvalidRequest("deployment: does not match the deployment in the URL")
    return _json(await _sandbox(request).set_router(config))


async def get_router(request: web.Request) -> web.Response:
    window = _float_query(request, "window_s", None)
    return _json(await _sandbox(request).get_router(request.match_info["deployment"], window))


async def delete_router(request: web.Request) -> web.Response:
    await _sandbox(request).delete_router(request.match_info["deployment"])
    return _json({"deleted": request.match_info["deployment"]})


def create_app(sandbox: LocalSandbox, token: str) -> web.Application:
    app = web.Application(middlewares=[auth_middleware(token), error_middleware],
                          client_max_size=16 * 1024 * 1024)
    app[SANDBOX_KEY] = sandbox
    app.add_routes([
        web.get("/v1/ping", ping),
        web.get("/v1/instances", list_instances),
        web.put("/v1/instances/{id}", put_instance),
        web.get("/v1/instances/{id}", get_instance),
        web.delete("/v1/instances/{id}", delete_instance),
        web.post("/v1/instances/{id}/stop", stop_instance),
        web.get("/v1/instances/{id}/logs", logs),
        web.get("/v1/previous/{deployment}", previous_instances),
        web.get("/v1/previous/{deployment}/{id}/logs", previous_logs),
        web.post("/v1/probe", probe),
        web.post("/v1/stats", stats),
        web.put("/v1/routers/{deployment}", put_router),
        web.get("/v1/routers/{deployment}", get_router),
        web.delete("/v1/routers/{deployment}", delete_router),
    ])
    return app
