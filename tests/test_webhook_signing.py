"""Standard Webhooks signing, checked against the official `standardwebhooks` package."""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from adapters.webhook import SignatureError, new_secret, parse_secret, sign, signed_headers, verify
from tests.test_webhook_kit import OLD_SECRET, SECRET

BODY = '{"specversion":"1.0","data":{"名称":"工地扬尘"}}'.encode()


def test_signature_equals_the_reference_library() -> None:
    stamp = 1_700_000_000
    ours = sign(parse_secret(SECRET), "abc-1", stamp, BODY)
    theirs = Webhook(SECRET).sign("abc-1", datetime.fromtimestamp(stamp, tz=UTC), BODY.decode())
    assert ours == theirs


def test_reference_library_verifies_our_headers_with_either_key_during_rotation() -> None:
    headers = signed_headers([parse_secret(SECRET), parse_secret(OLD_SECRET)], "abc-1", int(time.time()), BODY)
    assert len(headers["webhook-signature"].split(" ")) == 2
    for secret in (SECRET, OLD_SECRET):
        assert Webhook(secret).verify(BODY, headers) == {"specversion": "1.0", "data": {"名称": "工地扬尘"}}
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(BODY, headers)


def test_our_verify_accepts_the_reference_librarys_signature() -> None:
    now = time.time()
    signature = Webhook(SECRET).sign("cb-9", datetime.fromtimestamp(int(now), tz=UTC), BODY.decode())
    headers = {"webhook-id": "cb-9", "webhook-timestamp": str(int(now)), "webhook-signature": signature}
    assert verify([parse_secret(SECRET)], headers, BODY, now) == "cb-9"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"webhook-signature": ""}, "missing"),
        ({"webhook-timestamp": "yesterday"}, "not an integer"),
        ({"webhook-timestamp": "1699999000"}, "stale or replayed"),
        ({"webhook-timestamp": "1700000400"}, "stale or replayed"),
        ({"webhook-id": "other"}, "no v1 signature matches"),
        ({"webhook-signature": "v2,AAAA"}, "no v1 signature matches"),
    ],
)
def test_verify_refuses_with_a_reason(change: dict[str, str], message: str) -> None:
    headers = signed_headers([parse_secret(SECRET)], "abc-1", 1_700_000_000, BODY)
    headers.update(change)
    with pytest.raises(SignatureError, match=message):
        verify([parse_secret(SECRET)], headers, BODY, 1_700_000_000.0)


def test_a_tampered_body_fails() -> None:
    headers = signed_headers([parse_secret(SECRET)], "abc-1", 1_700_000_000, BODY)
    with pytest.raises(SignatureError):
        verify([parse_secret(SECRET)], headers, BODY + b" ", 1_700_000_000.0)


def test_secret_forms() -> None:
    raw = b"k" * 24
    encoded = base64.b64encode(raw).decode()
    assert parse_secret("whsec_" + encoded) == parse_secret(encoded) == raw
    assert parse_secret("whsec_" + encoded.rstrip("=")) == raw
    assert len(parse_secret(new_secret())) == 32
    with pytest.raises(ValueError, match="base64"):
        parse_secret("whsec_not base64!")
    with pytest.raises(ValueError, match="at least 16"):
        parse_secret("whsec_" + base64.b64encode(b"short").decode())
