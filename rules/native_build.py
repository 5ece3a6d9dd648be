"""Builds the rules' compiled hot path with mypyc (`python -m rules.native_build`); see `rules.native`.

Needs gcc, the Python headers and requirements-build.txt; `--status` tells whether the build runs.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any, cast

from rules.native import COMPILED, ROOT, check, native_dir, stamp


def build(directory: Path | None = None) -> Path:
    """Compile `COMPILED` with mypyc into `directory` (replaced whole, only once the build succeeded)."""
    from mypyc.build import mypycify  # build-time tools (requirements-build.txt), not needed to run
    from setuptools import setup

    target = directory or native_dir()
    work = Path(tempfile.mkdtemp(prefix="gridedge-native-"))
    here = Path.cwd()
    try:
        os.chdir(ROOT)  # mypyc names modules by their paths from here and reads pyproject.toml's mypy settings
        os.environ["MYPY_CACHE_DIR"] = str(work / "mypy-cache")  # leave no cache in an installed tree
        modules = mypycify(list(COMPILED), opt_level="3", multi_file=True, target_dir=str(work / "c"))
        out = work / "lib"
        args = ["-q", "build_ext", "--build-lib", str(out), "--build-temp", str(work / "o"), "--parallel", "2"]
        extensions = cast("list[Any]", modules)  # mypyc's and setuptools' stubs name different Extension classes
        setup(name="gridedge-rules-native", script_args=args, ext_modules=extensions, packages=[], py_modules=[])
        (out / "STAMP").write_text(stamp() + "\n", encoding="utf-8")
        shutil.rmtree(target, ignore_errors=True)
        shutil.move(str(out), str(target))
    finally:
        os.chdir(here)
        shutil.rmtree(work, ignore_errors=True)
    return target


def main(argv: list[str]) -> int:
    """Build, or with --status only tell which rules code runs."""
    if argv[:1] == ["--status"]:
        print(f"rules: {check(native_dir()).reason}")
        return 0
    if argv:
        print("usage: python -m rules.native_build [--status]", file=sys.stderr)
        return 2
    print(f"rules: compiled {len(COMPILED)} modules into {build()}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
