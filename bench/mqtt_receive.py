#!/usr/bin/env python3
"""The MQTT receive path alone: CPU per PUBLISH through paho's parser and through GridEdge's fast path.

Run: .venv/bin/python bench/mqtt_receive.py [--messages 200000] [--repeat 3]

No broker: a writer thread sends a stream of MQTT 5 QoS 1 PUBLISH packets (the shape `bench/ingest.py`
uses: a dust reading as JSON on `grid/{cell}/dust/{device}`) into one end of a socket pair, and a paho
client reads the other end with a handler that only counts. Three readers: stock paho (on_message, the
bare-subscriber baseline of `bench/ingest.py` minus its PUBACKs), `FastReadClient` with paho parsing
each PUBLISH, and `FastReadClient` with its own PUBLISH path (`on_publish_raw`), which the gateway uses.
Prints the reader thread's CPU time per message, best of `--repeat`.
"""

from __future__ import annotations

import argparse
import json
import select
import socket
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapters.mqtt.fastread import BufferedSocket, FastReadClient, varint


def stream(count: int) -> bytes:
    """`count` MQTT 5 QoS 1 PUBLISH packets with no properties."""
    out = bytearray()
    t0 = int(time.time() * 1000)
    for i in range(count):
        topic = f"grid/110105001002003/dust/DUST-{i % 10_000:05d}".encode()
        payload = json.dumps({"pm25": 30 + i % 40, "pm10": 55 + i % 60, "seq": i, "ts": t0 + i}).encode()
        body = len(topic).to_bytes(2, "big") + topic + (i % 65_535 + 1).to_bytes(2, "big") + b"\x00" + payload
        out += b"\x32" + varint(len(body)) + body
    return bytes(out)


def read_all(client: mqtt.Client, sock: Any, data: bytes, done: Callable[[], bool]) -> float:
    """Feed `data` through `client` over a socket pair; CPU seconds of the reading thread."""
    reader, writer = socket.socketpair()
    reader.setblocking(False)
    client._sock = sock(reader)
    feeder = threading.Thread(target=writer.sendall, args=(data,))
    feeder.start()
    started = time.thread_time()
    while not done():
        select.select([reader], [], [], 1.0)
        client.loop_read()
    used = time.thread_time() - started
    feeder.join()
    writer.close()
    reader.close()
    return used


def one_run(kind: str, data: bytes, count: int) -> float:
    """CPU seconds per message for one reader kind."""
    seen = [0]

    def on_message(_c: object, _u: object, _m: object) -> None:
        seen[0] += 1

    def on_raw(_t: bytes, _p: bytes, _mid: int, _qos: int) -> None:
        seen[0] += 1

    cls = mqtt.Client if kind == "paho" else FastReadClient
    client = cls(callback_api_version=CallbackAPIVersion.VERSION2, protocol=MQTTProtocolVersion.MQTTv5,
                 manual_ack=True)
    client.on_message = on_message
    if kind == "fast":
        client.on_publish_raw = on_raw  # type: ignore[attr-defined]
    wrap = (lambda s: s) if kind == "paho" else BufferedSocket
    used = read_all(client, wrap, data, lambda: seen[0] >= count)
    return used / count


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    data = stream(args.messages)
    print(f"{args.messages} MQTT 5 QoS 1 PUBLISH packets, {len(data) / args.messages:.0f} bytes each")
    labels = {"paho": "stock paho, on_message", "buffered": "FastReadClient, paho parses",
              "fast": "FastReadClient, on_publish_raw"}
    for kind, label in labels.items():
        best = min(one_run(kind, data, args.messages) for _ in range(args.repeat))
        print(f"{label:32s} {best * 1e6:6.1f} us CPU per message ({1 / best:9.0f} msg/s on one core)")


if __name__ == "__main__":
    main()
