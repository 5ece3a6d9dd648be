#!/usr/bin/env python3
"""The per-message cost of the sensor hot path, without the network: decode, tag, encode, journal, ack.

Run: .venv/bin/python bench/hotpath.py [--messages 50000] [--repeat 3]

Feeds prepared paho messages straight into the MQTT input's message handler (as paho's thread
would) with the shipped registry, and waits for the journal to commit and ack them all. Prints
the best of `--repeat` runs, so a busy machine disturbs it less.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import paho.mqtt.client as mqtt

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from adapters.codecs import JsonCodec  # noqa: E402
from adapters.mqtt.client import MqttInput, MqttSettings, Subscription  # noqa: E402
from adapters.mqtt.templates import TopicTemplate  # noqa: E402
from gateway.config.loader import load_config  # noqa: E402
from gateway.incidents import IncidentPoints, RuleRunner  # noqa: E402
from gateway.journal import Journal, JournalSettings  # noqa: E402
from gateway.pipeline import Intake  # noqa: E402


class _Acks:
    """Stands in for paho's client.ack: counts the PUBACKs the gateway would send."""

    def __init__(self) -> None:
        self.count = 0

    def ack(self, _mid: int, _qos: int) -> None:
        self.count += 1


def messages(count: int) -> list[mqtt.MQTTMessage]:
    """Dust readings for the shipped devices, as paho hands them to on_message."""
    devices = list(load_config(REPO / "config" / "edge.yaml").registry.devices())
    t0 = int(time.time() * 1000) - count
    out = []
    for i in range(count):
        d = devices[i % len(devices)]
        msg = mqtt.MQTTMessage(mid=i % 65_000 + 1, topic=f"grid/{d.grid.code}/{d.kind}/{d.id}".encode())
        msg.payload = json.dumps({"pm25": 30 + i % 40, "pm10": 55.5 + i % 60, "seq": i, "ts": t0 + i}).encode()
        msg.qos = 1
        out.append(msg)
    return out


def run_once(msgs: list[mqtt.MQTTMessage], with_rules: bool) -> tuple[float, float]:
    """Seconds to hand every message over, and until every one is committed and acked."""
    loaded = load_config(REPO / "config" / "edge.yaml")
    registry = loaded.registry
    with tempfile.TemporaryDirectory() as tmp:
        journal = Journal(JournalSettings(Path(tmp) / "j.db", commit_readings=2000), sinks=["influx"])
        if with_rules and loaded.rules is not None:  # the shipped rules, evaluated in each group commit
            RuleRunner(journal, loaded.rules, registry.device, registry.devices(), "bench",
                       emitters=[IncidentPoints("bench")])
        template = TopicTemplate.parse("grid/{grid}/{kind}/{device}")
        subscriptions = [Subscription("grid/+/+/+", template, JsonCodec())]
        handler = MqttInput(MqttSettings(), subscriptions, Intake(registry, journal))
        acks = _Acks()
        handler._client = acks  # type: ignore[assignment]  # count the PUBACKs instead of sending them
        journal.start()
        started = time.perf_counter()
        for msg in msgs:
            handler._on_publish(msg._topic, bytes(msg.payload), msg.mid, msg.qos)  # paho's thread's entry point
        handed = time.perf_counter() - started
        while acks.count < len(msgs):
            time.sleep(0.001)
        done = time.perf_counter() - started
        journal.close()
    return handed, done


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", type=int, default=50_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--rules", action="store_true", help="also evaluate config/rules.yaml in each commit")
    args = ap.parse_args()
    msgs = messages(args.messages)
    runs = [run_once(msgs, args.rules) for _ in range(args.repeat)]
    handed = min(r[0] for r in runs)
    done = min(r[1] for r in runs)
    n = len(msgs)
    print(f"hot path, {n} JSON messages, best of {args.repeat}{', with the shipped rules' if args.rules else ''}:")
    print(f"  handler (decode, tag, encode, enqueue): {handed / n * 1e6:6.1f} us/msg  {n / handed:8.0f} msg/s")
    print(f"  through commit and ack:                 {done / n * 1e6:6.1f} us/msg  {n / done:8.0f} msg/s")


if __name__ == "__main__":
    main()
