"""One weighted HTTP reverse proxy per deployment, served from inside the host process.

Traffic splitting for canaries happens here: each request goes to a running backend chosen by
weighted random (weight 0 = none). A connection error is retried once on another backend, so an
instance that just died costs latency, not a failed request. The hot path is kept lean (low-level
aiohttp server, shared pooled client session, no per-request logging) because it is benchmarked.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable

import aiohttp
from aiohttp import StreamReader, web
from aiohttp.abc import AbstractStreamWriter
from aiohttp.http import RawRequestMessage
from aiohttp.web_protocol import RequestHandler
from multidict import CIMultiDict
from yarl import URL

from coderunner.hosts.instance import Instance
from coderunner.hosts.traffic import TrafficLog
from coderunner.models.sandbox import InstanceGroup, RouterBackend, RouterInfo

log = logging.getLogger("coderunner.hosts.router")

HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
    "trailers", "transfer-encoding", "upgrade", "host", "content-length",
})
INSTANCE_HEADER = "X-CodeRunner-Instance"
MAX_BODY = 64 * 1024 * 1024

Lookup = Callable[[str], Instance | None]


def new_client_session() -> aiohttp.ClientSession:
    """The one session every router forwards through: pooled keep-alive connections to backends,
    bodies passed through untouched (no decompression, no auto headers)."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=200, limit_per_host=0, ttl_dns_cache=None),
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=5, sock_read=120),
        auto_decompress=False,
        skip_auto_headers=("Accept-Encoding", "User-Agent", "Content-Type"),
        cookie_jar=aiohttp.DummyCookieJar(),
    )


class Router:
    def __init__(self, deployment: str, port: int, backends: list[RouterBackend], lookup: Lookup,
                 session: aiohttp.ClientSession) -> None:
        self.deployment = deployment
        self.port = port
        self.backends = list(backends)
        self.traffic = TrafficLog()
        self._lookup = lookup
        self._session = session
        self._runner: web.ServerRunner | None = None
        self._known: dict[str, tuple[str | None, InstanceGroup | None]] = {}
        self._remember(backends)

    async def start(self) -> None:
        """Bind 127.0.0.1:port; raises OSError if the port is taken."""
        server = web.Server(self._handle, access_log=None, request_factory=_request_factory)
        runner = web.ServerRunner(server, handle_signals=False, shutdown_timeout=1.0)
        await runner.setup()
        try:
            await web.TCPSite(runner, "127.0.0.1", self.port, reuse_address=True).start()
        except OSError:
            await runner.cleanup()
            raise
        self._runner = runner

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def set_backends(self, backends: list[RouterBackend]) -> None:
        self.backends = list(backends)
        self._remember(backends)

    def _remember(self, backends: list[RouterBackend]) -> None:
        """Keep each backend's version/group so stats still label an instance after it is gone."""
        for b in backends:
            inst = self._lookup(b.instance_id)
            if inst is not None:
                self._known[b.instance_id] = (inst.version, inst.group)

    def _describe(self, instance_id: str) -> tuple[str | None, InstanceGroup | None]:
        inst = self._lookup(instance_id)
        if inst is not None:
            return inst.version, inst.group
        return self._known.get(instance_id, (None, None))

    def _pick(self, exclude: str | None) -> tuple[str, int] | None:
        """Weighted random among running backends with weight > 0, skipping `exclude`."""
        candidates: list[tuple[int, str, int]] = []
        total = 0
        for b in self.backends:
            if b.weight <= 0 or b.instance_id == exclude:
                continue
            inst = self._lookup(b.instance_id)
            if inst is None or not inst.running:
                continue
            total += b.weight
            candidates.append((total, b.instance_id, inst.port))
        if not candidates:
            return None
        point = random.random() * total
        for cumulative, iid, port in candidates:
            if point < cumulative:
                return iid, port
        return candidates[-1][1], candidates[-1][2]

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        self.traffic.count_request()
        body = await request.read()
        headers = CIMultiDict(
            (k, v) for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP)
        peer = request.remote or ""
        prior = request.headers.get("X-Forwarded-For")
        headers["X-Forwarded-For"] = f"{prior}, {peer}" if prior else peer
        headers["X-Forwarded-Host"] = request.host
        headers["X-Forwarded-Proto"] = "http"
        target = request.raw_path
        if not target.startswith("/"):  # absolute-form request target: keep path and query only
            target = request.rel_url.raw_path_qs
        tried: str | None = None
        for _attempt in range(2):
            chosen = self._pick(tried)
            if chosen is None:
                break
            iid, port = chosen
            tried = iid
            url = URL(f"http://127.0.0.1:{port}{target}", encoded=True)
            start = time.perf_counter()
            try:
                async with self._session.request(request.method, url, headers=headers, data=body or None,
                                                 allow_redirects=False) as resp:
                    payload = await resp.read()
                    status, resp_headers = resp.status, resp.headers
            except aiohttp.SocketTimeoutError:  # the backend took the request but hung: no retry
                self.traffic.record(iid, None, (time.perf_counter() - start) * 1000)
                return _plain(504, f"backend {iid} timed out\n")
            except aiohttp.ClientConnectionError:  # refused/reset: the request can go elsewhere
                self.traffic.record(iid, None, (time.perf_counter() - start) * 1000)
                continue
            except aiohttp.ClientError as exc:  # e.g. a malformed answer: the backend's fault, no retry
                self.traffic.record(iid, None, (time.perf_counter() - start) * 1000)
                return _plain(502, f"backend {iid} answered badly: {type(exc).__name__}\n")
            self.traffic.record(iid, status, (time.perf_counter() - start) * 1000)
            out = CIMultiDict((k, v) for k, v in resp_headers.items() if k.lower() not in HOP_BY_HOP)
            out[INSTANCE_HEADER] = iid
            return web.Response(status=status, body=payload, headers=out)
        if tried is None:
            return _plain(503, f"no running backend for deployment {self.deployment}\n")
        return _plain(502, f"no backend of deployment {self.deployment} could be reached\n")

    def info(self, window_s: float | None = None) -> RouterInfo:
        stats = self.traffic.summarize(window_s, [b.instance_id for b in self.backends], self._describe)
        return RouterInfo(deployment=self.deployment, port=self.port, backends=self.backends,
                          window_s=window_s, stats=stats, total_requests=self.traffic.total)


def _request_factory(message: RawRequestMessage, payload: StreamReader, protocol: RequestHandler,
                     writer: AbstractStreamWriter, task: asyncio.Task[None]) -> web.BaseRequest:
    """Like aiohttp's default but allowing bodies up to MAX_BODY (the default cap is 1 MiB)."""
    return web.BaseRequest(message, payload, protocol, writer, task, asyncio.get_running_loop(),
                           client_max_size=MAX_BODY)


def _plain(status: int, text: str) -> web.Response:
    return web.Response(status=status, text=text)
