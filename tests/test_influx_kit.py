"""Test kit for the InfluxDB writer: driven time and a scripted HTTP server on loopback (plus its own checks)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from adapters.influx import InfluxSettings, InfluxWriter, MemorySpool


class FakeTime:
    """A monotonic clock and wall clock that only move when the writer sleeps; every sleep is recorded."""

    def __init__(self, now: float = 1000.0, wall: float = 1_700_000_000.0) -> None:
        self.now = now
        self.wall_start = wall - now
        self.sleeps: list[float] = []
        self.on_sleep: Callable[[int], Awaitable[None]] | None = None

    def clock(self) -> float:
        """Monotonic seconds."""
        return self.now

    def wall(self) -> float:
        """Epoch seconds, moving with the monotonic clock."""
        return self.wall_start + self.now

    async def sleep(self, delay: float) -> None:
        """Advance time by `delay` at once, run the hook, and let other tasks run."""
        self.sleeps.append(delay)
        self.now += delay
        if self.on_sleep is not None:
            await self.on_sleep(len(self.sleeps))
        await asyncio.sleep(0)


class WatchedSpool(MemorySpool):
    """A memory spool whose landed mark can be awaited (no polling)."""

    def __init__(self) -> None:
        super().__init__()
        self._changed = asyncio.Event()

    def landed(self, sink: str, upto_rowid: int) -> None:
        """Advance the mark and wake waiters."""
        super().landed(sink, upto_rowid)
        self._changed.set()

    async def wait_landed(self, sink: str, upto_rowid: int) -> None:
        """Return once `sink` has landed everything up to `upto_rowid`."""
        while self.landed_upto(sink) < upto_rowid:
            self._changed.clear()
            await self._changed.wait()


def run(scenario: Coroutine[object, object, None], limit: float = 60.0) -> None:
    """Run an async scenario, failing (never hanging) after `limit` seconds."""
    asyncio.run(asyncio.wait_for(scenario, limit))


@dataclass
class Seen:
    """One request the scripted server received; `body` is decoded (aiohttp gunzips), `wire_size` as sent."""

    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: str
    wire_size: int


Reply = tuple[int, str, dict[str, str]]
Responder = Callable[[Seen], Reply]


def accept(_: Seen) -> Reply:
    """The default reply: 204, as InfluxDB answers a good write."""
    return 204, "", {}


@dataclass
class Scripted:
    """Replies taken from `script` in order, then from `responder`; every request recorded."""

    script: list[Reply] = field(default_factory=list)
    responder: Responder = accept
    seen: list[Seen] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        """Record the request and answer it."""
        raw = await request.read()
        wire = int(request.headers.get("Content-Length", "-1"))
        seen = Seen(request.path, dict(request.query), dict(request.headers), raw.decode(), wire)
        self.seen.append(seen)
        status, text, headers = self.script.pop(0) if self.script else self.responder(seen)
        return web.Response(status=status, text=text or None, headers=headers)

    def lines(self, status_ok: Callable[[Seen], bool] | None = None) -> list[str]:
        """Every line of every recorded body (optionally only of the requests `status_ok` picks), in order."""
        return [line for s in self.seen if status_ok is None or status_ok(s) for line in s.body.split("\n")]


async def start(scripted: Scripted) -> TestServer:
    """Serve `scripted` on a free loopback port."""
    app = web.Application()
    app.router.add_route("POST", "/{tail:.*}", scripted.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return server


def v2_settings(server: TestServer, **overrides: object) -> InfluxSettings:
    """v2 settings pointing at a scripted server, short retry delays."""
    base: dict[str, object] = {
        "version": 2,
        "url": str(server.make_url("/")),
        "org": "grid",
        "bucket": "edge",
        "token": "s3cret-token",
        "batch_size": 100,
        "flush_interval": 0.0,
        "retry_delay": 1.0,
        "max_retry_delay": 30.0,
    }
    base.update(overrides)
    return InfluxSettings(**base)  # type: ignore[arg-type]


def make_writer(settings: InfluxSettings, spool: MemorySpool, fake: FakeTime) -> InfluxWriter:
    """A writer on driven time with a seeded jitter source."""
    return InfluxWriter(settings, spool, clock=fake.clock, sleep=fake.sleep, wall=fake.wall, rng=random.Random(7))


def test_fake_time_advances_only_on_sleep() -> None:
    fake = FakeTime(now=5.0)
    asyncio.run(fake.sleep(2.5))
    assert fake.clock() == 7.5 and fake.sleeps == [2.5]


def test_scripted_server_replays_script_then_default() -> None:
    async def scenario() -> None:
        scripted = Scripted(script=[(429, "slow down", {"Retry-After": "3"})])
        server = await start(scripted)
        try:
            spool = MemorySpool()
            spool.append("m x=1 1")
            fake = FakeTime()
            async with make_writer(v2_settings(server), spool, fake) as writer:
                await writer.flush()
            assert [s.body for s in scripted.seen] == ["m x=1 1", "m x=1 1"]
        finally:
            await server.close()

    run(scenario())


def test_run_fails_a_scenario_that_outlives_its_limit() -> None:
    async def forever() -> None:
        await asyncio.Event().wait()

    with pytest.raises(TimeoutError):
        run(forever(), limit=0.05)
