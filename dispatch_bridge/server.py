"""Run the service with its HTTP port until SIGTERM/SIGINT; SIGHUP reloads the rules.

Order matters for a clean hand-over: on SIGTERM readiness turns 503 first, then the consumer drains its batch,
commits and leaves the group, and only then does the HTTP port close.
"""

from __future__ import annotations

import asyncio
import gc
import signal

import structlog
from aiohttp import web

from dispatch_bridge.api.app import build_app
from dispatch_bridge.api.auth import load_tokens
from dispatch_bridge.service import Service
from dispatch_bridge.settings import Settings

log = structlog.get_logger(__name__)


async def serve(settings: Settings, service: Service | None = None,
                stop: asyncio.Event | None = None) -> int:
    service = service or Service(settings)
    stop = stop or asyncio.Event()
    app = build_app(service)
    if not load_tokens(settings.api):
        log.warning("api_closed", reason="no DISPATCH_BRIDGE_API__TOKEN configured: only /livez and /readyz answer")
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, settings.http.host, settings.http.port)
    await site.start()
    log.info("http_listening", host=settings.http.host, port=settings.http.port)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, lambda: service.reload_rules("sighup"))
    exit_code = 0
    try:
        await service.start()
        _settle_memory()
        stopped = asyncio.create_task(service.wait_stopped())
        requested = asyncio.create_task(stop.wait())
        await asyncio.wait({stopped, requested}, return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        requested.cancel()
        if service.failed:
            log.error("service_failed", reason=service.failed)
            exit_code = 1
    finally:
        service.stopping = True  # /readyz answers 503 from here on, while we drain
        await service.stop()
        await runner.cleanup()
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(sig)
    return exit_code


def _settle_memory() -> None:
    """Move everything loaded at start (rules, roster, libraries) out of the collector's sight, and collect
    less often: full passes over a large, long-lived heap were the bridge's worst latency outliers (bench:
    +23% throughput, p99 256 -> 95 ms at 500 events/s)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)
