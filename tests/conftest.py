"""Shared fixtures: real servers on free loopback ports, each in its own temp dir."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import InfluxDB1, Mosquitto, VictoriaMetrics

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
"""The development data beside the checkout; tests that use it skip when it is absent."""


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    """A mosquitto broker of this test's own."""
    server = Mosquitto(tmp_path / "mosquitto")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def influxdb1(tmp_path: Path) -> Iterator[InfluxDB1]:
    """An InfluxDB 1.x server of this test's own, with a database named `gridedge`."""
    server = InfluxDB1(tmp_path / "influxdb")
    server.start()
    server.create_db("gridedge")
    yield server
    server.stop()


@pytest.fixture
def victoriametrics(tmp_path: Path) -> Iterator[VictoriaMetrics]:
    """A VictoriaMetrics server of this test's own (InfluxDB v2 write API)."""
    server = VictoriaMetrics(tmp_path / "vm")
    server.start()
    yield server
    server.stop()
