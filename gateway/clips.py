"""Clip references as the API and dispatch show them: `clip:<camera>/<ts_ns>` ↔ `/api/v1/clips/<camera>/<ts_ns>.avi`.

The clips themselves are kept by the camera supervisor's `ClipStore`; this module only maps references
to URLs and describes them for an event's evidence. A URL is parsed strictly and resolved through the
store's index, so a request never builds a file path.
"""

from __future__ import annotations

import re
from typing import Final

from adapters.camera import ClipStore
from adapters.camera.avi import MEDIA_TYPE

__all__ = ["CLIP_PREFIX", "clip_evidence", "clip_ref_of", "clip_url"]

CLIP_PREFIX: Final = "clip:"
_REF: Final = re.compile(r"^clip:([A-Za-z0-9_.-]{1,64})/(\d{1,20})$")
_CAMERA: Final = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_FILE: Final = re.compile(r"^(\d{1,20})\.avi$")


def clip_url(ref: str) -> str | None:
    """The API path that serves a clip reference (relative to the gateway's API base URL)."""
    match = _REF.match(ref)
    return f"/api/v1/clips/{match.group(1)}/{match.group(2)}.avi" if match else None


def clip_ref_of(camera: str, name: str) -> str | None:
    """The reference a `/api/v1/clips/{camera}/{name}` request asks for; None when it is not a clip name."""
    match = _FILE.match(name)
    if match is None or _CAMERA.match(camera) is None:
        return None
    return f"{CLIP_PREFIX}{camera}/{match.group(1)}"


def clip_evidence(store: ClipStore | None, ref: str, base_url: str = "") -> dict[str, object]:
    """An evidence entry's fields for a clip: where to fetch it, its state, and duration and size once written.

    `base_url` (the API's `public_url`) makes the URL absolute for a platform that hears many gateways.
    """
    path = clip_url(ref)
    entry: dict[str, object] = {"media_type": MEDIA_TYPE, "url": base_url + path if path else None, "state": "missing"}
    if store is None:
        return entry
    clip = store.get(ref)
    if clip is None:
        entry["state"] = store.state(ref)
        return entry
    entry.update(state="ready", duration_s=clip.duration_s, frames=clip.frames, size=clip.size)
    return entry
