"""The worker's /metrics: CodeRunner's registry plus the Temporal SDK's own Prometheus text.

The SDK serves its metrics on an internal loopback port; we append them so Prometheus scrapes one URL.
With a `LiveSource`, each scrape first reads every live deployment's state (telemetry/live.py), with
a `PipelineSource` every running pipeline's (telemetry/pipelines.py).
"""

from __future__ import annotations

import asyncio
import logging

import httpx
from aiohttp import web
from prometheus_client import generate_latest

from coderunner.store.repository import Store
from coderunner.telemetry.live import LiveSource
from coderunner.telemetry.metrics import DEPLOYMENTS, INSTANCES, REGISTRY
from coderunner.telemetry.pipelines import PipelineSource

log = logging.getLogger("coderunner.metrics")


async def _refresh_from_store(store: Store) -> list[str]:
    """Set the store-backed gauges; the names of the live deployments (none if the store is down)."""
    try:
        counts = await asyncio.to_thread(store.count_by_status)
        records = await asyncio.to_thread(store.list_deployments)
    except Exception as err:  # a DB blip must not break scraping
        log.warning("metrics: store unavailable: %s", err)
        return []
    DEPLOYMENTS.clear()
    for status, count in counts.items():
        DEPLOYMENTS.labels(status).set(count)
    INSTANCES.clear()
    for record in records:
        INSTANCES.labels(record.name).set(record.replicas)
    return [record.name for record in records]


def build_metrics_app(store: Store, sdk_metrics_url: str | None, live: LiveSource | None = None,
                      pipelines: PipelineSource | None = None) -> web.Application:
    async def metrics(_: web.Request) -> web.Response:
        names = await _refresh_from_store(store)
        if live is not None:
            await live.refresh(names)
        if pipelines is not None:
            await pipelines.refresh()
        body = generate_latest(REGISTRY).decode()
        if sdk_metrics_url:
            try:
                async with httpx.AsyncClient(timeout=2) as client:
                    body += (await client.get(sdk_metrics_url)).text
            except httpx.HTTPError as err:
                log.warning("metrics: SDK endpoint unavailable: %s", err)
        return web.Response(text=body, content_type="text/plain", charset="utf-8")

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    return app


async def serve_metrics(app: web.Application, host: str, port: int) -> web.AppRunner:
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
