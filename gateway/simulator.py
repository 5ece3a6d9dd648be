"""Realistic sensor traffic for demos and benchmarks, and replay of recorded readings (CSV) to a broker.

Synthetic devices follow simple physical patterns: dust with a daily cycle and site bursts, water
levels that drift and sometimes rise, alarms that are almost always quiet. Replay reads the
Beijing air-quality format (year,month,day,hour,PM2.5,PM10,…) or the river-level format
(station,dateTime,value) and publishes in time order at a chosen speed-up.
"""

from __future__ import annotations

import csv
import json
import math
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from gateway.registry import Registry

BEIJING = timezone(timedelta(hours=8))


@dataclass(frozen=True, slots=True)
class SimDevice:
    """A simulated device: its id, kind and the cell its topic names."""

    id: str
    kind: str
    grid: str
    scale: tuple[tuple[str, float], ...] = ()
    """The registry's field scales: the simulator sends raw values the gateway scales back."""


@dataclass(slots=True)
class SimState:
    """Per-device drifting state, so consecutive readings look like one instrument."""

    level: float = 0.0
    seq: int = 0
    burst: int = 0
    rng: random.Random = field(default_factory=random.Random)


def registry_devices(registry: Registry) -> list[SimDevice]:
    """Simulated twins of the registered devices (their ids, kinds, cells and scales)."""
    return [SimDevice(d.id, d.kind, d.grid.code, tuple(d.scale.items())) for d in registry.devices()]


def synthetic_devices(count: int, district: str = "110105") -> list[SimDevice]:
    """`count` devices spread over cells of one district: mostly dust, some water, a few alarms."""
    kinds = ["dust"] * 6 + ["water"] * 2 + ["fire", "smoke"]
    out = []
    for i in range(count):
        kind = kinds[i % len(kinds)]
        cell = f"{district}{1 + i // 400 % 9:03d}{1 + i // 40 % 10:03d}{1 + i % 40:03d}"
        out.append(SimDevice(f"{kind}-{i:05d}", kind, cell))
    return out


def reading_for(device: SimDevice, state: SimState, now: float) -> dict[str, float | int | bool]:
    """One report of a device at wall time `now` (seconds), in the device's own units."""
    values = _physical(device, state, now)
    for name, factor in device.scale:
        value = values.get(name)
        if isinstance(value, float) and factor:
            values[name] = round(value / factor, 6)
    return values


def _physical(device: SimDevice, state: SimState, now: float) -> dict[str, float | int | bool]:
    rng = state.rng
    state.seq += 1
    if device.kind == "noise":
        return {"noise": round(rng.gauss(62, 5), 1), "seq": state.seq}
    if device.kind == "weather":
        return {
            "temperature": round(rng.gauss(12, 3), 1), "humidity": round(rng.uniform(30, 70), 1),
            "wind_speed": round(abs(rng.gauss(2.5, 1.5)), 1), "seq": state.seq,
        }
    if device.kind == "dust":
        hour = (now / 3600 + 8) % 24  # local time drives the daily cycle
        base = 45 + 25 * math.sin((hour - 7) / 24 * 2 * math.pi)
        if state.burst == 0 and rng.random() < 0.002:
            state.burst = rng.randint(20, 120)  # a site activity burst: earthworks, trucks
        boost = 3.0 if state.burst else 1.0
        state.burst = max(0, state.burst - 1)
        pm25 = max(1.0, rng.gauss(base, 6) * boost)
        pm10 = pm25 * rng.uniform(1.4, 1.9)
        return {
            "pm25": round(pm25, 1), "pm10": round(pm10, 1), "tsp": round(pm10 * rng.uniform(1.3, 1.7), 1),
            "noise": round(rng.gauss(62, 5), 1), "seq": state.seq,
        }
    if device.kind == "water":
        if state.level == 0.0:
            state.level = rng.uniform(0.2, 1.5)
        state.level = max(0.0, state.level + rng.gauss(0.0, 0.005) + (0.02 if state.burst else 0.0))
        if state.burst == 0 and rng.random() < 0.001:
            state.burst = 60  # a rain-driven rise
        state.burst = max(0, state.burst - 1)
        return {"level": round(state.level, 3), "seq": state.seq}
    return {"alarm": rng.random() < 0.0005, "battery": round(rng.uniform(3.0, 3.3), 2), "seq": state.seq}


def connect(host: str, port: int, client_id: str = "", protocol: str = "5") -> mqtt.Client:
    """A publishing client with its network loop running."""
    version = MQTTProtocolVersion.MQTTv5 if protocol == "5" else MQTTProtocolVersion.MQTTv311
    client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id=client_id, protocol=version)
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect(host, port)
    client.loop_start()
    return client


@dataclass(slots=True)
class Pacer:
    """Spreads `rate` events per second evenly; `wait()` sleeps until the next slot."""

    rate: float
    start: float = field(default_factory=time.monotonic)
    sent: int = 0

    def wait(self) -> None:
        """Sleep until the next event is due (no sleep when behind)."""
        if self.rate <= 0:
            return
        due = self.start + self.sent / self.rate
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        self.sent += 1


@dataclass(frozen=True, slots=True)
class Drill:
    """A scripted alarm for the demo: `device` reports `alarm: true` for `length` seconds, `after` seconds
    from `start`, and again every `every` seconds, so a newcomer sees an incident open and resolve."""

    device: str
    start: float
    after: float = 15.0
    length: float = 30.0
    every: float = 180.0

    def active(self, device: str, now: float) -> bool:
        """Whether `device` is in alarm at wall time `now` (seconds)."""
        if device != self.device or now < self.start + self.after:
            return False
        return (now - self.start - self.after) % self.every < self.length


def simulate(
    client: mqtt.Client,
    devices: list[SimDevice],
    *,
    rate: float,
    count: int | None = None,
    seconds: float | None = None,
    qos: int = 1,
    stop: threading.Event | None = None,
    on_publish: Callable[[str, dict[str, float | int | bool]], None] | None = None,
    drill: Drill | None = None,
) -> int:
    """Publish synthetic readings round-robin over the devices at `rate` per second; returns how many."""
    states = {d.id: SimState(rng=random.Random(d.id)) for d in devices}
    pacer = Pacer(rate)
    deadline = time.monotonic() + seconds if seconds is not None else math.inf
    sent = 0
    while (count is None or sent < count) and time.monotonic() < deadline and not (stop and stop.is_set()):
        device = devices[sent % len(devices)]
        pacer.wait()
        now = time.time()
        payload = reading_for(device, states[device.id], now)
        payload["ts"] = int(now * 1000)
        if drill is not None and drill.active(device.id, now):
            payload["alarm"] = True
        topic = f"grid/{device.grid}/{device.kind}/{device.id}"
        client.publish(topic, json.dumps(payload), qos=qos)
        if on_publish is not None:
            on_publish(topic, payload)
        sent += 1
    return sent


@dataclass(frozen=True, slots=True)
class Recorded:
    """One recorded reading to replay: when it was taken, which device, its fields."""

    ts: float
    device: str
    kind: str
    fields: dict[str, float]


def read_air_quality(path: Path, device: str | None = None) -> Iterator[Recorded]:
    """Rows of the Beijing multi-site air-quality CSV (hourly, local time) as dust readings; NA is skipped."""
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            fields = {}
            for column, name in (("PM2.5", "pm25"), ("PM10", "pm10")):
                value = row.get(column, "NA")
                if value not in {"NA", ""}:
                    fields[name] = float(value)
            if not fields:
                continue
            when = datetime(int(row["year"]), int(row["month"]), int(row["day"]), int(row["hour"]), tzinfo=BEIJING)
            yield Recorded(when.timestamp(), device or f"aq-{row['station'].lower()}", "dust", fields)


def read_river_levels(path: Path) -> list[Recorded]:
    """The river-level CSV (station,dateTime,value; UTC), sorted by time (the file is not)."""
    out = []
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            try:
                level = float(row["value"])
            except ValueError:
                continue
            when = datetime.fromisoformat(row["dateTime"].replace("Z", "+00:00"))
            slug = "".join(c if c.isalnum() else "-" for c in row["station"].lower()).strip("-")
            out.append(Recorded(when.timestamp(), f"river-{slug}", "water", {"level": level}))
    out.sort(key=lambda r: r.ts)
    return out


def read_recorded(path: Path, device: str | None = None) -> Iterable[Recorded]:
    """Recorded readings from a CSV whose format is recognised by its header."""
    with path.open(newline="") as handle:
        header = handle.readline()
    if "PM2.5" in header:
        return read_air_quality(path, device)
    if "dateTime" in header and "station" in header:
        return read_river_levels(path)
    raise ValueError(f"{path}: unknown CSV format (expected the air-quality or river-level columns)")


def replay(
    client: mqtt.Client,
    records: Iterable[Recorded],
    *,
    grid: str,
    speedup: float,
    timestamps: str = "publish",
    qos: int = 1,
    limit: int | None = None,
    stop: threading.Event | None = None,
) -> int:
    """Publish recorded readings in order; `speedup` compresses their spacing (0 = as fast as possible).

    `timestamps="original"` sends the recorded time (the gateway's clock-skew limit must allow it);
    `"publish"` stamps each reading with the time it is sent.
    """
    first: float | None = None
    started = time.monotonic()
    sent = 0
    for record in records:
        if (limit is not None and sent >= limit) or (stop and stop.is_set()):
            break
        first = record.ts if first is None else first
        if speedup > 0:
            delay = started + (record.ts - first) / speedup - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        ts = record.ts if timestamps == "original" else time.time()
        payload = {**record.fields, "ts": int(ts * 1000)}
        client.publish(f"grid/{grid}/{record.kind}/{record.device}", json.dumps(payload), qos=qos)
        sent += 1
    return sent
