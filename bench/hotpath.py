#!/usr/bin/env python3
"""The per-message cost of the sensor hot path, without the network: decode, tag, encode, journal, ack.

Run: .venv/bin/python bench/hotpath.py [--messages 50000] [--repeat 3] [--rules]

Feeds prepared paho messages straight into the MQTT input's message handler (as paho's thread
would) with the shipped registry, and waits for the journal to commit and ack them all. Prints
the best of `--repeat` runs, so a busy machine disturbs it less, and the process's CPU time per
message; with `--rules` the same runs are repeated with the shipped rules, interleaved, and the rules'
share of the CPU is printed.
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


def run_once(msgs: list[mqtt.MQTTMessage], with_rules: bool) -> tuple[float, float, float]:
    """Seconds to hand every message over, until every one is committed and acked, and CPU seconds used."""
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
        cpu = time.process_time()
        started = time.perf_counter()
        for msg in msgs:
            handler._on_publish(msg._topic, bytes(msg.payload), msg.mid, msg.qos)  # paho's thread's entry point
        handed = time.perf_counter() - started
        while acks.count < len(msgs):
            time.sleep(0.001)
        done = time.perf_counter() - started
        cpu = time.process_time() - cpu
        journal.close()
    return handed, done, cpu


def report(msgs: list[mqtt.MQTTMessage], runs: list[tuple[float, float, float]], label: str) -> float:
    """Print the best of the runs; returns the best CPU seconds per message."""
    n = len(msgs)
    handed, done, cpu = (min(r[i] for r in runs) for i in range(3))
    print(f"hot path, {n} JSON messages, best of {len(runs)}{label}:")
    print(f"  handler (decode, tag, encode, enqueue): {handed / n * 1e6:6.1f} us/msg  {n / handed:8.0f} msg/s")
    print(f"  through commit and ack:                 {done / n * 1e6:6.1f} us/msg  {n / done:8.0f} msg/s")
    print(f"  CPU, all threads:                       {cpu / n * 1e6:6.1f} us/msg")
    return cpu / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", type=int, default=50_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--rules", action="store_true", help="also run with config/rules.yaml evaluated in each commit")
    args = ap.parse_args()
    msgs = messages(args.messages)
    plain: list[tuple[float, float, float]] = []
    ruled: list[tuple[float, float, float]] = []
    for _ in range(args.repeat):  # interleaved, so both see the same machine
        plain.append(run_once(msgs, False))
        if args.rules:
            ruled.append(run_once(msgs, True))
    base = report(msgs, plain, "")
    if args.rules:
        with_rules = report(msgs, ruled, ", with the shipped rules")
        print(f"rules' share: +{(with_rules / base - 1):.0%} CPU per message, "
              f"so the rate of a CPU-bound gateway drops by {1 - base / with_rules:.0%}")


if __name__ == "__main__":
    main()
