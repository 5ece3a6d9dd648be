"""Time columns of the columnar reader as epoch ns: epoch digits, naive ISO local times, else `parse_ts`.

Local times are resolved in the rule file's zone as `datetime(..., tzinfo=zone)` does, with the
zone's offset looked up once per distinct day (per hour on days the offset changes).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from rules.bytecells import I64, U8, U64, IrregularChunkError, digits, matrix, runs, words
from rules.durations import NS_PER_S
from rules.readers import parse_ts

F64 = npt.NDArray[np.float64]
_EPOCH_SCALE = {10: NS_PER_S, 13: 1_000_000, 16: 1_000, 19: 1}
_ISO_WEIGHTS = np.zeros((19, 6), dtype=np.int64)
for _part, (_a, _b) in enumerate(((0, 4), (5, 7), (8, 10), (11, 13), (14, 16), (17, 19))):
    _ISO_WEIGHTS[_a:_b, _part] = 10 ** np.arange(_b - _a - 1, -1, -1)
"""Digit weights that turn YYYY-MM-DDTHH:MM:SS bytes (minus '0') into year, month, day, hour, minute, second."""


class TimeDecoder:
    """Decodes time cells in one zone, caching the zone's offsets."""

    def __init__(self, zone: ZoneInfo) -> None:
        self.zone = zone
        self.offsets: dict[tuple[int, int], float] = {}

    def column(self, buf: U8, win: U64, start: I64, end: I64) -> I64:
        """Epoch ns of a ts column, each run of equal cells (rows of one instant) parsed once."""
        if not int((end - start).max(initial=0)):
            raise IrregularChunkError  # every ts empty: the row reader rejects them
        firsts, run = runs(words(win, start, end))
        if run is None:
            return self.distinct(matrix(buf, start, end))
        return self.distinct(matrix(buf, start[firsts], end[firsts]))[run]

    def distinct(self, mat: U8) -> I64:
        """Epoch ns of ts cells: epoch digits, naive ISO (local time), else `parse_ts` per distinct text."""
        n, width = mat.shape
        digit = (mat >= 48) & (mat <= 57)
        length = (mat != 0).sum(axis=1)
        if n and width in _EPOCH_SCALE and (length == width).all() and digit.all() and (mat[:, 0] <= 56).all():
            return digits(mat) * _EPOCH_SCALE[width]
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
        return self.local(y, mo, d, h * 3600 + mi * 60 + s)

    def local(self, y: I64, mo: I64, d: I64, secs: I64) -> I64:
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
