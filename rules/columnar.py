"""Read CSV and Beijing air-quality files straight into columns with numpy, for the backtest.

The file comes as byte chunks of whole lines. A chunk is parsed with numpy when it is regular:
every row has the header's cell count, quotes only wrap whole cells with no delimiter inside,
numbers are plain decimals of at most 15 digits (decoded exactly: an integer of < 2**53 over an
exact power of ten is one correctly rounded division, as `float()` gives), times are epoch digits or
`YYYY-MM-DD[T ]HH:MM[:SS]`. Cells that are not plain decimals go through the row reader's `_value`.
Any other irregularity (a malformed row, a non-finite value, blank lines, odd quoting, a NUL byte)
sends the whole chunk through the row reader (`rules.readers`), so results, rejections and their
line numbers are exactly the row reader's. Rows with no values are rejected here with the row
reader's message.
"""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from gateway.model import FieldValue, GridCell, Reading, RejectReason
from rules.bytecells import (
    I64,
    LITTLE,
    U8,
    U64,
    IrregularChunkError,
    decimals,
    digits,
    matrix,
    padded,
    split,
    windows,
    words,
)
from rules.celltimes import TimeDecoder
from rules.interner import Interner
from rules.readers import (
    _BEIJING_FIELDS,
    MAX_EXAMPLES,
    ReadStats,
    _value,
    read_beijing_air,
    read_csv,
    read_jsonl,
)
from rules.schema import DEFAULT_TIMEZONE
from rules.table import Batch, Column, Table, TableBuilder

_MISSING = (b"", b"NA", b"NaN", b"nan", b"null", b"None")


@dataclass
class Decoded:
    """A chunk's times and fields, and its name columns as `bytecells.words` keys (coded in file order later)."""

    ts: I64
    texts: dict[str, U64]
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
        decoded = parser.decoder.decode(chunk)
        parser.commit(chunk, decoded)
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
        if cut == 0 or (data.find(b'"', 0, cut) >= 0 and data.count(b'"', 0, cut) % 2):
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
        text = head.decode("utf-8")
        before = sum(stats.rejected.values())
        self._rows("", 2)  # the row reader checks the header (and counts it when bad)
        names = next(csv.reader([text]), [])
        self.names: list[str] | None = names if sum(stats.rejected.values()) == before else None
        regular = LITTLE and len(set(names)) == len(names)  # duplicate columns: leave them to the row reader
        self.decoder = _Decoder(names if regular else None, data_format, zone)
        self.interners = {
            "device": Interner(builder.devices.code, strip=True), "kind": Interner(builder.kinds.code, strip=True),
            "grid": Interner(self._grid, strip=False), "station": Interner(builder.devices.code, strip=False),
        }  # fmt: skip

    def _rows(self, text: str, first_line: int) -> list[Reading]:
        """The row reader for this format over the header and `text`, numbering rows from `first_line`."""
        lines = io.StringIO(self.head.decode("utf-8") + text, newline=None)
        if self.format == "csv":
            return list(read_csv(lines, self.stats, self.zone.key, first_line=first_line))
        return list(read_beijing_air(lines, self.stats, self.zone.key, first_line=first_line))

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

    def _grid(self, raw: str) -> int:
        """The code of a grid cell (validated as the row reader does: non-empty text, stripped)."""
        if raw:
            GridCell(raw.strip())
        return self.builder.grids.code(raw.strip() if raw else "")


class _Decoder:
    """The numpy part of parsing a file's chunks: a pure function of each chunk (no codes, counts or order)."""

    def __init__(self, names: list[str] | None, data_format: str, zone: ZoneInfo) -> None:
        self.names, self.format, self.times = names, data_format, TimeDecoder(zone)

    def decode(self, data: bytes) -> Decoded | None:
        """The numpy part of parsing a chunk, or None when it is irregular (a pure function of the chunk)."""
        try:
            if self.names is None:
                return None
            buf = padded(_clean(data))
            starts, ends = split(buf, len(self.names))
            column = {name: (starts[:, j], ends[:, j]) for j, name in enumerate(self.names)}
            win = windows(buf)
            return self._csv(buf, win, column) if self.format == "csv" else self._beijing(buf, win, column)
        except (IrregularChunkError, ValueError, UnicodeDecodeError):
            return None

    def _csv(self, buf: U8, win: U64, column: dict[str, tuple[I64, I64]]) -> Decoded:
        """A regular CSV chunk decoded."""
        ts = self.times.column(buf, win, *column["ts"])
        names = [name for name in ("device", "kind", "grid") if name in column]
        texts: dict[str, U64] = {name: words(win, *column[name]) for name in names}
        fields = {name: _field(buf, win, *bounds, keep_text=True) for name, bounds in column.items()
                  if name not in ("ts", "device", "kind", "grid")}  # fmt: skip
        return Decoded(ts, texts, fields, _empty(fields, len(ts)))

    def _beijing(self, buf: U8, win: U64, column: dict[str, tuple[I64, I64]]) -> Decoded:
        """A regular Beijing chunk decoded."""
        y, m, d, h = (digits(matrix(buf, *column[k])) for k in ("year", "month", "day", "hour"))
        ts = self.times.local(y, m, d, h * 3600)
        fields = {name: _field(buf, win, *column[col], keep_text=False) for col, name in _BEIJING_FIELDS.items()
                  if col in column}  # fmt: skip
        return Decoded(ts, {"station": words(win, *column["station"])}, fields, _empty(fields, len(ts)))


def _clean(data: bytes) -> bytes:
    """A chunk without CR before LF and without quotes that only wrap whole cells; IrregularChunkError otherwise."""
    if b"\r" not in data and b'"' not in data:
        return data
    buf = np.frombuffer(data, dtype=np.uint8)
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
    return buf.tobytes()


def _field(buf: U8, win: U64, start: I64, end: I64, keep_text: bool) -> Column:
    """A field column: plain decimals decoded with numpy, missing cells NaN, other cells through `_value`."""
    values, plain = decimals(win, start, end)
    rest = np.flatnonzero(~plain)
    if not len(rest):
        return values
    mat = matrix(buf, start[rest], end[rest])
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


def _empty(fields: dict[str, Column], n: int) -> npt.NDArray[np.bool_]:
    """Rows where every field is missing."""
    empty = np.ones(n, dtype=np.bool_)
    for column in fields.values():
        if column.dtype == np.float64:
            empty &= np.isnan(column)
        else:
            empty &= np.array([v is None for v in column.tolist()], dtype=np.bool_)
    return empty
