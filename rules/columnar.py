"""Read CSV and Beijing air-quality files straight into columns with numpy, for the backtest.

The file comes as byte chunks of whole lines. A chunk is parsed with numpy when it is regular:
every row has the header's cell count, quotes only wrap whole cells with no delimiter inside,
numbers are plain decimals of at most 15 digits (decoded exactly: an integer of < 2**53 over an
exact power of ten is one correctly rounded division, as `float()` gives), times are epoch digits or
`YYYY-MM-DD[T ]HH:MM[:SS]`. Cells that are not plain decimals go through the row reader's `_value`.
Any other irregularity (a malformed row, a non-finite value, blank lines, odd quoting) sends the
whole chunk through the row reader (`rules.readers`), so results, rejections and their line numbers
are exactly the row reader's. Rows with no values are rejected here with the row reader's message.
"""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from gateway.model import FieldValue, GridCell, Reading, RejectReason
from rules.durations import NS_PER_S
from rules.readers import (
    _BEIJING_FIELDS,
    MAX_EXAMPLES,
    ReadStats,
    _value,
    parse_ts,
    read_beijing_air,
    read_csv,
    read_jsonl,
)
from rules.schema import DEFAULT_TIMEZONE
from rules.table import Batch, Codes32, Column, Table, TableBuilder

U8 = npt.NDArray[np.uint8]
I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
MAX_CELL = 64
_MISSING = (b"", b"NA", b"NaN", b"nan", b"null", b"None")
_EPOCH_SCALE = {10: NS_PER_S, 13: 1_000_000, 16: 1_000, 19: 1}
_MULT = np.array([0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0x27D4EB2F165667C5] * 2,
                 dtype=np.uint64)  # fmt: skip


_ISO_WEIGHTS = np.zeros((19, 6), dtype=np.int64)
for _part, (_a, _b) in enumerate(((0, 4), (5, 7), (8, 10), (11, 13), (14, 16), (17, 19))):
    _ISO_WEIGHTS[_a:_b, _part] = 10 ** np.arange(_b - _a - 1, -1, -1)
"""Digit weights that turn YYYY-MM-DDTHH:MM:SS bytes (minus '0') into year, month, day, hour, minute, second."""


class IrregularChunkError(Exception):
    """This chunk needs the row reader."""


@dataclass
class Decoded:
    """A chunk's times and fields, and its name columns as byte matrices (coded in file order later)."""

    ts: I64
    texts: dict[str, U8]
    fields: dict[str, Column]
    empty: npt.NDArray[np.bool_]


def read_table(
    data: Iterable[bytes] | Iterable[str],
    data_format: str,
    stats: ReadStats,
    tz: str = DEFAULT_TIMEZONE,
    start_ns: int | None = None,
    end_ns: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> Table:
    """Per-device columns of recorded readings, rows with start_ns <= ts < end_ns.

    `data` is byte chunks of a file (any size, cut anywhere) or text lines (with or without their
    newline); `data_format` is csv, beijing (parsed with numpy) or jsonl (the row reader).
    """
    chunks = _as_chunks(iter(data))
    builder = TableBuilder()
    if data_format == "jsonl":
        number = 1
        for part in _whole_lines(chunks):
            text = list(io.StringIO(part.decode("utf-8"), newline=None))
            builder.add_readings(read_jsonl(text, stats, tz, first_line=number))
            number += len(text)
            _report(progress, stats)
        return builder.build(start_ns, end_ns)
    lines = _whole_lines(chunks)
    header = next(lines, b"").split(b"\n", 1)
    head, first = header[0] + b"\n", header[1] if len(header) > 1 else b""
    parser = _Parser(head, data_format, ZoneInfo(tz), stats, builder)
    if parser.names is None:
        return Table({})
    for chunk in itertools.chain([first] if first else [], lines):
        parser.commit(chunk, parser.decode(chunk))
        _report(progress, stats)
    return builder.build(start_ns, end_ns)


def _report(progress: Callable[[int], None] | None, stats: ReadStats) -> None:
    """Tell the progress bar how many rows are read."""
    if progress is not None:
        progress(stats.rows)


def _as_chunks(data: Iterator[bytes | str], lines_per_chunk: int = 50_000) -> Iterator[bytes]:
    """Byte chunks as they come, or text lines joined (a newline added where missing) and encoded."""
    first = next(data, None)
    if first is None:
        return
    if isinstance(first, bytes):
        yield first
        yield from (b for b in data if isinstance(b, bytes))
        return
    rest = itertools.chain([first], data)
    while batch := [x for x in itertools.islice(rest, lines_per_chunk) if isinstance(x, str)]:
        yield "".join(x if x.endswith("\n") else x + "\n" for x in batch).encode("utf-8")


def _whole_lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Chunks cut after their last newline, with an even number of quotes (so no quoted cell is split)."""
    rest = b""
    for chunk in chunks:
        data = rest + chunk
        cut = data.rfind(b"\n") + 1
        if cut == 0 or data.count(b'"', 0, cut) % 2:
            rest = data
            continue
        rest = data[cut:]
        yield data[:cut]
    if rest:
        yield rest if rest.endswith(b"\n") else rest + b"\n"


class _Parser:
    """Parses the chunks of one file into batches (numpy when regular, the row reader otherwise)."""

    def __init__(self, head: bytes, data_format: str, zone: ZoneInfo, stats: ReadStats, builder: TableBuilder):
        self.head, self.format, self.zone, self.stats, self.builder = head, data_format, zone, stats, builder
        self.offsets: dict[tuple[int, int], float] = {}
        text = head.decode("utf-8")
        before = sum(stats.rejected.values())
        self._rows("", 2)  # the row reader checks the header (and counts it when bad)
        names = next(csv.reader([text]), [])
        self.names: list[str] | None = names if sum(stats.rejected.values()) == before else None
        self.regular = len(set(names)) == len(names)  # duplicate columns: leave the file to the row reader
        self.interners = {
            "device": _Interner(builder.devices.code, strip=True), "kind": _Interner(builder.kinds.code, strip=True),
            "grid": _Interner(self._grid, strip=False), "station": _Interner(builder.devices.code, strip=False),
        }  # fmt: skip

    def _rows(self, text: str, first_line: int) -> list[Reading]:
        """The row reader for this format over the header and `text`, numbering rows from `first_line`."""
        lines = io.StringIO(self.head.decode("utf-8") + text, newline=None)
        if self.format == "csv":
            return list(read_csv(lines, self.stats, self.zone.key, first_line=first_line))
        return list(read_beijing_air(lines, self.stats, self.zone.key, first_line=first_line))

    def decode(self, data: bytes) -> Decoded | None:
        """The numpy part of parsing a chunk, or None when it is irregular."""
        try:
            if not self.regular:
                return None
            pad = np.zeros(MAX_CELL, dtype=np.uint8)  # so cells can be gathered left- or right-aligned
            buf = np.concatenate([pad, _clean(np.frombuffer(data, dtype=np.uint8)), pad])
            starts, ends = _split(buf, len(self.names or []), MAX_CELL)
            column = {name: (starts[:, j], ends[:, j]) for j, name in enumerate(self.names or [])}
            return self._csv(buf, column) if self.format == "csv" else self._beijing(buf, column)
        except (IrregularChunkError, ValueError, UnicodeDecodeError):
            return None

    def commit(self, data: bytes, decoded: Decoded | None) -> None:
        """Name the devices of a decoded chunk and add it, or parse the chunk with the row reader (in order)."""
        line = self.stats.rows + 2
        try:
            if decoded is None:
                raise IrregularChunkError
            batch = self._batch(decoded)
        except (IrregularChunkError, ValueError, UnicodeDecodeError):
            self.builder.add_readings(self._rows(data.decode("utf-8"), line))
            return
        rows, empty = len(batch.ts), decoded.empty
        self.stats.rows += rows
        what = "no field values" if self.format == "csv" else "every value is NA"
        bad = np.flatnonzero(empty)
        shown = bad[: max(0, MAX_EXAMPLES - len(self.stats.examples))].tolist()
        for i in shown:
            self.stats.reject(RejectReason.NO_FIELDS, f"line {line + i}: {what}")
        if len(bad) > len(shown):
            self.stats.rejected[RejectReason.NO_FIELDS.value] += len(bad) - len(shown)
        self.stats.readings += rows - len(bad)
        if empty.any():
            keep = ~empty
            batch = Batch(batch.ts[keep], batch.device[keep], batch.kind[keep], batch.grid[keep],
                          {n: c[keep] for n, c in batch.fields.items()})  # fmt: skip
        self.builder.add(batch)

    def _batch(self, decoded: Decoded) -> Batch:
        """Codes for the decoded chunk's device, kind and cell names (in file order, so codes are stable)."""
        n, texts = len(decoded.ts), decoded.texts
        if self.format == "beijing":
            device = self.interners["station"](texts["station"])
            kind = np.full(n, self.builder.kinds.code("air"), dtype=np.int32)
            return Batch(decoded.ts, device, kind, np.zeros(n, dtype=np.int32), decoded.fields)
        device = self.interners["device"](texts["device"])
        if (device == self.builder.devices.index.get("", -1)).any():
            raise IrregularChunkError  # an empty device: the row reader rejects it
        kind = (self.interners["kind"](texts["kind"]) if "kind" in texts
                else np.full(n, self.builder.kinds.code(""), dtype=np.int32))  # fmt: skip
        grid = self.interners["grid"](texts["grid"]) if "grid" in texts else np.zeros(n, dtype=np.int32)
        return Batch(decoded.ts, device, kind, grid, decoded.fields)

    def _csv(self, buf: U8, column: dict[str, tuple[I64, I64]]) -> Decoded:
        """A regular CSV chunk decoded."""
        ts = self._times(_cells(buf, *column["ts"]))
        names = [name for name in ("device", "kind", "grid") if name in column]
        texts: dict[str, U8] = {name: _cells(buf, *column[name]) for name in names}
        fields = {name: _field(buf, *bounds, keep_text=True) for name, bounds in column.items()
                  if name not in ("ts", "device", "kind", "grid")}  # fmt: skip
        return Decoded(ts, texts, fields, _empty(fields, len(ts)))

    def _grid(self, raw: str) -> int:
        """The code of a grid cell (validated as the row reader does: non-empty text, stripped)."""
        if raw:
            GridCell(raw.strip())
        return self.builder.grids.code(raw.strip() if raw else "")

    def _beijing(self, buf: U8, column: dict[str, tuple[I64, I64]]) -> Decoded:
        """A regular Beijing chunk decoded."""
        y, m, d, h = (_digits(_cells(buf, *column[k])) for k in ("year", "month", "day", "hour"))
        ts = self._local(y, m, d, h * 3600)
        fields = {name: _field(buf, *column[col], keep_text=False) for col, name in _BEIJING_FIELDS.items()
                  if col in column}  # fmt: skip
        return Decoded(ts, {"station": _cells(buf, *column["station"])}, fields, _empty(fields, len(ts)))

    def _times(self, mat: U8) -> I64:
        """Epoch ns of a ts column, each run of equal cells (rows of one instant) parsed once."""
        width = mat.shape[1]
        if not width:
            raise IrregularChunkError  # every ts empty: the row reader rejects them
        firsts, run = _runs(*_keys(mat))
        if run is None:
            return self._distinct_times(mat)
        return self._distinct_times(mat[firsts])[run]

    def _distinct_times(self, mat: U8) -> I64:
        """Epoch ns of ts cells: epoch digits, naive ISO (local time), else `parse_ts` per distinct text."""
        n, width = mat.shape
        digit = (mat >= 48) & (mat <= 57)
        length = (mat != 0).sum(axis=1)
        if n and width in _EPOCH_SCALE and (length == width).all() and digit.all() and (mat[:, 0] <= 56).all():
            return _digits(mat) * _EPOCH_SCALE[width]
        if n and width in (16, 19) and (length == width).all():
            found = self._iso(mat, digit)
            if found is not None:
                return found
        cache: dict[bytes, int] = {}
        out = np.empty(n, dtype=np.int64)
        for i, raw in enumerate(mat.view(f"S{width}").ravel().tolist()):
            t = cache.get(raw)
            if t is None:
                t = cache[raw] = parse_ts(raw.decode("utf-8"), self.zone)
            out[i] = t
        return out

    def _iso(self, mat: U8, digit: npt.NDArray[np.bool_]) -> I64 | None:
        """YYYY-MM-DD[T ]HH:MM[:SS] as epoch ns, or None when the column has another form."""
        width = mat.shape[1]
        seps = {4: b"-", 7: b"-", 13: b":", 16: b":"}
        ok = all((mat[:, p] == ord(c)).all() for p, c in seps.items() if p < width)
        ok = ok and bool(((mat[:, 10] == ord("T")) | (mat[:, 10] == ord(" "))).all())
        pos = [p for p in range(width) if p not in seps and p != 10]
        if not ok or not digit[:, pos].all():
            return None
        parts = (mat.astype(np.int64) - 48) @ _ISO_WEIGHTS[:width]
        y, mo, d, h, mi, s = parts.T
        if (h > 23).any() or (mi > 59).any() or (s > 59).any():
            return None
        return self._local(y, mo, d, h * 3600 + mi * 60 + s)

    def _local(self, y: I64, mo: I64, d: I64, secs: I64) -> I64:
        """Epoch ns of local times in the zone (as `datetime(..., tzinfo=zone)` gives), by distinct hour."""
        if ((mo < 1) | (mo > 12) | (d < 1) | (d > 31) | (y < 1) | (y > 9999) | (secs >= 86400)).any():
            raise IrregularChunkError
        months = ((y - 1970) * 12 + mo - 1).astype("datetime64[M]")
        days = months.astype("datetime64[D]") + (d - 1)
        if (days.astype("datetime64[M]") != months).any():
            raise IrregularChunkError  # e.g. 30 February: the row reader rejects it
        local = days.astype(np.int64) * 86400 + secs
        offsets = self._offsets(local)
        odd = np.isnan(offsets)
        out = (local - np.nan_to_num(offsets).astype(np.int64)) * NS_PER_S
        for i in np.flatnonzero(odd).tolist():  # in an hour the zone's offset changes in
            moment = datetime(1970, 1, 1) + timedelta(seconds=int(local[i]))
            out[i] = int(moment.replace(tzinfo=self.zone).timestamp()) * NS_PER_S
        return out

    def _offsets(self, local: I64) -> F64:
        """The zone's offset (s) at each local time; NaN in an hour the offset changes in.

        Checked per distinct day (its first and last second), then per hour on days it changes
        (the tz database never changes an offset twice within a day).
        """
        days, inverse = np.unique(local // 86400, return_inverse=True)
        by_day = np.array([self._offset(int(day) * 86400, 86400) for day in days.tolist()], dtype=np.float64)
        out = by_day[inverse]
        for day in days[np.isnan(by_day)].tolist():
            rows = np.flatnonzero(local // 86400 == day)
            hours = local[rows] // 3600
            out[rows] = [self._offset(int(hour) * 3600, 3600) for hour in hours.tolist()]
        return out

    def _offset(self, start: int, span: int) -> float:
        """The zone's offset (s) through local [start, start + span), NaN when it changes within."""
        key = (start, span)
        found = self.offsets.get(key, 0.0)
        if key not in self.offsets:
            moment = datetime(1970, 1, 1) + timedelta(seconds=start)
            a = start - int(moment.replace(tzinfo=self.zone).timestamp())
            last = moment + timedelta(seconds=span - 1)
            b = start + span - 1 - int(last.replace(tzinfo=self.zone).timestamp())
            found = self.offsets[key] = float(a) if a == b else float("nan")
        return found


def _clean(buf: U8) -> U8:
    """A chunk without CR before LF and without quotes that only wrap whole cells; IrregularChunkError otherwise."""
    if (buf == 13).any():
        cr = np.flatnonzero(buf == 13)
        if (cr + 1 >= len(buf)).any() or (buf[np.minimum(cr + 1, len(buf) - 1)] != 10).any():
            raise IrregularChunkError
        buf = buf[buf != 13]
    quotes = np.flatnonzero(buf == 34)
    if len(quotes):
        opens, closes = quotes[0::2], quotes[1::2]
        before = np.where(opens > 0, buf[np.maximum(opens - 1, 0)], 10)
        after = buf[np.minimum(closes + 1, len(buf) - 1)]
        delim = np.cumsum((buf == 44) | (buf == 10))
        if (
            len(opens) != len(closes)
            or not np.isin(before, (44, 10)).all()
            or not np.isin(after, (44, 10)).all()
            or (delim[closes] != delim[opens]).any()
        ):
            raise IrregularChunkError
        buf = buf[buf != 34]
    return buf


def _split(buf: U8, columns: int, first: int) -> tuple[I64, I64]:
    """Start and end offsets of every cell, (rows, columns) each; irregular unless every row has `columns` cells."""
    newline = buf == 10
    delims = np.flatnonzero(newline | (buf == 44))
    rows = int(np.count_nonzero(newline))
    if not rows or len(delims) != rows * columns:
        raise IrregularChunkError
    ends = delims.reshape(rows, columns)
    if not newline[ends[:, -1]].all():
        raise IrregularChunkError
    starts = np.empty_like(ends)
    starts[:, 1:] = ends[:, :-1] + 1
    starts[0, 0] = first
    starts[1:, 0] = ends[:-1, -1] + 1
    return starts, ends  # a blank line has one cell, so it never passes with the two columns ts/device need


def _cells(buf: U8, start: I64, end: I64, right: bool = False) -> U8:
    """The cells between offsets as a zero-padded (rows, width) byte matrix, left- or right-aligned.

    `buf` starts and ends with MAX_CELL zeros, so every window stays inside it.
    """
    length = end - start
    width = int(length.max(initial=0))
    if width > MAX_CELL:
        raise IrregularChunkError
    if not width:
        return np.zeros((len(start), 0), dtype=np.uint8)
    mat = np.lib.stride_tricks.sliding_window_view(buf, width)[end - width if right else start]
    if (length != width).any():
        short = length[:, None].astype(np.int8)
        position = np.arange(width, dtype=np.int8)
        mat *= (position >= width - short) if right else (position < short)
    return mat


POW10 = 10 ** np.arange(19, dtype=np.int64)
POW10F = 10.0 ** np.arange(19)


def _digits(mat: U8) -> I64:
    """Unsigned decimal integers (digits only, at most 19 below 9e18, zero padding at the end) as int64."""
    n, w = mat.shape
    if w > 19 or (((mat < 48) | (mat > 57)) & (mat != 0)).any() or (mat[:, :1] == 0).any():
        raise IrregularChunkError
    if w == 19 and (mat[:, 0] > 56).any():
        raise IrregularChunkError  # could pass 2**63
    present = mat != 0
    length = present.sum(axis=1)
    if (length == w).all():
        return (mat.astype(np.int64) - 48) @ POW10[w - 1 :: -1] if w else np.zeros(n, dtype=np.int64)
    exponent = np.maximum(length[:, None] - 1 - np.arange(w), 0)
    return ((mat.astype(np.int64) - 48) * present * POW10[exponent]).sum(axis=1)  # type: ignore[no-any-return]


def _keys(mat: U8) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.bytes_]]:
    """A 64-bit hash of every cell, and the cells as fixed-width bytes (for checking hash matches)."""
    n, width = mat.shape
    if width > 8 * len(_MULT):
        raise IrregularChunkError
    padded = np.zeros((n, max(1, -(-width // 8)) * 8), dtype=np.uint8)
    padded[:, :width] = mat
    words = padded.view(np.uint64)
    hashes = np.zeros(n, dtype=np.uint64)
    for k in range(words.shape[1]):  # column by column: numpy is slow at reducing short rows
        hashes += words[:, k] * _MULT[k]
    return hashes, padded.view(f"S{padded.shape[1]}").ravel()


def _runs(hashes: npt.NDArray[np.uint64], cells: npt.NDArray[np.bytes_]) -> tuple[I64, I64 | None]:
    """The first row of each run of equal cells and each row's run, or (all rows, None) when runs are short."""
    new = np.ones(len(hashes), dtype=np.bool_)
    new[1:] = hashes[1:] != hashes[:-1]
    firsts = np.flatnonzero(new)
    if len(firsts) * 2 > len(hashes):
        return firsts, None
    run = np.cumsum(new) - 1
    if (cells != cells[firsts][run]).any():
        raise IrregularChunkError  # equal hashes, different cells
    return firsts, run


class _Interner:
    """Codes of a text column's cells: cells hashed with numpy and looked up among the distinct cells seen so
    far (each decoded once, then given a code by `code`); a collision is caught by comparing the bytes."""

    def __init__(self, code: Callable[[str], int], strip: bool) -> None:
        self.code, self.strip = code, strip
        self.hashes = np.empty(0, dtype=np.uint64)
        self.codes = np.empty(0, dtype=np.int32)
        self.cells = np.empty(0, dtype="S1")

    def __call__(self, mat: U8) -> Codes32:
        """The code of every cell (each run of equal cells looked up once)."""
        hashes, cells = _keys(mat)
        firsts, run = _runs(hashes, cells)
        if run is None:
            return self._lookup(mat, hashes, cells)
        return self._lookup(mat[firsts], hashes[firsts], cells[firsts])[run]

    def _lookup(self, mat: U8, hashes: npt.NDArray[np.uint64], cells: npt.NDArray[np.bytes_]) -> Codes32:
        """The code of every cell."""
        pos = np.minimum(np.searchsorted(self.hashes, hashes), max(len(self.hashes) - 1, 0))
        if not len(self.hashes) or (self.hashes[pos] != hashes).any():
            self._learn(mat, hashes)
            pos = np.searchsorted(self.hashes, hashes)
        if (self.cells[pos] != cells).any():
            raise IrregularChunkError  # a hash collision: leave the chunk to the row reader
        return self.codes[pos]

    def _learn(self, mat: U8, hashes: npt.NDArray[np.uint64]) -> None:
        """Add the cells not seen before, coded in order of first appearance."""
        known = np.isin(hashes, self.hashes)
        fresh, first = np.unique(hashes[~known], return_index=True)
        rows = np.flatnonzero(~known)[first]
        texts = [bytes(mat[i]).rstrip(b"\0").decode("utf-8") for i in rows.tolist()]
        codes = np.empty(len(fresh), dtype=np.int32)
        for k in np.argsort(rows, kind="stable").tolist():
            codes[k] = self.code(texts[k].strip() if self.strip else texts[k])
        cells = np.array([t.encode("utf-8") for t in texts], dtype=object).astype(bytes)
        hashes_all = np.concatenate([self.hashes, fresh])
        order = np.argsort(hashes_all, kind="stable")
        self.hashes = hashes_all[order]
        self.codes = np.concatenate([self.codes, codes])[order]
        self.cells = np.concatenate([self.cells, cells])[order]


def _field(buf: U8, start: I64, end: I64, keep_text: bool) -> Column:
    """A field column: plain decimals decoded with numpy, missing cells NaN, other cells through `_value`."""
    values, plain = _decimals(_cells(buf, start, end, right=True))
    rest = np.flatnonzero(~plain)
    if not len(rest):
        return values
    mat = _cells(buf, start[rest], end[rest])
    width = mat.shape[1]
    view = mat.view(f"S{width}").ravel() if width else np.full(len(rest), b"", dtype="S1")
    missing = np.zeros(len(rest), dtype=np.bool_)
    for text in _MISSING:
        missing |= view == text
    parsed: dict[int, FieldValue | None] = {}
    for k in np.flatnonzero(~missing).tolist():  # ValueError (non-finite) sends the chunk to the row reader
        parsed[int(rest[k])] = _value(bytes(mat[k]).rstrip(b"\0").decode("utf-8"))
    if keep_text and any(type(v) is not float and v is not None for v in parsed.values()):
        out = values.astype(object)
        out[rest[missing]] = None
        for i, v in parsed.items():
            out[i] = v
        return out
    for i, v in parsed.items():
        values[i] = v if type(v) is float else np.nan
    return values


def _decimals(mat: U8) -> tuple[F64, npt.NDArray[np.bool_]]:
    """Values of right-aligned cells that are [+-]digits[.digits] (at most 15 digits and dot), and which are.

    Exact: the digits make an integer below 10**15 (float sums of such terms are exact), the digits
    before the dot weigh one power of ten too much (divided out exactly), and one correctly rounded
    division by 10**(digits after the dot) gives what `float()` gives. Worked column-major (a row
    of the transposed matrix per character position), where numpy's reductions are fast.
    """
    n, width = mat.shape
    if not width:
        return np.full(n, np.nan), np.zeros(n, dtype=np.bool_)
    cols = np.ascontiguousarray(mat.T)
    digits = cols - np.uint8(48)
    digit = digits < 10
    dot = cols == 46
    length = (cols != 0).sum(axis=0)
    lead = np.clip(width - length, 0, width - 1)
    first = cols[lead, np.arange(n)]
    other = (cols != 0) & ~digit & ~dot
    signed = np.flatnonzero((first == 45) | (first == 43))
    other[lead[signed], signed] = False
    count, dots = digit.sum(axis=0), dot.sum(axis=0)
    plain = ~other.any(axis=0) & (dots <= 1) & (count >= 1) & (count + dots <= 15)
    after = np.logical_or.accumulate(dot, axis=0)
    terms = np.where(digit, digits, 0).astype(np.float64)
    weights = 10.0 ** np.arange(width - 1, -1, -1)
    total = weights @ terms
    before = weights @ (terms * ~after) * (dots > 0)
    scale = (digit & after).sum(axis=0)
    values = ((total - before) + before / 10) / POW10F[np.minimum(scale, 18)]
    values = np.where(first == 45, -values, values)
    values[~plain] = np.nan
    return values, plain


def _empty(fields: dict[str, Column], n: int) -> npt.NDArray[np.bool_]:
    """Rows where every field is missing."""
    empty = np.ones(n, dtype=np.bool_)
    for column in fields.values():
        if column.dtype == np.float64:
            empty &= np.isnan(column)
        else:
            empty &= np.array([v is None for v in column.tolist()], dtype=np.bool_)
    return empty
