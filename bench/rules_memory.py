"""Rule-engine memory: peak RSS of an engine holding the shipped rules (config/rules.yaml) for 10,000
registered devices that each report a few readings, as the gateway's sensor path does.

Run: .venv/bin/python bench/rules_memory.py [--devices N] [--readings N]
(one process per run, so the peak is this engine's, on top of the interpreter and libraries).
"""

from __future__ import annotations

import argparse
import gc
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.model import FieldValue, GridCell, Reading
from rules import DeviceSpec, Engine, load_rules

S = 1_000_000_000
T0 = 1_700_000_000 * S
RULES = Path(__file__).resolve().parents[1] / "config" / "rules.yaml"


def rss_mib() -> float:
    """Current resident set size in MiB (Linux /proc)."""
    fields = Path("/proc/self/statm").read_text().split()
    return int(fields[1]) * resource.getpagesize() / (1 << 20)


def peak_mib() -> float:
    """Peak resident set size (VmHWM) since the last `reset_peak`, in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak() -> None:
    """Start a new peak (Linux: writing 5 to clear_refs resets VmHWM)."""
    Path("/proc/self/clear_refs").write_text("5")


def main() -> None:
    """Print RSS before and after binding the devices and feeding them."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--readings", type=int, default=10, help="readings per device, a minute apart")
    args = parser.parse_args()
    grid = GridCell("110101001002003")
    devices = [DeviceSpec(f"dust-{d:05d}", "dust", grid=grid, interval=60.0) for d in range(args.devices)]
    rules = load_rules(RULES.read_text(encoding="utf-8"))
    gc.collect()
    base = rss_mib()
    engine = Engine(rules, "bench", devices)
    start = time.perf_counter()
    engine.tick(T0)
    bound = rss_mib()
    events = 0
    for r in range(args.readings):
        for i, device in enumerate(devices):
            t = T0 + (r * 60 + i % 60) * S
            pm10, pm25 = 55.0 + (r * 7 + i) % 60, 30.0 + (r * 3 + i) % 40
            fields: dict[str, FieldValue] = {"pm10": pm10, "pm25": pm25, "seq": float(r)}
            events += len(engine.on_reading(Reading(device.id, "dust", t, fields, grid), device, t))
    elapsed = time.perf_counter() - start
    gc.collect()
    fed, fed_peak = rss_mib(), peak_mib()
    reset_peak()
    saved = engine.snapshot_json()  # what the gateway writes to the journal every state interval
    saving_peak = peak_mib()
    print(f"shipped rules, {args.devices:,} devices x {args.readings} readings: {len(engine.subjects()):,} bindings, "
          f"{events:,} events, {elapsed:.1f} s")  # fmt: skip
    print(f"RSS: {base:.0f} MiB before the engine, {bound:.0f} MiB bound (+{bound - base:.0f}), "
          f"{fed:.0f} MiB fed (+{fed - base:.0f}); peak {fed_peak:.0f} MiB")  # fmt: skip
    print(f"state snapshot (JSON, {len(saved) / (1 << 20):.1f} MiB): peak {saving_peak:.0f} MiB "
          f"(+{saving_peak - fed:.0f} over the fed engine)")  # fmt: skip


if __name__ == "__main__":
    main()
