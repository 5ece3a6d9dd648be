"""The reference receiver: verifies Standard Webhooks signatures, drops duplicates, prints or stores events.

For demos, for the platform's developers to test against, and for our own tests. Verification uses
the official `standardwebhooks` package (so it checks our signing independently), which also refuses
a timestamp more than 5 minutes from now: a replayed request is rejected. Duplicates (the same
`webhook-id` again, as retries after a lost response produce) are answered 200 and not stored again.
`python edge.py receive --port 9000 --secret whsec_… [--store events.jsonl]` runs it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
from collections import Counter, OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final, TextIO

from aiohttp import web
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

__all__ = ["Receiver", "run_receiver", "serve"]

log = logging.getLogger("gridedge.receiver")

MAX_BODY: Final = 4 * 1024 * 1024
"""Largest request accepted (an event with an inline snapshot is well under 1 MiB)."""
MAX_IDS: Final = 100_000
"""webhook-ids remembered for dedup; the oldest are forgotten beyond this."""


class Receiver:
    """The receiving side: verify, dedup by webhook-id, keep (in memory and in a JSONL file) and print."""

    def __init__(
        self,
        secrets: Sequence[str],
        store: Path | None = None,
        *,
        out: TextIO | None = None,
        path: str = "/",
        max_ids: int = MAX_IDS,
    ) -> None:
        if not secrets:
            raise ValueError("the receiver needs at least one secret")
        self.hooks = [Webhook(secret) for secret in secrets]
        self.store = store
        self.out = out
        self.path = path
        self.max_ids = max_ids
        self.events: list[dict[str, Any]] = []
        """Accepted events (parsed CloudEvents), in arrival order; only the newest `max_ids` are kept."""
        self.counts: Counter[str] = Counter()
        """accepted, duplicate, bad_signature, stale, malformed."""
        self._seen: OrderedDict[str, None] = OrderedDict()
        if store is not None and store.exists():
            self._load(store)

    def _load(self, store: Path) -> None:
        """Remember the ids already stored, so a restarted receiver still drops duplicates."""
        for line in store.read_text(encoding="utf-8").splitlines():
            try:
                self._remember(str(json.loads(line)["webhook_id"]))
            except (ValueError, KeyError, TypeError):
                self.counts["store_unreadable_lines"] += 1

    def _remember(self, msg_id: str) -> None:
        """Add an id to the bounded dedup set."""
        self._seen[msg_id] = None
        while len(self._seen) > self.max_ids:
            self._seen.popitem(last=False)

    def app(self) -> web.Application:
        """An aiohttp application serving the receiver at `path`."""
        application = web.Application(client_max_size=MAX_BODY)
        application.router.add_post(self.path, self.handle)
        return application

    async def handle(self, request: web.Request) -> web.Response:
        """Verify one request and keep its event; 401 bad signature or stale, 400 not a CloudEvent."""
        body = await request.read()
        headers = {k.lower(): v for k, v in request.headers.items()}
        problem = self._verify(body, headers)
        if problem:
            return web.json_response({"error": problem}, status=401)
        try:
            event = _cloud_event(body, headers["webhook-id"])
        except ValueError as exc:
            self.counts["malformed"] += 1
            return web.json_response({"error": str(exc)}, status=400)
        msg_id = headers["webhook-id"]
        if msg_id in self._seen:
            self.counts["duplicate"] += 1
            return web.json_response({"status": "duplicate"})
        self._remember(msg_id)
        self._keep(msg_id, event)
        return web.json_response({"status": "accepted"})

    def _verify(self, body: bytes, headers: dict[str, str]) -> str:
        """Check the signature with each secret; return the problem, or "" when one verifies."""
        problem = ""
        for hook in self.hooks:
            try:
                hook.verify(body, headers, json_parse=False)
                return ""
            except WebhookVerificationError as exc:
                problem = str(exc)
            except (ValueError, UnicodeDecodeError) as exc:  # a malformed signature header or body
                problem = f"malformed signature headers or body: {exc}"
        self.counts["stale" if "timestamp" in problem.lower() else "bad_signature"] += 1
        return problem

    def _keep(self, msg_id: str, event: dict[str, Any]) -> None:
        """Count, remember, store and print an accepted event."""
        self.counts["accepted"] += 1
        self.events.append(event)
        if len(self.events) > self.max_ids:
            del self.events[: len(self.events) - self.max_ids]
        if self.store is not None:
            line = json.dumps({"webhook_id": msg_id, "event": event}, ensure_ascii=False)
            with self.store.open("a", encoding="utf-8") as handle:
                handle.write(line + "\n")
        if self.out is not None:
            data = event.get("data") or {}
            print(
                f"{event.get('time')} {event.get('type')} {msg_id} grid={event.get('subject', '-')} "
                f"severity={data.get('severity')} routing={(data.get('routing') or {}).get('level')}",
                file=self.out,
                flush=True,
            )


def _cloud_event(body: bytes, msg_id: str) -> dict[str, Any]:
    """The request body as a CloudEvent whose id is the webhook-id; ValueError otherwise."""
    try:
        event = json.loads(body)
    except ValueError:
        raise ValueError("body is not JSON") from None
    if not isinstance(event, dict) or event.get("specversion") != "1.0":
        raise ValueError("body is not a CloudEvents 1.0 structured event")
    missing = [key for key in ("id", "source", "type") if not event.get(key)]
    if missing:
        raise ValueError(f"CloudEvent lacks {', '.join(missing)}")
    if event["id"] != msg_id:
        raise ValueError("CloudEvent id differs from webhook-id")
    return event


async def serve(receiver: Receiver, port: int, host: str = "127.0.0.1") -> web.AppRunner:
    """Start the receiver on host:port; the caller cleans the runner up."""
    runner = web.AppRunner(receiver.app(), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner


def run_receiver(port: int, secret: str, store: Path | None = None, host: str = "127.0.0.1") -> None:
    """Run the reference receiver until interrupted, printing each event (and appending it to `store`)."""

    async def main() -> None:
        receiver = Receiver([secret], store, out=sys.stdout)
        runner = await serve(receiver, port, host)
        print(f"receiving signed webhooks on http://{host}:{port}/ (Ctrl-C stops)", flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
