"""The gateway's HTTP API (aiohttp): health and readiness, the status page and its JSON/SSE API, /metrics,
and the dispatch platform's signed back-channel.

/healthz, /readyz and the page's static files (no data in them) answer anyone; the back-channel verifies
the platform's Standard Webhooks signature; every other route needs `Authorization: Bearer <api.token>`.
See docs/api.md.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from gateway.config.api import ApiConfig
from gateway.status import Status
from gateway.status_metrics import metrics_registry
from gateway.status_routes import REGISTRY, STATUS, status_routes

if TYPE_CHECKING:
    from gateway.app import Gateway

log = logging.getLogger("gridedge.api")

OPEN_PATHS = frozenset({"/", "/healthz", "/readyz"})
STATIC_PREFIX = "/static/"
STATIC_DIR = Path(__file__).resolve().parent / "static"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def make_app(
    gateway: Gateway,
    config: ApiConfig,
    extra_routes: list[web.RouteDef] | None = None,
    status: Status | None = None,
) -> web.Application:
    """The API application for a running gateway; builds (and attaches) a Status when none is given."""
    status = status or Status(gateway)
    signed = {route.path for route in extra_routes or []}
    app = web.Application(middlewares=[_auth(config, OPEN_PATHS | signed, status)], client_max_size=1 << 20)
    app[STATUS] = status
    app[REGISTRY] = metrics_registry(status)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", _readyz)
    app.router.add_get("/", _page)
    app.router.add_static("/static", STATIC_DIR)
    app.router.add_routes(status_routes())
    app.router.add_routes(extra_routes or [])
    app.on_startup.append(_start_status)
    app.on_shutdown.append(_stop_status)
    return app


async def _start_status(app: web.Application) -> None:
    app[STATUS].start()


async def _stop_status(app: web.Application) -> None:
    await app[STATUS].stop()


def _auth(config: ApiConfig, open_paths: frozenset[str] | set[str], status: Status) -> Any:
    token = config.token.get().encode() if config.token is not None else None

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in open_paths or request.path.startswith(STATIC_PREFIX):
            return await handler(request)
        if token is None:
            status.api_rejects["no_token_configured"] += 1
            raise web.HTTPUnauthorized(text="this route needs api.token to be configured\n")
        given = request.headers.get("Authorization", "").removeprefix("Bearer ").encode()
        if not hmac.compare_digest(given, token):
            status.api_rejects["unauthorized"] += 1
            raise web.HTTPUnauthorized(
                text="bearer token missing or wrong\n", headers={"WWW-Authenticate": 'Bearer realm="gridedge"'}
            )
        return await handler(request)

    return middleware


async def _healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _page(_request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})


async def _readyz(request: web.Request) -> web.Response:
    components = await asyncio.to_thread(request.app[STATUS].readiness)
    ready = all(c.get("ok", True) for c in components.values())
    return web.json_response({"ready": ready, "components": components}, status=200 if ready else 503)


async def start_api(app: web.Application, config: ApiConfig) -> web.AppRunner:
    """Serve the API on the configured address; returns the runner (its `addresses` give the port)."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    context = None
    if config.tls_cert is not None and config.tls_key is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(config.tls_cert, config.tls_key)
    site = web.TCPSite(runner, config.host, config.port, ssl_context=context)
    await site.start()
    log.info("HTTP API on %s://%s:%s", "https" if context else "http", config.host, bound_port(runner))
    return runner


def bound_port(runner: web.AppRunner) -> int:
    """The port the API listens on (useful with port 0)."""
    for address in runner.addresses:
        if isinstance(address, tuple):
            return int(address[1])
    return 0
