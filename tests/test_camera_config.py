"""The `cameras` config section: a valid file becomes worker specs; every mistake is a located problem;
credentials never show in dumps or problems."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from gateway.config import check_config, dump_config, export_json_schema, register_section
from gateway.config import sections as sections_module
from gateway.config.cameras import CamerasConfig, camera_specs
from gateway.config.reference import reference_markdown
from gateway.model import GridCell
from tests.test_camera_units import ENCODED, PASSWORD, assert_clean
from tests.test_config_kit import BASE, load, problems, tree

CAMERAS = f"""\
cameras:
  streams:
    - id: gate-1
      url: rtsp://192.0.2.10:554/Streaming/Channels/102
      username: admin
      password: env:CAM_PASS
      grid: "110105001001001"
      detect: {{fps: 5, width: 640, height: 360}}
      zones:
        - name: underpass
          polygon: [[0, 200], [640, 200], [640, 360], [0, 360]]
          grid: "110105001001002"
          detectors: [water]
      masks:
        - [[0, 0], [200, 0], [200, 30], [0, 30]]
      detectors:
        - {{type: water}}
        - {{type: flame}}
      stall_timeout: 30s
      restart: {{min_delay: 2s, max_delay: 1m}}
    - id: dahua-2
      url: "rtsp://admin:{ENCODED}@192.0.2.11:554/cam/realmonitor?channel=1&subtype=1"
      transport: udp
    - id: demo
      path: clip.mp4
      loop: false
    - id: spare
      device: 0
      enabled: false
"""


@pytest.fixture(autouse=True)
def cameras_section(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Plug the section in, as the gateway does."""
    monkeypatch.setattr(sections_module, "_registered", {})
    register_section("cameras", CamerasConfig)
    yield
    sections_module._registered.clear()
    sections_module.root_model.cache_clear()


def test_cameras_load_and_become_specs(tmp_path: Path) -> None:
    path = tree(tmp_path, BASE + CAMERAS, clip__mp4="")
    loaded = load(path, {"CAM_PASS": PASSWORD})
    section = loaded.section("cameras", CamerasConfig)
    assert section is not None
    specs = camera_specs(section)
    assert [s.id for s in specs] == ["gate-1", "dahua-2", "demo"]  # "spare" is disabled
    gate, dahua, demo = specs
    assert gate.kind == "rtsp" and gate.target == f"rtsp://admin:{ENCODED}@192.0.2.10:554/Streaming/Channels/102"
    assert gate.label == "rtsp://***@192.0.2.10:554/Streaming/Channels/102"
    assert (gate.detect_fps, gate.detect_size, gate.stall_timeout_s, gate.restart_min_s) == (5, (640, 360), 30, 2)
    assert gate.zones == (((0, 200), (640, 200), (640, 360), (0, 360)),) and len(gate.masks) == 1
    assert dahua.capture_options() == "rtsp_transport;udp" and dahua.target.startswith(f"rtsp://admin:{ENCODED}@")
    assert demo.kind == "file" and demo.target == str(tmp_path / "clip.mp4") and not demo.loop
    assert gate.processor is not None
    detectors = gate.processor()
    frame = np.zeros((360, 640, 3), np.uint8)
    assert detectors.process(frame, 0) == []
    scene = detectors.scene  # type: ignore[attr-defined]
    assert scene.grid == GridCell("110105001001001") and scene.zones[0].grid == GridCell("110105001001002")
    assert [d.name for d in detectors.detectors] == ["water", "flame"]  # type: ignore[attr-defined]


def test_dump_never_shows_credentials(tmp_path: Path) -> None:
    loaded = load(tree(tmp_path, BASE + CAMERAS, clip__mp4=""), {"CAM_PASS": PASSWORD})
    dump = dump_config(loaded)
    assert_clean(dump)
    assert "password: env:CAM_PASS" in dump
    assert "url: rtsp://***@192.0.2.11:554/cam/realmonitor?channel=1&subtype=1" in dump
    assert_clean(repr(loaded.config))


@pytest.mark.parametrize(
    ("camera", "line", "key", "message"),
    [
        ("    - {id: c, url: rtsp://h/x, colour: red}", 9, "cameras.streams[0].colour", "unknown key 'colour'"),
        ("    - {id: c}", 9, "cameras.streams[0].url", "set exactly one of url, path or device (got none)"),
        ("    - {id: c, url: rtsp://h/x, device: 0}", 9, "cameras.streams[0].url", "(got url, device)"),
        ("    - {id: c, url: 'ftp://u:" + ENCODED + "@h/x'}", 9, "cameras.streams[0].url", "'ftp://***@h/x' must be"),
        ("    - {id: c, device: 0, username: u}", 9, "cameras.streams[0].username", "go with a url"),
        ("    - {id: c, url: rtsp://h/x, password: pw}", 9, "cameras.streams[0].username", "without username"),
        ("    - {id: c, url: rtsp://h/x, detect: {fps: 0}}", 9, "cameras.streams[0].detect.fps", "greater than 0"),
        ("    - {id: c, url: rtsp://h/x, detectors: [{type: fire}]}", 9, "cameras.streams[0].detectors[0]", "fire"),
        (
            "    - {id: c, url: rtsp://h/x, masks: [[[0, 0], [700, 0], [0, 10]]]}",
            9,
            "cameras.streams[0].masks",
            "mask 0: point [700, 0] lies outside the 640x360 detect frame",
        ),
        (
            "    - id: c\n      url: rtsp://h/x\n      zones:\n        - {name: z, polygon: [[0, 0], [1, 0], [1, 1]],"
            " detectors: [smoke]}",
            11,
            "cameras.streams[0].zones",
            "zone 'z' names unknown detectors ['smoke']",
        ),
        (
            "    - {id: c, url: rtsp://h/x, detectors: [{type: flame}, {type: flame}]}",
            9,
            "cameras.streams[0].detectors",
            "detector name 'flame' is used twice",
        ),
        ("    - {id: c, url: rtsp://h/x}\n    - {id: c, path: clip.mp4}", 8, "cameras.streams", "'c' is used twice"),
        ("    - {id: c, path: missing.mp4}", 9, "cameras.streams[0].path", "does not exist"),
        ("    - {id: c, url: rtsp://h/x, ffmpeg_options: {a: 'b|c'}}", 9, "cameras", "cannot contain"),
        ("    - {id: c, url: rtsp://h/x, clip: {pre: 5s, length: 9s}}", 9, "cameras.streams[0].clip.length",
         "unknown key 'length'"),
        ("    - {id: c, url: rtsp://h/x, clip: {post: 0s}}", 9, "cameras.streams[0].clip.post", "greater than 0"),
        ("    - {id: c, url: rtsp://h/x, clip: {max_bytes: 1KiB}}", 9, "cameras.streams[0].clip.max_bytes",
         "greater than or equal"),
    ],
)
def test_problems_are_located(tmp_path: Path, camera: str, line: int, key: str, message: str) -> None:
    edge = BASE + "cameras:\n  streams:\n" + camera + "\n"
    found = problems(tree(tmp_path, edge, clip__mp4=""))
    assert len(found) == 1, found
    problem = found[0]
    assert problem.line == line and problem.key.startswith(key) and message in problem.message, problem
    assert_clean(str(problem))


def test_secret_url_from_the_environment(tmp_path: Path) -> None:
    edge = BASE + "cameras:\n  streams:\n    - {id: c, url: env:CAM_URL}\n"
    url = f"rtsp://admin:{ENCODED}@192.0.2.10/Streaming/Channels/102"
    loaded = load(tree(tmp_path, edge), {"CAM_URL": url})
    section = loaded.section("cameras", CamerasConfig)
    assert section is not None and camera_specs(section)[0].target == url
    assert "url: env:CAM_URL" in dump_config(loaded)
    bad = problems(tree(tmp_path, edge), {"CAM_URL": f"ftp://admin:{ENCODED}@h/x"})
    assert [p.key for p in bad] == ["cameras.streams[0].url"]
    assert_clean(str(bad[0]))


def test_schema_and_reference_include_the_section(tmp_path: Path) -> None:
    schema = export_json_schema()
    assert "cameras" in schema["properties"]
    reference = reference_markdown()
    assert "cameras.streams" in reference and "stall_timeout" in reference
    errors, _ = check_config(tree(tmp_path, BASE + CAMERAS, clip__mp4=""), {"CAM_PASS": PASSWORD})
    assert errors == []


def test_clips_are_off_by_default_and_go_to_the_data_dir(tmp_path: Path) -> None:
    from gateway.config.cameras import clip_directory

    edge = BASE + "cameras:\n  streams:\n    - {id: c, url: rtsp://h/x}\n    - {id: d, url: rtsp://h/y, clip: {}}\n"
    section = load(tree(tmp_path, edge)).section("cameras", CamerasConfig)
    assert section is not None
    directory = clip_directory(section, tmp_path / "var")
    assert directory == tmp_path / "var" / "clips" and section.clips.max_bytes == 512 * 1024 * 1024
    off, on = camera_specs(section, directory)
    assert off.clip is None and on.clip is not None
    assert (on.clip.directory, on.clip.pre_s, on.clip.post_s, on.clip.fps) == (str(directory), 5, 5, None)
    with pytest.raises(ValueError, match="needs the clip directory"):
        camera_specs(section)
    edge += "  clips: {dir: recordings, max_bytes: 64MiB}\n"
    section = load(tree(tmp_path, edge)).section("cameras", CamerasConfig)
    assert section is not None and section.clips.max_bytes == 64 * 1024 * 1024
    assert clip_directory(section, tmp_path / "var") == (tmp_path / "recordings").resolve()
