"""The intake against the shipped registry: aliases, scale, placement by position, policies for the unknown."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.config.loader import load_config
from gateway.journal import Journal, JournalSettings
from gateway.model import FieldValue, GridCell, Reading
from gateway.model.lineproto import parse_line
from gateway.pipeline import Intake, IntakeSettings
from gateway.registry import Registry

REPO = Path(__file__).resolve().parents[1]
NOW = time.time_ns()


@pytest.fixture(scope="module")
def registry() -> Registry:
    return load_config(REPO / "config" / "edge.yaml").registry


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    j = Journal(JournalSettings(tmp_path / "j.db"), sinks=["influx"])
    yield j
    j.close()


def committed(journal: Journal) -> list[tuple[str, dict[str, str], dict[str, FieldValue], int | None]]:
    journal.flush()
    return [parse_line(line) for _, line in journal.pending("influx", 1000)]


def test_alias_resolves_and_scale_applies(registry: Registry, journal: Journal) -> None:
    intake = Intake(registry, journal, clock=lambda: NOW)
    intake.submit(Reading("0873HHMZWSLH02", "dust", NOW, {"tsp": 0.15, "pm10": 80.0}))  # the HJ 212 MN of dust-0003
    ((measurement, tags, fields, ts),) = committed(journal)
    assert (measurement, tags["device"], tags["grid"]) == ("dust", "dust-0003", "110105003002001")
    assert tags["site"] == "hujialou-metro"  # the device's own tags travel with its readings
    assert fields == {"tsp": pytest.approx(150.0), "pm10": 80.0} and ts == NOW


def test_a_device_reporting_its_position_is_placed_by_polygon(registry: Registry, journal: Journal) -> None:
    intake = Intake(registry, journal, clock=lambda: NOW)
    # dust-0001 belongs to 110105001001001 but reports a position inside 110105016002002 (双井).
    intake.submit(Reading("dust-0001", "dust", NOW, {"pm10": 80.0, "lat": 39.893, "lon": 116.461}))
    # inside the hole of 110105003002001's polygon: no cell holds it, the registry's cell stays
    intake.submit(Reading("dust-0001", "dust", NOW + 1, {"pm10": 81.0, "lat": 39.924, "lon": 116.464}))
    first, second = committed(journal)
    assert first[1]["grid"] == "110105016002002"
    assert second[1]["grid"] == "110105001001001"


def test_unknown_device_rejected_or_quarantined(registry: Registry, journal: Journal) -> None:
    rejecting = Intake(registry, journal, clock=lambda: NOW)
    rejecting.submit(Reading("ghost-1", "dust", NOW, {"pm10": 1.0}))
    assert rejecting.stats.rejected == {"unknown_device": 1}
    quarantine = IntakeSettings(unknown_policy="quarantine", quarantine_grid=GridCell("110105999999999"))
    accepting = Intake(registry, journal, quarantine, clock=lambda: NOW)
    accepting.submit(Reading("ghost-2", "dust", NOW, {"pm10": 2.0}))
    assert accepting.stats.quarantined == 1
    ((_, tags, fields, _),) = committed(journal)
    assert (tags["device"], tags["grid"], tags["quarantine"], fields) == (
        "ghost-2", "110105999999999", "true", {"pm10": 2.0}
    )
    assert journal.dead_letters()[0][3] == "unknown_device"


def test_clock_skew_rejected_or_clamped(registry: Registry, journal: Journal) -> None:
    hour = 3600 * 10**9
    strict = Intake(registry, journal, IntakeSettings(max_clock_skew_s=3600), clock=lambda: NOW)
    strict.submit(Reading("dust-0001", "dust", NOW + 2 * hour, {"pm10": 1.0}))
    strict.submit(Reading("dust-0001", "dust", NOW - 2 * hour, {"pm10": 1.0}))
    strict.submit(Reading("dust-0001", "dust", NOW - hour // 2, {"pm10": 3.0}))
    assert strict.stats.rejected == {"clock_skew": 2}
    clamping = Intake(registry, journal, IntakeSettings(skew_policy="clamp"), clock=lambda: NOW)
    clamping.submit(Reading("dust-0001", "dust", NOW + 5 * hour, {"pm10": 4.0}))
    assert clamping.stats.clamped == 1
    rows = committed(journal)
    assert [(r[2]["pm10"], r[3]) for r in rows] == [(3.0, NOW - hour // 2), (4.0, NOW)]


def test_kind_comes_from_the_registry_when_the_topic_has_none(registry: Registry, journal: Journal) -> None:
    intake = Intake(registry, journal, clock=lambda: NOW)
    intake.submit(Reading("water-0001", "", NOW, {"level": 1.5}))
    ((measurement, tags, _, _),) = committed(journal)
    assert measurement == "water" and tags["kind"] == "water"
