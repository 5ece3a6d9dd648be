"""gateway/logs.py: the redaction filter masks every kind of secret, per-component levels, JSON lines."""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.config.secret import Secret, loaded_secrets
from gateway.logs import REDACT, RedactFilter, Redactor, install_redaction, parse_levels, redact, setup_logging

pytestmark = pytest.mark.usefixtures("isolated_secrets")
"""Each test sees only the secrets it loads (another test may have loaded any string as one)."""


@pytest.fixture
def root_restored() -> Iterator[None]:
    """setup_logging replaces the root's handlers and hooks: put pytest's back afterwards."""
    import sys

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    hooks = sys.excepthook, threading.excepthook
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    sys.excepthook, threading.excepthook = hooks
    for name in ("gridedge.mqtt", "gridedge.journal", "amqtt"):
        logging.getLogger(name).setLevel(logging.NOTSET)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("rtsp://user:p%40ss@host/x", "rtsp://user:***@host/x"),
        ("open rtsp://admin:p@ss#w%rd@192.0.2.10/x failed", "open rtsp://admin:***@192.0.2.10/x failed"),
        ("mqtt://edge:hunter@127.0.0.1:1883 down", "mqtt://edge:***@127.0.0.1:1883 down"),
        ("https://tok3n@127.0.0.1/x", "https://***@127.0.0.1/x"),
        ("key whsec_c2VjcmV0LWtleS0xMjM0NTY3OA== loaded", "key whsec_*** loaded"),
        ("Authorization: Bearer abc.DEF-123_x", "Authorization: Bearer ***"),
        ("headers {'Authorization': 'Token xyz123 more'}", "headers {'Authorization': '***'}"),
        ("GET /query?u=edge&p=pa55word&q=x", "GET /query?u=edge&p=***&q=x"),
        ("connect password=hunter2 user=x", "connect password=*** user=x"),
        ("GRIDEDGE_INFLUX__TOKEN=abcdef0123 set", "GRIDEDGE_INFLUX__TOKEN=*** set"),
        ('{"token": "abcdef", "n": 1}', '{"token": "***", "n": 1}'),
        ("api_key='k-123456'", "api_key='***'"),
    ],
)
def test_credential_patterns_are_masked(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "password: given without username; set both",  # a config problem, not a value
        "token: env:API_TOKEN",  # where a secret comes from is safe and useful
        "password: '***'",
        "mqtt://127.0.0.1:1883 connected, 3 tokens in the bucket",
        "GET /query?db=gridedge&q=SELECT+1",
        "influx_write_latency_ms=12.5 rejected_malformed=3",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert redact(text) == text


def test_every_loaded_secret_is_masked_in_each_spelling() -> None:
    secret = Secret("Zq9@x#y%w-loaded", "env", "env:X")
    assert "Zq9@x#y%w-loaded" in loaded_secrets()
    text = "raw Zq9@x#y%w-loaded enc Zq9%40x%23y%25w-loaded end"
    assert redact(text) == "raw *** enc *** end"
    assert str(secret) == "***"


def test_short_secrets_are_not_masked_everywhere() -> None:
    Secret("ab")
    assert redact("a tab and a crab") == "a tab and a crab"


def test_extra_secrets_of_a_redactor() -> None:
    redactor = Redactor(extra=["only-this-one"])
    assert redactor("x only-this-one y") == "x *** y"


def make_logger(name: str, fmt: logging.Formatter) -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(fmt)
    handler.addFilter(RedactFilter())
    logger = logging.getLogger(name)
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    return logger, stream


def test_filter_masks_arguments_and_tracebacks() -> None:
    Secret("tb-secret-991")
    logger, stream = make_logger("test.redact.tb", logging.Formatter("%(message)s"))
    logger.info("connecting to %s with %s", "rtsp://u:pw1234@h/x", "tb-secret-991")
    try:
        raise RuntimeError("auth failed for password=tb-secret-991")
    except RuntimeError:
        logger.exception("writer failed")
    logger.warning("bad args %d", "not-a-number tb-secret-991")
    out = stream.getvalue()
    assert "tb-secret-991" not in out and "pw1234" not in out
    assert "connecting to rtsp://u:***@h/x with ***" in out
    assert "RuntimeError: auth failed for password=***" in out
    assert "bad args %d (unformattable arguments ('not-a-number ***',))" in out


def test_json_lines_are_redacted_and_parse() -> None:
    from gateway.logs import JsonFormatter

    Secret("json-secret-77")
    logger, stream = make_logger("test.redact.json", JsonFormatter())
    try:
        raise ValueError("json-secret-77")
    except ValueError:
        logger.exception("boom json-secret-77")
    entry = json.loads(stream.getvalue())
    assert entry["msg"] == "boom ***" and entry["logger"] == "test.redact.json"
    assert "ValueError: ***" in entry["exc"] and "json-secret-77" not in stream.getvalue()


def test_parse_levels_counts_bad_entries() -> None:
    levels, problems = parse_levels(" gridedge.mqtt=DEBUG, gridedge.journal=warning,,bad,x=loud,=info ")
    assert levels == {"gridedge.mqtt": "debug", "gridedge.journal": "warning"}
    assert len(problems) == 3
    assert all("GRIDEDGE_LOG_LEVELS" in p and "LOGGER=LEVEL" in p for p in problems)


@pytest.mark.usefixtures("root_restored")
def test_setup_logging_levels_from_the_environment_and_redaction_on_the_handler() -> None:
    stream = io.StringIO()
    env = {"GRIDEDGE_LOG_LEVELS": "gridedge.mqtt=debug,gridedge.journal=error,amqtt=info,nope"}
    problems = setup_logging("info", "text", env=env, stream=stream)
    assert len(problems) == 1
    handlers = logging.getLogger().handlers
    assert [REDACT in h.filters for h in handlers] == [True]
    logging.getLogger("gridedge.mqtt").debug("mqtt detail password=zz-secret")
    logging.getLogger("gridedge.journal").warning("journal warning hidden")
    logging.getLogger("gridedge.other").debug("other debug hidden")
    logging.getLogger("amqtt").info("amqtt info shown")
    out = stream.getvalue()
    assert "mqtt detail password=***" in out and "zz-secret" not in out
    assert "hidden" not in out and "amqtt info shown" in out
    assert "'nope' ignored" in out


@pytest.mark.usefixtures("root_restored")
def test_uncaught_thread_exceptions_are_logged_redacted() -> None:
    stream = io.StringIO()
    setup_logging("info", "json", levels={}, stream=stream)
    Secret("thread-secret-55")

    def fail() -> None:
        raise RuntimeError("thread-secret-55 leaked?")

    thread = threading.Thread(target=fail, name="worker-x")
    thread.start()
    thread.join()
    entry = json.loads(stream.getvalue().splitlines()[-1])
    assert entry["msg"] == "uncaught exception in thread worker-x"
    assert "RuntimeError: *** leaked?" in entry["exc"]


def test_install_redaction_reaches_handlers_added_later(tmp_path: Path) -> None:
    logger = logging.getLogger("test.redact.later")
    logger.propagate = False
    handler = logging.FileHandler(tmp_path / "later.log")
    logger.handlers[:] = [handler]
    install_redaction(logger)
    install_redaction(logger)  # idempotent
    assert handler.filters == [REDACT]
    logger.warning("whsec_QUJDREVGR0hJSktMTU5PUA== in a later handler")
    handler.close()
    assert (tmp_path / "later.log").read_text() == "whsec_*** in a later handler\n"
