"""Codes of a text column's cells, looked up with numpy: each distinct cell is decoded once, in file order."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from rules.bytecells import I64, U64, IrregularChunkError, hashes, runs
from rules.table import Codes32

_MIN_SLOTS = 64


class Interner:
    """Cells (as `bytecells.words` keys) to codes: a direct-mapped table of hashes answers most cells, a sorted
    search the rest; cells never seen are decoded and given a code by `code`. The words are compared, so a
    hash collision is caught (IrregularChunkError: the chunk goes to the row reader)."""

    def __init__(self, code: Callable[[str], int], strip: bool) -> None:
        self.code, self.strip = code, strip
        self.hashes = np.empty(0, dtype=np.uint64)
        self.codes = np.empty(0, dtype=np.int32)
        self.words = np.empty((0, 0), dtype=np.uint64)
        self.slots = np.full(_MIN_SLOTS, -1, dtype=np.int64)
        self.shift = np.uint64(64 - 6)

    def __call__(self, keys: U64) -> Codes32:
        """The code of every cell (each run of equal cells looked up once)."""
        firsts, run = runs(keys)
        if run is None:
            return self._lookup(keys)
        return self._lookup(keys[:, firsts])[run]

    def _lookup(self, keys: U64) -> Codes32:
        """The code of every cell."""
        found = hashes(keys)
        pos, miss = self._probe(found)
        if len(miss) and not np.isin(found[miss], self.hashes).all():
            self._learn(keys[:, miss], found[miss])
            pos, miss = self._probe(found)
        if len(miss):
            pos[miss] = np.minimum(np.searchsorted(self.hashes, found[miss]), len(self.hashes) - 1)
        for k in range(max(keys.shape[0], self.words.shape[0])):
            stored = self.words[k][pos] if k < self.words.shape[0] else np.zeros(1, dtype=np.uint64)
            given = keys[k] if k < keys.shape[0] else np.zeros(1, dtype=np.uint64)
            if (stored != given).any():
                raise IrregularChunkError  # a hash collision: leave the chunk to the row reader
        codes: Codes32 = self.codes[pos]
        return codes

    def _probe(self, found: U64) -> tuple[I64, I64]:
        """Each hash's position as the direct-mapped table gives it, and the cells it missed."""
        pos = self.slots[found >> self.shift]
        hit = pos >= 0
        if len(self.hashes):
            hit &= self.hashes[np.maximum(pos, 0)] == found
        return pos, np.flatnonzero(~hit)

    def _learn(self, keys: U64, found: U64) -> None:
        """Add the cells not seen before, coded in order of first appearance."""
        known = np.isin(found, self.hashes)
        fresh, first = np.unique(found[~known], return_index=True)
        rows = np.flatnonzero(~known)[first]
        texts = [b"".join(int(w).to_bytes(8, "little") for w in keys[:, i].tolist()).rstrip(b"\0").decode("utf-8")
                 for i in rows.tolist()]  # fmt: skip
        codes = np.empty(len(fresh), dtype=np.int32)
        for k in np.argsort(rows, kind="stable").tolist():
            codes[k] = self.code(texts[k].strip() if self.strip else texts[k])
        width = max(keys.shape[0], self.words.shape[0])
        old = np.zeros((width, len(self.hashes)), dtype=np.uint64)
        old[: self.words.shape[0]] = self.words
        new = np.zeros((width, len(fresh)), dtype=np.uint64)
        new[: keys.shape[0]] = keys[:, rows]
        all_hashes = np.concatenate([self.hashes, fresh])
        order = np.argsort(all_hashes, kind="stable")
        self.hashes = all_hashes[order]
        self.codes = np.concatenate([self.codes, codes])[order]
        self.words = np.concatenate([old, new], axis=1)[:, order]
        self._index()

    def _index(self) -> None:
        """Rebuild the direct-mapped table: about four slots a known cell, by the hash's top bits."""
        bits = max(6, int(len(self.hashes) * 4 - 1).bit_length())
        self.shift = np.uint64(64 - bits)
        self.slots = np.full(1 << bits, -1, dtype=np.int64)
        self.slots[self.hashes >> self.shift] = np.arange(len(self.hashes))
