"""Recorded readings for backtests: files (CSV, JSONL, the Beijing air-quality format) or InfluxDB history.

`influx://HOST:PORT/DB?measurement=dust[&where=...]` queries an InfluxDB 1.x (InfluxQL over /query),
series by series, and yields JSON lines in the format rules/ reads (ts, device, kind, grid, fields).
"""

from __future__ import annotations

import json
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

TAG_KEYS = ("device", "kind", "grid")
LEVEL_TAGS = frozenset({"district", "street", "community"})
BLOCK = 4 << 20


def data_format(source: str) -> str:
    """csv, jsonl or beijing, from a file's name and header (influx:// sources give jsonl)."""
    if source.startswith("influx://"):
        return "jsonl"
    path = Path(source)
    if path.suffix in {".jsonl", ".ndjson"}:
        return "jsonl"
    with path.open(encoding="utf-8") as handle:
        header = handle.readline()
    return "beijing" if "PM2.5" in header and "station" in header else "csv"


def read_lines(source: str, start_ns: int | None = None, end_ns: int | None = None) -> Iterator[str] | Iterator[bytes]:
    """A data file as byte blocks (the backtest parses them into columns), or an InfluxDB query as JSON lines."""
    if source.startswith("influx://"):
        return influx_lines(source, start_ns, end_ns)
    return read_blocks(Path(source))


def read_blocks(path: Path, size: int = BLOCK) -> Iterator[bytes]:
    """A file's bytes in blocks of `size` (cut anywhere; the reader rejoins lines)."""
    with path.open("rb") as handle:
        while block := handle.read(size):
            yield block


def influx_lines(url: str, start_ns: int | None, end_ns: int | None) -> Iterator[str]:
    """JSON lines of every point of one measurement in an InfluxDB 1.x database, oldest first per series."""
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qs(parts.query)
    db = parts.path.strip("/")
    measurement = query.get("measurement", [""])[0]
    if not db or not measurement:
        raise ValueError("influx:// source needs a database and a measurement: influx://HOST:PORT/DB?measurement=dust")
    conditions = [f"time >= {start_ns}" if start_ns else "", f"time < {end_ns}" if end_ns else ""]
    conditions += query.get("where", [])
    where = " AND ".join(c for c in conditions if c)
    influxql = f'SELECT * FROM "{measurement}"' + (f" WHERE {where}" if where else "") + " GROUP BY *"
    scheme = "https" if query.get("tls", ["0"])[0] in {"1", "true"} else "http"
    params = urllib.parse.urlencode({"db": db, "q": influxql, "epoch": "ns", "chunked": "true", "chunk_size": "10000"})
    with urllib.request.urlopen(f"{scheme}://{parts.netloc}/query?{params}", timeout=300) as resp:
        for chunk in resp:
            yield from _chunk_lines(json.loads(chunk), measurement)


def _chunk_lines(body: dict[str, object], measurement: str) -> Iterator[str]:
    for result in body.get("results", []):  # type: ignore[attr-defined]
        if "error" in result:
            raise RuntimeError(f"InfluxDB: {result['error']}")
        for series in result.get("series", []):
            tags = series.get("tags", {})
            columns = series["columns"]
            for values in series["values"]:
                row = dict(zip(columns, values, strict=True))
                ts = row.pop("time")
                fields = {k: v for k, v in row.items() if v is not None and k not in TAG_KEYS and k not in LEVEL_TAGS}
                yield json.dumps({
                    "ts": ts, "device": tags.get("device", ""), "kind": tags.get("kind", measurement),
                    "grid": tags.get("grid") or None, "fields": fields,
                })


class Progress:
    """A one-line progress counter on stderr for long CLI work (backtests, replays, imports)."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.started = time.monotonic()
        self.count = 0

    def __call__(self, count: int) -> None:
        """Report that `count` items are done (the caller decides how often)."""
        self.count = count
        rate = count / max(time.monotonic() - self.started, 1e-9)
        sys.stderr.write(f"\r  {count:,} {self.what} ({rate:,.0f}/s)")
        sys.stderr.flush()

    def done(self) -> None:
        """End the progress line."""
        if self.count:
            sys.stderr.write("\n")
