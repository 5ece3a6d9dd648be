"""The delivery worker: sends outbox events to each endpoint as signed webhooks, in order per incident.

One lane per endpoint. A lane keeps up to `concurrency` incidents in flight, never two events of one
incident (the store hands out an incident's lowest pending revision only, and none of a busy one).
After a failure the endpoint backs off (capped exponential with jitter, or `Retry-After` on 429/503)
and then probes with one event at a time until a 2xx, when every waiting event becomes due at once.
With a `fallback_url`, a failed primary attempt is repeated on the fallback at once, and the lane
stays on the fallback for `failback_after` seconds. 410 disables the endpoint (its events stay
pending); other 4xx dead-letter the event; `max_age` dead-letters an event too old to be worth sending.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable

import aiohttp

from adapters.webhook.cloudevent import CONTENT_TYPE
from adapters.webhook.retry import Attempt, Outcome, backoff, classify, parse_retry_after
from adapters.webhook.settings import DispatchSettings, EndpointSettings
from adapters.webhook.signing import signed_headers
from adapters.webhook.stats import DispatchStats
from adapters.webhook.store import DeliveryStore, Pending

__all__ = ["USER_AGENT", "DeliveryWorker"]

log = logging.getLogger("gridedge.webhook")

Clock = Callable[[], int]
"""Wall-clock time in ns (webhook-timestamp, retry times, ages)."""
Sleep = Callable[[float], Awaitable[None]]

NS = 1_000_000_000
USER_AGENT = "GridEdge-webhook/1"
MAX_RESPONSE_READ = 64 * 1024
"""Bytes of a response body read (so the connection can be reused); the rest is ignored."""
DISABLED_RECHECK = 5.0
"""Seconds between looks at whether an operator enabled a disabled endpoint again."""
LOG_EVERY = 20
"""While an endpoint keeps failing, one failure in this many is logged (the first always is)."""


class DeliveryWorker:
    """Deliver a `DeliveryStore`'s events to every configured endpoint until stopped."""

    def __init__(
        self,
        store: DeliveryStore,
        settings: DispatchSettings,
        *,
        session: aiohttp.ClientSession | None = None,
        clock: Clock = time.time_ns,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
        stats: DispatchStats | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self.sleep = sleep
        self.rng = rng or random.Random()
        self.stats = stats or DispatchStats()
        self._session = session
        self._lanes: list[_Lane] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    def wake(self) -> None:
        """New events were committed: look at the outbox now (call from the worker's loop)."""
        for lane in self._lanes:
            lane.wake.set()

    def wake_threadsafe(self) -> None:
        """`wake` from another thread (the journal's committer, after a commit that enqueued events)."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self.wake)

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until `stop` is set; in-flight requests get up to their timeout to finish."""
        self._loop = asyncio.get_running_loop()
        session = self._session or _new_session(self.settings)
        try:
            reasons = self.store.register({e.name: e.url for e in self.settings.endpoints})
            self._lanes = [_Lane(self, e, session, reasons.get(e.name)) for e in self.settings.endpoints]
            await asyncio.gather(*(lane.run(stop) for lane in self._lanes))
        finally:
            if self._session is None:
                await session.close()


def _new_session(settings: DispatchSettings) -> aiohttp.ClientSession:
    """A session with enough connections for every lane's concurrency."""
    limit = sum(e.concurrency for e in settings.endpoints) * 2
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=limit))


async def _read_bounded(resp: aiohttp.ClientResponse) -> None:
    """Read the response to its end (a cut-off body raises ClientPayloadError), at most MAX_RESPONSE_READ bytes."""
    total = 0
    async for chunk in resp.content.iter_any():
        total += len(chunk)
        if total > MAX_RESPONSE_READ:
            return  # the status is what counts; an endless body just is not reused


class _Lane:
    """Delivery to one endpoint: its in-flight incidents, failure streak, hold and failover state."""

    def __init__(
        self, worker: DeliveryWorker, endpoint: EndpointSettings, session: aiohttp.ClientSession, disabled: str | None
    ) -> None:
        self.w = worker
        self.ep = endpoint
        self.session = session
        self.disabled = disabled
        self.busy: dict[str, asyncio.Task[None]] = {}
        self.streak = 0
        self.hold_until = 0
        self.fallback_until = 0
        self.wake = asyncio.Event()
        if disabled is not None:
            worker.stats.disabled[endpoint.name] = disabled
            log.error("webhook endpoint %s is DISABLED (%s); its events wait in the outbox", endpoint.name, disabled)

    async def run(self, stop: asyncio.Event) -> None:
        """Fill free slots with due events, then wait for a completion, a wake-up or the next look."""
        try:
            while not stop.is_set():
                timeout = self._fill()
                await self._nap(stop, timeout)
        finally:
            await self._drain()

    def _fill(self) -> float:
        """Start deliveries of due events; return how long to wait before looking again."""
        w, name = self.w, self.ep.name
        now = w.clock()
        if self.disabled is not None:
            self.disabled = w.store.disabled_reason(name)
            if self.disabled is not None:
                return DISABLED_RECHECK
            w.stats.disabled.pop(name, None)
            log.warning("webhook endpoint %s enabled again", name)
        if now < self.hold_until:
            return (self.hold_until - now) / NS
        w.store.admit(name, self.ep.accepts)
        room = (1 if self.streak else self.ep.concurrency) - len(self.busy)
        if room > 0:
            for item in w.store.due(name, now, room, self.busy.keys()):
                self.busy[item.incident] = asyncio.create_task(self._deliver(item))
        return w.settings.poll_interval

    async def _nap(self, stop: asyncio.Event, seconds: float) -> None:
        """Wait for a delivery to finish, a wake-up, stop, or `seconds` (through the injectable sleep)."""
        waits = [asyncio.create_task(self.wake.wait()), asyncio.create_task(stop.wait())]
        sleeper = asyncio.ensure_future(self.w.sleep(seconds))
        try:
            await asyncio.wait([*self.busy.values(), *waits, sleeper], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (*waits, sleeper):
                task.cancel()
            self.wake.clear()

    async def _drain(self) -> None:
        """On stop, let in-flight requests finish (up to the request timeout), then cancel the rest."""
        tasks = list(self.busy.values())
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=self.ep.timeout)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)

    # -- one event ---------------------------------------------------------------------------------

    async def _deliver(self, item: Pending) -> None:
        """Send one event (and on a primary failure, once more to the fallback), then record the outcome."""
        try:
            await self._deliver_one(item)
        except Exception as exc:  # a store or encoding fault must not kill the lane: retry the event later
            log.exception("delivering %s to %s failed unexpectedly", item.event_id, self.ep.name)
            retry = self.w.settings.retry
            delay = backoff(item.attempts + 1, retry.first_delay, retry.max_delay, self.w.rng)
            self.w.store.failed(self.ep.name, item.seq, self.w.clock() + int(delay * NS), f"failed: internal {exc!r}")
        finally:
            self.busy.pop(item.incident, None)

    async def _deliver_one(self, item: Pending) -> None:
        """One delivery round of one event."""
        w, ep = self.w, self.ep
        now = w.clock()
        if now - item.created_ns > w.settings.max_age * NS:
            self._dead(item, "max_age", now)
            return
        on_fallback = ep.fallback_url is not None and now < self.fallback_until
        attempt = await self._send(item, ep.fallback_url if on_fallback and ep.fallback_url else ep.url)
        outcome = classify(attempt)
        if outcome in (Outcome.UNAVAILABLE, Outcome.FAILED) and ep.fallback_url and not on_fallback:
            self._count(attempt)
            w.stats.retries[ep.name] += 1
            switched_at = w.clock()
            if switched_at >= self.fallback_until:  # not already switched by a concurrent delivery
                w.stats.failovers += 1
                log.warning("webhook %s: primary failed (%s); switching to the fallback", ep.name, attempt.label)
            self.fallback_until = switched_at + int(ep.failback_after * NS)
            attempt, on_fallback = await self._send(item, ep.fallback_url), True
            outcome = classify(attempt)
        self._settle(item, attempt, outcome, on_fallback)

    async def _send(self, item: Pending, url: str) -> Attempt:
        """POST the signed body once; never raises for network trouble (it becomes the Attempt's error)."""
        timestamp = self.w.clock() // NS
        headers = {"content-type": CONTENT_TYPE, "user-agent": USER_AGENT}
        headers.update(signed_headers(self.ep.secrets, item.event_id, timestamp, item.body))
        timeout = aiohttp.ClientTimeout(total=self.ep.timeout, sock_connect=self.ep.connect_timeout)
        started = time.perf_counter()
        try:
            async with self.session.post(
                url, data=item.body, headers=headers, allow_redirects=False, timeout=timeout
            ) as resp:
                await _read_bounded(resp)
                retry_after = None
                if resp.status in (429, 503):
                    retry_after = parse_retry_after(resp.headers.get("Retry-After"), float(timestamp))
                return Attempt(resp.status, "", retry_after, time.perf_counter() - started)
        except TimeoutError:
            return Attempt(None, f"timeout: no complete response within {self.ep.timeout:g} s")
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError) as exc:
            return Attempt(None, f"disconnected: {exc}")
        except aiohttp.ClientConnectionError as exc:
            return Attempt(None, f"connection: {exc}")
        except aiohttp.ClientError as exc:
            return Attempt(None, f"client: {exc}")

    def _count(self, attempt: Attempt) -> None:
        """Count an attempt by endpoint and by status."""
        stats = self.w.stats
        stats.attempts[self.ep.name] += 1
        stats.by_status[attempt.label] += 1
        if attempt.status is not None and 200 <= attempt.status < 300:
            stats.request_latency.append(attempt.seconds)
        else:
            stats.last_error = f"{self.ep.name}: {attempt.label} {attempt.error}".strip()

    def _settle(self, item: Pending, attempt: Attempt, outcome: Outcome, on_fallback: bool) -> None:
        """Record what the (last) attempt means for the event and the endpoint."""
        w, name = self.w, self.ep.name
        now = w.clock()
        self._count(attempt)
        if outcome is Outcome.DELIVERED:
            w.store.delivered(name, item.seq)
            w.stats.delivered[name] += 1
            w.stats.latency.append((now - item.created_ns) / NS)
            if self.streak:
                log.warning("webhook %s recovered after %d failed attempts", name, self.streak)
                self.streak = 0
                w.store.expedite(name, now)
        elif outcome is Outcome.GONE:
            self._disable(item, f"410 Gone from {self.ep.fallback_url if on_fallback else self.ep.url}", now)
        elif outcome is Outcome.REJECTED:
            self._dead(item, f"http_{attempt.status}", now)
        else:
            self._retry(item, attempt, outcome, on_fallback, now)

    def _retry(self, item: Pending, attempt: Attempt, outcome: Outcome, on_fallback: bool, now: int) -> None:
        """Back the endpoint off (Retry-After when given) and schedule the event again."""
        w, retry = self.w, self.w.settings.retry
        if now >= self.hold_until:  # concurrent failures of one round count once
            self.streak += 1
        if attempt.retry_after is not None:
            wait = min(attempt.retry_after, retry.max_retry_after)
        else:
            wait = backoff(self.streak, retry.first_delay, retry.max_delay, w.rng)
        self.hold_until = max(self.hold_until, now + int(wait * NS))
        if on_fallback:
            self.fallback_until = 0  # the next probe tries the primary again
        row_wait = wait
        if outcome is Outcome.FAILED:  # this event failed: it also backs off on its own attempts
            row_wait = max(wait, backoff(item.attempts + 1, retry.first_delay, retry.max_delay, w.rng))
        kind = "unavailable" if outcome is Outcome.UNAVAILABLE else "failed"
        w.store.failed(self.ep.name, item.seq, now + int(row_wait * NS), f"{kind}: {attempt.label} {attempt.error}")
        w.stats.retries[self.ep.name] += 1
        if self.streak == 1 or self.streak % LOG_EVERY == 0:
            log.warning(
                "webhook %s: %s for %s (failure %d in a row); retrying in %.1f s",
                self.ep.name, attempt.label, item.event_id, self.streak, wait,
            )  # fmt: skip

    def _dead(self, item: Pending, reason: str, now: int) -> None:
        """Move the event to the dead-letter table for this endpoint."""
        self.w.store.dead(self.ep.name, item.seq, reason, now)
        self.w.stats.dead[reason] += 1
        log.warning("webhook %s: %s dead-lettered (%s); replay with `edge.py deadletter replay`", self.ep.name,
                    item.event_id, reason)  # fmt: skip

    def _disable(self, item: Pending, reason: str, now: int) -> None:
        """410: stop this endpoint, loudly; the event stays pending for when it is enabled again."""
        self.w.store.disable(self.ep.name, reason)
        self.w.store.failed(self.ep.name, item.seq, now, f"gone: {reason}")
        self.disabled = reason
        self.w.stats.disabled[self.ep.name] = reason
        log.error(
            "WEBHOOK ENDPOINT %s DISABLED: %s. Nothing more is sent to it; its events wait in the outbox. "
            "Fix the URL in the config (a changed URL re-enables it) or enable it again.",
            self.ep.name, reason,
        )  # fmt: skip
