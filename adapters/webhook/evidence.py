"""Evidence in an event: a detection snapshot travels inline as a size-bounded base64 JPEG; a clip by reference.

Inline, not a URL back to the gateway: an edge box usually sits behind NAT or a mobile link the
platform cannot reach, and a URL would expire while an event waits out an outage. A snapshot over
the bound, missing, or not a JPEG travels as its reference only, with the reason, and is counted.
A pre/post clip (hundreds of KiB to MiB) never goes inline: its entry says where the gateway API
serves it, its state (recording, ready, missing) and, once written, its duration and size.
"""

from __future__ import annotations

import base64
from collections import Counter
from collections.abc import Callable
from typing import Final

__all__ = ["DEFAULT_MAX_INLINE", "ClipLookup", "evidence_entries"]

DEFAULT_MAX_INLINE: Final = 256 * 1024
"""Bytes of JPEG carried inline (base64 adds a third); larger snapshots go as a reference only."""

_JPEG_MAGIC: Final = b"\xff\xd8\xff"
SnapshotLookup = Callable[[str], bytes | None]
ClipLookup = Callable[[str], dict[str, object]]
"""A clip reference's entry fields: state, media_type, url, and duration_s/frames/size once written."""


def evidence_entries(
    refs: list[str],
    lookup: SnapshotLookup,
    max_inline: int,
    problems: Counter[str] | None = None,
    clips: ClipLookup | None = None,
) -> list[dict[str, object]]:
    """One entry per evidence reference: snapshots inline when present, a JPEG and within the bound; clips by URL."""
    out: list[dict[str, object]] = []
    for ref in refs:
        if ref.startswith("clip:"):
            clip: dict[str, object] = {"ref": ref, "kind": "clip", **(clips(ref) if clips else {"state": "missing"})}
            if clip.get("state") == "missing" and problems is not None:
                problems["evidence_clip_missing"] += 1
            out.append(clip)
            continue
        if not ref.startswith("snapshot:"):
            out.append({"ref": ref, "kind": "reference"})
            continue
        entry: dict[str, object] = {"ref": ref, "kind": "snapshot", "media_type": "image/jpeg"}
        omitted = _inline(entry, lookup(ref), max_inline)
        if omitted:
            entry["omitted"] = omitted
            if problems is not None:
                problems[f"evidence_{omitted}"] += 1
        out.append(entry)
    return out


def _inline(entry: dict[str, object], jpeg: bytes | None, max_inline: int) -> str:
    """Put the JPEG into the entry; return why it was left out ("" when it went in)."""
    if jpeg is None:
        return "missing"
    entry["size"] = len(jpeg)
    if not jpeg.startswith(_JPEG_MAGIC):
        return "not_jpeg"
    if len(jpeg) > max_inline:
        return "oversize"
    entry["data_base64"] = base64.b64encode(jpeg).decode("ascii")
    return ""
