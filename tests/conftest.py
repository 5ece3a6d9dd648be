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


@pytest.fixture
def isolated_secrets(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """An empty registry of loaded secrets for this test, the process's own put back afterwards.

    The registry is process-wide and the log redactor masks every value in it, so a test that loads
    arbitrary strings as secrets (the config fuzzer) would otherwise mask them in later tests' logs.
    """
    from gateway.config import secret

    monkeypatch.setattr(secret, "_loaded", {})
    secret._generation[0] += 1  # redactors rebuild (the count only grows, so no cached one matches by chance)
    yield
    monkeypatch.undo()
    secret._generation[0] += 1


# --- Session check: no test secret reaches any log of the run (tests/test_logs_leaks.py) -------------
# The audit module is imported inside the hooks so a plain import of conftest stays light.


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Keep each test's captured log and stderr for the audit."""
    from tests.test_logs_leaks import AUDIT

    AUDIT.collect(report)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    """Grep the captured logs and every *.log under pytest's temp dir; a test secret found fails the run."""
    from tests.test_logs_leaks import AUDIT

    AUDIT.finish(session)


def pytest_terminal_summary(terminalreporter: object) -> None:
    """Say what the audit scanned, or where each leak is."""
    from tests.test_logs_leaks import AUDIT

    AUDIT.summary(terminalreporter)


from tests.receivers import receiver  # noqa: E402, F401 - the reference webhook receiver fixture
