"""Dispatch in the running gateway: incident events into the outbox (same transaction as the rule
state), the delivery worker, the back-channel callbacks, and detection snapshots kept as evidence."""

from __future__ import annotations

import asyncio
import functools
import logging
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import replace

from aiohttp import web

from adapters.camera import ClipStore
from adapters.webhook import DeliveryWorker, backchannel_routes
from gateway.clips import clip_evidence
from gateway.config.dispatch import DispatchConfig
from gateway.incidents import RuleRunner
from gateway.journal import Journal, Txn
from gateway.model import Detection, IncidentEvent
from gateway.outbox import Outbox, outbox_emitter, store_snapshot

log = logging.getLogger("gridedge.dispatch")

ROOM_MARGIN = 0.95
"""The journal holds commits once the outbox is this full, so a batch's events always fit under the limit."""


class Dispatch:
    """The outbox, its delivery worker and the platform's callbacks for one gateway."""

    def __init__(
        self,
        config: DispatchConfig,
        journal: Journal,
        runner: RuleRunner | None,
        gateway_id: str,
        clips: ClipStore | None = None,
        public_url: str | None = None,
    ) -> None:
        self.config = config
        self.journal = journal
        self.runner = runner
        clip_fields = functools.partial(clip_evidence, clips, base_url=public_url or "")
        self.options = replace(config.outbox_options(), clips=clip_fields)
        self._emit = outbox_emitter(gateway_id, self.options)
        self._emitted = False
        self.outbox = Outbox(journal.settings.path)
        self.worker = DeliveryWorker(self.outbox, config.settings())
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        if runner is not None:
            runner.emitters.append(self.emit)
        if self.options.full_policy == "block":
            journal.gates.append(self._room)
        journal.after_acks.append(self._wake)

    def emit(self, txn: Txn, events: Sequence[IncidentEvent]) -> None:
        """Store events in the outbox inside the group commit (an emitter of the RuleRunner)."""
        self._emit(txn, events)
        self._emitted = True

    def keep_snapshot(self, txn: Txn, detection: Detection) -> None:
        """Keep a detection's JPEG under the evidence reference its incident will carry."""
        if detection.snapshot:
            ref = f"snapshot:{detection.camera}/{detection.zone}/{detection.ts_ns}"
            store_snapshot(txn.conn, ref, detection.snapshot, txn.now_ns, self.options.max_snapshots)

    def _room(self, db: sqlite3.Connection) -> bool:
        try:
            row = db.execute("SELECT value FROM outbox_counters WHERE name = 'stored'").fetchone()
        except sqlite3.OperationalError:  # no outbox table yet: plenty of room
            return True
        stored = int(row[0]) if row else 0
        if stored >= self.options.max_events * ROOM_MARGIN:
            log.warning("outbox holds %d events (limit %d): intake paused until deliveries catch up",
                        stored, self.options.max_events)
            return False
        return True

    def _wake(self) -> None:
        if self._emitted:
            self._emitted = False
            self.worker.wake_threadsafe()

    def start(self) -> None:
        """Start delivering (in the running event loop)."""
        self._task = asyncio.create_task(self.worker.run(self._stop), name="dispatch")

    async def stop(self) -> None:
        """Stop delivering; in-flight requests get their timeout to finish."""
        self._stop.set()
        if self._task is not None:
            await self._task

    def routes(self) -> list[web.RouteDef]:
        """The signed back-channel routes (受理 ack, 处置完毕 handled), when a key is configured."""
        keys = self.config.backchannel_keys()
        return backchannel_routes(keys, self._on_ack, self._on_handled) if keys else []

    async def _on_ack(self, incident_id: str) -> bool:
        if self.runner is None:
            return False
        runner = self.runner
        found = await self._ask(lambda done: runner.ack(incident_id, done))
        if found:
            self.outbox.record_ack(incident_id, self.journal.clock())
        return found

    async def _on_handled(self, incident_id: str) -> bool:
        if self.runner is None:
            return False
        runner = self.runner
        return await self._ask(lambda done: runner.handled(incident_id, done))

    async def _ask(self, submit: Callable[[Callable[[bool], None]], None]) -> bool:
        """Run an engine call on the committer thread and wait for its answer."""
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[bool] = loop.create_future()

        def done(found: bool) -> None:
            loop.call_soon_threadsafe(answer.set_result, found)

        submit(done)
        return await answer
