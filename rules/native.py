"""The rules' hot path compiled with mypyc, used only when the build matches the sources it came from.

`python -m rules.native_build` compiles `COMPILED` (the engine, bindings, lifecycle, windows,
levels, expressions and per-kind state: the code every reading runs through) into `.native/`
beside the checkout; it needs gcc, the Python headers, mypy and setuptools (`scripts/setup` does
it). The same source runs interpreted when there is no build: `rules` and `rules.states` put the
build's directories in front of their package paths only when its stamp matches the current
sources, so an edited checkout never runs stale compiled code. `GRIDEDGE_PURE_PYTHON=1` forces the
interpreted modules; `python -m rules.native_build --status` tells which one runs and why.
"""

from __future__ import annotations

import hashlib
import os
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMPILED = (
    "rules/windows.py", "rules/levels.py", "rules/expr.py", "rules/lifecycle.py", "rules/binding.py",
    "rules/engine.py", "rules/states/base.py", "rules/states/threshold.py", "rules/states/window.py",
    "rules/states/rate.py", "rules/states/state.py", "rules/states/silence.py", "rules/states/expression.py",
    "rules/states/detection.py",
)  # fmt: skip
"""The compiled modules. None may hold a pydantic model or a class that interpreted code subclasses."""
STAMPED = ("rules", "gateway/model")
"""Source trees whose every .py file the stamp covers: the compiled modules and the types they rely on."""
PURE_ENV = "GRIDEDGE_PURE_PYTHON"
DIR_ENV = "GRIDEDGE_NATIVE_DIR"


@dataclass(frozen=True)
class Status:
    """Whether the compiled build runs, where it lives, and why (or why not)."""

    compiled: bool
    directory: Path
    reason: str


def native_dir() -> Path:
    """Where the build lives: $GRIDEDGE_NATIVE_DIR, or .native/ beside the checkout."""
    return Path(os.environ.get(DIR_ENV) or ROOT / ".native")


def stamp(root: Path = ROOT) -> str:
    """A digest of the interpreter's ABI and every source file the build depends on."""
    digest = hashlib.sha256(f"{sys.implementation.cache_tag} {sysconfig.get_config_var('EXT_SUFFIX')}".encode())
    for tree in STAMPED:
        for path in sorted((root / tree).rglob("*.py")):
            digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def check(directory: Path, root: Path = ROOT) -> Status:
    """Whether the build in `directory` may run with the sources under `root`."""
    if os.environ.get(PURE_ENV, "") not in ("", "0"):
        return Status(False, directory, f"interpreted: {PURE_ENV} is set")
    try:
        built = (directory / "STAMP").read_text(encoding="utf-8").strip()
    except OSError:
        return Status(False, directory, "interpreted: no compiled build (scripts/setup makes one)")
    if built != stamp(root):
        return Status(False, directory, "interpreted: the compiled build is stale (python -m rules.native_build)")
    return Status(True, directory, f"compiled with mypyc ({directory})")


STATUS = check(native_dir())


def package_path(package: str, path: list[str]) -> list[str]:
    """A package's `__path__` with the build's directory for it in front, when the build may run."""
    if not STATUS.compiled:
        return path
    if str(STATUS.directory) not in sys.path:
        sys.path.append(str(STATUS.directory))  # mypyc's shared library is a top-level module there
    return [str(STATUS.directory.joinpath(*package.split("."))), *path]
