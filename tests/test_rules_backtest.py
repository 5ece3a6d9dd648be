"""Backtest over a real Beijing air-quality slice equals an independent pandas computation; readers
count every bad row; run_backtest and compare produce the reports the CLI prints."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gateway.model import FieldValue, Reading
from rules import (
    ReadStats,
    backtest,
    backtest_columns,
    format_result,
    load_rules,
    read_beijing_air,
    read_csv,
    read_jsonl,
    run_backtest,
)
from rules.columnar import read_table

TZ = "America/New_York"
SLICE = Path(__file__).resolve().parent / "data" / "rules" / "beijing_dongsi_2013-12_2014-01.csv"
NS = 1_000_000_000

PM25_RULES = """
rules:
  - id: pm25-24h
    kind: window
    event_type: "200302"
    field: pm25
    agg: avg
    window: 24h
    min_count: 18
    levels: [{severity: warning, set: 75, clear: 65}, {severity: critical, set: 150, clear: 130}]
  - id: pm10-hourly
    kind: threshold
    event_type: "200302"
    field: pm10
    levels: [{severity: warning, set: 300, clear: 250}]
"""


def expected_incidents(column: str, window: str | None, set_: float, clear: float, critical: float,
                       min_periods: int = 1) -> list[tuple[int, int | None, str]]:  # fmt: skip
    """(opened, resolved, worst severity) computed with pandas rolling means and a plain hysteresis loop."""
    frame = pd.read_csv(SLICE)
    when = pd.to_datetime(frame[["year", "month", "day", "hour"]]).dt.tz_localize("Asia/Shanghai")
    series = pd.Series(frame[column].to_numpy(dtype=float), index=when).dropna()
    values = series.rolling(window, min_periods=min_periods).mean() if window else series
    found: list[tuple[int, int | None, str]] = []
    opened: int | None = None
    worst = "warning"
    for stamp, value in values.items():
        if math.isnan(value):
            continue
        t = int(stamp.timestamp()) * NS  # type: ignore[attr-defined]
        if opened is None and value >= set_:
            opened, worst = t, "warning"
        elif opened is not None and value < clear:
            found.append((opened, t, worst))
            opened = None
        if opened is not None and value >= critical:
            worst = "critical"
    if opened is not None:
        found.append((opened, None, worst))
    return found


def test_slice_reads_cleanly() -> None:
    stats = ReadStats()
    readings = list(read_beijing_air(SLICE.read_text().splitlines(), stats))
    assert stats.rows == 1488 and stats.readings == 1488 and not stats.rejected
    assert readings[0].device == "Dongsi" and readings[0].ts_ns == 1385827200 * NS  # 2013-12-01 00:00 +08:00
    assert "pm25" in readings[0].fields and "wd" not in readings[0].fields


@pytest.mark.parametrize("fast", [True, False])
def test_backtest_equals_independent_pandas_computation(fast: bool) -> None:
    rules = load_rules(PM25_RULES)
    result = backtest(rules, read_beijing_air(SLICE.read_text().splitlines()), fast=fast)
    got = {rule: [(s.opened_ns, s.resolved_ns, s.severity) for s in result.incidents if s.rule == rule]
           for rule in ("pm25-24h", "pm10-hourly")}  # fmt: skip
    pm25 = expected_incidents("PM2.5", "24h", 75, 65, 150, min_periods=18)
    pm10 = expected_incidents("PM10", None, 300, 250, math.inf)
    assert len(pm25) >= 5 and len(pm10) >= 5  # the slice has real episodes of both
    assert got["pm25-24h"] == pm25
    assert got["pm10-hourly"] == pm10
    open_time = sum((r if r is not None else result.end_ns) - o for o, r, _ in pm25)
    assert result.rules["pm25-24h"].open_ns == open_time


def test_run_backtest_and_compare_reports() -> None:
    lines = SLICE.read_text().splitlines()
    report = run_backtest(PM25_RULES, lines, "beijing")
    assert "pm25-24h: " in report and "1488 readings" in report
    stricter = PM25_RULES.replace("set: 300, clear: 250", "set: 200, clear: 150")
    compared = run_backtest(PM25_RULES, lines, "beijing", compare_text=stricter)
    row = next(line for line in compared.splitlines() if line.startswith("pm10-hourly"))
    old, new = (int(x) for x in row.split()[1:3])
    assert new > old


def test_csv_reader_counts_every_bad_row() -> None:
    text = [
        "ts,device,kind,pm10,flag",
        "2024-01-01T08:00:00,d1,dust,100,N",
        "2024-01-01T08:01:00+08:00,d1,dust,NA,",  # no values left
        "not-a-time,d1,dust,100,N",
        "1704067260,d1,dust,inf,N",  # non-finite (nan and NA mean missing)
        ",dust,100,N",  # too few cells: empty ts
        "1704067260,d1,dust,100,N,extra",
        "1704067260000,d2,dust,7,N",
    ]
    stats = ReadStats()
    readings = list(read_csv(text, stats))
    assert [(r.device, r.ts_ns) for r in readings] == [("d1", 1704067200 * NS), ("d2", 1704067260 * NS)]
    assert readings[0].fields == {"pm10": 100.0, "flag": "N"}
    assert stats.rejected == {"no_fields": 1, "malformed": 3, "non_finite": 1}
    assert len(stats.examples) == 5
    bad_header = ReadStats()
    assert list(read_csv(["time,sensor", "1,2"], bad_header)) == []
    assert bad_header.rejected == {"malformed": 1}


def test_jsonl_reader_counts_every_bad_line() -> None:
    lines = [
        '{"ts": "2024-01-01T00:00:00+08:00", "device": "d1", "kind": "water", "fields": {"level": 3.2}}',
        "{not json",
        '{"device": "d1", "fields": {}}',
        '{"ts": "x", "device": "d1", "fields": {"a": 1}}',
        '{"ts": 1704038400, "device": "d1", "fields": {"a": 1}, "grid": "12"}',
        '["a"]',
        "",
    ]
    stats = ReadStats()
    readings = list(read_jsonl(lines, stats))
    assert [r.fields for r in readings] == [{"level": 3.2}]
    assert stats.rejected == {"malformed": 4, "no_fields": 1}


def test_beijing_reader_rejects_other_formats_and_all_na_rows() -> None:
    stats = ReadStats()
    assert list(read_beijing_air(["a,b,c", "1,2,3"], stats)) == []
    assert stats.rejected == {"malformed": 1}
    header = "No,year,month,day,hour,PM2.5,PM10,SO2,NO2,CO,O3,TEMP,PRES,DEWP,RAIN,wd,WSPM,station"
    rows = [header, "1,2013,3,1,0,NA,NA,NA,NA,NA,NA,NA,NA,NA,NA,NA,NA,X", "2,2013,13,1,0,1,1,1,1,1,1,1,1,1,1,N,1,X"]
    stats = ReadStats()
    assert list(read_beijing_air(rows, stats)) == []
    assert stats.rejected == {"no_fields": 1, "malformed": 1}


THRESHOLD_PM25 = """
rules:
  - id: pm25-hi
    kind: threshold
    event_type: "200302"
    field: pm25
    for: 2h
    clear_for: 1h
    levels: [{severity: warning, set: 75, clear: 65}, {severity: critical, set: 150, clear: 130}]
"""


def test_columnar_backtest_equals_reading_backtest() -> None:
    rules = load_rules(THRESHOLD_PM25)
    readings = list(read_beijing_air(SLICE.read_text().splitlines()))
    times = np.array([r.ts_ns for r in readings], dtype=np.int64)
    pm25 = np.array([r.fields.get("pm25", np.nan) for r in readings], dtype=np.float64)
    columns = backtest_columns(rules, {"Dongsi": (times, {"pm25": pm25})})
    assert columns.incidents == backtest(rules, readings).incidents
    assert len(columns.incidents) >= 5
    with pytest.raises(ValueError, match="needs backtest"):
        backtest_columns(load_rules(PM25_RULES), {"Dongsi": (times, {"pm25": pm25})})


def _chunks(text: str, size: int) -> list[bytes]:
    """A file's bytes cut every `size` bytes, as the CLI reads it (cuts fall inside lines)."""
    raw = text.encode()
    return [raw[i : i + size] for i in range(0, len(raw), size)]


def _grouped(readings: list[Reading]) -> dict[str, list[tuple[int, dict[str, FieldValue]]]]:
    """Per device, (time, fields) in time order (stable), as the backtest sees them."""
    out: dict[str, list[Reading]] = {}
    for reading in readings:
        out.setdefault(reading.device, []).append(reading)
    return {d: [(r.ts_ns, r.fields) for r in sorted(rs, key=lambda r: r.ts_ns)] for d, rs in out.items()}


def test_columnar_reader_takes_the_beijing_slice_with_numpy_and_reports_the_same() -> None:
    text = SLICE.read_text()
    stats = ReadStats()
    table = read_table(_chunks(text, 4096), "beijing", stats)
    assert table.row_reader_rows == 0 and stats.readings == 1488
    expected = _grouped(list(read_beijing_air(text.splitlines())))
    assert {d: [(r.ts_ns, r.fields) for r in s.readings()] for d, s in table.series.items()} == expected
    rules = load_rules(PM25_RULES)
    old = format_result(backtest(rules, read_beijing_air(text.splitlines())), rules)
    assert run_backtest(PM25_RULES, _chunks(text, 65536), "beijing") == old
    assert run_backtest(PM25_RULES, text.splitlines(), "beijing") == old


def test_columnar_reader_parses_a_regular_csv_with_numpy() -> None:
    lines = ["ts,device,kind,grid,pm10,note,maintenance"]
    for i in range(300):  # naive local times across the 2024-03-10 New York DST change, epoch s and ms
        ts = f"2024-03-10T{i // 60:02d}:{i % 60:02d}:05" if i % 3 else str(1710050000 + i) + ("000" if i % 2 else "")
        pm10 = "NA" if i % 7 == 0 else f"{(i * 37) % 400}.{i % 10}"
        lines.append(f"{ts},d{i % 4},dust,110101001002003,{pm10},{'ok' if i % 5 else ''},{'M' if i % 11 == 0 else 0}")
    lines.append("1710050000,d9,dust,,NA,,0")  # maintenance 0 is a value
    lines.append("1710050000,d9,dust,,NA,,NA")  # no values at all: rejected
    stats = ReadStats()
    table = read_table(_chunks("\n".join(lines) + "\n", 2000), "csv", stats, TZ)
    expected_stats = ReadStats()
    expected = list(read_csv(lines, expected_stats, TZ))
    assert table.row_reader_rows == 0
    assert stats == expected_stats and stats.rejected == {"no_fields": 1}
    assert {d: [(r.ts_ns, r.fields) for r in s.readings()] for d, s in table.series.items()} == _grouped(expected)
    assert table.series["d1"].device.grid is not None and table.series["d1"].device.kind == "dust"


def test_an_irregular_chunk_goes_to_the_row_reader_with_its_line_numbers() -> None:
    lines = ["ts,device,pm10"] + [f"{1704067200 + i},d1,{i}" for i in range(2000)]
    lines[1500] = "1704068700,d1,inf"  # non-finite: the chunk holding line 1501 goes to the row reader
    stats = ReadStats()
    table = read_table(_chunks("\n".join(lines) + "\n", 4000), "csv", stats)
    assert stats.rejected == {"non_finite": 1} and stats.examples == ["non_finite: line 1501: non-finite value 'inf'"]
    assert 0 < table.row_reader_rows < 500  # only that chunk
    assert len(table.series["d1"].ts) == 1999


def test_jsonl_through_the_table_equals_the_row_reader() -> None:
    lines = [json.dumps({"ts": 1704067200 + i, "device": f"d{i % 3}", "kind": "water",
                         "fields": {"level": i / 10, "alarm": True if i % 4 else 1}}) for i in range(50)]  # fmt: skip
    lines.insert(7, "")
    lines.insert(9, "{bad")
    stats, expected_stats = ReadStats(), ReadStats()
    table = read_table(_chunks("\n".join(lines), 300), "jsonl", stats)
    expected = list(read_jsonl(lines, expected_stats))
    assert stats == expected_stats and stats.examples[0].startswith("malformed: line 10:")
    assert {d: [(r.ts_ns, r.fields) for r in s.readings()] for d, s in table.series.items()} == _grouped(expected)
