"""Logging set-up: human text or JSON lines, per-component levels, and a redaction filter on every handler.

No secret reaches a log: every handler carries `RedactFilter`, which masks the values of every loaded
`Secret` (in each spelling a URL may give it), URL passwords (rtsp://user:***@host), Standard Webhooks
keys (whsec_***), bearer tokens, Authorization headers and password=/token=/secret= values.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Final, TextIO
from urllib.parse import quote, unquote

from gateway.config.secret import MASK, loaded_secrets, secrets_generation

__all__ = [
    "LEVELS_ENV",
    "JsonFormatter",
    "RedactFilter",
    "install_redaction",
    "parse_levels",
    "redact",
    "setup_logging",
]

QUIET = ("amqtt", "transitions", "aiohttp.access", "asyncio")
"""Third-party loggers kept at warning unless GRIDEDGE_LOG_LEVELS names them."""

LEVELS_ENV: Final = "GRIDEDGE_LOG_LEVELS"
"""Per-component levels, e.g. "gridedge.mqtt=debug,gridedge.journal=warning"."""

LEVELS: Final = ("debug", "info", "warning", "error", "critical")
MIN_SECRET: Final = 4
"""Shorter secret values are not masked literally: masking "ab" everywhere would wreck the log."""

TEXT_FORMAT: Final = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"

_URL_USERINFO: Final = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/\s]*)@")
"""URL user info, greedy up to the last '@' before a path or a space (so 'p@ss' unencoded is caught whole)."""
_WHSEC: Final = re.compile(r"\bwhsec_[A-Za-z0-9+/=_-]+")
_BEARER: Final = re.compile(r"(?i)\b(?P<word>bearer)\s+[A-Za-z0-9._~+/=-]{4,}")
_QUERY_P: Final = re.compile(r"(?P<key>[?&](?:p|u_p|sig|signature|auth)=)[^&\s#\"']+")
"""InfluxDB 1.x takes its password as `?p=`; signed URLs carry `sig=`."""
_KEYS: Final = (
    r"[\w.-]*?(?:password|passwd|pwd|passphrase|token|secret|api_?key|apikey|access_?key|private_?key"
    r"|authorization|credentials?)"
)
_KEY_VALUE: Final = re.compile(
    rf"""(?ix)(?P<key>\b{_KEYS})(?P<sep>["']?\s*[=:]\s*)
    (?:(?P<q>["'])(?P<quoted>[^"'\n]*)(?P=q) | (?P<bare>[^\s&"',;)}}\]]+))"""
)
_SAFE_VALUES: Final = ("env:", "file:", MASK)
"""Values that only name where a secret comes from (or are masked already): safe, and useful to see."""


def _forms(secret: str) -> set[str]:
    """A secret as written, percent-decoded and percent-encoded: each is how a library may print it."""
    decoded = unquote(secret)
    return {form for form in (secret, decoded, quote(decoded, safe=""), quote(decoded)) if len(form) >= MIN_SECRET}


def _literal_pattern(secrets: Iterable[str]) -> re.Pattern[str] | None:
    """One alternation of every spelling of every secret, longest first so a longer one is masked whole."""
    forms: set[str] = set()
    for secret in secrets:
        forms |= _forms(secret)
    if not forms:
        return None
    return re.compile("|".join(re.escape(form) for form in sorted(forms, key=len, reverse=True)))


def _mask_userinfo(match: re.Match[str]) -> str:
    """Keep the user name, mask the password: rtsp://user:***@host (no user name: ***@host)."""
    user, colon, _ = match["userinfo"].partition(":")
    return f"{match['scheme']}{user}:{MASK}@" if colon else f"{match['scheme']}{MASK}@"


def _mask_key_value(match: re.Match[str]) -> str:
    """password=x, token: "x", 'Authorization': 'Token x' -> value masked; "password: given…" kept (not a value)."""
    value = match["quoted"] if match["q"] else match["bare"]
    if value is None or value.startswith(_SAFE_VALUES) or (":" in match["sep"] and not match["q"]):
        return match[0]
    quote_char = match["q"] or ""
    return f"{match['key']}{match['sep']}{quote_char}{MASK}{quote_char}"


def _mask_patterns(text: str) -> str:
    """Mask what looks like a credential whatever its value: URL passwords, whsec_ keys, tokens, key=value."""
    text = _URL_USERINFO.sub(_mask_userinfo, text)
    text = _WHSEC.sub(f"whsec_{MASK}", text)
    text = _BEARER.sub(lambda m: f"{m['word']} {MASK}", text)
    text = _QUERY_P.sub(lambda m: f"{m['key']}{MASK}", text)
    return _KEY_VALUE.sub(_mask_key_value, text)


class Redactor:
    """Masks known secret values (the loaded Secrets plus any given) and credential patterns in a text."""

    def __init__(self, extra: Iterable[str] = ()) -> None:
        self.extra = tuple(extra)
        self._generation = -1
        self._lock = threading.Lock()
        self._pattern: re.Pattern[str] | None = None

    def _literals(self) -> re.Pattern[str] | None:
        """The literal-secrets pattern, rebuilt when a new Secret was loaded since the last call."""
        generation = secrets_generation()
        if generation != self._generation:
            with self._lock:
                self._pattern = _literal_pattern((*loaded_secrets(), *self.extra))
                self._generation = generation
        return self._pattern

    def __call__(self, text: str) -> str:
        """The text with every secret masked."""
        pattern = self._literals()
        if pattern is not None:
            text = pattern.sub(MASK, text)
        return _mask_patterns(text)


_REDACTOR: Final = Redactor()


def redact(text: str) -> str:
    """The text with every loaded secret and every credential-looking value replaced by "***"."""
    return _REDACTOR(text)


class RedactFilter(logging.Filter):
    """A handler filter that renders each record's message (and traceback) once, redacted."""

    def __init__(self, redactor: Redactor = _REDACTOR) -> None:
        super().__init__()
        self.redactor = redactor
        self._formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact in place (idempotent, so a record passing several handlers is fine); never drops a record."""
        try:
            message = record.getMessage()
        except Exception:  # bad format arguments: show them, redacted, instead of failing the handler
            message = f"{record.msg} (unformattable arguments {record.args!r})"
        record.msg, record.args = self.redactor(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redactor(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redactor(record.stack_info)
        return True


REDACT: Final = RedactFilter()
"""The one filter every handler carries."""


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message (and the exception, if any)."""

    def format(self, record: logging.LogRecord) -> str:
        """Render a record as a JSON line."""
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info or record.exc_text:
            entry["exc"] = record.exc_text or self.formatException(record.exc_info)  # type: ignore[arg-type]
        if record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(entry, ensure_ascii=False)


def parse_levels(text: str) -> tuple[dict[str, str], list[str]]:
    """Parse "gridedge.mqtt=debug,gridedge.journal=warning": the levels, and a problem per bad entry."""
    levels: dict[str, str] = {}
    problems: list[str] = []
    for entry in filter(None, (part.strip() for part in text.split(","))):
        name, sep, level = (piece.strip() for piece in entry.partition("="))
        if not sep or not name or level.lower() not in LEVELS:
            problems.append(
                f"{LEVELS_ENV}: {entry!r} ignored; write LOGGER=LEVEL with LEVEL one of {', '.join(LEVELS)}"
            )
            continue
        levels[name] = level.lower()
    return levels, problems


def install_redaction(logger: logging.Logger | None = None) -> None:
    """Put the redaction filter on every handler of a logger (the root by default); call after adding one."""
    for handler in (logger or logging.getLogger()).handlers:
        if REDACT not in handler.filters:
            handler.addFilter(REDACT)


def _log_uncaught(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    """Uncaught exceptions go through logging (so through redaction), not straight to stderr."""
    logging.getLogger("gridedge").critical("uncaught exception", exc_info=(kind, exc, tb))


def _log_thread_uncaught(args: threading.ExceptHookArgs) -> None:
    """Same for threads."""
    if args.exc_value is not None:
        logging.getLogger("gridedge").critical(
            "uncaught exception in thread %s", getattr(args.thread, "name", "?"),
            exc_info=(args.exc_type, args.exc_value, args.exc_traceback),
        )


def setup_logging(
    level: str = "info", fmt: str = "text", levels: Mapping[str, str] | None = None,
    *, env: Mapping[str, str] | None = None, stream: TextIO | None = None,
) -> list[str]:
    """Log to stderr at `level` as text or JSON lines, redacted; `levels` (default: $GRIDEDGE_LOG_LEVELS)
    sets per-logger levels. Returns the problems of ignored level entries (also logged as warnings)."""
    problems: list[str] = []
    if levels is None:
        levels, problems = parse_levels((os.environ if env is None else env).get(LEVELS_ENV, ""))
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    install_redaction(root)
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
    for name, value in levels.items():
        logging.getLogger(name).setLevel(value.upper())
    sys.excepthook = _log_uncaught
    threading.excepthook = _log_thread_uncaught
    for problem in problems:
        logging.getLogger("gridedge").warning("%s", problem)
    return problems
