"""The InfluxDB writer against real servers: InfluxDB 1.x (v1 API) and VictoriaMetrics (v2 write API)."""

from __future__ import annotations

import asyncio
import base64
import logging
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, cast

import pytest

from adapters.influx import InfluxSettings, InfluxWriter, MemorySpool
from gateway.model import GridCell, Reading
from gateway.model.lineproto import encode_reading
from tests.servers import InfluxDB1, ServerProcess, VictoriaMetrics, wait_for
from tests.test_influx_kit import FakeTime, WatchedSpool, make_writer

T0 = 1_700_000_000_000_000_000
CELLS = [GridCell("110101001001001"), GridCell("110102003004005"), GridCell("31010400100201")]


def readings() -> list[Reading]:
    """Dust readings of three devices in three cells (one an older 14-digit code), one second apart."""
    return [
        Reading(
            device=f"dust-{n}",
            kind="dust",
            ts_ns=T0 + i * 1_000_000_000,
            fields={"pm10": 40 + n + i / 10, "pm25": 20 + n},
            grid=cell,
            tags={"vendor": "acme"},
        )
        for i in range(4)
        for n, cell in enumerate(CELLS)
    ]


QUICK_RETRY = {"retry_delay": 0.05, "max_retry_delay": 0.5}
"""Short retry delays: InfluxDB 1.6 may answer 404 "database not found" for a moment after CREATE DATABASE."""


def v1(server: InfluxDB1, **overrides: object) -> InfluxSettings:
    """v1 settings for the test InfluxDB's `gridedge` database."""
    base = {"version": 1, "url": server.url, "db": "gridedge", **QUICK_RETRY}
    return InfluxSettings(**{**base, **overrides})  # type: ignore[arg-type]


def v2(server: VictoriaMetrics, **overrides: object) -> InfluxSettings:
    """v2 settings for VictoriaMetrics (it ignores org, bucket and token)."""
    base = {"version": 2, "url": server.url, "org": "grid", "bucket": "edge", "token": "t", **QUICK_RETRY}
    return InfluxSettings(**{**base, **overrides})  # type: ignore[arg-type]


def influx_values(server: InfluxDB1, influxql: str, db: str = "gridedge") -> list[list[Any]]:
    """The rows of the first series an InfluxQL query returns."""
    return cast(list[list[Any]], server.query(influxql, db=db)[0]["values"])


def vm_values(server: VictoriaMetrics, selector: str) -> list[float]:
    """Every sample value of every series matching a selector."""
    return [float(v) for row in server.export(selector) for v in cast(list[float], row["values"])]


async def flush(settings: InfluxSettings, lines: list[str]) -> MemorySpool:
    """Spool lines and flush them through a writer on real time."""
    spool = MemorySpool()
    spool.extend(lines)
    async with InfluxWriter(settings, spool) as writer:
        await writer.flush()
    return spool


@pytest.mark.parametrize("gzip", [True, False])
def test_influxdb1_end_to_end(influxdb1: InfluxDB1, gzip: bool) -> None:
    sent = readings()
    spool = asyncio.run(flush(v1(influxdb1, gzip=gzip, batch_size=5), [encode_reading(r) for r in sent]))
    assert spool.depth("influx") == 0 and not spool.dead
    series = influxdb1.query("SELECT pm10, pm25 FROM dust GROUP BY *", db="gridedge")
    assert len(series) == 3
    for one in series:
        tags = one["tags"]
        assert isinstance(tags, dict)
        n = int(tags["device"].removeprefix("dust-"))
        cell = CELLS[n]
        assert tags == {"device": f"dust-{n}", "kind": "dust", "vendor": "acme", **cell.levels()}
        expected = [[r.ts_ns, r.fields["pm10"], r.fields["pm25"]] for r in sent if r.device == f"dust-{n}"]
        assert one["values"] == expected
    keys = influxdb1.query('SHOW FIELD KEYS FROM "dust"', db="gridedge")
    assert keys[0]["values"] == [["pm10", "float"], ["pm25", "float"]]


@pytest.mark.parametrize("gzip", [True, False])
def test_victoriametrics_end_to_end(victoriametrics: VictoriaMetrics, gzip: bool) -> None:
    sent = readings()
    asyncio.run(flush(v2(victoriametrics, gzip=gzip, batch_size=5), [encode_reading(r) for r in sent]))
    rows = victoriametrics.export('{__name__="dust_pm10"}')
    assert len(rows) == 3
    for row in rows:
        metric = row["metric"]
        assert isinstance(metric, dict)
        n = int(metric["device"].removeprefix("dust-"))
        assert {k: v for k, v in metric.items() if k not in {"__name__", "db"}} == {
            "device": f"dust-{n}",
            "kind": "dust",
            "vendor": "acme",
            **CELLS[n].levels(),
        }
        mine = [r for r in sent if r.device == f"dust-{n}"]
        assert row["timestamps"] == [r.ts_ns // 1_000_000 for r in mine]
        assert row["values"] == [r.fields["pm10"] for r in mine]


def test_influxdb1_field_type_conflict_isolates_the_bad_point(influxdb1: InfluxDB1) -> None:
    asyncio.run(flush(v1(influxdb1), ["m,device=a x=1 1"]))
    batch = ["m,device=a x=2 2", "m,device=a x=3 3", 'm,device=a x="text" 4', "m,device=a x=5 5", "m,device=a x=6 6"]

    async def scenario() -> tuple[MemorySpool, InfluxWriter]:
        spool = MemorySpool()
        spool.extend(batch)
        async with make_writer(v1(influxdb1), spool, FakeTime()) as writer:
            await writer.flush()
        return spool, writer

    spool, writer = asyncio.run(scenario())
    ((_, row, reason),) = spool.dead
    assert row == (3, 'm,device=a x="text" 4')
    assert "field type conflict" in reason and '"x"' in reason
    assert writer.stats.rejects == {"type_conflict": 1}
    assert spool.landed_upto("influx") == 5
    assert influx_values(influxdb1, "SELECT x FROM m") == [[1, 1.0], [2, 2.0], [3, 3.0], [5, 5.0], [6, 6.0]]


def test_influxdb1_missing_database_waits_until_it_exists(influxdb1: InfluxDB1) -> None:
    fake = FakeTime()

    async def create_on_second_sleep(nth: int) -> None:
        if nth == 2:
            await asyncio.to_thread(influxdb1.create_db, "later")

    fake.on_sleep = create_on_second_sleep

    async def scenario() -> tuple[MemorySpool, InfluxWriter]:
        spool = MemorySpool()
        spool.append("m x=1 1")
        async with make_writer(v1(influxdb1, db="later", max_retry_delay=60.0), spool, fake) as writer:
            await writer.flush()
        return spool, writer

    spool, writer = asyncio.run(scenario())
    assert len(fake.sleeps) >= 2 and set(fake.sleeps) == {60.0} and not spool.dead
    assert writer.stats.state == "idle" and "database not found" in writer.stats.last_error
    assert influx_values(influxdb1, "SELECT x FROM m", db="later") == [[1, 1.0]]


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["influxdb1", "victoriametrics"])
def test_outage_loses_nothing_and_drains_in_order(kind: str, request: pytest.FixtureRequest) -> None:
    server: ServerProcess = request.getfixturevalue(kind)
    quick = {"batch_size": 200, "flush_interval": 0.02}
    settings = v1(server, **quick) if isinstance(server, InfluxDB1) else v2(server, **quick)  # type: ignore[arg-type]
    total = 3000
    lines = [f"seq,device=d{i % 7} n={i} {T0 + i}" for i in range(total)]
    marks: list[int] = []

    class Marking(WatchedSpool):
        def landed(self, sink: str, upto_rowid: int) -> None:
            marks.append(upto_rowid)
            super().landed(sink, upto_rowid)

    async def scenario() -> InfluxWriter:
        spool = Marking()
        async with InfluxWriter(settings, spool) as writer:
            task = asyncio.create_task(writer.run())
            spool.extend(lines[:1000])
            await spool.wait_landed("influx", 1000)
            await asyncio.to_thread(server.stop)
            spool.extend(lines[1000:])
            writer.notify()
            await asyncio.to_thread(wait_for, lambda: writer.stats.retries >= 5, 30, "retries during the outage")
            assert spool.landed_upto("influx") == 1000
            await asyncio.to_thread(server.start)
            await spool.wait_landed("influx", total)
            writer.stop()
            await task
        return writer

    async def limited() -> InfluxWriter:
        return await asyncio.wait_for(scenario(), 120)

    writer = asyncio.run(limited())
    assert marks == sorted(marks) and marks[-1] == total
    assert writer.stats.points_written >= total and not writer.stats.rejects
    assert writer.stats.retries >= 5 and writer.stats.last_error
    if isinstance(server, InfluxDB1):
        assert [row[1] for row in influx_values(server, "SELECT n FROM seq")] == list(range(total))
    else:
        assert isinstance(server, VictoriaMetrics)
        assert sorted(vm_values(server, '{__name__="seq_n"}')) == list(range(total))


class AuthInfluxDB1(InfluxDB1):
    """InfluxDB 1.x with `auth-enabled`, an admin `edge` user and the `gridedge` database."""

    def command(self) -> list[str]:
        """The parent's command, with auth switched on in its config file."""
        command = super().command()
        conf = self.workdir / "influxdb.conf"
        conf.write_text(conf.read_text().replace("[http]\n", "[http]\n  auth-enabled = true\n"))
        return command

    def setup_admin(self) -> None:
        """Create the first (admin) user, allowed without credentials, then the database as that user.

        influxd can answer the admin's first statement with 403 ("requires admin privilege") for a
        moment after the user was created (seen once on CI's loaded box), so that one is retried.
        """
        assert self._query("CREATE USER edge WITH PASSWORD 'good-pw' WITH ALL PRIVILEGES", {}) == 200
        admin = {"Authorization": "Basic " + base64.b64encode(b"edge:good-pw").decode()}
        wait_for(lambda: self._query('CREATE DATABASE "gridedge"', admin) == 200, 10, "the admin user to take effect")

    def _query(self, q: str, headers: dict[str, str]) -> int:
        """POST one InfluxQL statement; its HTTP status, 403 included (any other error raises)."""
        data = urllib.parse.urlencode({"q": q}).encode()
        request = urllib.request.Request(f"{self.url}/query", data=data, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return int(response.status)
        except urllib.error.HTTPError as error:
            if error.code != 403:
                raise
            return 403


def test_influxdb1_basic_auth_and_a_wrong_password(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    server = AuthInfluxDB1(tmp_path / "influxdb-auth")
    server.start()
    try:
        server.setup_admin()

        async def attempt(password: str) -> tuple[MemorySpool, InfluxWriter, FakeTime]:
            fake = FakeTime()
            spool = MemorySpool()
            spool.append("m,device=a x=1 1")
            writer = make_writer(v1(server, username="edge", password=password), spool, fake)

            async def give_up(nth: int) -> None:
                writer.stop()

            fake.on_sleep = give_up
            async with writer:
                await writer.flush()
            return spool, writer, fake

        with caplog.at_level(logging.ERROR):
            spool, writer, fake = asyncio.run(attempt("wrong-pw"))
        assert writer.stats.state == "config_error" and "HTTP 401" in writer.stats.last_error
        assert fake.sleeps == [0.5] and spool.landed_upto("influx") == 0
        assert "authorization failed" in caplog.text and "wrong-pw" not in caplog.text

        spool, writer, _ = asyncio.run(attempt("good-pw"))
        assert spool.landed_upto("influx") == 1 and writer.stats.points_written == 1
    finally:
        server.stop()
