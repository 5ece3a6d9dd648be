"""The fast path of CP parsing: clean `key=value` items whose layout (the keys in order) repeats.

Devices send the same keys every interval, so what depends only on the keys — factor and suffix, which
values are numbers, how items group into factors — is worked out once per layout and compiled into one
function that converts a packet's values and builds its dicts without a per-item Python loop. Anything the
general parser (`packet._parse_any_cp`) would note — unknown or repeated suffixes, a CP-level Flag, values
that are not finite numbers — and any text that is not plain items goes to it instead, so both give the
same packet (a property test compares them).

The compiled functions are generated from integer positions only: keys reach them as constants in a
tuple, never as source text, so nothing a device sends becomes code.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from adapters.hj212.factors import KNOWN_SUFFIXES, TEXT_SUFFIXES

CpValue = float | str
"""A CP item value: numbers as floats, flags and times as text."""
Factors = dict[str, dict[str, CpValue]]
Built = tuple[Factors, dict[str, str], str | None]
"""What a layout builds from a packet's values: factors, CP-level items and DataTime."""

CLEAN_CP: Final = re.compile(r"[^;,=\s]+=[^;,=\s]*(?:[;,][^;,=\s]+=[^;,=\s]*)*")
"""Items of exactly one `=`, no spaces: the general parser's regex then splits each item at its `=`."""
MAX_LAYOUTS: Final = 1024
"""Layouts learnt; once full, new ones go to the general parser (bounded memory and compile work)."""


@dataclass(frozen=True, slots=True, eq=False)
class CpLayout:
    """A clean key sequence: its factors with their suffixes in order, and the compiled value converter."""

    factors: tuple[tuple[str, tuple[str, ...]], ...]
    build: Callable[[Sequence[str]], Built]


_LAYOUTS: dict[tuple[str, ...], CpLayout | None] = {}
"""Key sequence -> its layout, or None when the general parser must handle it."""


def parse_clean_cp(cp_text: str) -> tuple[CpLayout, Factors, dict[str, str], str | None] | None:
    """The layout, factors, CP-level items and DataTime of a clean CP area; None for the general parser."""
    if CLEAN_CP.fullmatch(cp_text) is None:
        return None
    parts = cp_text.replace(",", ";").replace("=", ";").split(";")
    keys = tuple(parts[0::2])
    layout = _LAYOUTS.get(keys)
    if layout is None:
        if keys in _LAYOUTS or len(_LAYOUTS) >= MAX_LAYOUTS:
            return None
        layout = _LAYOUTS[keys] = learn_layout(keys)
        if layout is None:
            return None
    try:
        factors, cp, data_time = layout.build(parts[1::2])
    except ValueError:  # a value that is not a finite number: the general parser notes it
        return None
    return layout, factors, cp, data_time


def learn_layout(keys: Sequence[str]) -> CpLayout | None:
    """The layout of a key sequence, or None when the general parser would note one of its keys."""
    groups: dict[str, dict[str, int]] = {}
    cp_at: dict[str, int] = {}
    for at, key in enumerate(keys):
        factor, _, suffix = key.partition("-")
        if not suffix:
            if factor == "Flag":
                return None
            cp_at[factor] = at  # a repeated CP-level key keeps its first place and its last value
            continue
        slot = groups.setdefault(factor, {})
        if suffix not in KNOWN_SUFFIXES or suffix in slot:
            return None
        slot[suffix] = at
    return CpLayout(tuple((name, tuple(slot)) for name, slot in groups.items()), _compile_builder(groups, cp_at))


def _compile_builder(groups: Mapping[str, Mapping[str, int]], cp_at: Mapping[str, int]) -> Callable[..., Built]:
    """One function `values -> (factors, cp, DataTime)`; ValueError when a number is not a finite float."""
    consts = Constants()
    lines: list[str] = []
    numbers: list[str] = []
    factor_items = []
    for name, slot in groups.items():
        items = []
        for suffix, at in slot.items():
            if suffix in TEXT_SUFFIXES:
                items.append(f"{consts.ref(suffix)}: v[{at}]")
            else:
                lines.append(f"n{at} = float(v[{at}])")
                numbers.append(f"n{at}")
                items.append(f"{consts.ref(suffix)}: n{at}")
        factor_items.append(f"{consts.ref(name)}: {{{', '.join(items)}}}")
    if numbers:
        lines.append(f"if not isfinite(sum(({', '.join(numbers)},))): raise ValueError")  # nan, inf (or overflow)
    cp_items = [f"{consts.ref(key)}: v[{at}]" for key, at in cp_at.items() if key != "DataTime"]
    data_time = f"v[{cp_at['DataTime']}]" if "DataTime" in cp_at else "None"
    lines.append(f"return {{{', '.join(factor_items)}}}, {{{', '.join(cp_items)}}}, {data_time}")
    return compile_function("v", lines, consts)


_BUILTINS: Final = {"float": float, "sum": sum, "len": len, "KeyError": KeyError, "ValueError": ValueError}
"""All a generated function may call besides `isfinite`."""


class Constants:
    """The constants a generated function refers to as `K[i]` (so no data becomes source text)."""

    def __init__(self) -> None:
        self.values: list[Any] = []

    def ref(self, value: Any) -> str:
        """The source text naming `value`."""
        self.values.append(value)
        return f"K[{len(self.values) - 1}]"


def compile_function(params: str, lines: Sequence[str], consts: Constants) -> Callable[..., Any]:
    """Compile `def f(<params>): <lines>` over the constants `K` (the lines hold only positions and refs)."""
    source = f"def f({params}):\n" + "".join(f"    {line}\n" for line in lines)
    scope: dict[str, Any] = {"K": tuple(consts.values), "isfinite": math.isfinite, "__builtins__": _BUILTINS}
    exec(compile(source, "<hj212 layout>", "exec"), scope)  # generated from positions and K refs only
    function: Callable[..., Any] = scope["f"]
    return function
