"""Rule-engine figures: live evaluation throughput (1,000 devices x 5 rules, windows included) and backtest
speed (a year of hourly data for one station from ../shared/data/air, and a large synthetic threshold run).

Run: .venv/bin/python bench/rules.py [--rounds N]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from gateway.model import FieldValue, GridCell, Reading
from rules import DeviceSpec, Engine, backtest, backtest_columns, load_rules, read_beijing_air

S = 1_000_000_000
T0 = 1_700_000_000 * S
AIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "air"

FIVE_RULES = """
rules:
  - {id: pm10-now, kind: threshold, event_type: x, field: pm10, for: 5m, clear_for: 5m,
     levels: [{severity: warning, set: 150, clear: 120}, {severity: critical, set: 250, clear: 200}]}
  - {id: pm10-15m, kind: window, event_type: x, field: pm10, agg: avg, window: 15m,
     levels: [{severity: warning, set: 150, clear: 120}]}
  - {id: pm25-1h-max, kind: window, event_type: x, field: pm25, agg: max, window: 1h,
     levels: [{severity: warning, set: 200, clear: 150}]}
  - {id: pm10-rise, kind: rate, event_type: x, field: pm10, window: 30m, levels: [{severity: info, set: 400}]}
  - {id: silent, kind: silence, event_type: x, levels: [{severity: warning, set: 3}]}
"""

THRESHOLD_ONLY = """
rules:
  - {id: pm25-hi, kind: threshold, event_type: x, field: pm25, for: 2h, clear_for: 1h,
     levels: [{severity: warning, set: 75, clear: 65}, {severity: critical, set: 150, clear: 130}]}
  - {id: pm10-hi, kind: threshold, event_type: x, field: pm10,
     levels: [{severity: warning, set: 150, clear: 120}]}
"""


def synthetic(devices: int, rounds: int, interval_s: int = 60) -> list[Reading]:
    """Readings of `devices` dust monitors, one per interval each, a random walk around the limits."""
    rng = random.Random(42)
    grid = GridCell("110101001002003")
    level = [100.0] * devices
    out = []
    for r in range(rounds):
        for d in range(devices):
            level[d] = max(0.0, level[d] + rng.gauss(0, 15))
            fields: dict[str, FieldValue] = {"pm10": level[d], "pm25": level[d] * 0.6}
            out.append(Reading(f"dust-{d:04d}", "dust", T0 + (r * interval_s + d % interval_s) * S, fields, grid))
    return out


def live(rounds: int) -> None:
    """Engine.on_reading throughput, as the gateway calls it."""
    devices = [DeviceSpec(f"dust-{d:04d}", "dust", interval=60.0) for d in range(1000)]
    readings = synthetic(1000, rounds)
    engine = Engine(load_rules(FIVE_RULES), "bench", devices)
    by_id = {d.id: d for d in devices}
    events = 0
    start = time.perf_counter()
    for reading in readings:
        events += len(engine.on_reading(reading, by_id[reading.device], reading.ts_ns))
    elapsed = time.perf_counter() - start
    rate = len(readings) / elapsed
    print(f"live engine, 1,000 devices x 5 rules (threshold, 2 windows, rate, silence): {len(readings):,} readings "
          f"in {elapsed:.2f} s = {rate:,.0f} readings/s ({1e6 / rate:.1f} µs each), {events:,} events")  # fmt: skip


def backtests() -> None:
    """Backtest speed: vectorised threshold rules and the full five-rule set, synthetic and real."""
    readings = synthetic(1000, 1000)
    for name, text in (("threshold rules (2)", THRESHOLD_ONLY), ("five rules incl. windows", FIVE_RULES)):
        rules = load_rules(text)
        start = time.perf_counter()
        result = backtest(rules, readings[: 200_000 if "five" in name else None])
        elapsed = time.perf_counter() - start
        count = 200_000 if "five" in name else len(readings)
        print(f"backtest from Readings, {name}: {count:,} in {elapsed:.2f} s = "
              f"{count / elapsed:,.0f} readings/s, {len(result.incidents):,} incidents")  # fmt: skip
    columns: dict[str, tuple[list[int], list[float], list[float]]] = {}
    for reading in readings:
        ts, pm10, pm25 = columns.setdefault(reading.device, ([], [], []))
        ts.append(reading.ts_ns)
        pm10.append(float(reading.fields["pm10"]))
        pm25.append(float(reading.fields["pm25"]))
    arrays = {
        d: (np.array(t, dtype=np.int64), {"pm10": np.array(a), "pm25": np.array(b)}) for d, (t, a, b) in columns.items()
    }
    start = time.perf_counter()
    result = backtest_columns(load_rules(THRESHOLD_ONLY), arrays)
    elapsed = time.perf_counter() - start
    print(f"backtest_columns, threshold rules (2), 1,000 devices x 1,000 readings: {elapsed:.2f} s = "
          f"{len(readings) / elapsed:,.0f} readings/s, {len(result.incidents):,} incidents")  # fmt: skip
    station = sorted(AIR.glob("PRSA_Data_*.csv"))
    if not station:
        print(f"skipped: no air-quality data in {AIR}")
        return
    path = station[0]
    start = time.perf_counter()
    year = [r for r in read_beijing_air(path.read_text().splitlines()) if r.ts_ns < 1393603200 * S]  # to 2014-03-01
    parsed = time.perf_counter() - start
    print(f"read {path.name}: {len(year):,} hourly readings (one year) parsed in {parsed:.3f} s")
    for name, text in (("threshold rules (2)", THRESHOLD_ONLY), ("five rules incl. windows", FIVE_RULES)):
        rules = load_rules(text)
        start = time.perf_counter()
        result = backtest(rules, year)
        elapsed = time.perf_counter() - start
        print(f"backtest, one station-year, {name}: {elapsed * 1000:.1f} ms = {len(year) / elapsed:,.0f} readings/s, "
              f"{len(result.incidents)} incidents")  # fmt: skip


def main() -> None:
    """Print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=100, help="readings per device in the live run")
    args = parser.parse_args()
    live(args.rounds)
    backtests()


if __name__ == "__main__":
    main()
