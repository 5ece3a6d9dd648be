"""The gateway's HTTP API (aiohttp): health and readiness, and the dispatch platform's signed back-channel.

/healthz and /readyz answer anyone (supervisors, Docker's HEALTHCHECK); the back-channel verifies the
platform's Standard Webhooks signature; every other route needs `Authorization: Bearer <api.token>`.
"""

from __future__ import annotations

import hmac
import logging
import ssl
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from gateway.config.api import ApiConfig

if TYPE_CHECKING:
    from gateway.app import Gateway

log = logging.getLogger("gridedge.api")

OPEN_PATHS = frozenset({"/healthz", "/readyz"})
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def make_app(gateway: Gateway, config: ApiConfig, extra_routes: list[web.RouteDef] | None = None) -> web.Application:
    """The API application for a running gateway."""
    signed = {route.path for route in extra_routes or []}
    app = web.Application(middlewares=[_auth(config, OPEN_PATHS | signed)], client_max_size=1 << 20)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", lambda request: _readyz(gateway))
    app.router.add_routes(extra_routes or [])
    return app


def _auth(config: ApiConfig, open_paths: frozenset[str] | set[str]) -> Any:
    token = config.token.get().encode() if config.token is not None else None

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in open_paths:
            return await handler(request)
        if token is None:
            raise web.HTTPUnauthorized(text="this route needs api.token to be configured\n")
        given = request.headers.get("Authorization", "").removeprefix("Bearer ").encode()
        if not hmac.compare_digest(given, token):
            raise web.HTTPUnauthorized(text="bearer token missing or wrong\n")
        return await handler(request)

    return middleware


async def _healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _readyz(gateway: Gateway) -> web.Response:
    components = gateway.readiness()
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
