"""Camera input: one supervised worker process per camera turns its stream into detections.

See docs/cameras.md. The gateway builds `CameraSpec`s (gateway/config/cameras.py does it from the
`cameras` config section) and runs a `CameraSupervisor`; OpenCV is only imported in the workers.
"""

from adapters.camera.messages import Preview, Status
from adapters.camera.redact import Redactor, redact_url
from adapters.camera.spec import CameraSpec, FrameProcessor, ProcessorFactory
from adapters.camera.status import CameraState, CameraStatus
from adapters.camera.supervisor import CameraSupervisor

__all__ = [
    "CameraSpec",
    "CameraState",
    "CameraStatus",
    "CameraSupervisor",
    "FrameProcessor",
    "Preview",
    "ProcessorFactory",
    "Redactor",
    "Status",
    "redact_url",
]
