"""The whole test run's logs hold none of the suite's test secrets.

`SecretAudit` is the session-level check wired in tests/conftest.py: it collects the captured log and
stderr sections of every test report, and at the end of the session greps them and every `*.log` file
under pytest's temp dir (gateway.log of tests/gateway_proc.py, the servers' logs) for `TEST_SECRETS`
and for unmasked whsec_ keys. The tests below check the audit itself and keep its list in sync with
the secrets the tests use.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import pytest

TESTS = Path(__file__).resolve().parent

_RAW_KEYS: Final = (
    b"gridedge-test-signing-key-32byte",  # test_dispatch_live SECRET
    b"platform-backchannel-key-32bytes",  # test_dispatch_live BACK
    b"gridedge-test-secret-0123456789a",  # test_webhook_kit SECRET
    b"gridedge-old-secret-0123456789ab",  # test_webhook_kit OLD_SECRET
    b"gridedge-new-secret-0123456789ab",  # test_webhook_worker NEW_SECRET
    b"edge:good-pw",  # test_influx_servers basic auth
)
TEST_SECRETS: Final = (
    "s3cret-token",  # InfluxDB v2 token (test_e2e, test_influx_*)
    "t0ken",  # API bearer token (test_dispatch_live)
    "api-test-token-7f3a",  # API bearer token (test_api)
    "p@ss#w%rd",  # RTSP password (test_camera_*), raw and percent-encoded
    "p%40ss%23w%25rd",
    "hunter2-Very$ecret",  # broker/InfluxDB secret (test_config_env)
    "good-pw",  # InfluxDB 1.x password (test_influx_servers)
    "pa:ss",  # InfluxDB 1.x password (test_influx_http)
    "pw-456",  # InfluxDB settings (test_influx_units)
    "tok-123",
    *(key.decode() for key in _RAW_KEYS),
    *(base64.b64encode(key).decode() for key in _RAW_KEYS),
)
"""The secrets the suite uses: none may appear in any log of the run."""

NOT_SECRETS: Final = frozenset({"wrong"})
"""Values the tests pass as a wrong guess: not secrets, and too common a word to grep logs for."""

WHSEC: Final = re.compile(r"whsec_[A-Za-z0-9+/]{8,}")
"""Any Standard Webhooks key written out (the redaction filter leaves only "whsec_***")."""

SECTIONS: Final = re.compile(r"^Captured (log|stderr) ")
"""Report sections that are logs: pytest's captured log records and captured stderr."""


@dataclass
class Leak:
    """Where a secret was found (the secret itself is shown only by its first characters)."""

    where: str
    line: int
    secret: str

    def __str__(self) -> str:
        return f"{self.where}:{self.line}: test secret {self.secret[:3]}… in a log"


def find_leaks(text: str, where: str, secrets: Iterable[str] = TEST_SECRETS) -> list[Leak]:
    """Every line of a text that holds a secret or an unmasked whsec_ key."""
    leaks: list[Leak] = []
    for number, line in enumerate(text.splitlines(), 1):
        leaks.extend(Leak(where, number, secret) for secret in secrets if secret in line)
        leaks.extend(Leak(where, number, match[0]) for match in WHSEC.finditer(line))
    return leaks


@dataclass
class SecretAudit:
    """Collects what the tests logged and greps it, with the run's log files, at the end."""

    sections: list[tuple[str, str]] = field(default_factory=list)
    secrets: tuple[str, ...] = TEST_SECRETS
    leaks: list[Leak] = field(default_factory=list)
    files_scanned: int = 0
    _seen: set[tuple[str, str]] = field(default_factory=set)

    def collect(self, report: pytest.TestReport) -> None:
        """Keep the log sections of one test report (a later phase's report repeats the earlier ones)."""
        for title, text in report.sections:
            entry = (f"{report.nodeid} [{title}]", text)
            if SECTIONS.match(title) and entry not in self._seen:
                self._seen.add(entry)
                self.sections.append(entry)

    def scan(self, basetemp: Path | None) -> list[Leak]:
        """Grep the collected sections and every *.log under basetemp."""
        for where, text in self.sections:
            self.leaks += find_leaks(text, where, self.secrets)
        for path in sorted(basetemp.rglob("*.log")) if basetemp is not None and basetemp.exists() else []:
            if "chromium-profile" in path.parts:
                continue  # the browser's own storage (leveldb *.log) holds the page's token by design
            self.files_scanned += 1
            self.leaks += find_leaks(path.read_text(errors="replace"), str(path), self.secrets)
        return self.leaks

    def finish(self, session: pytest.Session) -> None:
        """Scan at the end of the session; a leak fails the run."""
        factory = getattr(session.config, "_tmp_path_factory", None)
        basetemp = factory.getbasetemp() if factory is not None else None
        if self.scan(basetemp):
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def summary(self, write: object) -> None:
        """Report the audit in the terminal summary."""
        line = getattr(write, "write_line", print)
        if self.leaks:
            line(f"SECRET AUDIT FAILED: {len(self.leaks)} leak(s) of test secrets into logs")
            for leak in self.leaks[:50]:
                line(f"  {leak}")
        else:
            line(f"secret audit: {len(self.sections)} captured log sections, {self.files_scanned} log files, clean")


AUDIT: Final = SecretAudit()
"""The run's audit, fed and finished by the hooks in tests/conftest.py."""


def test_find_leaks_names_the_line_but_not_the_secret() -> None:
    text = "ok\nconnect rtsp://admin:p%40ss%23w%25rd@h\nkey whsec_QUJDREVGR0hJSktM\nwhsec_*** fine\n"
    leaks = find_leaks(text, "gateway.log")
    assert [(leak.line, str(leak)) for leak in leaks] == [
        (2, "gateway.log:2: test secret p%4… in a log"),
        (3, "gateway.log:3: test secret whs… in a log"),
    ]


def test_scan_reads_log_files_and_sections(tmp_path: Path) -> None:
    (tmp_path / "a" / "cfg").mkdir(parents=True)
    # Made-up secrets: this test's own log file must not trip the real audit of the run.
    (tmp_path / "a" / "cfg" / "gateway.log").write_text("fine\ntoken fake-one-1\n")
    (tmp_path / "a" / "cfg" / "notes.txt").write_text("fake-one-1")  # not a log
    sections = [("t::x [Captured log call]", "INFO fake-two-2")]
    audit = SecretAudit(sections=sections, secrets=("fake-one-1", "fake-two-2"))
    leaks = audit.scan(tmp_path)
    assert audit.files_scanned == 1
    assert sorted(str(leak) for leak in leaks) == [
        f"{tmp_path}/a/cfg/gateway.log:2: test secret fak… in a log",
        "t::x [Captured log call]:1: test secret fak… in a log",
    ]


def test_collect_keeps_only_log_and_stderr_sections() -> None:
    report = pytest.TestReport(
        "t.py::x", ("t.py", 1, "x"), {}, "passed", None, "call",
        sections=[("Captured log call", "a"), ("Captured stdout call", "b"), ("Captured stderr setup", "c")],
    )
    audit = SecretAudit()
    audit.collect(report)
    audit.collect(report)  # the teardown report repeats the call's sections
    assert [text for _, text in audit.sections] == ["a", "c"]


def test_the_audit_knows_every_secret_the_tests_use() -> None:
    """Secrets written in the tests (b64 keys, tokens, passwords) are all in TEST_SECRETS."""
    patterns = (
        r'b64encode\(b"([^"]{12,})"\)',
        r'"(?:API_TOKEN|TEST_TOKEN)": "([^"]+)"',
        r'\b(?:password|token)="([^"\s]+)"',
        r'^[A-Z_]*(?:PASSWORD|ENCODED|HUNTER|TOKEN|SECRET|KEY)\s*=\s*"([^"]+)"(?!\s*\+)',
    )
    found: set[str] = set()
    for path in TESTS.glob("*.py"):
        text = path.read_text(encoding="utf-8")
        for pattern in patterns:
            found |= set(re.findall(pattern, text, flags=re.MULTILINE))
    assert found, "the patterns found nothing: the tests changed how they write secrets"
    found -= NOT_SECRETS
    assert found <= set(TEST_SECRETS), f"add to TEST_SECRETS: {sorted(found - set(TEST_SECRETS))}"
