"""Motion-JPEG in AVI from JPEG frames as they are: no decode, no re-encode, one sequential write.

The ring buffer already holds JPEGs, so a clip is only a container around them (OpenCV's VideoWriter
would decode and re-encode every frame: about 25 ms a frame at 640x360 here). The layout is the
classic AVI 1.0 one (RIFF 'AVI ', hdrl with avih/strh/strf, movi with '00dc' chunks, idx1) that
FFmpeg, OpenCV and every player read; RIFF limits it to 1 GiB, far above any clip's byte budget.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import Final

__all__ = ["MEDIA_TYPE", "write_mjpeg_avi"]

MEDIA_TYPE: Final = "video/x-msvideo"
_HAS_INDEX: Final = 0x10
_KEYFRAME: Final = 0x10
_MAX_BYTES: Final = 1 << 30


def _chunk(fourcc: bytes, data: bytes) -> bytes:
    """A RIFF chunk, padded to an even length."""
    return fourcc + struct.pack("<I", len(data)) + data + (b"\0" if len(data) % 2 else b"")


def _list(kind: bytes, data: bytes) -> bytes:
    """A RIFF LIST of `kind`."""
    return b"LIST" + struct.pack("<I", len(data) + 4) + kind + data


def _headers(count: int, fps: float, size: tuple[int, int], largest: int) -> bytes:
    """The hdrl list: main header, one MJPG video stream header and its BITMAPINFOHEADER."""
    width, height = size
    scale, rate = 1000, max(1, round(fps * 1000))
    avih = struct.pack(
        "<10I16x", round(1e6 / fps), round(largest * fps), 0, _HAS_INDEX, count, 0, 1, largest, width, height
    )
    strh = struct.pack(
        "<4s4sIHHIIIIIIiI4h", b"vids", b"MJPG", 0, 0, 0, 0, scale, rate, 0, count, largest, -1, 0,
        0, 0, width, height,
    )  # fmt: skip
    strf = struct.pack("<IiiHH4sIiiII", 40, width, height, 1, 24, b"MJPG", width * height * 3, 0, 0, 0, 0)
    return _list(b"hdrl", _chunk(b"avih", avih) + _list(b"strl", _chunk(b"strh", strh) + _chunk(b"strf", strf)))


def write_mjpeg_avi(path: Path, frames: Sequence[bytes], fps: float, size: tuple[int, int]) -> int:
    """Write the JPEG frames as an AVI played at `fps`, atomically (a `.part` file renamed); its size in bytes."""
    if not frames:
        raise ValueError("a clip needs at least one frame")
    if fps <= 0:
        raise ValueError(f"clip fps must be above 0, got {fps}")
    index, offset = bytearray(), 4  # idx1 offsets count from the 'movi' fourcc
    for jpeg in frames:
        index += struct.pack("<4sIII", b"00dc", _KEYFRAME, offset, len(jpeg))
        offset += 8 + len(jpeg) + len(jpeg) % 2
    headers = _headers(len(frames), fps, size, max(map(len, frames)))
    total = 12 + len(headers) + 8 + offset + 8 + len(index)
    if total > _MAX_BYTES:
        raise ValueError(f"a clip of {total} bytes is over the AVI 1.0 limit of 1 GiB")
    part = path.with_name(path.name + ".part")
    try:
        with part.open("wb") as out:  # written chunk by chunk: no second copy of the frames in memory
            out.write(b"RIFF" + struct.pack("<I", total - 8) + b"AVI " + headers)
            out.write(b"LIST" + struct.pack("<I", offset) + b"movi")
            for jpeg in frames:
                out.write(b"00dc" + struct.pack("<I", len(jpeg)))
                out.write(jpeg)
                if len(jpeg) % 2:
                    out.write(b"\0")
            out.write(_chunk(b"idx1", bytes(index)))
            out.flush()
            os.fsync(out.fileno())
    except OSError:
        part.unlink(missing_ok=True)  # a disk that filled up mid-write keeps no half clip
        raise
    part.replace(path)
    return total
