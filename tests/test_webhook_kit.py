"""Test kit for dispatch: incident events, driven time, an outbox fed like the journal does, scripted receivers.

The scripted receiver is a real aiohttp server on a loopback port; it checks every signature with
the official `standardwebhooks` package and can answer with any status, stall, cut the connection
mid-response, or be taken down (its port closed) and brought back.
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
import sqlite3
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web
from standardwebhooks.webhooks import Webhook

from adapters.webhook import DeliveryWorker, DispatchSettings, EndpointSettings, RetrySettings
from gateway.model import GridCell, Incident, IncidentEvent, IncidentEventKind
from gateway.outbox import Outbox, OutboxOptions, enqueue
from tests.servers import free_port

SECRET = "whsec_" + base64.b64encode(b"gridedge-test-secret-0123456789a").decode()
OLD_SECRET = "whsec_" + base64.b64encode(b"gridedge-old-secret-0123456789ab").decode()
GRID = GridCell("110101001001001", "东华门 1 号网格")
OTHER_STREET = GridCell("110101002003004", "景山 4 号网格")
T0 = 1_700_000_000_000_000_000


def incident_event(
    n: int, revision: int, *, grid: GridCell = GRID, kind: IncidentEventKind | None = None, ts_ns: int = T0
) -> IncidentEvent:
    """Event `revision` of incident number n (revision 1 opens it)."""
    kind = kind or (IncidentEventKind.OPENED if revision == 1 else IncidentEventKind.UPDATED)
    incident = Incident(
        id=f"{n:032x}", rule="dust-15m", subject=f"dust-{n:04d}", event_type="200302", severity="warning",
        grid=grid, opened_ns=ts_ns, revision=revision, updated_ns=ts_ns + revision,
        state="resolved" if kind == IncidentEventKind.RESOLVED else "open",
        resolved_ns=ts_ns + revision if kind == IncidentEventKind.RESOLVED else None,
        values={"value": 180.5, "threshold": 150.0}, location=(39.9163, 116.3972),
    )  # fmt: skip
    return IncidentEvent(kind, incident, ts_ns + revision, "condition")


def stream(incidents: int, revisions: int, ts_ns: int = T0) -> list[IncidentEvent]:
    """Interleaved events: revision 1 of every incident, then revision 2 of every incident, …"""
    return [incident_event(n, r, ts_ns=ts_ns) for r in range(1, revisions + 1) for n in range(incidents)]


def connect(path: Path) -> sqlite3.Connection:
    """A connection like the journal's: WAL, autocommit, explicit transactions."""
    db = sqlite3.connect(path, isolation_level=None, timeout=30, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    return db


def commit_events(
    db: sqlite3.Connection, events: Iterable[IncidentEvent], now_ns: int, options: OutboxOptions | None = None
) -> None:
    """Enqueue in one transaction, as the journal's stage does."""
    db.execute("BEGIN IMMEDIATE")
    try:
        enqueue(db, list(events), "gw-test", now_ns, options)
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def settings(*endpoints: EndpointSettings, max_age: float = 86400.0, poll: float = 0.01) -> DispatchSettings:
    """Dispatch settings with quick retries for tests."""
    return DispatchSettings(tuple(endpoints), RetrySettings(0.2, 2.0, 120.0), max_age, poll)


def endpoint(name: str, port: int, **kw: Any) -> EndpointSettings:
    """An endpoint on a loopback port, signed with SECRET unless `secret=` says otherwise."""
    secret = kw.pop("secret", SECRET)
    previous = kw.pop("previous", None)
    kw.setdefault("timeout", 2.0)
    kw.setdefault("connect_timeout", 1.0)
    return EndpointSettings.with_secrets(name, f"http://127.0.0.1:{port}/hook", secret, previous, **kw)


class FakeClock:
    """Wall-clock ns that moves only when the worker sleeps (each sleep also yields a little real time)."""

    def __init__(self, start_ns: int | None = None) -> None:
        self.now = start_ns if start_ns is not None else time.time_ns()
        self.start = self.now
        self.sleeps: list[float] = []

    def clock(self) -> int:
        """Now, in ns."""
        return self.now

    @property
    def elapsed(self) -> float:
        """Driven seconds since the start."""
        return (self.now - self.start) / 1e9

    async def sleep(self, seconds: float) -> None:
        """Advance by `seconds` at once and let real I/O progress for a moment."""
        self.sleeps.append(seconds)
        self.now += int(seconds * 1e9)
        await asyncio.sleep(0.001)


Behaviour = Callable[[int, str], Awaitable[web.StreamResponse | None]]
"""(request number, webhook-id) -> a response to send instead of 200, or None for 200."""


@dataclass
class ScriptedReceiver:
    """A loopback webhook receiver whose answers a test scripts; it checks every signature it gets."""

    secrets: list[str] = field(default_factory=lambda: [SECRET])
    port: int = field(default_factory=free_port)
    behaviour: Behaviour | None = None
    requests: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    """(webhook-id, headers, body) of every request that reached the handler, in order."""
    accepted: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    """(webhook-id, event) answered 2xx."""
    bad_signatures: int = 0
    middlewares: list[Any] = field(default_factory=list)
    _runner: web.AppRunner | None = None

    async def start(self) -> None:
        """Listen on the port (again, after `stop`)."""
        app = web.Application(client_max_size=4 << 20, middlewares=self.middlewares)
        app.router.add_post("/hook", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True).start()

    async def stop(self) -> None:
        """Close the port: connections are refused until `start`."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def signatures_valid(self, headers: dict[str, str], body: bytes) -> bool:
        """Whether one v1 signature matches one of our secrets, computed by the standardwebhooks package."""
        moment = datetime.fromtimestamp(int(headers["webhook-timestamp"]), tz=UTC)
        offered = headers["webhook-signature"].split(" ")
        for secret in self.secrets:
            expected = Webhook(secret).sign(headers["webhook-id"], moment, body.decode())
            if expected in offered:
                return True
        return False

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        headers = {k.lower(): v for k, v in request.headers.items()}
        msg_id = headers.get("webhook-id", "")
        self.requests.append((msg_id, headers, body))
        if not self.signatures_valid(headers, body):
            self.bad_signatures += 1
            return web.Response(status=401)
        if self.behaviour is not None:
            answer = await self.behaviour(len(self.requests), msg_id)
            if answer is not None:
                return answer
        self.accepted.append((msg_id, json.loads(body)))
        return web.Response(status=200)

    def unique(self) -> dict[str, dict[str, Any]]:
        """Accepted events after dedup by webhook-id."""
        return dict(self.accepted)

    def order_ok(self) -> bool:
        """Whether every incident's revisions arrived in increasing order (first arrivals)."""
        last: dict[str, int] = {}
        seen: set[str] = set()
        for msg_id, event in self.accepted:
            if msg_id in seen:
                continue
            seen.add(msg_id)
            data = event["data"]
            if data["revision"] <= last.get(data["incident_id"], 0):
                return False
            last[data["incident_id"]] = data["revision"]
        return True


async def until(condition: Callable[[], bool], limit: float = 20.0, what: str = "condition") -> None:
    """Wait (real time, inside the loop) until `condition()` holds, or fail."""
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {limit:.0f}s waiting for {what}")
        await asyncio.sleep(0.005)


class Rig:
    """An outbox file, a writer connection like the journal's, and a delivery worker on driven time."""

    def __init__(
        self,
        path: Path,
        *endpoints: EndpointSettings,
        clock: FakeClock | None = None,
        max_age: float = 86400.0,
        poll: float = 0.01,
    ) -> None:
        self.db = connect(path)
        self.outbox = Outbox(path)
        self.clock = clock or FakeClock()
        config = settings(*endpoints, max_age=max_age, poll=poll)
        self.worker = DeliveryWorker(
            self.outbox, config, clock=self.clock.clock, sleep=self.clock.sleep, rng=random.Random(7)
        )
        self.stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def add(self, events: Iterable[IncidentEvent]) -> None:
        """Commit events now and wake the worker."""
        commit_events(self.db, events, self.clock.now)
        self.worker.wake()

    async def __aenter__(self) -> Rig:
        self._task = asyncio.create_task(self.worker.run(self.stop))
        await asyncio.sleep(0)
        return self

    async def __aexit__(self, *_: object) -> None:
        self.stop.set()
        if self._task is not None:
            await self._task
        self.outbox.close()
        self.db.close()
