"""Recorded readings as per-device columns (what the backtest's numpy path runs on), built from readers' rows.

A `TableBuilder` takes batches of rows, either as arrays from the columnar CSV parser or as Readings
from the row readers, and `build` groups them per device, sorted by time (stable, like `backtest`).
A field column is float64 (NaN = missing) when every value is a float, else an object array of the
readers' values (None = missing), so Readings rebuilt from a table equal the readers' own.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from math import isnan

import numpy as np
import numpy.typing as npt

from gateway.model import FieldValue, GridCell, Reading
from rules.binding import maintenance_flagged
from rules.device import DeviceSpec
from rules.states.base import number

Column = npt.NDArray[np.float64] | npt.NDArray[np.object_]
Codes32 = npt.NDArray[np.int32]
"""Device, kind and cell codes per row (int32: a 10,000,000-row file is large enough)."""


@dataclass
class Series:
    """One device's readings: kind and cell of its first reading, times (sorted), field columns aligned."""

    device: DeviceSpec
    ts: npt.NDArray[np.int64]
    fields: dict[str, Column]

    def numbers(self, name: str) -> npt.NDArray[np.float64] | None:
        """A field as finite floats (bools as 0/1; NaN where missing or not numeric), like `number()`."""
        column = self.fields.get(name)
        if column is None or column.dtype == np.float64:
            return column  # type: ignore[return-value]
        found = [number(v) for v in column.tolist()]
        return np.array([np.nan if x is None else x for x in found], dtype=np.float64)

    def maintenance(self) -> npt.NDArray[np.bool_]:
        """Which readings are flagged maintenance/calibration (see `binding.is_maintenance`)."""
        flags = np.zeros(len(self.ts), dtype=np.bool_)
        flag, data_flag = self.fields.get("maintenance"), self.fields.get("data_flag")
        if flag is None and data_flag is None:
            return flags
        if data_flag is None and flag is not None and flag.dtype == np.float64:
            return flag == 1.0  # type: ignore[no-any-return]
        empty = [None] * len(self.ts)
        pairs = zip(empty if flag is None else flag.tolist(), empty if data_flag is None else data_flag.tolist(),
                    strict=True)  # fmt: skip
        for i, (a, b) in enumerate(pairs):
            flags[i] = maintenance_flagged(_present(a), _present(b))
        return flags

    def readings(self) -> list[Reading]:
        """The readings again, as the row readers give them (fields that are missing left out)."""
        names = list(self.fields)
        columns = [self.fields[n].tolist() for n in names]
        spec = self.device
        out = []
        for i, t in enumerate(self.ts.tolist()):
            fields = {n: v for n, c in zip(names, columns, strict=True) if (v := _present(c[i])) is not None}
            out.append(Reading(spec.id, spec.kind, t, fields, spec.grid))
        return out


def _present(value: object) -> FieldValue | None:
    """A column cell as a field value, None when missing (NaN in float columns)."""
    if value is None or (isinstance(value, float) and isnan(value)):
        return None
    return value  # type: ignore[return-value]


@dataclass
class Table:
    """Per-device series in order of each device's first appearance."""

    series: dict[str, Series]
    row_reader_rows: int = 0
    """Readings that came through the row reader (irregular chunks, JSONL), not numpy: for tests and figures."""

    @property
    def readings(self) -> int:
        """How many readings the table holds."""
        return sum(len(s.ts) for s in self.series.values())


class Codes:
    """Stable small integers for strings (devices, kinds, cells), in order of first appearance."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {}
        self.values: list[str] = []

    def code(self, text: str) -> int:
        """The code of a string, assigned on first sight."""
        found = self.index.get(text)
        if found is None:
            found = self.index[text] = len(self.values)
            self.values.append(text)
        return found

    def codes(self, texts: Iterable[str]) -> Codes32:
        """Codes of many strings."""
        return np.array([self.code(t) for t in texts], dtype=np.int32)


@dataclass
class Batch:
    """Rows of one chunk: times, device/kind/cell codes and field columns, all aligned."""

    ts: npt.NDArray[np.int64]
    device: Codes32
    kind: Codes32
    grid: Codes32
    fields: dict[str, Column]


class TableBuilder:
    """Collects batches of rows and groups them per device."""

    def __init__(self) -> None:
        self.devices, self.kinds, self.grids = Codes(), Codes(), Codes()
        self.grids.code("")
        self.batches: list[Batch] = []
        self.rows = 0
        self.row_reader_rows = 0

    def add(self, batch: Batch) -> None:
        """Take a batch from the columnar parser."""
        self.batches.append(batch)
        self.rows += len(batch.ts)

    def add_readings(self, readings: Iterable[Reading]) -> None:
        """Take readings from a row reader (files it could not parse as columns, JSONL, InfluxDB)."""
        chunk = list(readings)
        self.row_reader_rows += len(chunk)
        if not chunk:
            return
        names: dict[str, None] = {}
        for reading in chunk:
            names.update(dict.fromkeys(reading.fields))
        fields = {n: _column([r.fields.get(n) for r in chunk]) for n in names}
        self.add(Batch(
            np.array([r.ts_ns for r in chunk], dtype=np.int64), self.devices.codes(r.device for r in chunk),
            self.kinds.codes(r.kind for r in chunk), self.grids.codes(r.grid.code if r.grid else "" for r in chunk),
            fields,
        ))  # fmt: skip

    def build(self, start_ns: int | None = None, end_ns: int | None = None) -> Table:
        """Group per device (stable by time), keeping rows with start_ns <= ts < end_ns."""
        if not self.batches:
            return Table({}, self.row_reader_rows)
        ts = np.concatenate([b.ts for b in self.batches])
        dev = np.concatenate([b.device for b in self.batches])
        keep = None
        if start_ns is not None or end_ns is not None:
            keep = (ts >= (start_ns or 0)) & (ts < (end_ns if end_ns is not None else 1 << 62))
        small = dev.astype(np.uint16) if len(self.devices.values) <= 1 << 16 else dev  # radix sort when it fits
        order = np.argsort(small, kind="stable") if keep is None else np.flatnonzero(keep)[
            np.argsort(small[keep], kind="stable")]  # fmt: skip
        ts = ts[order]
        if not len(ts):
            return Table({}, self.row_reader_rows)
        counts = np.bincount(dev if keep is None else dev[keep], minlength=len(self.devices.values))
        codes = np.flatnonzero(counts)
        ends = np.cumsum(counts[codes])
        bounds = list(zip((ends - counts[codes]).tolist(), ends.tolist(), strict=True))
        for lo, hi in bounds:
            part = ts[lo:hi]
            if len(part) > 1 and (part[1:] < part[:-1]).any():
                inner = np.argsort(part, kind="stable")
                order[lo:hi], ts[lo:hi] = order[lo:hi][inner], part[inner]
        fields = {n: col[order] for n, col in self._fields().items()}
        firsts = order[ends - counts[codes]]
        kind = np.concatenate([b.kind for b in self.batches])[firsts]
        grid = np.concatenate([b.grid for b in self.batches])[firsts]
        found = {}
        for i, (code, (lo, hi)) in enumerate(zip(codes.tolist(), bounds, strict=True)):
            name = self.devices.values[code]
            cell = self.grids.values[int(grid[i])]
            spec = DeviceSpec(name, self.kinds.values[int(kind[i])], grid=GridCell(cell) if cell else None)
            cols = {n: c[lo:hi] for n, c in fields.items() if not _all_missing(c[lo:hi])}
            found[name] = Series(spec, ts[lo:hi], cols)
        return Table(found, self.row_reader_rows)

    def _fields(self) -> dict[str, Column]:
        """Every field column over all batches (missing where a batch lacks it)."""
        names: dict[str, None] = {}
        for batch in self.batches:
            names.update(dict.fromkeys(batch.fields))
        out: dict[str, Column] = {}
        for name in names:
            parts = [b.fields.get(name) for b in self.batches]
            if all(p is not None and p.dtype == np.float64 for p in parts):
                out[name] = np.concatenate(parts)  # type: ignore[arg-type]
            else:
                out[name] = np.concatenate([_objects(p, len(b.ts)) for p, b in zip(parts, self.batches, strict=True)])
        return out


def _objects(column: Column | None, n: int) -> npt.NDArray[np.object_]:
    """A column as an object array (None = missing)."""
    if column is None:
        return np.full(n, None, dtype=object)
    if column.dtype != np.float64:
        return column  # type: ignore[return-value]
    out = column.astype(object)
    out[np.isnan(column)] = None
    return out


def _column(values: list[FieldValue | None]) -> Column:
    """float64 when every present value is a float, else an object array."""
    if all(v is None or type(v) is float for v in values):
        return np.array([np.nan if v is None else v for v in values], dtype=np.float64)
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _all_missing(column: Column) -> bool:
    """Whether a column holds no value at all."""
    if column.dtype == np.float64:
        return bool(np.isnan(column).all())
    return all(v is None for v in column.tolist())


def table_of(readings: Iterable[Reading], batch: int = 100_000) -> Table:
    """A table from readings (no start/end filter)."""
    builder = TableBuilder()
    for chunk in _batched(readings, batch):
        builder.add_readings(chunk)
    return builder.build()


def _batched(items: Iterable[Reading], size: int) -> Iterator[list[Reading]]:
    """Lists of at most `size` items."""
    chunk: list[Reading] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


ColumnMap = Mapping[str, Column]
