"""What a write response means: landed, retry later, a configuration problem, or bad points to isolate."""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum

__all__ = ["MAX_ERROR_TEXT", "Outcome", "Response", "classify", "error_text", "reject_reason"]

MAX_ERROR_TEXT = 1000
"""Server error texts are cut to this many characters before they are logged or dead-lettered."""

_CONFIG_TEXTS = ("database not found", "retention policy not found", "bucket not found", "organization not found")
_REASONS = (
    ("field type conflict", "type_conflict"),
    ("unable to parse", "parse_error"),
    ("beyond retention", "beyond_retention"),
    ("max-values-per-tag", "limit_exceeded"),
    ("max-series-per-database", "limit_exceeded"),
)


class Outcome(StrEnum):
    """What to do with a batch after one attempt."""

    LANDED = "landed"
    THROTTLED = "throttled"
    """429/503: wait `Retry-After` (or back off) and send the same batch again."""
    TRANSIENT = "transient"
    """Other 5xx, 408, connection errors and timeouts: back off and send the same batch again."""
    CONFIG = "config"
    """401/403/404, a redirect, or a missing database/bucket/retention policy: retry slowly and log loudly."""
    BAD_DATA = "bad_data"
    """Any other 4xx: some point in the batch is refused; split to isolate it."""


@dataclass(frozen=True, slots=True)
class Response:
    """The parts of an HTTP response the writer acts on."""

    status: int
    text: str = ""
    retry_after: str | None = None


def error_text(body: str) -> str:
    """The server's error message: `error` (v1) or `message` (v2) of a JSON body, else the body, cut short."""
    text = body.strip()
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        for key in ("error", "message"):
            if isinstance(parsed.get(key), str):
                text = parsed[key]
                break
    return text[:MAX_ERROR_TEXT]


def classify(response: Response) -> Outcome:
    """Map a status (and, for "not found" errors, the text) to what the writer does next."""
    status = response.status
    lowered = response.text.lower()
    if 200 <= status < 300:
        return Outcome.LANDED
    if status == 0:
        return Outcome.TRANSIENT
    if status < 200 or 300 <= status < 400 or status in {401, 403, 404} or _names_missing_target(lowered):
        return Outcome.CONFIG
    if status in {429, 503}:
        return Outcome.THROTTLED
    if 400 <= status < 500 and status != 408:
        return Outcome.BAD_DATA
    return Outcome.TRANSIENT


def _names_missing_target(lowered: str) -> bool:
    """Whether an error text says the database, retention policy, bucket or org does not exist."""
    return any(text in lowered for text in _CONFIG_TEXTS)


def reject_reason(response: Response) -> str:
    """A short, countable reason for points the server refused (`type_conflict`, `parse_error`, `http_400`…)."""
    lowered = response.text.lower()
    for needle, reason in _REASONS:
        if needle in lowered:
            return reason
    if response.status == 413:
        return "too_large"
    return f"http_{response.status}"
