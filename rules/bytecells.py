"""Byte-level numpy work of the columnar reader: a chunk split into cells, cells gathered as 64-bit words.

A chunk is a uint8 array with MAX_CELL zeros before and after its bytes and no NUL byte in them, so a
cell is exactly its nonzero bytes and every 8-byte window read around a cell stays inside the array.
Words are read little-endian (the first byte lowest), so this module is for little-endian machines
(`LITTLE`); the reader leaves chunks to the row reader elsewhere.
"""

from __future__ import annotations

import sys

import numpy as np
import numpy.typing as npt

U8 = npt.NDArray[np.uint8]
U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]
MAX_CELL = 64
LITTLE = sys.byteorder == "little"

_ALL = (1 << 64) - 1
_LOW = np.array([(1 << 8 * n) - 1 for n in range(9)], dtype=np.uint64)
"""Keeps the first n bytes of a word (a cell read from its start)."""
_HIGH = np.array([_ALL ^ ((1 << 8 * (8 - n)) - 1) for n in range(9)], dtype=np.uint64)
"""Keeps the last n bytes of a word (a cell read up to its end)."""
_FIRST = np.array([0] + [1 << 8 * (8 - n) for n in range(1, 9)], dtype=np.uint64)
"""The byte flag of a cell's first byte in a word read up to its end, by the cell's length in the word."""
_ONES = np.uint64(0x0101010101010101)
_MULT = np.array([0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0x27D4EB2F165667C5] * 2,
                 dtype=np.uint64)  # fmt: skip
_POW10 = 10 ** np.arange(19, dtype=np.uint64)
_POW10F = 10.0 ** np.arange(19)


class IrregularChunkError(Exception):
    """This chunk needs the row reader."""


def padded(data: bytes) -> U8:
    """A chunk as bytes with MAX_CELL zeros on each side; IrregularChunkError when it holds a NUL byte."""
    if b"\0" in data:
        raise IrregularChunkError
    buf = np.zeros(len(data) + 2 * MAX_CELL, dtype=np.uint8)
    buf[MAX_CELL:-MAX_CELL] = np.frombuffer(data, dtype=np.uint8)
    return buf


def windows(buf: U8) -> U64:
    """Every 8-byte window of a padded chunk as a little-endian word (window i holds bytes i to i+7), a view."""
    return np.ndarray((len(buf) - 7,), dtype="<u8", buffer=buf, strides=(1,))


def split(buf: U8, columns: int) -> tuple[I64, I64]:
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
    starts[0, 0] = MAX_CELL
    starts[1:, 0] = ends[:-1, -1] + 1
    return starts, ends  # a blank line has one cell, so it never passes with the two columns ts/device need


def words(win: U64, start: I64, end: I64) -> U64:
    """The cells as little-endian words, zero-padded: (ceil(widest / 8), cells), exact keys of the cells."""
    length = end - start
    count = -(-int(length.max(initial=0)) // 8)
    if count > MAX_CELL // 8:
        raise IrregularChunkError
    out = np.empty((count, len(start)), dtype=np.uint64)
    for k in range(count):
        out[k] = win[start + 8 * k] & _LOW[np.clip(length - 8 * k, 0, 8)]
    return out


def hashes(keys: U64) -> U64:
    """A 64-bit hash of each cell's words (zero words add nothing, so any word count gives the same hash)."""
    out = np.zeros(keys.shape[1], dtype=np.uint64)
    for k in range(keys.shape[0]):
        out += keys[k] * _MULT[k]
    return out


def runs(keys: U64) -> tuple[I64, I64 | None]:
    """The first cell of each run of equal cells and each cell's run, or (all cells, None) when runs are short."""
    n = keys.shape[1]
    new = np.ones(n, dtype=np.bool_)
    if n:
        new[1:] = False
        for k in range(keys.shape[0]):
            new[1:] |= keys[k, 1:] != keys[k, :-1]
    firsts = np.flatnonzero(new)
    if len(firsts) * 2 > n:
        return firsts, None
    return firsts, np.cumsum(new) - 1


def matrix(buf: U8, start: I64, end: I64, right: bool = False) -> U8:
    """The cells between offsets as a zero-padded (rows, width) byte matrix, left- or right-aligned."""
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


def digits(mat: U8) -> I64:
    """Unsigned decimal integers (digits only, at most 19 below 9e18, zero padding at the end) as int64."""
    n, w = mat.shape
    if w > 19 or (((mat < 48) | (mat > 57)) & (mat != 0)).any() or (mat[:, :1] == 0).any():
        raise IrregularChunkError
    if w == 19 and (mat[:, 0] > 56).any():
        raise IrregularChunkError  # could pass 2**63
    pow10 = _POW10.astype(np.int64)
    present = mat != 0
    length = present.sum(axis=1)
    if (length == w).all():
        return (mat.astype(np.int64) - 48) @ pow10[w - 1 :: -1] if w else np.zeros(n, dtype=np.int64)
    exponent = np.maximum(length[:, None] - 1 - np.arange(w), 0)
    return ((mat.astype(np.int64) - 48) * present * pow10[exponent]).sum(axis=1)  # type: ignore[no-any-return]


def decimals(win: U64, start: I64, end: I64) -> tuple[F64, Bools]:
    """Values of cells that are [+-]digits[.digits] with at most 15 digits and dot, and which cells are.

    Exact: the digits (the dot read as a 0) make an integer below 10**16, the digits before the dot
    are divided out and back without it, and the integer below 10**15 over an exact power of ten is
    one correctly rounded division, which is what `float()` gives. Each cell is read as the two words
    ending at its end (longer cells are never plain), so the work is a few passes over two words a row.
    """
    length = end - start
    total, after, count = np.zeros(len(start), dtype=np.uint64), np.zeros(len(start), dtype=np.uint64), 0
    plain = (length >= 1) & (length <= 16)
    dot_seen = np.zeros(len(start), dtype=np.bool_)
    minus = np.zeros(len(start), dtype=np.bool_)
    for lane in (1, 0) if int(length.max(initial=0)) > 8 else (0,):  # bytes 9-16 from the end, then the last 8
        size = np.clip(length - 8 * lane, 0, 8)
        x = win[end - 8 * (lane + 1)] & _HIGH[size]
        b = x.view(np.uint8).reshape(-1, 8)
        digit, dot = (b - np.uint8(48)) < 10, b == 46
        d, p = digit.view(np.uint64).ravel(), dot.view(np.uint64).ravel()
        sign = ((b == 45) | (b == 43)).view(np.uint64).ravel()
        first = np.where(length <= 8 * (lane + 1), _FIRST[size], np.uint64(0))
        plain &= ((b != 0).view(np.uint64).ravel() & ~(d | p | sign)) == 0  # nothing else in the cell
        plain &= (sign & ~first) == 0  # a sign only as the first byte
        plain &= ((p & (p - np.uint64(1))) == 0) & ~(dot_seen & (p != 0))  # one dot at most
        minus |= (b == 45).view(np.uint64).ravel() != 0
        number = _eight_digits((b & np.uint8(15)) * digit)
        digits_here = (d * _ONES) >> np.uint64(56)
        after += np.where(dot_seen, digits_here, ((d & ~((p << np.uint64(8)) - np.uint64(1))) * _ONES) >> np.uint64(56))
        dot_seen |= p != 0
        count += digits_here
        total = total * np.uint64(100_000_000) + number
    plain &= (count >= 1) & (count + dot_seen <= 15)
    high, low = np.divmod(total, _POW10[np.minimum(after + dot_seen, 18)])
    integer = np.where(dot_seen, high * _POW10[np.minimum(after, 18)] + low, total)
    values = integer.astype(np.float64) / _POW10F[np.minimum(after, 18)]
    values = np.where(minus, -values, values)
    values[~plain] = np.nan
    return values, plain


def _eight_digits(values: U8) -> U64:
    """Each row of eight digit values (0-9, the first most significant) as an integer, with SWAR arithmetic."""
    v = values.view(np.uint64).ravel()
    v = (v * np.uint64(2561)) >> np.uint64(8) & np.uint64(0x00FF00FF00FF00FF)
    v = (v * np.uint64(6553601)) >> np.uint64(16) & np.uint64(0x0000FFFF0000FFFF)
    return (v * np.uint64(42949672960001)) >> np.uint64(32) & np.uint64(0xFFFFFFFF)
