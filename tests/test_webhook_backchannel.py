"""The back-channel: the platform's signed 受理 (ack) and 处置完毕 (handled) calls reach the callbacks."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiohttp import web
from standardwebhooks.webhooks import Webhook

from adapters.webhook import backchannel_routes, parse_secret
from adapters.webhook.backchannel import DEFAULT_PATH
from tests.servers import free_port
from tests.test_webhook_kit import OLD_SECRET, SECRET

OPEN = "a" * 32


def platform_headers(body: bytes, msg_id: str, secret: str = SECRET, at: float | None = None) -> dict[str, str]:
    """Headers as the platform signs them, with the official package."""
    stamp = int(time.time() if at is None else at)
    signature = Webhook(secret).sign(msg_id, datetime.fromtimestamp(stamp, tz=UTC), body.decode())
    return {"webhook-id": msg_id, "webhook-timestamp": str(stamp), "webhook-signature": signature}


Scenario = Callable[[Callable[..., Awaitable[tuple[int, Any]]]], Awaitable[None]]


def serve(
    scenario: Scenario, acked: list[str], handled: list[str], counts: Counter[str], async_ack: bool = False
) -> None:
    """Run the back-channel on a loopback port and play the scenario against it."""

    def on_ack(incident: str) -> bool:
        acked.append(incident)
        return incident == OPEN

    async def on_ack_async(incident: str) -> bool:
        await asyncio.sleep(0)
        return on_ack(incident)

    def on_handled(incident: str) -> bool:
        handled.append(incident)
        return incident == OPEN

    async def body() -> None:
        app = web.Application()
        keys = [parse_secret(SECRET)]
        app.add_routes(backchannel_routes(keys, on_ack_async if async_ack else on_ack, on_handled, counts=counts))
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        async with aiohttp.ClientSession() as session:

            async def call(payload: Any, msg_id: str = "cb-1", **kw: Any) -> tuple[int, Any]:
                raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                headers = kw.pop("headers", None) or platform_headers(raw, msg_id, **kw)
                url = f"http://127.0.0.1:{port}{DEFAULT_PATH}"
                async with session.post(url, data=raw, headers=headers) as resp:
                    return resp.status, await resp.text()

            await scenario(call)
        await runner.cleanup()

    asyncio.run(body())


def test_ack_and_handled_reach_the_callbacks_once() -> None:
    acked: list[str] = []
    handled: list[str] = []
    counts: Counter[str] = Counter()

    async def scenario(call: Callable[..., Awaitable[tuple[int, Any]]]) -> None:
        assert (await call({"incident_id": OPEN, "action": "ack", "case_id": "BJ-1"}))[0] == 204
        assert (await call({"incident_id": OPEN, "action": "ack"}))[0] == 200  # same webhook-id: a retry
        assert (await call({"incident_id": OPEN, "action": "handled"}, msg_id="cb-2"))[0] == 204

    serve(scenario, acked, handled, counts)
    assert acked == [OPEN] and handled == [OPEN]
    assert counts == Counter({"ack": 1, "handled": 1, "duplicate": 1})


def test_async_callback_is_awaited() -> None:
    acked: list[str] = []

    async def scenario(call: Callable[..., Awaitable[tuple[int, Any]]]) -> None:
        assert (await call({"incident_id": OPEN, "action": "ack"}))[0] == 204
        assert (await call({"incident_id": "b" * 32, "action": "ack"}, msg_id="cb-2"))[0] == 404

    serve(scenario, acked, [], Counter(), async_ack=True)
    assert acked == [OPEN, "b" * 32]


def test_every_bad_call_is_refused_and_counted() -> None:
    acked: list[str] = []
    counts: Counter[str] = Counter()
    good = {"incident_id": OPEN, "action": "ack"}

    async def scenario(call: Callable[..., Awaitable[tuple[int, Any]]]) -> None:
        assert (await call(good, secret=OLD_SECRET))[0] == 401
        assert (await call(good, at=time.time() - 600))[0] == 401
        assert (await call(good, headers={"content-type": "application/json"}))[0] == 401
        assert (await call(b"not json", msg_id="m1"))[0] == 400
        assert (await call({"incident_id": OPEN, "action": "close"}, msg_id="m2"))[0] == 400
        assert (await call({"incident_id": "", "action": "ack"}, msg_id="m3"))[0] == 400
        assert (await call([1, 2], msg_id="m4"))[0] == 400
        assert (await call({"incident_id": "c" * 32, "action": "ack"}, msg_id="m5"))[0] == 404
        assert (await call(b"x" * 70_000, msg_id="m6"))[0] == 413

    serve(scenario, acked, [], counts)
    assert acked == ["c" * 32]
    assert counts == Counter(
        {"rejected_signature": 3, "rejected_malformed": 4, "rejected_unknown_incident": 1, "rejected_oversize": 1}
    )
