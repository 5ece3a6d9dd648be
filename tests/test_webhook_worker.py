"""The delivery worker against real aiohttp receivers on loopback, with driven time: each failure mode."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from standardwebhooks.webhooks import Webhook

from tests.test_webhook_kit import (
    GRID,
    OLD_SECRET,
    OTHER_STREET,
    SECRET,
    FakeClock,
    Rig,
    ScriptedReceiver,
    endpoint,
    incident_event,
    stream,
    until,
)

NEW_SECRET = "whsec_" + base64.b64encode(b"gridedge-new-secret-0123456789ab").decode()


def run(coro: Coroutine[Any, Any, None]) -> None:
    """Run one async test body."""
    asyncio.run(coro)


def statuses(*answers: int, headers: dict[str, str] | None = None) -> Any:
    """A behaviour answering the first requests with these statuses, then 200."""

    async def behaviour(n: int, _msg_id: str) -> web.Response | None:
        return web.Response(status=answers[n - 1], headers=headers) if n <= len(answers) else None

    return behaviour


def test_every_event_arrives_signed_and_in_order_per_incident(tmp_path: Path) -> None:
    async def body() -> None:
        receiver = ScriptedReceiver()
        await receiver.start()
        async with Rig(tmp_path / "j.db", endpoint("city", receiver.port, concurrency=4)) as rig:
            rig.add(stream(20, 3))
            await until(lambda: len(receiver.unique()) == 60, what="60 events")
            await until(lambda: rig.outbox.backlog() == 0, what="empty outbox")
            assert rig.worker.stats.delivered["city"] == 60
        await receiver.stop()
        assert receiver.order_ok() and receiver.bad_signatures == 0
        _, headers, _ = receiver.requests[0]
        assert headers["content-type"] == "application/cloudevents+json; charset=utf-8"
        assert headers["webhook-signature"].startswith("v1,")

    run(body())


def test_429_waits_for_retry_after(tmp_path: Path) -> None:
    async def body() -> None:
        clock = FakeClock()
        receiver = ScriptedReceiver(behaviour=statuses(429, headers={"Retry-After": "30"}))
        times: list[float] = []
        inner = receiver.behaviour
        assert inner is not None

        async def timed(n: int, msg_id: str) -> web.StreamResponse | None:
            times.append(clock.elapsed)
            return await inner(n, msg_id)

        receiver.behaviour = timed
        await receiver.start()
        async with Rig(tmp_path / "j.db", endpoint("city", receiver.port), clock=clock) as rig:
            rig.add([incident_event(1, 1)])
            await until(lambda: len(receiver.accepted) == 1)
            assert rig.worker.stats.by_status["429"] == 1 and rig.worker.stats.retries["city"] == 1
        await receiver.stop()
        assert times[1] - times[0] >= 30.0

    run(body())


def test_503_backs_off_then_everything_waiting_goes(tmp_path: Path) -> None:
    async def body() -> None:
        receiver = ScriptedReceiver(behaviour=statuses(503, 503))
        await receiver.start()
        async with Rig(tmp_path / "j.db", endpoint("city", receiver.port)) as rig:
            rig.add(stream(5, 2))
            await until(lambda: len(receiver.unique()) == 10)
            stats = rig.worker.stats
            assert stats.by_status["503"] == 2 and stats.retries["city"] == 2 and stats.by_status["200"] == 10
        await receiver.stop()
        assert receiver.order_ok()

    run(body())


def test_410_disables_the_endpoint_loudly_and_keeps_its_events(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def body() -> None:
        gone = [True]

        async def behaviour(_n: int, _msg_id: str) -> web.Response | None:
            return web.Response(status=410) if gone[0] else None

        receiver = ScriptedReceiver(behaviour=behaviour)
        await receiver.start()
        async with Rig(tmp_path / "j.db", endpoint("city", receiver.port)) as rig:
            rig.add(stream(3, 1))
            await until(lambda: "city" in rig.worker.stats.disabled)
            await asyncio.sleep(0.05)
            sent = len(receiver.requests)
            await asyncio.sleep(0.2)
            assert len(receiver.requests) == sent and rig.outbox.backlog("city") == 3
            assert rig.outbox.disabled_reason("city") == f"410 Gone from http://127.0.0.1:{receiver.port}/hook"
            gone[0] = False
            rig.outbox.enable("city")  # an operator, from another process
            await until(lambda: len(receiver.unique()) == 3)
        await receiver.stop()

    run(body())
    assert "WEBHOOK ENDPOINT city DISABLED" in caplog.text


def test_400_dead_letters_at_once_and_the_next_revision_follows(tmp_path: Path) -> None:
    async def body() -> None:
        receiver = ScriptedReceiver(behaviour=statuses(400))
        await receiver.start()
        async with Rig(tmp_path / "j.db", endpoint("city", receiver.port)) as rig:
            rig.add(stream(1, 2))
            await until(lambda: len(receiver.accepted) == 1)
            [letter] = rig.outbox.dead_letters()
            assert letter.reason == "http_400" and letter.event_id.endswith("-1")
            assert rig.worker.stats.dead["http_400"] == 1
            assert receiver.accepted[0][1]["data"]["revision"] == 2
            assert rig.outbox.replay() == 1
            await until(lambda: len(receiver.accepted) == 2)
        await receiver.stop()

    run(body())


def test_redirect_is_not_followed(tmp_path: Path) -> None:
    async def body() -> None:
        receiver = ScriptedReceiver()

        async def redirect(n: int, _msg_id: str) -> web.Response | None:
            return web.Response(status=302, headers={"Location": "/hook"}) if n == 1 else None

        receiver.behaviour = redirect
        await receiver.start()
        async with Rig(tmp_path / "j.db", endpoint("city", receiver.port)) as rig:
            rig.add([incident_event(1, 1)])
            await until(lambda: len(receiver.accepted) == 1)
            assert rig.worker.stats.by_status["302"] == 1 and rig.worker.stats.retries["city"] == 1
        await receiver.stop()
        assert len(receiver.requests) == 2  # the 302 was a failure, retried later; never followed at once

    run(body())


def test_slow_receiver_times_out_and_the_retry_is_deduplicated(tmp_path: Path) -> None:
    async def body() -> None:
        async def slow_once(n: int, _msg_id: str) -> web.Response | None:
            if n == 1:
                await asyncio.sleep(1.5)
            return None

        receiver = ScriptedReceiver(behaviour=slow_once)
        await receiver.start()
        async with Rig(tmp_path / "j.db", endpoint("city", receiver.port, timeout=0.3)) as rig:
            rig.add([incident_event(1, 1)])
            await until(lambda: rig.worker.stats.delivered["city"] == 1)
            assert rig.worker.stats.by_status["timeout"] == 1
            await until(lambda: len(receiver.accepted) == 2, what="the slow handler to finish too")
        await receiver.stop()
        assert len(receiver.unique()) == 1  # the receiver took it twice; dedup by webhook-id leaves one

    run(body())


def test_connection_closed_mid_response_is_retried(tmp_path: Path) -> None:
    async def body() -> None:
        receiver = ScriptedReceiver()
        cut: list[web.Request] = []

        async def cut_once(n: int, _msg_id: str) -> web.StreamResponse | None:
            if n > 1:
                return None
            request = cut.pop()
            response = web.StreamResponse(status=200, headers={"Content-Length": "100"})
            await response.prepare(request)
            await response.write(b"partial")
            assert request.transport is not None
            request.transport.close()
            return response

        @web.middleware
        async def keep_request(request: web.Request, handler: Any) -> web.StreamResponse:
            cut.append(request)
            response: web.StreamResponse = await handler(request)
            return response

        receiver.behaviour = cut_once
        receiver.middlewares = [keep_request]
        await receiver.start()
        async with Rig(tmp_path / "j.db", endpoint("city", receiver.port)) as rig:
            rig.add([incident_event(1, 1)])
            await until(lambda: rig.worker.stats.delivered["city"] == 1)
            assert rig.worker.stats.by_status["disconnected"] == 1
        await receiver.stop()

    run(body())


def test_max_age_sends_an_event_to_the_dead_letters(tmp_path: Path) -> None:
    async def body() -> None:
        receiver = ScriptedReceiver(behaviour=statuses(*[503] * 1000))
        await receiver.start()
        async with Rig(tmp_path / "j.db", endpoint("city", receiver.port), max_age=10.0) as rig:
            rig.add([incident_event(1, 1)])
            await until(lambda: rig.worker.stats.dead["max_age"] == 1)
            [letter] = rig.outbox.dead_letters()
            assert letter.reason == "max_age" and letter.attempts >= 2
            assert rig.clock.elapsed > 10.0
        await receiver.stop()

    run(body())


def test_fallback_takes_over_while_the_primary_is_down(tmp_path: Path) -> None:
    async def body() -> None:
        primary, standby = ScriptedReceiver(), ScriptedReceiver()
        await standby.start()  # the primary's port stays closed
        fallback = f"http://127.0.0.1:{standby.port}/hook"
        async with Rig(tmp_path / "j.db", endpoint("city", primary.port, fallback_url=fallback)) as rig:
            rig.add(stream(5, 2))
            stats = rig.worker.stats
            # The receiver records a request before the worker has read its 2xx: wait for both.
            await until(lambda: len(standby.unique()) == 10 and stats.delivered["city"] == 10)
            assert stats.failovers == 1 and 1 <= stats.by_status["connection"] <= 5  # the first concurrent tries
            assert standby.order_ok()
        await standby.stop()

    run(body())


def test_filters_give_a_street_only_its_street(tmp_path: Path) -> None:
    async def body() -> None:
        city, street = ScriptedReceiver(), ScriptedReceiver()
        await city.start()
        await street.start()
        endpoints = (
            endpoint("city", city.port),
            endpoint("street", street.port, grid_prefixes=(GRID.street,), kinds=frozenset({"opened", "resolved"})),
        )
        async with Rig(tmp_path / "j.db", *endpoints) as rig:
            rig.add([incident_event(1, 1), incident_event(2, 1, grid=OTHER_STREET), incident_event(1, 2)])
            await until(lambda: len(city.unique()) == 3 and len(street.unique()) == 1)
            await until(lambda: rig.outbox.backlog() == 0)
        await city.stop()
        await street.stop()
        assert [e["subject"] for e in street.unique().values()] == [GRID.code]

    run(body())


def test_key_rotation_old_and_new_receivers_both_verify(tmp_path: Path) -> None:
    async def body() -> None:
        old, new = ScriptedReceiver(secrets=[OLD_SECRET]), ScriptedReceiver(secrets=[NEW_SECRET])
        await old.start()
        await new.start()
        rotating = {"secret": NEW_SECRET, "previous": OLD_SECRET}
        endpoints = (endpoint("old", old.port, **rotating), endpoint("new", new.port, **rotating))
        async with Rig(tmp_path / "j.db", *endpoints) as rig:
            rig.add(stream(3, 1))
            await until(lambda: len(old.unique()) == 3 and len(new.unique()) == 3)
        await old.stop()
        await new.stop()
        assert old.bad_signatures == new.bad_signatures == 0
        for receiver, secret in ((old, OLD_SECRET), (new, NEW_SECRET)):
            for _, headers, request_body in receiver.requests:
                assert len(headers["webhook-signature"].split(" ")) == 2
                Webhook(secret).verify(request_body, headers)  # the official verifier, real clock and all

    run(body())


def test_a_wrong_secret_is_refused_by_the_receiver(tmp_path: Path) -> None:
    async def body() -> None:
        receiver = ScriptedReceiver(secrets=[SECRET])
        await receiver.start()
        async with Rig(tmp_path / "j.db", endpoint("city", receiver.port, secret=OLD_SECRET)) as rig:
            rig.add([incident_event(1, 1)])
            await until(lambda: rig.worker.stats.dead["http_401"] == 1)
        await receiver.stop()
        assert receiver.bad_signatures == 1 and receiver.accepted == []

    run(body())
