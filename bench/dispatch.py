#!/usr/bin/env python3
"""Dispatch benchmark: delivered events/s, reading → webhook latency at 1,000 incidents/min, backlog drain.

Run: .venv/bin/python bench/dispatch.py [--backlog 10000] [--rate 1000] [--seconds 30] [--concurrency 16]

All on loopback. The receiver is the reference receiver (signatures verified with the official
standardwebhooks package, dedup by webhook-id) in a child process, which also checks that no
incident's revisions arrive out of order and measures each event's latency from the reading that
opened the incident (`data.opened_ns`) to its handling. Phases:
1. latency: readings at `--rate` per minute go through a real Journal whose stage opens one incident
   per reading and enqueues it in the group commit; the commit's ack wakes the worker;
2. drain: the receiver is down while `--backlog` events (a quarter as many incidents, 4 revisions
   each) are committed; the worker backs off; the receiver comes back and the drain is timed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from aiohttp import web  # noqa: E402

from adapters.webhook import DeliveryWorker, DispatchSettings, EndpointSettings, RetrySettings  # noqa: E402
from gateway.journal import Journal, JournalSettings, Txn  # noqa: E402
from gateway.model import GridCell, Incident, IncidentEvent, IncidentEventKind  # noqa: E402
from gateway.outbox import Outbox, enqueue  # noqa: E402
from gateway.receiver import Receiver  # noqa: E402
from tests.servers import free_port, port_open, wait_for  # noqa: E402

SECRET = "whsec_" + "QmVuY2htYXJrLXNlY3JldC1vZi0zMi1ieXRlcyEhISE="
GRID = GridCell("110101001001001")


# -- the receiver child process -----------------------------------------------------------------------


def serve_receiver(port: int) -> None:
    """Child: the reference receiver plus /stats (counts, order violations, latency percentiles)."""
    receiver = Receiver([SECRET])
    latencies: list[float] = []
    last: dict[str, int] = {}
    violations = [0]

    async def hook(request: web.Request) -> web.Response:
        response = await receiver.handle(request)
        if response.status == 200 and receiver.events and json.loads(response.text or "{}").get("status") == "accepted":
            data = receiver.events[-1]["data"]
            latencies.append((time.time_ns() - int(data["opened_ns"])) / 1e6)
            if data["revision"] <= last.get(data["incident_id"], 0):
                violations[0] += 1
            last[data["incident_id"]] = data["revision"]
        return response

    async def stats(_request: web.Request) -> web.Response:
        ordered = sorted(latencies) or [0.0]

        def pick(q: float) -> float:
            return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

        body = {**receiver.counts, "order_violations": violations[0], "p50_ms": pick(0.5), "p99_ms": pick(0.99),
                "max_ms": ordered[-1]}  # fmt: skip
        latencies.clear()
        return web.json_response(body)

    app = web.Application(client_max_size=4 << 20)
    app.router.add_post("/", hook)
    app.router.add_get("/stats", stats)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def start_receiver(port: int) -> subprocess.Popen[bytes]:
    """Start the receiver child and wait until it listens."""
    proc = subprocess.Popen([sys.executable, __file__, "--serve", str(port)], cwd=REPO)
    wait_for(lambda: port_open(port), timeout=30, what="the receiver")
    return proc


def receiver_stats(port: int) -> dict[str, Any]:
    """The receiver's counters since the last call."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=10) as resp:
        result: dict[str, Any] = json.loads(resp.read())
    return result


# -- the gateway side ---------------------------------------------------------------------------------


def event(n: int, revision: int, opened_ns: int) -> IncidentEvent:
    """Revision `revision` of incident n."""
    kind = IncidentEventKind.OPENED if revision == 1 else IncidentEventKind.UPDATED
    incident = Incident(
        id=f"{n:032x}", rule="dust-15m", subject=f"dust-{n:05d}", event_type="200302", severity="warning",
        grid=GRID, opened_ns=opened_ns, revision=revision, updated_ns=opened_ns, values={"value": 180.0},
    )  # fmt: skip
    return IncidentEvent(kind, incident, opened_ns, "condition")


async def poll_until(condition: Callable[[], bool], step: float) -> None:
    """Wait until a worker counter reaches a value (the counters have no event to wait on)."""
    while not condition():  # noqa: ASYNC110
        await asyncio.sleep(step)


def make_worker(outbox: Outbox, port: int, concurrency: int) -> DeliveryWorker:
    """A worker with one endpoint on the receiver."""
    ep = EndpointSettings.with_secrets("bench", f"http://127.0.0.1:{port}/", SECRET, concurrency=concurrency)
    return DeliveryWorker(outbox, DispatchSettings((ep,), RetrySettings(0.5, 5.0), poll_interval=0.05))


async def latency_phase(path: Path, port: int, rate: float, seconds: float, concurrency: int) -> dict[str, Any]:
    """Readings at `rate`/min open incidents in the journal's group commit; the worker delivers them."""
    journal = Journal(JournalSettings(path=path, synchronous="NORMAL"))
    outbox = Outbox(path)
    worker = make_worker(outbox, port, concurrency)
    opened: list[int] = []

    def stage(txn: Txn) -> None:
        events = [event(len(opened) + i, 1, reading.ts_ns) for i, (_, reading) in enumerate(txn.readings) if reading]
        opened.extend(e.incident.opened_ns for e in events)
        enqueue(txn.conn, events, "bench", txn.now_ns)

    journal.add_stage(stage)
    journal.start()
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    count = int(rate * seconds / 60)

    def produce() -> None:
        from gateway.model import Reading

        gap = 60.0 / rate
        start = time.monotonic()
        for i in range(count):
            time.sleep(max(0.0, start + i * gap - time.monotonic()))
            now = time.time_ns()
            reading = Reading(device=f"dust-{i:05d}", kind="dust", ts_ns=now, fields={"pm10": 180.0})
            journal.append(now, reading.device, "dust", f"dust pm10=180 {now}", worker.wake_threadsafe, reading)

    await asyncio.to_thread(produce)
    await poll_until(lambda: worker.stats.delivered["bench"] >= count, 0.05)
    stop.set()
    await task
    journal.close()
    outbox.close()
    return {"events": count, **receiver_stats(port)}


async def drain_phase(path: Path, port: int, backlog: int, concurrency: int) -> dict[str, Any]:
    """Commit a backlog while the receiver is down, bring it back, time the drain."""
    outbox = Outbox(path)
    worker = make_worker(outbox, port, concurrency)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    db = __import__("sqlite3").connect(path, isolation_level=None, timeout=30)
    incidents = backlog // 4
    now = time.time_ns()
    for revision in range(1, 5):
        db.execute("BEGIN IMMEDIATE")
        enqueue(db, [event(10**6 + n, revision, now) for n in range(incidents)], "bench", now)
        db.execute("COMMIT")
    worker.wake()
    await poll_until(lambda: worker.stats.retries["bench"] >= 1, 0.05)
    proc = start_receiver(port)
    back = time.perf_counter()
    worker.wake()
    await poll_until(lambda: worker.stats.delivered["bench"] > 0, 0.005)
    started = time.perf_counter()
    await poll_until(lambda: worker.stats.delivered["bench"] >= incidents * 4, 0.02)
    elapsed = time.perf_counter() - started
    stop.set()
    await task
    stats = receiver_stats(port)
    outbox.close()
    db.close()
    return {"events": incidents * 4, "seconds": elapsed, "noticed": started - back, "receiver": proc, **stats}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backlog", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=1000.0, help="incidents per minute in the latency phase")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of the latency phase")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve_receiver(args.serve)
        return
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        proc = start_receiver(port)
        try:
            lat = asyncio.run(latency_phase(Path(tmp) / "lat.db", port, args.rate, args.seconds, args.concurrency))
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(10)
        print(f"latency, reading -> receiver 2xx at {args.rate:g} incidents/min over {args.seconds:g} s "
              f"({lat['events']} events): p50 {lat['p50_ms']:.1f} ms, p99 {lat['p99_ms']:.1f} ms, "
              f"max {lat['max_ms']:.1f} ms; order violations {lat['order_violations']}")  # fmt: skip
        drain = asyncio.run(drain_phase(Path(tmp) / "drain.db", port, args.backlog, args.concurrency))
        drain["receiver"].send_signal(signal.SIGINT)
        drain["receiver"].wait(10)
        rate = drain["events"] / drain["seconds"]
        print(f"drain of a {drain['events']}-event backlog after an outage ({drain['events'] // 4} incidents x 4 "
              f"revisions, concurrency {args.concurrency}): receiver back noticed after {drain['noticed']:.2f} s "
              f"(backoff probe), then {drain['seconds']:.2f} s = {rate:.0f} delivered events/s; "
              f"order violations {drain['order_violations']}, accepted {drain.get('accepted', 0)}, "
              f"duplicates {drain.get('duplicate', 0)}")  # fmt: skip
        print(f"cpu count {os.cpu_count()}; receiver verifies every signature with standardwebhooks")


if __name__ == "__main__":
    threading.current_thread().name = "bench"
    main()
