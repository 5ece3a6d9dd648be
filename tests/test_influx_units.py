"""The InfluxDB writer's pure parts: settings validation and endpoints, Retry-After, backoff, response meaning."""

from __future__ import annotations

import random
from email.utils import formatdate

import pytest

from adapters.influx import InfluxSettings, MemorySpool, Outcome, Response
from adapters.influx.response import classify, error_text, reject_reason
from adapters.influx.retry import Backoff, parse_retry_after


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"version": 3}, "version: must be 1 or 2"),
        ({"url": "ftp://x"}, "url: must be http"),
        ({"url": "http://user:pw@127.0.0.1:8086"}, "url: must not embed credentials"),
        ({"url": "http://127.0.0.1:8086/?db=x"}, "url: must not carry a query"),
        ({"org": ""}, "org: required with version 2"),
        ({"bucket": ""}, "bucket: required with version 2"),
        ({"version": 1, "db": ""}, "db: required with version 1"),
        ({"version": 1, "db": "g", "password": "p"}, "password: given without username"),
        ({"batch_size": 0}, "batch_size: must be 1..100000"),
        ({"batch_size": 100_001}, "batch_size: must be 1..100000"),
        ({"flush_interval": -1.0}, "flush_interval: must be >= 0"),
        ({"timeout": 0.0}, "timeout: must be > 0"),
        ({"retry_delay": 0.0}, "retry_delay: must be > 0"),
        ({"max_retry_delay": 0.0}, "max_retry_delay: must be > 0"),
    ],
)
def test_bad_settings_are_refused_naming_the_key(overrides: dict[str, object], message: str) -> None:
    base: dict[str, object] = {"version": 2, "url": "http://127.0.0.1:8086", "org": "o", "bucket": "b"}
    with pytest.raises(ValueError, match=message):
        InfluxSettings(**{**base, **overrides})  # type: ignore[arg-type]


def test_secrets_stay_out_of_repr_and_describe() -> None:
    settings = InfluxSettings(version=2, url="http://127.0.0.1:8086", org="o", bucket="b", token="tok-123")
    assert "tok-123" not in repr(settings)
    assert "tok-123" not in settings.endpoint().describe() and "tok-123" not in repr(settings.endpoint())
    v1 = InfluxSettings(version=1, url="http://127.0.0.1:8086", db="g", username="u", password="pw-456")
    assert "pw-456" not in repr(v1)


def test_endpoint_keeps_a_base_path_prefix() -> None:
    v2 = InfluxSettings(version=2, url="https://127.0.0.1/influx/", org="o", bucket="b").endpoint()
    assert str(v2.url) == "https://127.0.0.1/influx/api/v2/write" and v2.headers == {}
    v1 = InfluxSettings(version=1, url="http://127.0.0.1:8086", db="g").endpoint()
    assert v1.describe() == "http://127.0.0.1:8086/write?db=g&precision=ns" and v1.headers == {}


def test_retry_after_seconds_date_and_garbage() -> None:
    now = 1_700_000_000.0
    assert parse_retry_after("120", now) == 120.0
    assert parse_retry_after(" 1.5 ", now) == 1.5
    assert parse_retry_after("-3", now) == 0.0
    assert parse_retry_after(formatdate(now + 30, usegmt=True), now) == pytest.approx(30.0)
    assert parse_retry_after(formatdate(now - 30, usegmt=True), now) == 0.0
    for bad in (None, "", "soon", "nan", "Mon, 99 Foo 2024"):
        assert parse_retry_after(bad, now) is None


def test_backoff_doubles_with_jitter_up_to_the_cap_and_resets() -> None:
    backoff = Backoff(first=0.5, cap=4.0, rng=random.Random(1))
    delays = [backoff.next() for _ in range(8)]
    for delay, ceiling in zip(delays, [0.5, 1, 2, 4, 4, 4, 4, 4], strict=True):
        assert ceiling / 2 <= delay <= ceiling
    assert len(set(delays)) == len(delays)
    backoff.reset()
    assert backoff.next() <= 0.5
    for _ in range(200):
        backoff.next()
    assert backoff.next() <= 4.0


@pytest.mark.parametrize(
    ("status", "text", "outcome"),
    [
        (204, "", Outcome.LANDED),
        (200, "", Outcome.LANDED),
        (0, "ClientConnectorError", Outcome.TRANSIENT),
        (500, "", Outcome.TRANSIENT),
        (502, "", Outcome.TRANSIENT),
        (408, "", Outcome.TRANSIENT),
        (429, "", Outcome.THROTTLED),
        (503, "", Outcome.THROTTLED),
        (401, "", Outcome.CONFIG),
        (403, "", Outcome.CONFIG),
        (404, "bucket not found", Outcome.CONFIG),
        (500, "retention policy not found: nope", Outcome.CONFIG),
        (302, "", Outcome.CONFIG),
        (400, "partial write: field type conflict", Outcome.BAD_DATA),
        (413, "", Outcome.BAD_DATA),
        (422, "", Outcome.BAD_DATA),
    ],
)
def test_classify_statuses(status: int, text: str, outcome: Outcome) -> None:
    assert classify(Response(status, text)) is outcome


def test_reject_reasons_and_error_texts() -> None:
    conflict = 'partial write: field type conflict: input field "x" on measurement "m" is type string'
    assert reject_reason(Response(400, conflict)) == "type_conflict"
    assert reject_reason(Response(400, "unable to parse 'x': bad")) == "parse_error"
    assert reject_reason(Response(400, "partial write: points beyond retention policy dropped=1")) == (
        "beyond_retention"
    )
    assert reject_reason(Response(413, "")) == "too_large"
    assert reject_reason(Response(422, "whatever")) == "http_422"
    assert error_text('{"error":"v1 says"}\n') == "v1 says"
    assert error_text('{"code":"invalid","message":"v2 says"}') == "v2 says"
    assert error_text("plain " + "x" * 5000) == ("plain " + "x" * 5000)[:1000]
    assert error_text("[1, 2]") == "[1, 2]"


def test_memory_spool_tracks_sinks_dead_letters_and_capacity() -> None:
    spool = MemorySpool(capacity=4, sinks=("a", "b"))
    spool.extend(["l1", "l2", "l3"])
    spool.rejected("a", [(2, "l2")], "nope")
    assert spool.pending("a", 10) == [(1, "l1"), (3, "l3")] and spool.depth("a") == 2
    spool.landed("a", 3)
    assert spool.pending("a", 10) == [] and spool.depth("a") == 0
    assert spool.pending("b", 2) == [(1, "l1"), (2, "l2")] and spool.depth("b") == 3
    spool.append("l4")
    with pytest.raises(OverflowError, match="memory spool full"):
        spool.append("l5")
    spool.landed("b", 4)
    spool.append("l5")
    assert spool.pending("a", 10) == [(4, "l4"), (5, "l5")]
