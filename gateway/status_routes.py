"""The status API's routes: JSON views, snapshots, the live event stream (SSE) and /metrics.

Bad query parameters get a 400 with a sentence saying what is wrong, counted by reason in
`Status.api_rejects` (exported as gridedge_api_rejected_total).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from adapters.camera.avi import MEDIA_TYPE
from gateway.clips import clip_ref_of
from gateway.status import Status
from gateway.status_hub import StatusEvent
from gateway.status_incidents import STATES, IncidentFilter

__all__ = ["STATUS", "status_routes"]

STATUS = web.AppKey("status", Status)
REGISTRY = web.AppKey("metrics", CollectorRegistry)
HEARTBEAT_S = 15.0
"""A comment line this often keeps proxies and the browser from closing an idle stream."""
RETRY_MS = 2000
MAX_LIMIT = 5000
_DIGITS = re.compile(r"^\d{0,15}$")
_CODE = re.compile(r"^[0-9A-Za-z_.-]{0,64}$")


def bad_request(request: web.Request, reason: str, text: str) -> web.HTTPBadRequest:
    """A 400 with a clear message, counted by reason."""
    request.app[STATUS].api_rejects[reason] += 1
    return web.HTTPBadRequest(text=text + "\n")


def _filter(request: web.Request) -> IncidentFilter:
    """The incident filter from the query string, or a 400 saying which parameter is wrong."""
    query = request.query
    grid, event_type, state = query.get("grid", ""), query.get("type", ""), query.get("state", "all")
    if not _DIGITS.match(grid):
        raise bad_request(request, "bad_grid", f"grid must be a grid-code prefix of up to 15 digits, got {grid!r}")
    if not _CODE.match(event_type):
        raise bad_request(request, "bad_type", f"type must be an event type code, got {event_type!r}")
    if state not in STATES:
        raise bad_request(request, "bad_state", f"state must be one of open, resolved, all; got {state!r}")
    limit_text = query.get("limit", "500")
    if not limit_text.isdigit() or not 1 <= int(limit_text) <= MAX_LIMIT:
        text = f"limit must be a whole number from 1 to {MAX_LIMIT}, got {limit_text!r}"
        raise bad_request(request, "bad_limit", text)
    return IncidentFilter(grid, event_type, state, int(limit_text))


async def _incidents(request: web.Request) -> web.Response:
    status = request.app[STATUS]
    return _json({"incidents": status.incidents(_filter(request))})


async def _incident_snapshot(request: web.Request) -> web.Response:
    status = request.app[STATUS]
    jpeg = await asyncio.to_thread(status.incident_snapshot, request.match_info["id"])
    if jpeg is None:
        raise web.HTTPNotFound(text="no snapshot for this incident\n")
    return _jpeg(jpeg)


async def _devices(request: web.Request) -> web.Response:
    devices = request.app[STATUS].devices()
    return _json({"devices": devices, "silent": sum(1 for d in devices if d["silent"])})


async def _device_rules(request: web.Request) -> web.Response:
    device_id = request.match_info["id"]
    rules = request.app[STATUS].effective_rules(device_id)
    if rules is None:
        request.app[STATUS].api_rejects["unknown_device"] += 1
        raise web.HTTPNotFound(text=f"device {device_id!r} is not in the registry\n")
    return _json({"device": device_id, "rules": rules})


async def _cameras(request: web.Request) -> web.Response:
    status = request.app[STATUS]
    return _json({"cameras": status.camera_list(), "clips": status.clip_stats()})


async def _clip(request: web.Request) -> web.FileResponse:
    """A pre/post clip (MJPEG AVI; Range requests work), found through the clip store's index only."""
    status = request.app[STATUS]
    camera, name = request.match_info["camera"], request.match_info["name"]
    ref = clip_ref_of(camera, name)
    if ref is None:
        raise bad_request(request, "bad_clip", "a clip is /api/v1/clips/<camera id>/<trigger time in ns>.avi")
    clip = status.clip(ref)
    if clip is None:
        status.api_rejects["unknown_clip"] += 1
        raise web.HTTPNotFound(text=f"no clip {ref!r} here (never recorded, or evicted by the byte budget)\n")
    headers = {"Content-Type": MEDIA_TYPE, "Cache-Control": "no-store"}
    return web.FileResponse(clip.path, headers=headers)


async def _camera_snapshot(request: web.Request) -> web.Response:
    camera = request.match_info["id"]
    jpeg = request.app[STATUS].camera_frame(camera)
    if jpeg is None:
        raise web.HTTPNotFound(text=f"no frame of camera {camera!r} yet\n")
    return _jpeg(jpeg)


async def _grid(request: web.Request) -> web.Response:
    return _json(request.app[STATUS].grid())


async def _metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[REGISTRY])
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def _last_event_id(request: web.Request) -> int | None:
    text = request.headers.get("Last-Event-ID", "") or request.query.get("last_event_id", "")
    if not text:
        return None
    if not text.isdigit():
        raise bad_request(request, "bad_last_event_id", f"Last-Event-ID must be a whole number, got {text!r}")
    return int(text)


async def _events(request: web.Request) -> web.StreamResponse:
    """The live stream: `incident`, `device` and `camera` events, a comment as heartbeat."""
    status = request.app[STATUS]
    last_id = _last_event_id(request)
    joined = status.hub.subscribe(last_id)
    if joined is None:
        raise web.HTTPServiceUnavailable(text="too many live streams open\n")
    client, missed = joined
    response = web.StreamResponse(headers={
        "Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-store", "X-Accel-Buffering": "no",
    })  # fmt: skip
    try:
        await response.prepare(request)
        await response.write(f"retry: {RETRY_MS}\n: connected\n\n".encode())
        sent = last_id or 0
        for old in missed:
            await response.write(old.encode())
            sent = old.seq
        while True:
            try:
                event: StatusEvent | None = await asyncio.wait_for(client.queue.get(), HEARTBEAT_S)
            except TimeoutError:
                await response.write(b": ping\n\n")
                continue
            if event is None:
                break
            if event.seq > sent:
                await response.write(event.encode())
                sent = event.seq
    except (ConnectionResetError, ConnectionError):
        pass
    finally:
        status.hub.unsubscribe(client)
    with contextlib.suppress(ConnectionError):
        await response.write_eof()
    return response


def _json(data: dict[str, Any]) -> web.Response:
    return web.json_response(data, headers={"Cache-Control": "no-store"})


def _jpeg(jpeg: bytes) -> web.Response:
    return web.Response(body=jpeg, content_type="image/jpeg", headers={"Cache-Control": "no-store"})


def status_routes() -> list[web.RouteDef]:
    """The token-protected routes of the status API (the app holds STATUS and REGISTRY)."""
    return [
        web.get("/metrics", _metrics),
        web.get("/api/v1/incidents", _incidents),
        web.get("/api/v1/incidents/{id}/snapshot.jpg", _incident_snapshot),
        web.get("/api/v1/devices", _devices),
        web.get("/api/v1/devices/{id}/rules", _device_rules),
        web.get("/api/v1/cameras", _cameras),
        web.get("/api/v1/cameras/{id}/snapshot.jpg", _camera_snapshot),
        web.get("/api/v1/clips/{camera}/{name}", _clip),
        web.get("/api/v1/grid", _grid),
        web.get("/api/v1/events", _events),
    ]
