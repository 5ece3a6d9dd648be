"""A day and a half of mixed sensor traffic and detections through the rule engine, printed as JSON lines.

Run as a script (`python -m tests.rules_scenario`) by tests/test_rules_native.py, once with the
compiled rules and once interpreted: the two outputs must be identical. The first line names the
file the engine module was loaded from, so the test can tell the two runs apart.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import rules.engine
from gateway.model import Detection, GridCell, IncidentEvent, Reading
from rules import DeviceSpec, Engine, load_rules

REPO = Path(__file__).resolve().parent.parent
T0 = 1_717_200_000_000_000_000  # 2024-06-01 00:00 UTC
MINUTE = 60_000_000_000
EXTRA_RULES = """
version: 1
timezone: Asia/Shanghai
severities: [info, warning, major, critical]
rules:
  - {id: pm10-max, kind: window, event_type: "200302", select: {kind: dust}, field: pm10, agg: max, window: 30m,
     levels: [{severity: warning, set: 200, clear: 150}], clear_for: 5m}
  - {id: pm10-min, kind: window, event_type: "200302", select: {kind: dust}, field: pm10, agg: min, window: 20m,
     levels: [{severity: info, set: 120, clear: 100}]}
  - {id: pm10-p90, kind: window, event_type: "200302", select: {kind: dust}, field: pm10, agg: p90, window: 1h,
     levels: [{severity: major, set: 180, clear: 140}], for: 3m}
  - {id: pm25-count, kind: window, event_type: "200302", select: {kind: dust}, field: pm25, agg: count, window: 10m,
     direction: below, levels: [{severity: warning, set: 6, clear: 8}]}
  - {id: level-delta, kind: expression, event_type: "500104", select: {kind: water},
     expr: 'delta(level, "30m") > 0.2 and level > 3'}
"""


def devices() -> list[DeviceSpec]:
    """Three dust monitors, two water gauges and a fire alarm in two cells."""
    a, b = GridCell("110105001001001", "A"), GridCell("110105001002003", "B")
    return [
        *(DeviceSpec(f"dust-{n}", "dust", grid=a if n % 2 else b, interval=60) for n in range(3)),
        *(DeviceSpec(f"water-{n}", "water", grid=b, interval=120) for n in range(2)),
        DeviceSpec("fire-0", "fire", grid=a, interval=300),
    ]


def readings(rng: random.Random, minute: int) -> list[Reading]:
    """This minute's readings: dust every minute (one monitor drops out for hours), water every other."""
    t = T0 + minute * MINUTE
    out = []
    for n in range(3):
        if n == 2 and 600 <= minute < 900:
            continue  # silent for five hours
        pm10 = max(0.0, 120 + 110 * ((minute // 90 + n) % 3 - 1) + rng.gauss(0, 25))
        fields: dict[str, float | str | bool] = {"pm10": pm10, "pm25": pm10 * 0.55}
        if minute % 7 == 0:
            fields["pm10_ref"] = 60.0
        if minute % 97 == 0:
            fields["data_flag"] = "M"
        out.append(Reading(device=f"dust-{n}", kind="dust", ts_ns=t + n * 1000, fields=fields))
    if minute % 2 == 0:
        for n in range(2):
            level = 2.0 + (minute % 600) / 600 * (2.8 + n) + rng.gauss(0, 0.02)
            out.append(Reading(device=f"water-{n}", kind="water", ts_ns=t + 5000 + n, fields={"level": level}))
    if minute % 5 == 0:
        alarm = 1.0 if 300 <= minute % 700 < 330 else 0.0
        out.append(Reading(device="fire-0", kind="fire", ts_ns=t + 9000, fields={"alarm": alarm}))
    return out


def detections(rng: random.Random, minute: int) -> list[Detection]:
    """Flame detections on a camera zone, a second apart, in bursts of twenty minutes."""
    if not 400 <= minute % 500 < 420:
        return []
    cell = GridCell("110105001001001", "A")
    return [
        Detection(camera="cam-1", detector="flame", zone="yard", ts_ns=T0 + minute * MINUTE + s * 1_000_000_000,
                  score=min(1.0, 0.5 + rng.random() * 0.5), grid=cell, snapshot=b"jpeg")
        for s in range(4)
    ]  # fmt: skip


def line(event: IncidentEvent) -> str:
    """One event as sorted JSON."""
    incident = event.incident
    return json.dumps(
        {"kind": event.kind.value, "ts": event.ts_ns, "id": incident.id, "rule": incident.rule,
         "subject": incident.subject, "severity": incident.severity, "revision": incident.revision,
         "reason": event.reason, "values": incident.values, "evidence": list(incident.evidence)},
        sort_keys=True, default=str,
    )  # fmt: skip


def main() -> None:
    """Run both rule files over 36 hours, with a snapshot and restore halfway, and print everything."""
    print(json.dumps({"engine": Path(rules.engine.__file__ or "").name}))
    fleet = devices()
    for name, text in (("shipped", (REPO / "config" / "rules.yaml").read_text()), ("extra", EXTRA_RULES)):
        rng = random.Random(7)
        ruleset = load_rules(text)
        engine = Engine(ruleset, "gw-native", fleet)
        by_id = {d.id: d for d in fleet}
        for minute in range(36 * 60):
            now = T0 + minute * MINUTE + 30_000_000_000
            events = [e for r in readings(rng, minute) for e in engine.on_reading(r, by_id.get(r.device), now)]
            for found in detections(rng, minute):
                events += engine.on_detection(found, now)
            if minute % 10 == 0:
                events += engine.tick(now)
            if minute == 18 * 60:
                engine = Engine.restore(json.loads(engine.snapshot_json()), ruleset, "gw-native", fleet, now)
            for event in events:
                print(f"{name} {line(event)}")
        print(f"{name} snapshot {engine.snapshot_json()}")
        print(f"{name} counters {json.dumps(engine.counters, sort_keys=True)}")


if __name__ == "__main__":
    main()
    sys.stdout.flush()
