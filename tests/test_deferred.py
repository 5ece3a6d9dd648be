"""Deferred imports: the gateway process maps OpenCV only when something uses it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

SCRIPT = """
import sys
from pathlib import Path
from gateway.deferred import defer, loaded
assert defer("cv2") and not defer("cv2")           # a second call finds it deferred already
assert not defer("no_such_module_here")
from gateway.config.loader import load_config
load_config(Path("config/edge.yaml"))               # every detector's settings are in the schema
import detectors.flame as flame
assert not loaded("cv2"), "loading the config imported OpenCV"
assert flame.cv2.__name__ == "cv2" and not loaded("cv2")
import numpy as np
frame = np.zeros((8, 8, 3), np.uint8)
assert flame.cv2.cvtColor(frame, flame.cv2.COLOR_BGR2GRAY).shape == (8, 8)   # first use imports it
assert loaded("cv2")
import cv2
assert cv2 is sys.modules["cv2"] and flame.cv2.resize is cv2.resize
print("ok")
"""


def test_opencv_is_imported_on_first_use_only() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], check=False, cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
