"""Dispatch under faults: the receiver away for 60 s under a stream of incidents; kill -9 of the delivering process.

Run as a module (`python -m tests.test_webhook_outage DB PORT`) it is the child process of the kill -9
test: a delivery worker over a real outbox file.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from adapters.webhook import DeliveryWorker
from gateway.model import IncidentEvent, IncidentEventKind
from gateway.outbox import Outbox
from tests.servers import wait_for
from tests.test_hj212_kit import LoopThread
from tests.test_webhook_kit import (
    FakeClock,
    Rig,
    ScriptedReceiver,
    commit_events,
    connect,
    endpoint,
    incident_event,
    settings,
    stream,
    until,
)

ROOT = Path(__file__).resolve().parents[1]


def timeline(incidents: int) -> dict[int, list[IncidentEvent]]:
    """Incident n opens at second n, updates at n+20 and n+40, resolves at n+60."""
    plan: dict[int, list[IncidentEvent]] = {}
    for n in range(incidents):
        for revision, at in enumerate((n, n + 20, n + 40, n + 60), start=1):
            kind = IncidentEventKind.RESOLVED if revision == 4 else None
            plan.setdefault(at, []).append(incident_event(n, revision, kind=kind))
    return plan


def test_receiver_down_for_60_s_under_a_stream_of_incidents(tmp_path: Path) -> None:
    """Driven time: the receiver goes away at 10 s and returns at 70 s while incidents keep coming."""

    async def body() -> None:
        clock = FakeClock()
        receiver = ScriptedReceiver()
        await receiver.start()
        plan = timeline(30)
        rig = Rig(tmp_path / "j.db", endpoint("city", receiver.port, concurrency=4), clock=clock, poll=0.05)
        async with rig:
            second, down, back, connection_failures = 0, False, False, 0
            while second <= max(plan):
                if clock.elapsed >= second:
                    rig.add(plan.get(second, []))
                    second += 1
                if clock.elapsed >= 10 and not down:
                    await receiver.stop()
                    down = True
                if clock.elapsed >= 70 and not back:
                    connection_failures = rig.worker.stats.by_status["connection"]
                    await receiver.start()
                    back = True
                await asyncio.sleep(0.001)
            await until(lambda: len(receiver.unique()) == 120, limit=60, what="all 120 events")
            await until(lambda: rig.outbox.backlog() == 0, what="an empty outbox")
        await receiver.stop()
        assert down and back
        assert receiver.order_ok() and receiver.bad_signatures == 0
        assert sorted(receiver.unique()) == sorted(f"{n:032x}-{r}" for n in range(30) for r in range(1, 5))
        # While away, the endpoint was probed with one event at a time under capped backoff, not hammered.
        assert 5 <= connection_failures <= 80, connection_failures

    asyncio.run(body())


def _slow(delay: float) -> Any:
    """A behaviour that answers every request after `delay` seconds (so deliveries are in flight)."""

    async def behaviour(_n: int, _msg_id: str) -> web.Response | None:
        await asyncio.sleep(delay)
        return None

    return behaviour


def _start_child(db: Path, port: int) -> subprocess.Popen[bytes]:
    """The delivering process: a worker over the outbox file."""
    return subprocess.Popen(
        [sys.executable, "-m", "tests.test_webhook_outage", str(db), str(port)], cwd=ROOT, start_new_session=True
    )


@pytest.mark.slow
def test_kill_9_while_delivering_loses_nothing(tmp_path: Path) -> None:
    db_path = tmp_path / "journal.db"
    db = connect(db_path)
    Outbox(db_path).close()
    commit_events(db, stream(50, 4), time.time_ns())
    loop = LoopThread()
    receiver = ScriptedReceiver(behaviour=_slow(0.02))
    loop.run(receiver.start())
    child = _start_child(db_path, receiver.port)
    try:
        wait_for(lambda: len(receiver.accepted) >= 40, timeout=30, what="some deliveries")
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
        before = len(receiver.unique())
        assert before < 200
        child = _start_child(db_path, receiver.port)
        wait_for(lambda: len(receiver.unique()) == 200, timeout=60, what="all 200 events after the restart")
        outbox = Outbox(db_path)
        wait_for(lambda: outbox.backlog() == 0, timeout=30, what="the outbox to empty")
        outbox.close()
    finally:
        child.kill()
        child.wait(10)
        loop.run(receiver.stop())
        loop.close()
    assert receiver.order_ok() and receiver.bad_signatures == 0
    assert len(receiver.accepted) - 200 <= 8  # at most the in-flight ones are sent twice; dedup drops them


def _child(db: str, port: int) -> None:
    """Deliver the outbox at `db` to the receiver on `port` until killed."""

    async def main() -> None:
        outbox = Outbox(Path(db))
        worker = DeliveryWorker(outbox, settings(endpoint("city", port, concurrency=4)))
        await worker.run(asyncio.Event())

    asyncio.run(main())


if __name__ == "__main__":
    _child(sys.argv[1], int(sys.argv[2]))
