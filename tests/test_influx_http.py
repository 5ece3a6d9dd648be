"""The InfluxDB writer against a scripted HTTP server on loopback: request shape, retries, splits, flushing."""

from __future__ import annotations

import asyncio
import base64
import logging
from email.utils import formatdate

import pytest
from aiohttp.test_utils import TestServer

from adapters.influx import InfluxSettings, InfluxWriter, MemorySpool, WriteError, write_points
from tests.test_influx_kit import FakeTime, Reply, Scripted, Seen, WatchedSpool, make_writer, run, start, v2_settings

LINES = [f"dust,device=d{i} pm10={i}.5 {1_700_000_000_000_000_000 + i}" for i in range(10)]


async def deliver(
    scripted: Scripted, lines: list[str] = LINES, fake: FakeTime | None = None, **overrides: object
) -> tuple[MemorySpool, InfluxWriter]:
    """Spool `lines`, flush them through a writer to a scripted server, return spool and writer."""
    server = await start(scripted)
    try:
        spool = MemorySpool()
        spool.extend(lines)
        async with make_writer(v2_settings(server, **overrides), spool, fake or FakeTime()) as writer:
            await writer.flush()
        return spool, writer
    finally:
        await server.close()


def refuse_bad(seen: Seen) -> Reply:
    """Answer 400 like InfluxDB 1.x when a body holds a line with `bad`, else 204."""
    if "bad" in seen.body:
        return 400, '{"error":"partial write: unable to parse \'bad\': invalid field format dropped=1"}', {}
    return 204, "", {}


def test_v2_request_has_org_bucket_precision_token_and_gzip() -> None:
    scripted = Scripted()
    spool, _ = asyncio.run(deliver(scripted))
    (seen,) = scripted.seen
    assert seen.path == "/api/v2/write"
    assert seen.query == {"org": "grid", "bucket": "edge", "precision": "ns"}
    assert seen.headers["Authorization"] == "Token s3cret-token"
    assert seen.headers["Content-Encoding"] == "gzip"
    assert seen.body == "\n".join(LINES)
    assert 0 < seen.wire_size < len(seen.body)
    assert spool.landed_upto("influx") == 10 and spool.depth("influx") == 0


def test_gzip_off_sends_plain_text() -> None:
    scripted = Scripted()
    asyncio.run(deliver(scripted, gzip=False))
    (seen,) = scripted.seen
    assert "Content-Encoding" not in seen.headers
    assert seen.wire_size == len(seen.body.encode())


def test_v1_request_has_db_rp_and_basic_auth() -> None:
    async def scenario() -> None:
        scripted = Scripted()
        server = await start(scripted)
        try:
            settings = InfluxSettings(
                version=1,
                url=str(server.make_url("/")),
                db="gridedge",
                retention_policy="autogen",
                username="edge",
                password="pa:ss",
            )
            spool = MemorySpool()
            spool.extend(LINES[:2])
            async with make_writer(settings, spool, FakeTime()) as writer:
                await writer.flush()
        finally:
            await server.close()
        (seen,) = scripted.seen
        assert seen.path == "/write"
        assert seen.query == {"db": "gridedge", "rp": "autogen", "precision": "ns"}
        assert base64.b64decode(seen.headers["Authorization"].removeprefix("Basic ")) == b"edge:pa:ss"

    run(scenario())


def test_v2_request_matches_influxdb_client() -> None:
    """The official client's async writer, pointed at the same server, sends the same path, query and auth."""
    from influxdb_client.client.influxdb_client_async import InfluxDBClientAsync

    async def scenario() -> None:
        scripted = Scripted()
        server = await start(scripted)
        try:
            url = str(server.make_url("/")).rstrip("/")
            async with InfluxDBClientAsync(url=url, token="s3cret-token", org="grid") as client:
                await client.write_api().write(bucket="edge", record=LINES[:2])
            spool = MemorySpool()
            spool.extend(LINES[:2])
            async with make_writer(v2_settings(server, gzip=False), spool, FakeTime()) as writer:
                await writer.flush()
        finally:
            await server.close()
        theirs, ours = scripted.seen
        assert ours.path == theirs.path
        assert ours.query == theirs.query
        assert ours.headers["Authorization"] == theirs.headers["Authorization"]
        assert ours.body == theirs.body

    run(scenario())


def test_429_honours_retry_after_seconds() -> None:
    fake = FakeTime()
    scripted = Scripted(script=[(429, "too many", {"Retry-After": "7"})])
    spool, writer = asyncio.run(deliver(scripted, fake=fake))
    assert fake.sleeps == [7.0]
    assert len(scripted.seen) == 2 and scripted.seen[0].body == scripted.seen[1].body
    assert writer.stats.retries == 1 and writer.stats.points_written == 10
    assert spool.landed_upto("influx") == 10


def test_503_honours_retry_after_http_date() -> None:
    fake = FakeTime()
    when = formatdate(fake.wall() + 12, usegmt=True)
    scripted = Scripted(script=[(503, "overloaded", {"Retry-After": when})])
    asyncio.run(deliver(scripted, fake=fake))
    assert fake.sleeps == [pytest.approx(12.0, abs=1.0)]


def test_retry_after_is_capped_by_max_retry_delay() -> None:
    fake = FakeTime()
    scripted = Scripted(script=[(429, "", {"Retry-After": "86400"})])
    asyncio.run(deliver(scripted, fake=fake, max_retry_delay=20.0))
    assert fake.sleeps == [20.0]


def test_503_without_retry_after_backs_off() -> None:
    fake = FakeTime()
    scripted = Scripted(script=[(503, "", {})])
    asyncio.run(deliver(scripted, fake=fake, retry_delay=2.0))
    assert len(fake.sleeps) == 1 and 1.0 <= fake.sleeps[0] <= 2.0


def test_5xx_backs_off_exponentially_capped_and_never_drops() -> None:
    fake = FakeTime()
    scripted = Scripted(script=[(500, "boom", {})] * 8)
    spool, writer = asyncio.run(deliver(scripted, fake=fake, retry_delay=1.0, max_retry_delay=10.0))
    ceilings = [1, 2, 4, 8, 10, 10, 10, 10]
    assert all(c / 2 <= d <= c for d, c in zip(fake.sleeps, ceilings, strict=True))
    assert writer.stats.retries == 8 and writer.stats.last_error == "HTTP 500: boom"
    assert scripted.lines(lambda s: s is scripted.seen[-1]) == LINES
    assert spool.landed_upto("influx") == 10 and not spool.dead


def test_401_retries_slowly_and_never_logs_the_token(caplog: pytest.LogCaptureFixture) -> None:
    fake = FakeTime()
    scripted = Scripted(script=[(401, '{"code":"unauthorized","message":"unauthorized access"}', {})] * 2)
    with caplog.at_level(logging.DEBUG):
        spool, writer = asyncio.run(deliver(scripted, fake=fake, max_retry_delay=30.0))
    assert fake.sleeps == [30.0, 30.0]
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 2 and "unauthorized access" in errors[0].getMessage()
    assert "s3cret-token" not in caplog.text and "s3cret-token" not in repr(writer.settings)
    assert "s3cret-token" not in writer.stats.last_error
    assert spool.landed_upto("influx") == 10 and not spool.dead


def test_database_not_found_is_a_config_problem_not_bad_data() -> None:
    fake = FakeTime()
    scripted = Scripted(script=[(404, '{"error":"database not found: \\"x\\""}', {})])
    spool, writer = asyncio.run(deliver(scripted, fake=fake))
    assert fake.sleeps == [30.0] and writer.stats.splits == 0 and not spool.dead


def test_redirect_is_a_config_problem() -> None:
    fake = FakeTime()
    scripted = Scripted(script=[(301, "", {"Location": "http://127.0.0.1:1/elsewhere"})])
    spool, _ = asyncio.run(deliver(scripted, fake=fake))
    assert fake.sleeps == [30.0] and not spool.dead and len(scripted.seen) == 2


def test_400_split_isolates_the_bad_line_and_keeps_order() -> None:
    lines = [*LINES[:5], "dust,device=bad pm10=oops 1", *LINES[5:]]
    scripted = Scripted(responder=refuse_bad)
    spool, writer = asyncio.run(deliver(scripted, lines=lines))
    landed = scripted.lines(lambda s: "bad" not in s.body)
    assert landed == LINES
    ((sink, row, reason),) = spool.dead
    assert sink == "influx" and row == (6, "dust,device=bad pm10=oops 1")
    assert "unable to parse" in reason
    assert writer.stats.rejects == {"parse_error": 1}
    assert writer.stats.points_written == 10
    assert spool.landed_upto("influx") == 11 and spool.depth("influx") == 0


def test_400_split_rejects_each_of_several_bad_lines() -> None:
    lines = ["bad 1", *LINES[:3], "bad 2", *LINES[3:], "bad 3"]
    scripted = Scripted(responder=refuse_bad)
    spool, writer = asyncio.run(deliver(scripted, lines=lines))
    assert [row[1] for _, row, _ in spool.dead] == ["bad 1", "bad 2", "bad 3"]
    assert writer.stats.rejects["parse_error"] == 3
    assert scripted.lines(lambda s: "bad" not in s.body) == LINES


def test_413_splits_and_a_single_oversize_line_is_rejected_as_too_large() -> None:
    def too_large(seen: Seen) -> Reply:
        return (413, "request entity too large", {}) if len(seen.body) > 200 else (204, "", {})

    lines = [*LINES[:4], "dust,device=big pm10=1 " + "9" * 300]
    scripted = Scripted(responder=too_large)
    spool, writer = asyncio.run(deliver(scripted, lines=lines))
    assert writer.stats.rejects == {"too_large": 1}
    assert scripted.lines(lambda s: len(s.body) <= 200) == LINES[:4]
    assert spool.landed_upto("influx") == 5


def test_unsendable_lines_are_rejected_locally_and_never_posted() -> None:
    lines = [LINES[0], "", "two\nlines", "bad surrogate \udcff", "   ", LINES[1]]
    scripted = Scripted()
    spool, writer = asyncio.run(deliver(scripted, lines=lines))
    assert scripted.lines() == LINES[:2]
    assert writer.stats.rejects == {"malformed_line": 4}
    assert [row[0] for _, row, _ in spool.dead] == [2, 3, 4, 5]
    assert spool.landed_upto("influx") == 6


def test_connection_refused_retries_until_the_server_appears() -> None:
    from tests.servers import free_port

    async def scenario() -> None:
        port = free_port()
        scripted = Scripted()
        servers: list[TestServer] = []

        async def bring_up(nth_sleep: int) -> None:
            if nth_sleep == 3:
                from aiohttp import web

                app = web.Application()
                app.router.add_route("POST", "/{tail:.*}", scripted.handle)
                server = TestServer(app, host="127.0.0.1", port=port)
                await server.start_server()
                servers.append(server)

        fake = FakeTime()
        fake.on_sleep = bring_up
        spool = MemorySpool()
        spool.extend(LINES)
        settings = InfluxSettings(version=2, url=f"http://127.0.0.1:{port}", org="o", bucket="b")
        try:
            async with make_writer(settings, spool, fake) as writer:
                await writer.flush()
        finally:
            for server in servers:
                await server.close()
        assert writer.stats.retries == 3 and "Connect" in writer.stats.last_error
        assert scripted.lines() == LINES and spool.landed_upto("influx") == 10

    run(scenario())


def test_full_batches_go_at_once_and_a_partial_batch_waits_flush_interval() -> None:
    async def scenario() -> None:
        scripted = Scripted()
        server = await start(scripted)
        fake = FakeTime()
        spool = MemorySpool()
        spool.extend(LINES[:7])
        try:
            settings = v2_settings(server, batch_size=5, flush_interval=2.0)
            async with make_writer(settings, spool, fake) as writer:
                await writer.step()
                assert [s.body.count("\n") + 1 for s in scripted.seen] == [5] and fake.sleeps == []
                await writer.step()
                assert len(scripted.seen) == 1 and fake.sleeps == [2.0]
                await writer.step()
                assert [s.body.count("\n") + 1 for s in scripted.seen] == [5, 2]
                await writer.step()
                assert fake.sleeps == [2.0, 2.0] and writer.stats.lag == 0
        finally:
            await server.close()
        assert scripted.lines() == LINES[:7]

    run(scenario())


def test_run_drains_until_stop_and_notify_cuts_the_idle_wait() -> None:
    async def scenario() -> None:
        scripted = Scripted()
        server = await start(scripted)
        spool = WatchedSpool()
        try:
            settings = v2_settings(server, batch_size=2, flush_interval=3600.0)
            idle = asyncio.Event()

            async def sleep(delay: float) -> None:
                idle.set()
                await asyncio.sleep(delay)

            async with InfluxWriter(settings, spool, sleep=sleep) as writer:
                task = asyncio.create_task(writer.run())
                await idle.wait()
                spool.extend(LINES[:2])
                writer.notify()
                await spool.wait_landed("influx", 2)
                writer.stop()
                await task
        finally:
            await server.close()
        assert scripted.lines() == LINES[:2]

    run(scenario(), limit=10)


def test_stop_during_a_retry_wait_abandons_the_batch_unmarked() -> None:
    async def scenario() -> None:
        scripted = Scripted(responder=lambda _: (500, "down", {}))
        server = await start(scripted)
        spool = MemorySpool()
        spool.extend(LINES)
        try:
            settings = v2_settings(server, retry_delay=3600.0, max_retry_delay=3600.0)
            waiting = asyncio.Event()

            async def sleep(delay: float) -> None:
                waiting.set()
                await asyncio.sleep(delay)

            async with InfluxWriter(settings, spool, sleep=sleep) as writer:
                task = asyncio.create_task(writer.run())
                await waiting.wait()
                writer.stop()
                await task
        finally:
            await server.close()
        assert spool.landed_upto("influx") == 0 and spool.depth("influx") == 10
        assert writer.stats.state == "idle"

    run(scenario(), limit=10)


def test_stats_report_latency_percentiles_and_metric_fields() -> None:
    scripted = Scripted(responder=refuse_bad)
    _, writer = asyncio.run(deliver(scripted, lines=[*LINES, "bad 1"], batch_size=4))
    stats = writer.stats
    assert stats.batches == 3 + 1 and stats.requests >= 4
    assert stats.latency_percentile(50) is not None and stats.last_latency is not None
    fields = stats.fields()
    assert fields["points_written"] == 10.0 and fields["rejects_parse_error"] == 1.0
    assert "latency_p99_ms" in fields and fields["config_error"] == 0.0


def test_write_points_posts_once_and_raises_on_refusal() -> None:
    async def scenario() -> None:
        scripted = Scripted(script=[(204, "", {}), (204, "", {}), (400, '{"error":"unable to parse"}', {})])
        server = await start(scripted)
        try:
            settings = v2_settings(server, batch_size=5)
            await write_points(settings, LINES)
            with pytest.raises(WriteError, match="HTTP 400: unable to parse"):
                await write_points(settings, LINES[:1])
        finally:
            await server.close()
        assert scripted.lines() == [*LINES, LINES[0]] and len(scripted.seen) == 3

    run(scenario())


def test_lag_counts_pending_rows_and_the_age_of_the_oldest_point() -> None:
    async def scenario() -> None:
        scripted = Scripted()
        server = await start(scripted)
        fake = FakeTime(wall=1_700_000_000.0 + 5.0)
        spool = MemorySpool()
        spool.extend(LINES)
        try:
            async with make_writer(v2_settings(server, batch_size=4), spool, fake) as writer:
                await writer.step()
                assert writer.stats.lag == 10 and writer.stats.lag_seconds == pytest.approx(5.0)
                await writer.step()
                assert writer.stats.lag == 10, "depth is asked again only every few seconds"
                await writer.step()
                assert writer.stats.lag == 2
                await writer.step()
                assert writer.stats.lag == 0 and writer.stats.lag_seconds == 0.0
        finally:
            await server.close()

    run(scenario())


def test_a_split_marks_progress_as_each_half_lands() -> None:
    marks: list[int] = []

    class Marking(MemorySpool):
        def landed(self, sink: str, upto_rowid: int) -> None:
            marks.append(upto_rowid)
            super().landed(sink, upto_rowid)

    async def scenario() -> None:
        scripted = Scripted(responder=refuse_bad)
        server = await start(scripted)
        spool = Marking()
        spool.extend([*LINES[:7], "bad 1"])
        try:
            async with make_writer(v2_settings(server), spool, FakeTime()) as writer:
                await writer.flush()
        finally:
            await server.close()

    run(scenario())
    assert marks == sorted(marks) and marks[0] == 4 and marks[-1] == 8


def test_a_max_retry_delay_below_the_first_delay_caps_it() -> None:
    fake = FakeTime()
    scripted = Scripted(script=[(500, "", {})] * 3)
    asyncio.run(deliver(scripted, fake=fake, retry_delay=0.5, max_retry_delay=0.2))
    assert len(fake.sleeps) == 3 and all(0.1 <= d <= 0.2 for d in fake.sleeps)


def test_run_outlives_a_spool_error_and_lands_the_rows_afterwards() -> None:
    class Flaky(WatchedSpool):
        def __init__(self) -> None:
            super().__init__()
            self.failures = 1

        def pending(self, sink: str, limit: int) -> list[tuple[int, str]]:
            if self.failures:
                self.failures -= 1
                raise OSError("disk I/O error")
            return super().pending(sink, limit)

    async def scenario() -> None:
        scripted = Scripted()
        server = await start(scripted)
        spool = Flaky()
        spool.extend(LINES)
        fake = FakeTime()
        try:
            async with make_writer(v2_settings(server), spool, fake) as writer:
                task = asyncio.create_task(writer.run())
                await spool.wait_landed("influx", 10)
                writer.stop()
                await task
        finally:
            await server.close()
        assert writer.stats.last_error == "OSError: disk I/O error" and len(fake.sleeps) >= 1
        assert scripted.lines() == LINES

    run(scenario())


def test_chinese_tags_are_sent_as_utf8() -> None:
    lines = ["dust,device=d1,street=朝阳门街道 pm10=1.0 1", "dust,device=d2,street=东华门街道 pm10=2.0 2"]
    scripted = Scripted()
    spool, writer = asyncio.run(deliver(scripted, lines=lines))
    assert scripted.lines() == lines and not spool.dead and writer.stats.points_written == 2
