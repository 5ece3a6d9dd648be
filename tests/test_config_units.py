"""Durations, byte sizes and topic filters/templates as operators write them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.config.topics import check_filter, check_template, template_placeholders
from gateway.config.units import format_duration, parse_bytes, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("500ms", 0.5), ("30s", 30), ("5m", 300), ("1h", 3600), ("1d", 86400), ("1h30m", 5400), (2.5, 2.5), (0, 0)],
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("bad", ["5 minutes", "-1s", -3, "1w", "", True, None, "1.s", float("nan")])
def test_bad_durations(bad: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(bad)


@given(st.floats(min_value=0, max_value=10**7, allow_nan=False))
def test_formatted_durations_read_back(seconds: float) -> None:
    assert parse_duration(format_duration(seconds)) == pytest.approx(seconds, rel=1e-5)


@pytest.mark.parametrize(
    ("text", "size"),
    [(262144, 262144), ("256KiB", 262144), ("512MiB", 512 * 1024**2), ("1GiB", 1024**3), ("1 GB", 10**9), ("10b", 10)],
)
def test_sizes(text: object, size: int) -> None:
    assert parse_bytes(text) == size


@pytest.mark.parametrize("bad", ["1 gigabyte", "1G", "lots", -1, True, 1.5, None])
def test_bad_sizes(bad: object) -> None:
    with pytest.raises(ValueError, match=r"size|unit|negative"):
        parse_bytes(bad)


@pytest.mark.parametrize("topic", ["a", "a/+/b", "#", "a/#", "+/+", "$share/g/a/+", "a//b"])
def test_valid_filters(topic: str) -> None:
    assert check_filter(topic) == topic


@pytest.mark.parametrize("topic", ["", "a/#/b", "a#", "a/b+", "a/\x00"])
def test_invalid_filters(topic: str) -> None:
    with pytest.raises(ValueError):
        check_filter(topic)


def test_template_placeholders() -> None:
    assert template_placeholders("grid/{grid}/{kind}/{device}") == [None, "grid", "kind", "device"]
    assert check_template("sensors/{device}/{kind}", "sensors/+/+")
    assert check_template("x/{site}/{device}/{kind}", "x/#")
    assert check_template("x/cbd/{device}", "x/cbd/+")
    assert check_template("x/{site}/{device}", "x/cbd/+")  # a placeholder may name a literal level
    with pytest.raises(ValueError, match="at least 2"):
        check_template("{device}", "x/y/#")
