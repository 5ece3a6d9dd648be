"""Keep camera credentials out of every text that leaves a worker: logs, errors, status, FFmpeg's stderr."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final
from urllib.parse import parse_qsl, quote, unquote, urlsplit, urlunsplit

__all__ = ["MASK", "Redactor", "redact_url"]

MASK: Final = "***"

_USERINFO: Final = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)[^/\s]*@")
"""The user-info part of any URL in free text (greedy up to the last '@' before a path or a space)."""

_SECRET_KEYS: Final = re.compile(r"(?i)^(user(name)?|pass(word)?|pwd|token|auth|key|secret|sig(nature)?)$")
"""Query parameters that carry credentials on some cameras (e.g. ...?user=admin&password=...)."""


def redact_url(url: str) -> str:
    """The URL with its user info and credential query values replaced by "***" (for display)."""
    masked = _mask_userinfo(url)
    try:
        parts = urlsplit(masked)
    except ValueError:
        return masked
    if not parts.query:
        return masked
    query = "&".join(
        f"{key}={MASK if _SECRET_KEYS.match(key) else value}"
        for key, value in parse_qsl(parts.query, keep_blank_values=True)
    )
    return urlunsplit(parts._replace(query=query))


def _mask_userinfo(text: str) -> str:
    """Every URL user info in a text replaced by "***" (also when '@' or '#' were not percent-encoded)."""
    return _USERINFO.sub(lambda m: f"{m['scheme']}{MASK}@", text)


def _forms(secret: str) -> set[str]:
    """A secret as written in a URL, percent-decoded, and percent-encoded (each is how a library may print it)."""
    decoded = unquote(secret)
    return {form for form in (secret, decoded, quote(decoded, safe=""), quote(decoded)) if form}


def _url_secrets(url: str) -> set[str]:
    """Every credential carried by a URL: the user-info password and credential query values."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return set()
    found: set[str] = set()
    match = _USERINFO.match(url)
    userinfo = match.group(0)[len(match["scheme"]) : -1] if match else ""
    if ":" in userinfo:
        found |= _forms(userinfo.partition(":")[2])
    found |= {value for key, value in parse_qsl(parts.query) if _SECRET_KEYS.match(key) and value}
    return found


class Redactor:
    """Replaces the known secrets (in every spelling) and any URL user info in a text with "***"."""

    def __init__(self, urls: Iterable[str] = (), secrets: Iterable[str] = ()) -> None:
        found: set[str] = set()
        for url in urls:
            found |= _url_secrets(url)
        for secret in secrets:
            found |= _forms(secret)
        self._secrets = sorted(found, key=len, reverse=True)
        """Longest first, so a secret that contains another is masked whole."""

    def __call__(self, text: str) -> str:
        """The text with credentials masked."""
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        return _mask_userinfo(text)
