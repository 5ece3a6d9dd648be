"""The back-channel: the platform acknowledges (受理) or reports handling done (处置完毕) for an incident.

`POST <path>` with a JSON body `{"incident_id": "…", "action": "ack" | "handled"}` (optional
`case_id`, `note`), signed by the platform the Standard Webhooks way with the back-channel secret
(`webhook-id`, `webhook-timestamp` within 5 minutes, `webhook-signature`). Answers: 204 done,
200 a repeated webhook-id (already done), 400 malformed, 401 bad or stale signature, 404 the
incident is not open here, 413 body too large. Every refusal is counted by reason.
"""

from __future__ import annotations

import inspect
import json
import time
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from typing import Final

from aiohttp import web

from adapters.webhook.signing import SignatureError, verify

__all__ = ["DEFAULT_PATH", "Callback", "backchannel_routes"]

DEFAULT_PATH: Final = "/api/dispatch/v1/callbacks"
MAX_BODY: Final = 64 * 1024
MAX_IDS: Final = 10_000
"""webhook-ids remembered to answer a repeated callback without acting twice."""

Callback = Callable[[str], "bool | Awaitable[bool]"]
"""Called with the incident id; returns (or resolves to) False when the incident is not open here (404)."""


def backchannel_routes(
    secrets: Sequence[bytes],
    on_ack: Callback,
    on_handled: Callback,
    *,
    path: str = DEFAULT_PATH,
    clock: Callable[[], float] = time.time,
    counts: Counter[str] | None = None,
) -> list[web.RouteDef]:
    """The route that verifies a platform callback and calls `on_ack` or `on_handled`."""
    handler = _Handler(secrets, {"ack": on_ack, "handled": on_handled}, clock, counts)
    return [web.post(path, handler.handle)]


class _Handler:
    """Verify, parse, dedup, then act; count every outcome."""

    def __init__(
        self,
        secrets: Sequence[bytes],
        actions: dict[str, Callback],
        clock: Callable[[], float],
        counts: Counter[str] | None,
    ) -> None:
        self.secrets = list(secrets)
        self.actions = actions
        self.clock = clock
        self.counts: Counter[str] = counts if counts is not None else Counter()
        self.seen: OrderedDict[str, None] = OrderedDict()

    def refuse(self, status: int, reason: str, detail: str) -> web.Response:
        """A counted refusal."""
        self.counts[f"rejected_{reason}"] += 1
        return web.json_response({"error": detail, "reason": reason}, status=status)

    async def handle(self, request: web.Request) -> web.Response:
        """One callback."""
        checked = await self._checked(request)
        if isinstance(checked, web.Response):
            return checked
        msg_id, incident, action = checked
        if msg_id in self.seen:
            self.counts["duplicate"] += 1
            return web.json_response({"status": "duplicate"})
        done = self.actions[action](incident)
        if not (await done if inspect.isawaitable(done) else done):
            return self.refuse(404, "unknown_incident", f"incident {incident} is not open on this gateway")
        self.seen[msg_id] = None
        while len(self.seen) > MAX_IDS:
            self.seen.popitem(last=False)
        self.counts[action] += 1
        return web.Response(status=204)

    async def _checked(self, request: web.Request) -> web.Response | tuple[str, str, str]:
        """(webhook-id, incident, action) of a well-formed, correctly signed request, or the refusal."""
        body = await request.content.read(MAX_BODY + 1)
        if len(body) > MAX_BODY:
            return self.refuse(413, "oversize", f"body over {MAX_BODY} bytes")
        try:
            msg_id = verify(self.secrets, {k.lower(): v for k, v in request.headers.items()}, body, self.clock())
        except SignatureError as exc:
            return self.refuse(401, "signature", str(exc))
        try:
            incident, action = _parse(body, self.actions)
        except ValueError as exc:
            return self.refuse(400, "malformed", str(exc))
        return msg_id, incident, action


def _parse(body: bytes, actions: dict[str, Callback]) -> tuple[str, str]:
    """The incident id and action of a callback body; ValueError naming what is wrong."""
    try:
        data = json.loads(body)
    except ValueError:
        raise ValueError("body is not JSON") from None
    if not isinstance(data, dict):
        raise ValueError("body must be a JSON object")
    incident, action = data.get("incident_id"), data.get("action")
    if not isinstance(incident, str) or not incident or len(incident) > 128:
        raise ValueError("incident_id must be a non-empty string of at most 128 characters")
    if action not in actions:
        raise ValueError(f"action must be one of {sorted(actions)}, not {action!r}")
    return incident, str(action)
