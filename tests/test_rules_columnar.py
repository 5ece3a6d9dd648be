"""The columnar reader's byte-level decoding against Python's own: decimals against `float()`, cell keys and
codes against the cells' text."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from rules.bytecells import I64, U8, decimals, padded, split, windows, words
from rules.interner import Interner
from rules.table import Codes

decimal_like = st.one_of(
    st.text(alphabet="0123456789.-+eE_ x", min_size=1, max_size=18),
    st.floats(-1e9, 1e9, allow_nan=False).map(lambda f: f"{f:.3f}"),
    st.integers(-(10**16), 10**16).map(str),
    st.sampled_from(["-", ".", "+.", "-0", "-0.0", "5.", ".5", "+7.", "123456789012345", "1234567890123456",
                     "-123456789012345", "12345678.1234567", "0.00000000000001", "99999999"]),
)  # fmt: skip


def _plain(cell: str) -> bool:
    """[+-]digits[.digits] with at most 15 digits and dot: what the numpy path decodes itself."""
    body = cell[1:] if cell[:1] in "+-" else cell
    digits = sum(ch.isdigit() for ch in body)
    return set(body) <= set("0123456789.") and body.count(".") <= 1 and digits >= 1 and len(body) <= 15


def _column(cells: list[str]) -> tuple[U8, I64, I64]:
    """A one-column chunk of `cells`: its padded bytes and the cells' start and end offsets."""
    buf = padded(("\n".join(cells) + "\n").encode())
    starts, ends = split(buf, 1)
    return buf, starts[:, 0], ends[:, 0]


@settings(max_examples=300, deadline=None)
@given(st.lists(decimal_like, min_size=1, max_size=40))
def test_decimals_equal_float_on_plain_cells_and_flag_the_rest(cells: list[str]) -> None:
    buf, start, end = _column(cells)
    values, plain = decimals(windows(buf), start, end)
    assert plain.tolist() == [_plain(c) for c in cells]
    for cell, value, ok in zip(cells, values.tolist(), plain.tolist(), strict=True):
        if ok:
            assert value == float(cell) and np.signbit(value) == np.signbit(float(cell)), cell


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["d1", " d1", "dust-0001", "dust-0001 ", "a" * 17, "é-ü", "x"]), min_size=1,
                max_size=60))  # fmt: skip
def test_interned_codes_follow_first_appearance_of_the_stripped_text(names: list[str]) -> None:
    codes = Codes()
    interner = Interner(codes.code, strip=True)
    half = len(names) // 2
    for part in (names[:half], names[half:]):
        if not part:
            continue
        buf, start, end = _column(part)
        got = interner(words(windows(buf), start, end))
        assert [codes.values[c] for c in got.tolist()] == [n.strip() for n in part]
    assert codes.values == list(dict.fromkeys(n.strip() for n in names))
