"""What `edge.py backtest` and `edge.py rules explain` call: pure functions over texts the CLI has read."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from rules.backtest import backtest_table, format_compare, format_result
from rules.columnar import read_table
from rules.device import DeviceInfo
from rules.effective import explain_text
from rules.loader import load_event_types, load_rules
from rules.readers import READERS, ReadStats


def run_backtest(
    rules_text: str,
    data: Iterable[str] | Iterable[bytes],
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

    `data` is text lines or byte chunks of a file; `data_format` is csv, jsonl or beijing; rows outside
    [start_ns, end_ns) are left out; a bad rule file raises RuleFileError, bad data rows are counted
    and reported. The data is read into per-device columns (`read_table`) and run by `backtest_table`.
    """
    if data_format not in READERS:
        raise ValueError(f"data format {data_format!r} is not one of {', '.join(READERS)}")
    table = load_event_types(event_types_text) if event_types_text else None
    rules = load_rules(rules_text, table, source="rules")
    new_rules = load_rules(compare_text, table, source="compare") if compare_text is not None else None
    stats = ReadStats()
    data_table = read_table(data, data_format, stats, rules.timezone, start_ns, end_ns, progress)
    old = backtest_table(rules, data_table, devices)
    if new_rules is None:
        report = format_result(old, rules, table)
    else:
        new = backtest_table(new_rules, data_table, devices)
        report = "\n\n".join([format_compare(old, new), "old:", format_result(old, rules, table),
                              "new:", format_result(new, new_rules, table)])  # fmt: skip
    rejected = ""
    if stats.rejected:
        counts = ", ".join(f"{k} {v}" for k, v in sorted(stats.rejected.items()))
        rejected = f"\n{sum(stats.rejected.values())} data rows rejected ({counts}):\n  " + "\n  ".join(stats.examples)
    return report + rejected


def explain_device(rules_text: str, device: DeviceInfo, event_types_text: str | None = None) -> str:
    """`edge.py rules explain DEVICE`: the effective rules and thresholds for one device."""
    table = load_event_types(event_types_text) if event_types_text else None
    return explain_text(load_rules(rules_text, table), device)
