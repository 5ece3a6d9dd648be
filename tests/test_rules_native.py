"""The compiled rules (mypyc, rules/native.py): used only when current, and identical to the interpreted ones."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import rules.engine
from rules.native import PURE_ENV, STATUS, check, stamp

REPO = Path(__file__).resolve().parent.parent
REQUIRED = os.environ.get("GRIDEDGE_REQUIRE_NATIVE", "") not in ("", "0")
"""scripts/test sets this: the suite must run the compiled rules, not quietly fall back."""


def copy_sources(root: Path) -> None:
    """The stamped source trees under `root`."""
    for tree in ("rules", "gateway/model"):
        shutil.copytree(REPO / tree, root / tree, ignore=shutil.ignore_patterns("__pycache__"))


def test_a_build_runs_only_while_its_stamp_matches_the_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PURE_ENV, raising=False)
    root, build = tmp_path / "src", tmp_path / "native"
    copy_sources(root)
    build.mkdir()
    assert not check(build, root).compiled and "no compiled build" in check(build, root).reason

    (build / "STAMP").write_text(stamp(root) + "\n")
    assert check(build, root).compiled

    window = root / "rules" / "windows.py"
    window.write_text(window.read_text() + "\n# edited\n")
    assert not check(build, root).compiled and "stale" in check(build, root).reason
    (build / "STAMP").write_text(stamp(root))
    model = root / "gateway" / "model" / "__init__.py"  # the types compiled code relies on count too
    model.write_text(model.read_text() + "\n")
    assert "stale" in check(build, root).reason

    (build / "STAMP").write_text(stamp(root))
    monkeypatch.setenv(PURE_ENV, "1")
    assert not check(build, root).compiled and PURE_ENV in check(build, root).reason


def test_the_suite_runs_the_compiled_rules() -> None:
    if not REQUIRED and not STATUS.compiled:
        pytest.skip(f"rules: {STATUS.reason} (scripts/test requires the compiled build)")
    assert STATUS.compiled, STATUS.reason
    assert Path(rules.engine.__file__ or "").suffix == ".so"


def scenario(env: dict[str, str]) -> list[str]:
    """tests/rules_scenario.py's output lines in a fresh interpreter."""
    done = subprocess.run(
        [sys.executable, "-m", "tests.rules_scenario"], cwd=REPO, env={**os.environ, **env},
        capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    return done.stdout.splitlines()


def test_compiled_and_interpreted_engines_give_the_same_events_and_state() -> None:
    if not REQUIRED and not STATUS.compiled:
        pytest.skip(f"rules: {STATUS.reason}")
    compiled, interpreted = scenario({PURE_ENV: "0"}), scenario({PURE_ENV: "1"})
    assert compiled[0] != interpreted[0] and interpreted[0] == '{"engine": "engine.py"}'
    assert len(compiled) > 500 and any('"rule": "camera-flame"' in x for x in compiled)
    assert {x.split(" ", 2)[1] for x in compiled[1:]} >= {"snapshot", "counters"}
    for n, (a, b) in enumerate(zip(compiled[1:], interpreted[1:], strict=True), start=2):
        assert a == b, f"line {n} differs"
