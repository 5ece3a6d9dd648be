"""The InfluxDB writer: drains a spool in order, in batches, retrying until each point lands or is refused."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from types import TracebackType

import aiohttp

from adapters.influx.post import compress, post_body
from adapters.influx.response import Outcome, Response, classify, reject_reason
from adapters.influx.retry import Backoff, parse_retry_after
from adapters.influx.settings import InfluxSettings
from adapters.influx.spool import Row, Spool
from adapters.influx.stats import WriterStats

__all__ = ["InfluxWriter"]

log = logging.getLogger("gridedge.influx")

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

IDLE_POLL = 0.1
"""With `flush_interval` 0, how long an empty spool is left before it is asked again (a `notify` cuts it short)."""

DEPTH_REFRESH = 5.0
"""Seconds between asking the spool for its `depth` (a count may scan the journal) while a backlog drains."""

LOG_EVERY = 10
"""While an outage lasts, one retry in this many is logged at WARNING (the first always is)."""

MALFORMED_TEXT = "line is empty or holds a newline or text that is not UTF-8; it cannot be sent"


class _StoppedError(Exception):
    """Raised inside a delivery when `stop` was called during a retry wait; nothing is marked landed."""


class InfluxWriter:
    """Drain one sink of a `Spool` into InfluxDB (v1 or v2 write API) over aiohttp, in order, losing nothing.

    A batch is up to `batch_size` rows, sent as soon as that many are pending or `flush_interval` after
    the first of a partial batch was seen. 2xx marks it landed; 429/503 waits `Retry-After`; other
    5xx and connection errors back off (capped, jittered) and retry; 401/403/404 retry every
    `max_retry_delay` with a loud log; other 4xx split the batch in halves until the refused points
    are isolated, which go to `spool.rejected` with the server's text while the rest land.
    """

    def __init__(
        self,
        settings: InfluxSettings,
        spool: Spool,
        *,
        sink: str = "influx",
        stats: WriterStats | None = None,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        wall: Clock = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self.spool = spool
        self.sink = sink
        self.stats = stats if stats is not None else WriterStats()
        self._endpoint = settings.endpoint()
        self._clock = clock
        self._sleep = sleep
        self._wall = wall
        first = min(settings.retry_delay, settings.max_retry_delay)
        self._backoff = Backoff(first, settings.max_retry_delay, rng)
        self._session: aiohttp.ClientSession | None = None
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._partial_since: float | None = None
        self._failures = 0
        self._depth_at: float | None = None

    async def __aenter__(self) -> InfluxWriter:
        """Return self; the HTTP session opens on first use."""
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Close the HTTP session."""
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP session (the writer can be used again; a new one opens)."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    def notify(self) -> None:
        """Tell the writer new rows were committed, so an idle or partial-batch wait ends early."""
        self._wake.set()

    def stop(self) -> None:
        """Ask `run` to return soon; a batch in a retry wait is abandoned unmarked and resent next time."""
        self._stop.set()
        self._wake.set()

    @property
    def stopping(self) -> bool:
        """Whether `stop` was called."""
        return self._stop.is_set()

    async def run(self) -> None:
        """Drain the spool until `stop` is called; an unexpected error (say, of the spool) is logged and retried."""
        while not self.stopping:
            try:
                await self.step()
            except _StoppedError:
                break
            except Exception as err:  # the writer must outlive a journal hiccup; nothing was marked landed
                await self._survive(err)
        self.stats.state = "idle"

    async def _survive(self, err: Exception) -> None:
        """Log an unexpected error, show it in the stats, and back off before the next turn."""
        log.exception("InfluxDB writer error; retrying, nothing is marked landed")
        self.stats.last_error = f"{type(err).__name__}: {err}"[:1000]
        self.stats.state = "retrying"
        self.stats.retries += 1
        await self._pause(self._backoff.next(), self._stop)

    async def flush(self) -> None:
        """Deliver everything pending now, ignoring `flush_interval`; returns when none is left or `stop` is called."""
        while not self.stopping:
            rows = self._fetch()
            if not rows:
                return
            try:
                await self._deliver(rows)
            except _StoppedError:
                return

    async def step(self) -> None:
        """One turn of the loop: deliver a full (or overdue partial) batch, or wait for one."""
        rows = self._fetch()
        if not rows:
            self._partial_since = None
            await self._pause(self.settings.flush_interval or IDLE_POLL, self._wake)
            return
        if len(rows) < self.settings.batch_size:
            now = self._clock()
            if self._partial_since is None:
                self._partial_since = now
            wait = self._partial_since + self.settings.flush_interval - now
            if wait > 0:
                await self._pause(wait, self._wake)
                return
        self._partial_since = None
        await self._deliver(rows)

    def _fetch(self) -> list[Row]:
        """The next batch from the spool; updates the lag gauges."""
        rows = self.spool.pending(self.sink, self.settings.batch_size)
        self._measure_lag(rows)
        return rows

    def _measure_lag(self, rows: list[Row]) -> None:
        """Pending count (exact under a batch; the spool's optional `depth` now and then) and oldest point age."""
        now = self._clock()
        depth = getattr(self.spool, "depth", None)
        if len(rows) < self.settings.batch_size:
            self.stats.lag = len(rows)
        elif callable(depth) and (self._depth_at is None or now - self._depth_at >= DEPTH_REFRESH):
            self.stats.lag = int(depth(self.sink))
            self._depth_at = now
        else:
            self.stats.lag = max(self.stats.lag, len(rows))
        self.stats.lag_seconds = _age(rows[0][1], self._wall()) if rows else 0.0

    async def _deliver(self, rows: list[Row]) -> None:
        """Send a batch (rejecting unsendable lines first) and mark it landed up to its last rowid."""
        async with self._lock:
            self.stats.state = "writing"
            good, raw = self._screen(rows)
            if good:
                await self._send(good, raw)
            upto = rows[-1][0]
            self.spool.landed(self.sink, upto)
            self.stats.landed_upto = upto
            self.stats.state = "idle"

    def _screen(self, rows: list[Row]) -> tuple[list[Row], bytes]:
        """The rows that can be sent and their UTF-8 body; blank, multi-line or non-UTF-8 lines are rejected."""
        text = "\n".join(line for _, line in rows)
        if text.count("\n") == len(rows) - 1 and "\n\n" not in text and text[:1] != "\n" and text[-1:] != "\n":
            try:
                return rows, text.encode("utf-8")
            except UnicodeEncodeError:
                pass
        good = [row for row in rows if _sendable(row[1])]
        if len(good) < len(rows):
            self._reject([row for row in rows if not _sendable(row[1])], "malformed_line", MALFORMED_TEXT)
        return good, "\n".join(line for _, line in good).encode("utf-8")

    async def _send(self, rows: list[Row], raw: bytes | None = None) -> None:
        """Send rows until they land; on a 4xx split them to isolate refused points."""
        if raw is None:
            raw = "\n".join(line for _, line in rows).encode("utf-8")
        body = compress(raw, self.settings.gzip)
        while True:
            response = await self._attempt(body)
            outcome = classify(response)
            if outcome is Outcome.LANDED:
                self._landed(len(rows))
                return
            if outcome is Outcome.BAD_DATA:
                await self._split(rows, response)
                return
            await self._wait_retry(outcome, response)

    async def _attempt(self, body: bytes) -> Response:
        """One POST, timed; opens the session on first use."""
        if self._session is None:
            self._session = aiohttp.ClientSession()
        self.stats.requests += 1
        self.stats.bytes_sent += len(body)
        started = self._clock()
        response = await post_body(self._session, self._endpoint, body, self.settings.gzip, self.settings.timeout)
        if classify(response) is Outcome.LANDED:
            self.stats.latencies.append(self._clock() - started)
        return response

    def _landed(self, count: int) -> None:
        """Count a landed batch and end any outage."""
        self.stats.points_written += count
        self.stats.batches += 1
        self._backoff.reset()
        if self._failures:
            log.warning("InfluxDB writes resumed at %s after %d retries", self._endpoint.describe(), self._failures)
        self._failures = 0

    async def _split(self, rows: list[Row], response: Response) -> None:
        """Send each half on its own; a single refused line is rejected with the server's text."""
        if len(rows) == 1:
            self._reject(rows, reject_reason(response), response.text or f"HTTP {response.status}")
            return
        self.stats.splits += 1
        half = len(rows) // 2
        await self._send(rows[:half])
        self.spool.landed(self.sink, rows[half - 1][0])
        await self._send(rows[half:])

    def _reject(self, rows: list[Row], reason: str, text: str) -> None:
        """Hand refused rows to the spool's dead letters and count them by reason."""
        self.stats.rejects[reason] += len(rows)
        log.warning("InfluxDB refused %d point(s) (%s): %s", len(rows), reason, text)
        self.spool.rejected(self.sink, rows, text)

    async def _wait_retry(self, outcome: Outcome, response: Response) -> None:
        """Wait before sending the same batch again: Retry-After, backoff, or slowly for a config problem."""
        self._failures += 1
        self.stats.retries += 1
        what = response.text if response.status == 0 else f"HTTP {response.status}: {response.text}"
        self.stats.last_error = what
        delay = self._retry_delay(outcome, response)
        self._log_retry(outcome, what, delay)
        await self._pause(delay, self._stop)
        if self.stopping:
            raise _StoppedError

    def _retry_delay(self, outcome: Outcome, response: Response) -> float:
        """Seconds until the next attempt, and the state gauge that goes with it."""
        cap = self.settings.max_retry_delay
        if outcome is Outcome.CONFIG:
            self.stats.state = "config_error"
            return cap
        if outcome is Outcome.THROTTLED:
            self.stats.state = "throttled"
            server = parse_retry_after(response.retry_after, self._wall())
            if server is not None:
                return min(server, cap)
        else:
            self.stats.state = "retrying"
        return self._backoff.next()

    def _log_retry(self, outcome: Outcome, what: str, delay: float) -> None:
        """Log a config problem every time (retries are slow), an outage on its first and every LOG_EVERY-th retry."""
        where = self._endpoint.describe()
        if outcome is Outcome.CONFIG:
            log.error(
                "InfluxDB at %s refuses the gateway: %s. Check url, token or username/password, db/bucket and "
                "retention policy; retrying every %.3gs, nothing is dropped",
                where,
                what,
                delay,
            )
        elif self._failures == 1 or self._failures % LOG_EVERY == 0:
            log.warning(
                "InfluxDB write to %s failed (%s, retry %d, next in %.1fs): %s",
                where,
                outcome.value,
                self._failures,
                delay,
                what,
            )

    async def _pause(self, delay: float, event: asyncio.Event) -> None:
        """Sleep `delay` seconds on the injected sleep, ending early when `event` is set."""
        if delay <= 0:
            return
        if not event.is_set():
            sleeper = asyncio.ensure_future(self._sleep(delay))
            waiter = asyncio.ensure_future(event.wait())
            try:
                await asyncio.wait({sleeper, waiter}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                sleeper.cancel()
                waiter.cancel()
        if event is self._wake and not self.stopping:
            self._wake.clear()


def _age(line: str, now_epoch: float) -> float:
    """Seconds since a line's timestamp (its last space-separated token, in ns); 0 when it has none."""
    stamp = line.rpartition(" ")[2]
    if not stamp.isdigit():
        return 0.0
    return max(0.0, now_epoch - int(stamp) / 1e9)


def _sendable(line: str) -> bool:
    """Whether a line can go into a body: not blank, one line, valid UTF-8 text."""
    if not line.strip() or "\n" in line:
        return False
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
