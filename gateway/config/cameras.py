"""The `cameras` section of edge.yaml: each camera's source, detect rate and size, zones, masks, detectors.

`camera_specs()` turns it into the `CameraSpec`s that `adapters.camera.CameraSupervisor` runs.
Zone and mask polygons are in the coordinates of the detect frame (detect.width × detect.height).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal
from urllib.parse import quote, urlsplit, urlunsplit

from pydantic import BeforeValidator, Field, PlainSerializer, field_validator, model_validator

from adapters.camera.redact import redact_url
from adapters.camera.spec import CameraSpec, ClipSpec, Polygon
from detectors.registry import settings_union
from gateway.config.base import ConfigPath, ExistingFile, FieldError, Section
from gateway.config.schema import GRID_CODE_PATTERN, ReconnectConfig
from gateway.config.secret import Secret
from gateway.config.units import ByteSize, Duration
from gateway.model import GridCell

if TYPE_CHECKING:
    from detectors.base import DetectorSettings as DetectorEntry
else:
    DetectorEntry = settings_union()

__all__ = [
    "CameraConfig", "CamerasConfig", "ClipConfig", "ClipStoreConfig", "DetectConfig", "ZoneConfig", "camera_specs",
    "clip_directory",
]  # fmt: skip

_NAME = r"^[A-Za-z0-9_.-]+$"
_SCHEMES = ("rtsp", "rtsps", "http", "https")


def _show_url(secret: Secret) -> str:
    """How a stream URL appears in dumps: its env/file reference, else the URL with credentials masked."""
    return secret.reference or redact_url(secret.get())


StreamUrl = Annotated[Secret, PlainSerializer(_show_url, return_type=str)]
"""A stream URL that may carry credentials: shown masked; may also be "env:NAME" or "file:PATH"."""

Point = tuple[Annotated[int, Field(ge=0)], Annotated[int, Field(ge=0)]]
PolygonField = Annotated[list[Point], Field(min_length=3, max_length=64)]


def _text(value: object) -> object:
    """Accept a device index written as a number (`device: 0`)."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


class DetectConfig(Section):
    """How often and at what size frames are analysed (every frame is still decoded)."""

    fps: float = Field(default=5.0, gt=0, le=30, description="Frames analysed per second (the detect rate).")
    width: int = Field(
        default=640, ge=64, le=3840, description="Width frames are resized to for analysis, snapshots and zones."
    )
    height: int = Field(default=360, ge=48, le=2160, description="Height frames are resized to for analysis.")


class ClipConfig(Section):
    """Pre/post clips: a ring buffer of recent frames; a detection episode's clip is cut around its first detection."""

    pre: Duration = Field(default=5.0, ge=0, le=60, description="Seconds kept before the first detection.")
    post: Duration = Field(default=5.0, gt=0, le=60, description="Seconds recorded after it.")
    fps: float | None = Field(
        default=None, gt=0, le=30, description="Frames per second kept; default the detect fps (no extra decode)."
    )
    quality: int = Field(default=70, ge=20, le=95, description="JPEG quality of the buffered frames.")
    max_bytes: ByteSize = Field(
        default=8 * 1024 * 1024, ge=256 * 1024, le=256 * 1024 * 1024,
        description="Memory bound of the ring buffer; beyond it the oldest frames are dropped (counted).",
    )  # fmt: skip
    cooldown: Duration = Field(
        default=30.0, gt=0, le=3600,
        description="Detections of a detector in a zone closer than this are one episode (one clip).",
    )  # fmt: skip


class ClipStoreConfig(Section):
    """Where every camera's clips are kept, and the byte budget of that directory."""

    dir: ConfigPath | None = Field(default=None, description='Clip directory; default "<data_dir>/clips".')
    max_bytes: ByteSize = Field(
        default=512 * 1024 * 1024, ge=1024 * 1024, description="Disk budget of the clips; the oldest are deleted."
    )


class ZoneConfig(Section):
    """An area of the frame watched by some detectors and mapped to a grid cell."""

    name: str = Field(pattern=_NAME, max_length=64, description="Zone name, used in detections and rules.")
    polygon: PolygonField = Field(description="Corners [[x, y], ...] in detect-frame pixels (at least 3).")
    grid: str | None = Field(
        default=None, pattern=GRID_CODE_PATTERN, description="Grid cell the zone overlooks; omit for the camera's."
    )
    detectors: list[str] = Field(
        default_factory=list, description="Names of the camera's detectors that watch this zone; empty = all."
    )


class CameraConfig(Section):
    """One camera: exactly one of url (RTSP/HTTP stream), path (video file) or device."""

    id: str = Field(pattern=_NAME, max_length=64, description="Camera id: the subject of its detections.")
    enabled: bool = Field(default=True, description="false keeps the camera configured but not started.")
    url: StreamUrl | None = Field(
        default=None,
        description="rtsp://, rtsps://, http:// (MJPEG) or https:// stream, e.g. a sub-stream "
        "rtsp://192.0.2.10:554/Streaming/Channels/102; credentials inline (percent-encoded) or in "
        'username/password. May be "env:NAME" or "file:PATH"; always shown masked.',
    )
    username: str | None = Field(default=None, min_length=1, description="Stream user name (with url).")
    password: Secret | None = Field(default=None, description='Stream password; use "env:NAME" or "file:PATH".')
    path: ExistingFile | None = Field(default=None, description="A video file to play instead of a stream.")
    device: Annotated[str | None, BeforeValidator(_text)] = Field(
        default=None, description='A local capture device: an index ("0") or a path ("/dev/video0").'
    )
    transport: Literal["tcp", "udp"] = Field(default="tcp", description="RTSP transport.")
    loop: bool = Field(default=True, description="Play a file again from its start when it ends.")
    realtime: bool = Field(default=True, description="Play a file at its own frame rate (false: as fast as possible).")
    grid: str | None = Field(
        default=None, pattern=GRID_CODE_PATTERN, description="Grid cell the camera overlooks (zones may override)."
    )
    detect: DetectConfig = Field(default_factory=DetectConfig, description="Detect rate and size.")
    zones: list[ZoneConfig] = Field(default_factory=list, description="Zones; none = the whole frame is one zone.")
    masks: list[PolygonField] = Field(
        default_factory=list, description="Areas never analysed (timestamp overlay, trees, a flashing sign)."
    )
    detectors: list[DetectorEntry] = Field(
        default_factory=list, description="Detectors of this camera, each {type: ..., settings}; see docs/detectors.md."
    )
    stall_timeout: Duration = Field(default=20.0, gt=0, description="No new frame for this long: restart the worker.")
    restart: ReconnectConfig = Field(default_factory=ReconnectConfig, description="Backoff between worker restarts.")
    open_timeout: Duration = Field(default=10.0, gt=0, description="Give up opening a stream after this long.")
    read_timeout: Duration = Field(default=10.0, gt=0, description="A stream with no data for this long is lost.")
    decoder_threads: int = Field(default=1, ge=1, le=16, description="FFmpeg decoder threads for this camera.")
    ffmpeg_options: dict[str, str] = Field(
        default_factory=dict, description="Extra FFmpeg demuxer options, e.g. {analyzeduration: '1000000'}."
    )
    snapshot_max_bytes: ByteSize = Field(
        default=256 * 1024, ge=4096, description="Snapshots and previews larger than this are re-encoded smaller."
    )
    clip: ClipConfig | None = Field(
        default=None, description="Record pre/post clips of detection episodes ({} for the defaults); off if absent."
    )

    @field_validator("url")
    @classmethod
    def _stream_url(cls, value: Secret | None) -> Secret | None:
        """A stream URL needs a known scheme and a host (errors show it masked)."""
        if value is None:
            return None
        parts = urlsplit(value.get())
        if parts.scheme not in _SCHEMES or not parts.hostname:
            shown = redact_url(value.get())
            raise ValueError(f"{shown!r} must be rtsp://, rtsps://, http:// or https://host/...; fix the url")
        return value

    @field_validator("ffmpeg_options")
    @classmethod
    def _plain_options(cls, value: dict[str, str]) -> dict[str, str]:
        """Keys and values cannot contain the separators of OPENCV_FFMPEG_CAPTURE_OPTIONS."""
        for key, item in value.items():
            if any(sep in text for text in (key, item) for sep in ";|") or not key:
                raise ValueError(f"option {key!r}: keys and values cannot contain ';' or '|'")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> CameraConfig:
        """One source; credentials only with a url; zones and masks inside the frame; known detector names."""
        sources = [name for name in ("url", "path", "device") if getattr(self, name) is not None]
        if len(sources) != 1:
            raise FieldError("url", f"set exactly one of url, path or device (got {', '.join(sources) or 'none'})")
        if (self.username or self.password) and self.url is None:
            raise FieldError("username", "username/password go with a url; remove them")
        if self.password is not None and self.username is None:
            raise FieldError("username", "password is set without username; add the user name")
        self._check_geometry()
        self._check_detectors()
        return self

    def _check_geometry(self) -> None:
        """Every zone and mask point lies in the detect frame; zone names are unique."""
        w, h = self.detect.width, self.detect.height
        names: set[str] = set()
        for zone in self.zones:
            if zone.name in names:
                raise FieldError("zones", f"zone name {zone.name!r} is used twice; rename one")
            names.add(zone.name)
            _inside(zone.polygon, w, h, "zones", f"zone {zone.name!r}")
        for index, mask in enumerate(self.masks):
            _inside(mask, w, h, "masks", f"mask {index}")

    def _check_detectors(self) -> None:
        """Detector names are unique and every zone names existing detectors."""
        names = [d.name or d.type for d in self.detectors]
        for name in names:
            if names.count(name) > 1:
                raise FieldError("detectors", f"detector name {name!r} is used twice; give one a `name`")
        for zone in self.zones:
            unknown = sorted(set(zone.detectors) - set(names))
            if unknown:
                raise FieldError("zones", f"zone {zone.name!r} names unknown detectors {unknown}; known: {names}")

    def source(self) -> tuple[Literal["rtsp", "http", "file", "device"], str]:
        """The source kind and target (the URL with credentials, the file path, or the device)."""
        if self.path is not None:
            return "file", str(self.path)
        if self.device is not None:
            return "device", self.device
        assert self.url is not None  # one source is guaranteed by the validator
        url = self.url.get()
        parts = urlsplit(url)
        if self.username is not None:
            userinfo = quote(self.username, safe="")
            if self.password is not None:
                userinfo += ":" + quote(self.password.get(), safe="")
            url = urlunsplit(parts._replace(netloc=f"{userinfo}@{parts.netloc.rpartition('@')[2]}"))
        return ("rtsp" if parts.scheme.startswith("rtsp") else "http"), url


def _inside(polygon: list[Point], width: int, height: int, key: str, what: str) -> None:
    """FieldError when a point lies outside the detect frame."""
    for x, y in polygon:
        if x > width or y > height:
            raise FieldError(key, f"{what}: point [{x}, {y}] lies outside the {width}x{height} detect frame")


class CamerasConfig(Section):
    """Cameras: each one's stream, detect rate and size, zones, masks and detectors."""

    streams: list[CameraConfig] = Field(default_factory=list, description="The cameras (one worker process each).")
    clips: ClipStoreConfig = Field(default_factory=ClipStoreConfig, description="Where clips are kept, and how much.")

    @model_validator(mode="after")
    def _unique_ids(self) -> CamerasConfig:
        """Camera ids are unique."""
        seen: set[str] = set()
        for camera in self.streams:
            if camera.id in seen:
                raise FieldError("streams", f"camera id {camera.id!r} is used twice; rename one")
            seen.add(camera.id)
        return self


def _polygon(points: list[Point]) -> Polygon:
    """A config polygon as the detectors' tuple form."""
    return tuple((int(x), int(y)) for x, y in points)


def clip_directory(section: CamerasConfig, data_dir: Path) -> Path:
    """The clip directory: `clips.dir`, else `<data_dir>/clips`."""
    return section.clips.dir or data_dir / "clips"


def _clip_spec(clip: ClipConfig | None, directory: Path | None) -> ClipSpec | None:
    """What the worker needs to record clips, or None when the camera records none."""
    if clip is None:
        return None
    if directory is None:
        raise ValueError("cameras record clips: camera_specs() needs the clip directory")
    return ClipSpec(
        str(directory), pre_s=clip.pre, post_s=clip.post, fps=clip.fps, quality=clip.quality,
        max_bytes=clip.max_bytes, cooldown_s=clip.cooldown,
    )  # fmt: skip


def camera_spec(camera: CameraConfig, clip_dir: Path | None = None) -> CameraSpec:
    """What the worker of one camera needs: source, detect settings, the detector set to build, supervision."""
    from detectors import DetectorSet, Scene, Zone

    size = (camera.detect.width, camera.detect.height)
    zones = tuple(
        Zone(z.name, _polygon(z.polygon), GridCell(z.grid) if z.grid else None, frozenset(z.detectors))
        for z in camera.zones
    )
    masks = tuple(_polygon(m) for m in camera.masks)
    grid = GridCell(camera.grid) if camera.grid else None
    scene = Scene(camera.id, size[0], size[1], grid, zones, masks)
    kind, target = camera.source()
    return CameraSpec(
        id=camera.id,
        kind=kind,
        target=target,
        processor=functools.partial(DetectorSet, scene, tuple(camera.detectors)),
        transport=camera.transport,
        loop=camera.loop,
        realtime=camera.realtime,
        detect_fps=camera.detect.fps,
        detect_size=size,
        decoder_threads=camera.decoder_threads,
        open_timeout_s=camera.open_timeout,
        read_timeout_s=camera.read_timeout,
        ffmpeg_options=tuple(camera.ffmpeg_options.items()),
        zones=tuple(z.polygon for z in zones),
        masks=masks,
        snapshot_max_bytes=camera.snapshot_max_bytes,
        stall_timeout_s=camera.stall_timeout,
        restart_min_s=camera.restart.min_delay,
        restart_max_s=camera.restart.max_delay,
        clip=_clip_spec(camera.clip, clip_dir),
    )


def camera_specs(section: CamerasConfig, clip_dir: Path | None = None) -> list[CameraSpec]:
    """The specs of every enabled camera, for `CameraSupervisor` (`clip_dir` from `clip_directory`)."""
    return [camera_spec(camera, clip_dir) for camera in section.streams if camera.enabled]
