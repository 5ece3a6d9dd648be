"""Standard Webhooks signing: `webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256>`.

The signed content is `{id}.{timestamp}.{body}` (Standard Webhooks, "Signature scheme"); secrets are
written "whsec_<base64>". During a key rotation every signature is sent, space-separated, so receivers
holding either key verify.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from typing import Final

__all__ = [
    "MIN_SECRET_BYTES",
    "TOLERANCE_S",
    "SignatureError",
    "new_secret",
    "parse_secret",
    "sign",
    "signature_header",
    "signed_headers",
    "verify",
]

PREFIX: Final = "whsec_"
MIN_SECRET_BYTES: Final = 16
"""Shorter keys are refused (Standard Webhooks recommends 24 to 64 random bytes)."""
TOLERANCE_S: Final = 300
"""A request whose timestamp is further than this from now is refused (replay protection)."""


class SignatureError(ValueError):
    """A request whose signature headers are missing, malformed, stale or do not match."""


def parse_secret(text: str) -> bytes:
    """The raw HMAC key of "whsec_<base64>" (the prefix is optional, as in the reference libraries)."""
    body = text.strip().removeprefix(PREFIX)
    try:
        key = base64.b64decode(body + "=" * (-len(body) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError('webhook secret must be "whsec_" followed by base64; generate one with new_secret()') from None
    if len(key) < MIN_SECRET_BYTES:
        raise ValueError(f"webhook secret is {len(key)} bytes; use at least {MIN_SECRET_BYTES} random bytes")
    return key


def new_secret(nbytes: int = 32) -> str:
    """A fresh random secret in "whsec_<base64>" form."""
    import secrets

    return PREFIX + base64.b64encode(secrets.token_bytes(nbytes)).decode()


def sign(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """One "v1,<base64>" signature of `{id}.{timestamp}.{body}`."""
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def signature_header(keys: Iterable[bytes], msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value: one signature per key, space-separated."""
    return " ".join(sign(key, msg_id, timestamp, body) for key in keys)


def signed_headers(keys: Iterable[bytes], msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers for one request."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_header(keys, msg_id, timestamp, body),
    }


def verify(keys: Iterable[bytes], headers: Mapping[str, str], body: bytes, now_s: float) -> str:
    """Check the headers of a signed request against any of `keys`; return its `webhook-id` or raise SignatureError."""
    msg_id = headers.get("webhook-id", "")
    stamp = headers.get("webhook-timestamp", "")
    offered = headers.get("webhook-signature", "")
    if not (msg_id and stamp and offered):
        raise SignatureError("missing webhook-id, webhook-timestamp or webhook-signature header")
    try:
        timestamp = int(stamp)
    except ValueError:
        raise SignatureError("webhook-timestamp is not an integer number of seconds") from None
    if abs(now_s - timestamp) > TOLERANCE_S:
        raise SignatureError(f"webhook-timestamp is more than {TOLERANCE_S} s from now (stale or replayed)")
    candidates = [part.split(",", 1)[1] for part in offered.split() if part.startswith("v1,")]
    for key in keys:
        expected = sign(key, msg_id, timestamp, body).split(",", 1)[1]
        if any(hmac.compare_digest(expected, got) for got in candidates):
            return msg_id
    raise SignatureError("no v1 signature matches")
