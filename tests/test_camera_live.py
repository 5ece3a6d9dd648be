"""A file camera with fire footage in the running gateway: flame detections become a flame incident that
lands in InfluxDB (`detection` and `incident` points) and at the dispatch receiver with its snapshot and
a reference to its pre/post clip, which the gateway's API then serves."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from pathlib import Path

from tests.data.video import clips
from tests.gateway_proc import GatewayProcess, cells, write_config
from tests.receivers import SECRET, events_of
from tests.servers import InfluxDB1, Mosquitto, free_port, wait_for

CELL = cells()[2]
RULES = """
version: 1
rules:
  - id: camera-flame
    kind: detection
    event_type: "500106"
    detector: flame
    min_score: 0.3
    min_frames: 2
    min_duration: 1s
    max_gap: 5s
    clear_after: 60s
    levels: [{severity: major, set: 0.3}]
"""


def test_fire_footage_opens_a_flame_incident_with_its_snapshot(
    tmp_path: Path, mosquitto: Mosquitto, influxdb1: InfluxDB1, receiver: tuple[int, Path]
) -> None:
    port, store = receiver
    cfg = tmp_path / "cfg"
    cfg.mkdir()
    clip = clips.write_clip(cfg / "fire.mp4", clips.flame(120), fps=10, h264=True)
    api_port = free_port()
    (cfg / "rules.yaml").write_text(RULES)
    extra: dict[str, object] = {
        "rules": {"file": "rules.yaml", "tick_interval": "200ms"},
        "dispatch": {"endpoints": [{"name": "centre", "url": f"http://127.0.0.1:{port}/", "secret": "env:HOOK_KEY"}]},
        "cameras": {"streams": [{
            "id": "cam-1", "path": str(clip), "loop": True, "grid": CELL,
            "detect": {"fps": 5, "width": 320, "height": 240},
            "detectors": [{"type": "motion"}, {"type": "flame"}],
            "clip": {"pre": "1s", "post": "1s"},
        }]},
        "api": {"port": api_port, "token": "env:API_TOKEN", "public_url": f"http://127.0.0.1:{api_port}/"},
    }  # fmt: skip
    influx = {"version": 1, "url": influxdb1.url, "db": "gridedge", "flush_interval": "200ms"}
    gateway = GatewayProcess(write_config(cfg, broker_url=mosquitto.url, influx=influx, extra=extra),
                             env={"HOOK_KEY": SECRET, "API_TOKEN": "t0ken"})
    gateway.start()
    try:
        wait_for(lambda: influxdb1.query("SELECT count(score) FROM detection", db="gridedge"), timeout=60,
                 what="flame detections in InfluxDB")
        detections = influxdb1.query("SELECT score FROM detection GROUP BY camera, detector, grid", db="gridedge")
        assert detections[0]["tags"] == {"camera": "cam-1", "detector": "flame", "grid": CELL}
        wait_for(lambda: events_of(store), timeout=60, what="the flame incident at the receiver")
        event = events_of(store)[0]
        data = event["data"]
        assert isinstance(data, dict)
        assert data["rule"] == "camera-flame" and data["event_type"] == "500106"
        assert data["grid"]["code"] == CELL
        evidence = data["evidence"]
        assert isinstance(evidence, list) and evidence, json.dumps(data)
        snapshot = evidence[0]
        assert snapshot["kind"] == "snapshot" and snapshot["media_type"] == "image/jpeg"
        assert base64.b64decode(snapshot["data_base64"])[:2] == b"\xff\xd8"  # the JPEG travels with the event
        (video,) = [entry for entry in evidence if entry["kind"] == "clip"]
        assert video["media_type"] == "video/x-msvideo" and video["state"] in ("recording", "ready")
        base = f"http://127.0.0.1:{api_port}"  # api.public_url: the platform follows the URL as it comes
        assert video["url"].startswith(f"{base}/api/v1/clips/cam-1/") and "data_base64" not in video
        wait_for(lambda: _fetch(video["url"]), timeout=30, what="the clip served by the API")
        body = _fetch(video["url"])
        assert body is not None and body[:4] == b"RIFF" and body[8:12] == b"AVI "
        wait_for(lambda: influxdb1.query("SELECT * FROM incident", db="gridedge"), timeout=20, what="incident point")
    finally:
        assert gateway.terminate() == 0


def _fetch(url: str) -> bytes | None:
    """GET an API URL with the token; None while it is not there (404)."""
    req = urllib.request.Request(url, headers={"Authorization": "Bearer t0ken"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return bytes(resp.read())
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise
