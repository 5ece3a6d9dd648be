"""The reference webhook receiver (`edge.py receive`) as a fixture, and readers of what it stored."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.gateway_proc import REPO
from tests.servers import free_port, port_open, wait_for

SECRET = "whsec_" + base64.b64encode(b"gridedge-test-signing-key-32byte").decode()
BACK = "whsec_" + base64.b64encode(b"platform-backchannel-key-32bytes").decode()


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    port, store = free_port(), tmp_path / "received.jsonl"
    command = [sys.executable, str(REPO / "edge.py"), "receive", "--port", str(port), "--secret", SECRET]
    proc = subprocess.Popen(
        [*command, "--store", str(store)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO,
    )
    wait_for(lambda: port_open(port), what="receiver up")
    yield port, store
    proc.terminate()
    proc.wait(10)


def received(store: Path) -> list[dict[str, object]]:
    if not store.exists():
        return []
    return [json.loads(line) for line in store.read_text().splitlines() if line.strip()]


def events_of(store: Path) -> list[dict[str, object]]:
    """The CloudEvents the receiver stored (it keeps each with its webhook headers)."""
    out = []
    for item in received(store):
        event = item.get("event", item)
        assert isinstance(event, dict)
        out.append(event)
    return out


