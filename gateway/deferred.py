"""Keep a heavy library out of the gateway's process until something really uses it.

Detector modules import OpenCV at the top (their settings classes build the config schema), so
loading the config would map OpenCV's ~35 MB of libraries into the sensor process even on a box
with no camera (cameras decode and detect in worker processes of their own). `defer("cv2")` puts a
stand-in module under that name; the first attribute anyone reads from it imports the real module,
copies its namespace into the stand-in (modules that imported the stand-in then see the real
functions, with no indirection) and puts the real module back in `sys.modules`.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
import types
from typing import Any

_lock = threading.Lock()


class _Deferred(types.ModuleType):
    """A module whose first missing attribute imports the real one."""

    def __getattr__(self, name: str) -> Any:  # only called for names not (yet) in the module's dict
        return getattr(_load(self), name)


def _load(stand_in: _Deferred) -> types.ModuleType:
    """Import the real module once, fill the stand-in with its namespace and return it."""
    with _lock:
        if sys.modules.get(stand_in.__name__) is stand_in:
            del sys.modules[stand_in.__name__]
        real = importlib.import_module(stand_in.__name__)
        stand_in.__dict__.update(real.__dict__)
        return real


def defer(name: str) -> bool:
    """Defer the import of a top-level module; False when it is already imported or not installed."""
    if name in sys.modules or importlib.util.find_spec(name) is None:
        return False
    sys.modules[name] = _Deferred(name)
    return True


def loaded(name: str) -> bool:
    """Whether the real module is imported (not just deferred)."""
    module = sys.modules.get(name)
    return module is not None and not isinstance(module, _Deferred)
