"""Rule-engine figures: live evaluation throughput (1,000 devices x 5 rules, windows included), backtest
speed (a year of hourly data for one station from ../shared/data/air, and a large synthetic threshold run),
and `edge.py backtest` end to end (wall time including reading the file) on files it writes to a temp dir.

Run: .venv/bin/python bench/rules.py [--rounds N] [--only live|shipped|backtest|cli] [--cli-devices N --cli-readings N]
"""

from __future__ import annotations

import argparse
import gc
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from gateway.history import read_blocks
from gateway.model import FieldValue, GridCell, Reading
from rules import DeviceSpec, Engine, ReadStats, backtest, backtest_columns, load_rules, read_beijing_air
from rules.backtest import backtest_table
from rules.columnar import read_table
from rules.readers import READERS

S = 1_000_000_000
T0 = 1_700_000_000 * S
REPO = Path(__file__).resolve().parents[1]
AIR = REPO.parent / "shared" / "data" / "air"

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


def live_shipped(devices: int = 10_000, readings: int = 100_000) -> None:
    """Engine.on_reading CPU per reading with config/rules.yaml over a 10,000-device dust fleet."""
    rules = load_rules((REPO / "config" / "rules.yaml").read_text())
    cells = [GridCell(f"110105{d % 30:03d}001{d % 7:03d}") for d in range(devices)]
    fleet = [DeviceSpec(f"dust-{d:05d}", "dust", grid=cells[d]) for d in range(devices)]
    engine = Engine(rules, "bench", fleet)
    engine.tick(T0)  # binds every device
    batch = [Reading(device=fleet[i % devices].id, kind="dust", grid=fleet[i % devices].grid, ts_ns=T0 + i * 1_000_000,
                     fields={"pm25": 30.0 + i % 40, "pm10": 55.0 + i % 60, "seq": float(i)}) for i in range(readings)]
    cpu = time.process_time()
    for i, reading in enumerate(batch):
        engine.on_reading(reading, fleet[i % devices], reading.ts_ns)
    used = time.process_time() - cpu
    print(f"live engine, shipped rules, {devices:,} dust devices ({len(engine.subjects()):,} bindings): "
          f"{used / readings * 1e6:.1f} µs CPU per reading")
    gc.freeze()  # as the gateway does after start-up; RuleRunner.save_state also pauses the collector
    gc.disable()
    cpu = time.process_time()
    text = engine.snapshot_json()
    print(f"state snapshot (saved every state_interval, inside a commit): {time.process_time() - cpu:.2f} s CPU, "
          f"{len(text) / 1e6:.1f} MB of JSON")
    gc.enable()


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


def synthetic_csv(path: Path, devices: int, rounds: int) -> int:
    """A CSV of `devices` dust monitors x `rounds` minutes (ISO local times, a random walk around the limits)."""
    rng = np.random.default_rng(42)
    level = np.full(devices, 100.0)
    names = [f"dust-{d:04d}" for d in range(devices)]
    start = datetime(2024, 1, 1)
    with path.open("w", encoding="utf-8") as out:
        out.write("ts,device,kind,pm10,pm25\n")
        for r in range(rounds):
            level = np.maximum(0.0, level + rng.normal(0, 15, devices))
            ts = (start + timedelta(minutes=r)).isoformat()
            pm10, pm25 = np.char.mod("%.1f", level).tolist(), np.char.mod("%.1f", level * 0.6).tolist()
            out.write("".join(f"{ts},{n},dust,{a},{b}\n" for n, a, b in zip(names, pm10, pm25, strict=True)))
    return devices * rounds


def station_year(path: Path) -> int | None:
    """The first year (2013-03 to 2014-02) of one station's hourly Beijing file, in that format."""
    station = sorted(AIR.glob("PRSA_Data_*.csv"))
    if not station:
        return None
    lines = station[0].read_text(encoding="utf-8").splitlines(keepends=True)
    path.write_text("".join(lines[: 1 + 365 * 24]), encoding="utf-8")
    return 365 * 24


def run_cli(rules: Path, data: Path) -> tuple[float, float, str]:
    """Wall and CPU seconds of `edge.py backtest --rules RULES --data DATA` in a fresh process, and its report."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run([sys.executable, str(REPO / "edge.py"), "backtest", "--rules", str(rules), "--data",
                           str(data)], capture_output=True, text=True, check=True)  # fmt: skip
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return wall, cpu, done.stdout


def row_reader_path(rules_text: str, data: Path, data_format: str) -> float:
    """Seconds the previous `edge.py backtest` path takes in-process: row reader, Readings, `backtest`."""
    rules = load_rules(rules_text)
    reader: Callable[..., Iterator[Reading]] = READERS[data_format]
    start = time.perf_counter()
    with data.open(encoding="utf-8") as lines:
        backtest(rules, reader(lines, ReadStats(), rules.timezone))
    return time.perf_counter() - start


def columnar_path(rules_text: str, data: Path, data_format: str) -> float:
    """Seconds `edge.py backtest` spends on the data in-process (no interpreter start): columns, backtest_table."""
    rules = load_rules(rules_text)
    start = time.perf_counter()
    backtest_table(rules, read_table(read_blocks(data), data_format, ReadStats(), rules.timezone))
    return time.perf_counter() - start


def cli(devices: int, rounds: int, shipped_rounds: int) -> None:
    """`edge.py backtest` end to end: a station-year and a large synthetic CSV, threshold-only and shipped rules."""
    with tempfile.TemporaryDirectory(prefix="gridedge-backtest-") as tmp:
        work = Path(tmp)
        threshold = work / "threshold.yaml"
        threshold.write_text(THRESHOLD_ONLY, encoding="utf-8")
        shipped = REPO / "config" / "rules.yaml"
        year = work / "station-year.csv"
        files: list[tuple[str, Path, int, str]] = []
        count = station_year(year)
        if count:
            files.append(("one station-year, hourly (Beijing format)", year, count, "beijing"))
        big, small = work / "synthetic.csv", work / "synthetic-small.csv"
        started = time.perf_counter()
        big_count = synthetic_csv(big, devices, rounds)
        print(f"wrote {big_count:,} synthetic rows ({big.stat().st_size / 1e6:,.0f} MB) in "
              f"{time.perf_counter() - started:.0f} s")  # fmt: skip
        small_count = synthetic_csv(small, devices, shipped_rounds)
        large = (f"synthetic CSV {devices:,} devices x {rounds:,}", big, big_count, "csv")
        for label, data, n, _fmt in [*files, large]:
            wall, cpu, _ = run_cli(threshold, data)
            print(f"edge.py backtest, threshold rules (2), {label}: {n:,} readings, wall {wall:.2f} s = "
                  f"{n / wall:,.0f} readings/s (CPU {cpu:.2f} s = {n / cpu:,.0f}/s)")  # fmt: skip
        for label, data, n, _fmt in [*files, (f"synthetic CSV {devices:,} devices x {shipped_rounds:,}", small,
                                             small_count, "csv")]:  # fmt: skip
            wall, cpu, _ = run_cli(shipped, data)
            print(f"edge.py backtest, shipped rules (config/rules.yaml), {label}: {n:,} readings, wall {wall:.2f} s = "
                  f"{n / wall:,.0f} readings/s (CPU {cpu:.2f} s = {n / cpu:,.0f}/s)")  # fmt: skip
        for label, data, n, fmt in [*files, (f"synthetic CSV {devices:,} devices x {shipped_rounds:,}", small,
                                             small_count, "csv")]:  # fmt: skip
            for name, text in (("threshold rules (2)", THRESHOLD_ONLY), ("shipped rules", shipped.read_text())):
                new, old = columnar_path(text, data, fmt), row_reader_path(text, data, fmt)
                print(f"in-process, {name}, {label}: columns {new:.2f} s = {n / new:,.0f} readings/s; previous path "
                      f"(row reader -> Readings -> backtest) {old:.2f} s = {n / old:,.0f} readings/s")  # fmt: skip


def main() -> None:
    """Print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=100, help="readings per device in the live run")
    phases = ["live", "shipped", "backtest", "cli"]
    parser.add_argument("--only", choices=phases, default=None, help="run one phase only")
    parser.add_argument("--cli-devices", type=int, default=1000, help="devices in the synthetic CSV")
    parser.add_argument("--cli-readings", type=int, default=10_000, help="readings per device (threshold rules)")
    parser.add_argument("--cli-shipped-readings", type=int, default=1000, help="readings per device (shipped rules)")
    args = parser.parse_args()
    if args.only in (None, "live"):
        live(args.rounds)
    if args.only in (None, "shipped"):
        live_shipped()
    if args.only in (None, "backtest"):
        backtests()
    if args.only in (None, "cli"):
        cli(args.cli_devices, args.cli_readings, args.cli_shipped_readings)


if __name__ == "__main__":
    main()
