"""Readable field names for HJ 212 factor codes and suffixes, and particulate unit conversion to µg/m³."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Final

FACTOR_NAMES: Final[dict[str, str]] = {
    # Particulates and dust (Table B.2)
    "a34001": "tsp",
    "a34002": "pm10",
    "a34004": "pm25",
    "a34005": "pm1",
    "a34011": "dustfall",
    # Weather (Table B.2)
    "a01001": "temperature",
    "a01002": "humidity",
    "a01006": "pressure",
    "a01007": "wind_speed",
    "a01008": "wind_direction",
    # Gases (Table B.2)
    "a21026": "so2",
    "a21004": "no2",
    "a21005": "co",
    # Noise (Table B.3)
    "LA": "noise_la",
    "Leq": "noise_leq",
    "Ld": "noise_ld",
    "Ln": "noise_ln",
    "Ldn": "noise_ldn",
    "L5": "noise_l5",
    "L10": "noise_l10",
    "L50": "noise_l50",
    "L90": "noise_l90",
    "L95": "noise_l95",
    "LMx": "noise_lmax",
    "LMn": "noise_lmin",
}
"""Factor code -> field name; unknown factors keep their code. Operators extend this per deployment."""

SUFFIX_NAMES: Final[dict[str, str]] = {
    "Rtd": "",
    "Data": "",
    "Avg": "_avg",
    "Min": "_min",
    "Max": "_max",
    "Cou": "_cou",
    "ZsRtd": "_zs",
    "ZsAvg": "_zs_avg",
    "ZsMin": "_zs_min",
    "ZsMax": "_zs_max",
    "DayData": "_day",
    "NightData": "_night",
    "Flag": "_flag",
    "EFlag": "_eflag",
    "ValidNum": "_valid_num",
    "TotalNum": "_total_num",
    "RS": "_state",
    "RT": "_hours",
}
"""Suffix -> what follows the factor's name (`a34004-Avg` -> `pm25_avg`); others become `_<lowercase>`."""

TEXT_SUFFIXES: Final = frozenset({"Flag", "EFlag", "SampleTime", "Info", "State"})
"""Suffixes whose values are text, not numbers (Table 4)."""
KNOWN_SUFFIXES: Final = frozenset({
    "Rtd", "Avg", "Min", "Max", "Cou", "Flag", "EFlag", "SampleTime", "ZsRtd", "ZsAvg", "ZsMin", "ZsMax",
    "Data", "DayData", "NightData", "RS", "RT", "Ala", "UpValue", "LowValue", "ValidNum", "TotalNum",
})
"""Field suffixes of Table 4 plus those seen on devices; others are kept but noted."""
SKIPPED_SUFFIXES: Final = frozenset({"SampleTime", "Info"})
"""Suffixes that are not measurements and do not become fields."""

PARTICULATES: Final = frozenset({"a34001", "a34002", "a34004", "a34005"})
"""Factors whose unit differs between devices (the standard says ng/m³; most devices send µg/m³)."""
SCALED_SUFFIXES: Final = frozenset({"Rtd", "Avg", "Min", "Max", "ZsRtd", "ZsAvg", "ZsMin", "ZsMax"})
"""Suffixes carrying a concentration, converted to µg/m³ (counts and flags are not)."""
NOISE_FACTORS: Final = frozenset({"LA", "Leq", "Ld", "Ln", "Ldn", "L5", "L10", "L50", "L90", "L95", "LMx", "LMn"})

UNIT_SCALES: Final[dict[str, float]] = {
    "ng/m3": 0.001,
    "ng/m³": 0.001,
    "ug/m3": 1.0,
    "µg/m3": 1.0,
    "µg/m³": 1.0,
    "mg/m3": 1000.0,
    "mg/m³": 1000.0,
}
"""Multiplier from a device's particulate unit to µg/m³."""


def field_name(factor: str, suffix: str, names: Mapping[str, str]) -> str:
    """The field a factor's suffixed value becomes: `a34002`+`Rtd` -> `pm10`, `LA`+`Rtd` -> `noise_la`."""
    base = names.get(factor, factor)
    tail = SUFFIX_NAMES.get(suffix)
    if tail is None:
        tail = "_" + suffix.lower()
    return base + tail


@functools.lru_cache(maxsize=64)
def unit_scale(unit: str) -> float:
    """The multiplier to µg/m³ for a unit string; ValueError names the accepted units."""
    scale = UNIT_SCALES.get(unit.strip().replace(" ", "").lower().replace("μ", "µ"))
    if scale is None:
        raise ValueError(f"unknown particulate unit {unit!r}; use ng/m3, ug/m3 or mg/m3")
    return scale
