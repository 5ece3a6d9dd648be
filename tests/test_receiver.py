"""The reference receiver: verifies with standardwebhooks, rejects replays, drops duplicates, stores JSONL."""

from __future__ import annotations

import asyncio
import io
import json
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import aiohttp

from adapters.webhook import build_event, encode, parse_secret, routing, signed_headers
from gateway.receiver import Receiver, serve
from tests.servers import free_port, port_open, wait_for
from tests.test_webhook_kit import GRID, OLD_SECRET, SECRET, incident_event

ROOT = Path(__file__).resolve().parents[1]


def body_of(n: int = 1, revision: int = 1) -> tuple[str, bytes]:
    """(webhook-id, body) of a sample event."""
    cloud = build_event(incident_event(n, revision), "gw-1", routing(GRID, "grid"), [])
    return str(cloud["id"]), encode(cloud)


def signed(msg_id: str, body: bytes, secret: str = SECRET, age: float = 0.0) -> dict[str, str]:
    """Our signing headers, stamped `age` seconds ago."""
    return signed_headers([parse_secret(secret)], msg_id, int(time.time() - age), body)


def exchange(receiver: Receiver, requests: list[tuple[dict[str, str], bytes]]) -> list[tuple[int, Any]]:
    """POST each request to a served receiver; return (status, JSON answer)."""

    async def body() -> list[tuple[int, Any]]:
        port = free_port()
        runner = await serve(receiver, port)
        out = []
        async with aiohttp.ClientSession() as session:
            for headers, payload in requests:
                async with session.post(f"http://127.0.0.1:{port}/", data=payload, headers=headers) as resp:
                    out.append((resp.status, await resp.json()))
        await runner.cleanup()
        return out

    return asyncio.run(body())


def test_accepts_stores_prints_and_drops_duplicates(tmp_path: Path) -> None:
    store = tmp_path / "events.jsonl"
    printed = io.StringIO()
    receiver = Receiver([SECRET], store, out=printed)
    msg_id, payload = body_of()
    answers = exchange(receiver, [(signed(msg_id, payload), payload), (signed(msg_id, payload), payload)])
    assert answers == [(200, {"status": "accepted"}), (200, {"status": "duplicate"})]
    [line] = store.read_text(encoding="utf-8").splitlines()
    assert json.loads(line)["webhook_id"] == msg_id
    assert msg_id in printed.getvalue() and "cn.gridedge.incident.opened" in printed.getvalue()
    assert receiver.counts == {"accepted": 1, "duplicate": 1}
    again = Receiver([SECRET], store)  # restarted: still knows what it stored
    assert exchange(again, [(signed(msg_id, payload), payload)]) == [(200, {"status": "duplicate"})]


def test_replay_older_than_the_tolerance_is_rejected(tmp_path: Path) -> None:
    receiver = Receiver([SECRET])
    msg_id, payload = body_of()
    [(status, answer)] = exchange(receiver, [(signed(msg_id, payload, age=6 * 60), payload)])
    assert status == 401 and "too old" in answer["error"]
    assert receiver.counts == {"stale": 1} and receiver.events == []


def test_bad_signature_and_non_cloudevent_are_refused() -> None:
    receiver = Receiver([SECRET])
    msg_id, payload = body_of()
    junk = b'{"hello": "world"}'
    mismatched_id, other = body_of(2)
    answers = exchange(
        receiver,
        [
            (signed(msg_id, payload, secret=OLD_SECRET), payload),
            ({"webhook-id": msg_id}, payload),
            (signed("x-1", junk), junk),
            (signed(msg_id, other), other),  # signed, but the CloudEvent id is not the webhook-id
        ],
    )
    assert [status for status, _ in answers] == [401, 401, 400, 400]
    assert receiver.counts == {"bad_signature": 2, "malformed": 2}
    assert mismatched_id != msg_id


def test_either_secret_verifies_during_a_rotation() -> None:
    receiver = Receiver([SECRET, OLD_SECRET])
    msg_id, payload = body_of()
    assert exchange(receiver, [(signed(msg_id, payload, secret=OLD_SECRET), payload)])[0][0] == 200


def test_run_receiver_entry_point(tmp_path: Path) -> None:
    port = free_port()
    store = tmp_path / "events.jsonl"
    code = (
        "import pathlib; from gateway.receiver import run_receiver; "
        f"run_receiver({port}, {SECRET!r}, pathlib.Path({str(store)!r}))"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: port_open(port), timeout=20, what="the receiver to listen")
        msg_id, payload = body_of()
        request = urllib.request.Request(f"http://127.0.0.1:{port}/", data=payload, headers=signed(msg_id, payload))
        with urllib.request.urlopen(request, timeout=10) as resp:
            assert resp.status == 200
        wait_for(lambda: store.exists() and msg_id in store.read_text(encoding="utf-8"), what="the stored event")
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=20)
    assert "receiving signed webhooks" in out and msg_id in out
