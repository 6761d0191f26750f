"""Codec server: lets the Temporal Web UI and `temporal --codec-endpoint` show decrypted payloads.

The token may come as `Authorization: Bearer <token>` (temporal CLI `--codec-auth`) or as the first
path segment (`http://host:port/<token>/decode`), because the dev server's UI cannot send a header.
So the access log never writes the path as received: `RedactingAccessLogger` replaces any segment
before `/encode` or `/decode` with `***`. Decoding for display passes plaintext payloads through (the
UI shows what is there); only the worker refuses them.
"""

from __future__ import annotations

import argparse
import hmac
import logging
import re

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.typedefs import Handler
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads

from coderunner.codec.aes import EncryptionCodec
from coderunner.config.home import (
    HomeLayout,
    home_dir,
    private_umask,
    read_or_create_keys,
    read_or_create_token,
)

log = logging.getLogger("coderunner.codec")
ALLOWED_HEADERS = "Content-Type, X-Namespace, Authorization"
_TOKEN_SEGMENT = re.compile(r"^/[^/]+/(?=(en|de)code\b)")


def redact_path(path: str) -> str:
    """`/<token>/decode?x` -> `/***/decode`: the token never reaches a log line (nor the query)."""
    return _TOKEN_SEGMENT.sub("/***/", path.split("?", 1)[0])


class RedactingAccessLogger(AbstractAccessLogger):
    """One line per request — method, redacted path, status, duration — and no headers."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info("%s %s %s %.1fms", request.method, redact_path(request.path),
                         response.status, time * 1000)


def _authorized(request: web.Request, token: str) -> bool:
    header = request.headers.get("Authorization", "")
    given = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
    given = given or request.match_info.get("token", "")
    return bool(given) and hmac.compare_digest(given.encode(), token.encode())


def build_app(codec: EncryptionCodec, token: str, origins: list[str]) -> web.Application:
    @web.middleware
    async def cors(request: web.Request, handler: Handler) -> web.StreamResponse:
        origin = request.headers.get("Origin", "")
        if request.method == "OPTIONS":
            response: web.StreamResponse = web.Response(status=204)
        else:
            response = await handler(request)
        if origin in origins:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Allow-Credentials"] = "true"
            response.headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
            response.headers["Access-Control-Allow-Methods"] = "POST, OPTIONS"
        return response

    async def transform(request: web.Request) -> web.Response:
        if not _authorized(request, token):
            return web.json_response({"error": "missing or wrong codec token"}, status=401)
        payloads = Payloads()
        try:
            json_format.Parse(await request.text(), payloads)
        except json_format.ParseError as err:
            return web.json_response({"error": f"body is not a Payloads JSON: {err}"}, status=400)
        op = request.match_info["op"]
        try:
            result = await (codec.decode if op == "decode" else codec.encode)(payloads.payloads)
        except Exception as err:  # a payload we cannot decrypt: say so, don't leak internals
            return web.json_response({"error": f"cannot {op}: {err}"}, status=400)
        body = json_format.MessageToJson(Payloads(payloads=result))
        return web.Response(text=body, content_type="application/json")

    app = web.Application(middlewares=[cors])
    app.router.add_route("POST", "/{op:(en|de)code}", transform)
    app.router.add_route("POST", "/{token}/{op:(en|de)code}", transform)
    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m codec.server", description=__doc__)
    parser.add_argument("--home", default=None, help="state dir holding codec.key and codec.token")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--bind", default="127.0.0.1")
    parser.add_argument("--ui-origin", action="append", default=[], help="Web UI origin allowed by CORS")
    args = parser.parse_args(argv)
    private_umask()
    layout = HomeLayout(home_dir(args.home))
    codec = EncryptionCodec(read_or_create_keys(layout.codec_key), accept_plaintext=True)
    token = read_or_create_token(layout.codec_token)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s codec %(message)s")
    log.info("codec server on http://%s:%d (origins: %s)", args.bind, args.port, args.ui_origin)
    web.run_app(build_app(codec, token, args.ui_origin), host=args.bind, port=args.port, print=None,
                access_log_class=RedactingAccessLogger)


if __name__ == "__main__":
    main()
