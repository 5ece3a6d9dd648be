"""Camera input: one supervised worker process per camera turns its stream into detections.

See docs/cameras.md. The gateway builds `CameraSpec`s (gateway/config/cameras.py does it from the
`cameras` config section) and runs a `CameraSupervisor`; OpenCV is only imported in the workers.
"""

from adapters.camera.clipstore import ClipStore, StoredClip
from adapters.camera.messages import ClipDone, Preview, Status
from adapters.camera.redact import Redactor, redact_url
from adapters.camera.spec import CameraSpec, ClipSpec, FrameProcessor, ProcessorFactory
from adapters.camera.status import CameraState, CameraStatus
from adapters.camera.supervisor import CameraSupervisor

__all__ = [
    "CameraSpec",
    "CameraState",
    "CameraStatus",
    "CameraSupervisor",
    "ClipDone",
    "ClipSpec",
    "ClipStore",
    "FrameProcessor",
    "Preview",
    "ProcessorFactory",
    "Redactor",
    "Status",
    "StoredClip",
    "redact_url",
]
