"""Frame detectors: pure, numpy/OpenCV only; frames in, `Detection`s out. See docs/detectors.md.

One module per detector registers itself in `detectors.registry`; `DetectorSet` runs a camera's set.
"""

from detectors.base import Detector, DetectorSettings
from detectors.frame import Frame
from detectors.pipeline import DetectorSet
from detectors.registry import build, load_all, parse_settings, settings_union
from detectors.scene import Scene, Zone

__all__ = [
    "Detector",
    "DetectorSet",
    "DetectorSettings",
    "Frame",
    "Scene",
    "Zone",
    "build",
    "load_all",
    "parse_settings",
    "settings_union",
]
