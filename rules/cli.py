"""What `edge.py backtest` and `edge.py rules explain` call: pure functions over texts the CLI has read."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from gateway.model import Reading
from rules.backtest import backtest, format_compare, format_result
from rules.device import DeviceInfo
from rules.effective import explain_text
from rules.loader import load_event_types, load_rules
from rules.readers import READERS, ReadStats


def run_backtest(
    rules_text: str,
    data_lines: Iterable[str],
    data_format: str = "csv",
    *,
    compare_text: str | None = None,
    event_types_text: str | None = None,
    devices: Sequence[DeviceInfo] = (),
    start_ns: int | None = None,
    end_ns: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> str:
    """Backtest a rule file (or, with compare_text, the old file `rules_text` against the new one) over data.

    `data_format` is csv, jsonl or beijing; rows outside [start_ns, end_ns) are left out; a bad rule
    file raises RuleFileError, bad data rows are counted and reported.
    """
    if data_format not in READERS:
        raise ValueError(f"data format {data_format!r} is not one of {', '.join(READERS)}")
    table = load_event_types(event_types_text) if event_types_text else None
    rules = load_rules(rules_text, table, source="rules")
    stats = ReadStats()
    readings: Iterable[Reading] = READERS[data_format](data_lines, stats, rules.timezone)
    if start_ns is not None or end_ns is not None:
        low, high = start_ns or 0, end_ns if end_ns is not None else 1 << 62
        readings = (r for r in readings if low <= r.ts_ns < high)
    rejected = ""
    if compare_text is None:
        result = backtest(rules, readings, devices, progress=progress)
        report = format_result(result, rules, table)
    else:
        new_rules = load_rules(compare_text, table, source="compare")
        materialised = list(readings)
        old = backtest(rules, materialised, devices, progress=progress)
        new = backtest(new_rules, materialised, devices)
        report = "\n\n".join([format_compare(old, new), "old:", format_result(old, rules, table),
                              "new:", format_result(new, new_rules, table)])  # fmt: skip
    if stats.rejected:
        counts = ", ".join(f"{k} {v}" for k, v in sorted(stats.rejected.items()))
        rejected = f"\n{sum(stats.rejected.values())} data rows rejected ({counts}):\n  " + "\n  ".join(stats.examples)
    return report + rejected


def explain_device(rules_text: str, device: DeviceInfo, event_types_text: str | None = None) -> str:
    """`edge.py rules explain DEVICE`: the effective rules and thresholds for one device."""
    table = load_event_types(event_types_text) if event_types_text else None
    return explain_text(load_rules(rules_text, table), device)
