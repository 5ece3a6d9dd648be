"""The HTTP API against a real running gateway (in-process, real mosquitto): auth, health, /metrics,
incidents and their filters, device health with a driven clock, effective rules, the SSE stream, and
cameras from a real file-camera worker."""

from __future__ import annotations

import asyncio
import functools
import http.client
import json
import queue
import shutil
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from adapters.camera import CameraSpec, CameraSupervisor, ClipSpec, ClipStore
from gateway.api import bound_port, make_app, start_api
from gateway.app import Gateway
from gateway.config.api import ApiConfig
from gateway.config.loader import load_config
from gateway.model import GridCell
from gateway.status import CameraSource, Status
from rules.native import STATUS as RULES_CODE
from tests.data.video import clips
from tests.gateway_proc import REPO, cells, write_config
from tests.servers import Mosquitto, wait_for
from tests.test_e2e import publisher

TOKEN = "api-test-token-7f3a"
CELLS = cells()
RULES = """
version: 1
rules:
  - id: pm10-high
    kind: threshold
    event_type: "200302"
    select: {kind: dust}
    field: pm10
    levels: [{severity: warning, set: 100, clear: 80}]
    for: 0s
    clear_for: 1s
  - id: water-high
    kind: threshold
    event_type: "500104"
    select: {kind: water}
    field: level
    levels: [{severity: major, set: 3.0, clear: 2.5}]
    for: 0s
    clear_for: 1s
  - id: camera-flame
    kind: detection
    event_type: "500106"
    select: {kind: camera}
    detector: flame
    min_score: 0.3
    levels: [{severity: critical, set: 0.3}]
    clear_after: 30s
"""
GRID_NAMES = [
    "建外街道 永安里社区 第1网格",
    "建外街道 永安里社区 第2网格",
    "建外街道 建外SOHO社区 第1网格",
    "呼家楼街道 金台社区 第1网格",
    "呼家楼街道 金台社区 第2网格",
    "呼家楼街道 核桃园社区 第1网格",
]


class DrivenClock:
    """A nanosecond clock the test moves forward (the status's health clock)."""

    def __init__(self) -> None:
        self.now = time.time_ns()

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += int(seconds * 1e9)


def write_test_config(directory: Path, broker_url: str) -> Path:
    """The tests' gateway config: 12 devices in 6 named cells, the rules above, the city's event types."""
    path = write_config(directory, broker_url=broker_url, extra={"rules": {
        "file": "rules.yaml", "event_types": "event_types.yaml", "tick_interval": "100ms",
        "state_interval": "200ms", "watch": False,
    }})  # fmt: skip
    (directory / "rules.yaml").write_text(RULES)
    shutil.copy(REPO / "config" / "event_types.yaml", directory / "event_types.yaml")
    grids = [{"code": code, "name": name} for code, name in zip(CELLS, GRID_NAMES, strict=True)]
    (directory / "grids.yaml").write_text(yaml.safe_dump(grids, allow_unicode=True))
    return path


class LiveGateway:
    """The real Gateway and its API on an event loop in a thread of this test process."""

    def __init__(self, config: Path, clock: Callable[[], int] | None = None, cameras: CameraSource | None = None):
        self.loaded = load_config(config)
        self.clock = clock
        self.cameras = cameras
        self.port = 0
        self.gateway: Gateway | None = None
        self.status: Status | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="live-gateway", daemon=True)

    def start(self) -> LiveGateway:
        self._thread.start()
        wait_for(lambda: self._ready.is_set() or self._error is not None, timeout=30, what="gateway API up")
        if self._error is not None:
            raise self._error
        wait_for(lambda: self.gateway is not None and self.gateway.mqtt is not None
                 and self.gateway.mqtt.connected.is_set(), timeout=30, what="MQTT connected")  # fmt: skip
        return self

    def _main(self) -> None:
        try:
            asyncio.run(self._run())
        except BaseException as exc:
            self._error = exc
            raise

    async def _run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self.gateway = gateway = Gateway(self.loaded)
        self.status = Status(gateway, clock=self.clock, cameras=self.cameras)
        task = asyncio.create_task(gateway.run(self._stop))
        config = ApiConfig(port=0, token=TOKEN)  # type: ignore[arg-type]
        runner = await start_api(make_app(gateway, config, [], status=self.status), config)
        self.port = bound_port(runner)
        self._ready.set()
        await task
        await runner.cleanup()

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)

    # -- HTTP --------------------------------------------------------------------------------------------

    def request(self, path: str, token: str | None = TOKEN) -> tuple[int, bytes, dict[str, str]]:
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}")
        if token is not None:
            req.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return int(resp.status), resp.read(), dict(resp.headers)
        except urllib.error.HTTPError as exc:
            return int(exc.code), exc.read(), dict(exc.headers)

    def json(self, path: str) -> Any:
        status, body, _ = self.request(path)
        assert status == 200, body
        return json.loads(body)

    def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        status, body, headers = self.request("/metrics")
        assert status == 200 and headers["Content-Type"].startswith("text/plain")
        return {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(body.decode())
            for sample in family.samples
        }


class SseReader:
    """Reads /api/v1/events on a thread; events land in a queue as (kind, data)."""

    def __init__(self, port: int, headers: dict[str, str] | None = None) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.conn.request("GET", "/api/v1/events", headers={"Authorization": f"Bearer {TOKEN}", **(headers or {})})
        self.response = self.conn.getresponse()
        self.events: queue.Queue[tuple[str, int, dict[str, Any]]] = queue.Queue()
        self.connected = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        kind, seq, data = "", 0, ""
        try:
            for raw in self.response:
                line = raw.decode().rstrip("\n")
                if line == ": connected":
                    self.connected.set()
                elif line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("id: "):
                    seq = int(line[4:])
                elif line.startswith("data: "):
                    data = line[6:]
                elif line == "" and data:
                    self.events.put((kind, seq, json.loads(data)))
                    kind, data = "", ""
        except (OSError, ValueError, AttributeError):  # AttributeError: http.client after close()
            return

    def next(self, kind: str, timeout: float = 10.0) -> tuple[int, dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                got, seq, data = self.events.get(timeout=left)
            except queue.Empty:
                break
            if got == kind:
                return seq, data
        raise AssertionError(f"no {kind} event within {timeout}s")

    def close(self) -> None:
        self.conn.close()


def send(pub: mqtt.Client, device: str, kind: str, cell: str, **fields: float) -> None:
    payload = json.dumps({**fields, "ts": int(time.time() * 1000)})
    pub.publish(f"grid/{cell}/{kind}/{device}", payload, qos=1).wait_for_publish(5)


@pytest.fixture
def live(tmp_path: Path, mosquitto: Mosquitto) -> Iterator[LiveGateway]:
    gateway = LiveGateway(write_test_config(tmp_path / "cfg", mosquitto.url)).start()
    yield gateway
    gateway.stop()


@pytest.fixture
def pub(mosquitto: Mosquitto) -> Iterator[mqtt.Client]:
    client = publisher(mosquitto)
    yield client
    client.loop_stop()
    client.disconnect()


def open_ids(live: LiveGateway, query: str = "") -> list[str]:
    return [inc["id"] for inc in live.json(f"/api/v1/incidents?{query}")["incidents"]]


# -- auth and health -----------------------------------------------------------------------------------------


def test_health_is_open_and_everything_else_needs_the_token(live: LiveGateway) -> None:
    status, body, _ = live.request("/healthz", token=None)
    assert status == 200 and json.loads(body) == {"status": "ok"}
    status, body, _ = live.request("/readyz", token=None)
    ready = json.loads(body)
    assert status == 200 and ready["ready"] is True
    assert ready["components"]["mqtt"]["subscribed"] is True
    assert ready["components"]["mqtt"]["subscriptions"] == ["grid/+/+/+"]
    assert ready["components"]["journal"]["writable"] is True and "depth" in ready["components"]["journal"]
    for path in (
        "/metrics",
        "/api/v1/incidents",
        "/api/v1/devices",
        "/api/v1/cameras",
        "/api/v1/events",
        "/api/v1/devices/dust-0000/rules",
        "/api/v1/cameras/x/snapshot.jpg",
        "/api/v1/grid",
    ):
        status, body, headers = live.request(path, token=None)
        assert status == 401, path
        assert headers.get("WWW-Authenticate", "").startswith("Bearer")
        assert live.request(path, token="wrong")[0] == 401, path
    page, body, _ = live.request("/", token=None)
    assert page == 200 and b"/static/app.js" in body
    assert live.request("/static/app.js", token=None)[0] == 200
    rejected = live.metrics()[("gridedge_api_rejected_total", (("reason", "unauthorized"),))]
    assert rejected == 16


def test_api_without_a_configured_token_serves_only_health(tmp_path: Path, mosquitto: Mosquitto) -> None:
    live = LiveGateway(write_test_config(tmp_path / "cfg", mosquitto.url))

    async def run_without_token() -> None:
        live.gateway = Gateway(live.loaded)
        config = ApiConfig(port=0)
        runner = await start_api(make_app(live.gateway, config), config)
        live.port = bound_port(runner)
        try:
            loop = asyncio.get_running_loop()
            assert (await loop.run_in_executor(None, live.request, "/healthz"))[0] == 200
            status, body, _ = await loop.run_in_executor(None, live.request, "/api/v1/devices")
            assert status == 401 and b"api.token" in body
        finally:
            await runner.cleanup()
            live.gateway.journal.close()

    asyncio.run(run_without_token())


# -- metrics ------------------------------------------------------------------------------------------------


def test_metrics_parse_and_move_when_readings_arrive(live: LiveGateway, pub: mqtt.Client) -> None:
    before = live.metrics()
    accepted = ("gridedge_readings_accepted_total", ())
    assert before[accepted] == 0
    assert before[("process_resident_memory_bytes", ())] > 0 and ("process_cpu_seconds_total", ()) in before
    for i in range(5):
        send(pub, "dust-0003", "dust", CELLS[3], pm10=40 + i)
    pub.publish(f"grid/{CELLS[3]}/dust/dust-0003", b"{not json", qos=1).wait_for_publish(5)
    wait_for(lambda: live.metrics()[accepted] == 5, what="5 accepted readings in /metrics")
    wait_for(lambda: live.metrics().get(("gridedge_readings_rejected_total", (("reason", "malformed"),))) == 1,
             what="the malformed payload counted")  # fmt: skip
    evaluations = ("gridedge_rule_evaluations_total", (("input", "reading"),))
    wait_for(lambda: live.metrics().get(evaluations) == 5, what="the rules ran in the commit")  # after intake
    after = live.metrics()
    assert after[("gridedge_mqtt_received_total", ())] == 6
    assert after[("gridedge_rule_evaluations_total", (("input", "reading"),))] == 5
    assert after[("gridedge_rules_compiled", ())] == float(RULES_CODE.compiled)
    assert after[("gridedge_journal_committed_total", ())] >= 5
    assert after[("gridedge_journal_commit_seconds_count", ())] >= 1
    assert after[("gridedge_journal_dead_letters_total", ())] == 1
    assert after[("gridedge_journal_bytes", ())] > 0
    assert after[("gridedge_devices", (("health", "ok"),))] == 1  # dust-0003 heard
    send(pub, "dust-0000", "dust", CELLS[0], pm10=150)
    opened = ("gridedge_incidents_opened_total", (("event_type", "200302"),))
    wait_for(lambda: live.metrics().get(opened) == 1, what="an opened incident counted by type")
    assert live.metrics()[("gridedge_incidents_open", (("event_type", "200302"),))] == 1
    commits = live.metrics()[("gridedge_journal_commit_seconds_count", ())]
    assert live.metrics()[("gridedge_journal_commit_seconds_count", ())] >= commits  # folded once, not twice


# -- incidents -----------------------------------------------------------------------------------------------


def test_incidents_open_resolve_and_filter(live: LiveGateway, pub: mqtt.Client) -> None:
    send(pub, "dust-0000", "dust", CELLS[0], pm10=150)
    send(pub, "water-0001", "water", CELLS[1], level=3.4)
    wait_for(lambda: len(open_ids(live, "state=open")) == 2, what="two open incidents")
    incidents = {inc["rule"]: inc for inc in live.json("/api/v1/incidents")["incidents"]}
    dust = incidents["pm10-high"]
    assert dust["subject"] == "dust-0000" and dust["grid"] == CELLS[0] and dust["state"] == "open"
    assert dust["event_type_label"] == "施工管理/工地扬尘" and dust["grid_name"] == GRID_NAMES[0]
    assert dust["levels"]["street"] == CELLS[0][:9] and dust["values"]["value"] == 150
    assert dust["has_snapshot"] is False
    water = incidents["water-high"]
    assert open_ids(live, f"grid={CELLS[0][:12]}") == [dust["id"]]  # community of dust-0000 only
    assert set(open_ids(live, "grid=110105001")) == {dust["id"], water["id"]}  # the whole street
    assert open_ids(live, "grid=110105002") == []
    assert open_ids(live, "type=500104") == [water["id"]]
    assert open_ids(live, "type=999999") == []
    assert open_ids(live, "state=resolved") == []
    assert len(open_ids(live, "limit=1")) == 1

    deadline = time.monotonic() + 2.5  # below `clear` for longer than clear_for: 1s
    while time.monotonic() < deadline:
        send(pub, "dust-0000", "dust", CELLS[0], pm10=50)
        time.sleep(0.2)
    wait_for(lambda: open_ids(live, "state=resolved") == [dust["id"]], timeout=10, what="dust resolved")
    assert open_ids(live, "state=open") == [water["id"]]
    resolved = live.json("/api/v1/incidents?state=resolved")["incidents"][0]
    assert resolved["resolved_at"] is not None and resolved["revision"] == 2
    metrics = live.metrics()
    assert metrics[("gridedge_incidents_resolved_total", (("event_type", "200302"),))] == 1


@pytest.mark.parametrize(
    ("query", "reason", "message"),
    [
        ("limit=abc", "bad_limit", b"limit must be a whole number"),
        ("limit=0", "bad_limit", b"limit must be a whole number"),
        ("state=closed", "bad_state", b"state must be one of open, resolved, all"),
        ("grid=11010x", "bad_grid", b"grid must be a grid-code prefix"),
        ("grid=1101050010010011", "bad_grid", b"grid must be a grid-code prefix"),
        ("type=%3Cscript%3E", "bad_type", b"type must be an event type code"),
    ],
)
def test_bad_incident_filters_are_refused_and_counted(
    live: LiveGateway, query: str, reason: str, message: bytes
) -> None:
    status, body, _ = live.request(f"/api/v1/incidents?{query}")
    assert status == 400 and message in body
    assert live.metrics()[("gridedge_api_rejected_total", (("reason", reason),))] == 1


def test_open_incidents_survive_a_restart_into_the_board(
    tmp_path: Path, mosquitto: Mosquitto, pub: mqtt.Client
) -> None:
    config = write_test_config(tmp_path / "cfg", mosquitto.url)
    first = LiveGateway(config).start()
    try:
        send(pub, "dust-0000", "dust", CELLS[0], pm10=150)
        wait_for(lambda: len(open_ids(first, "state=open")) == 1, what="an open incident")
        opened = open_ids(first)
    finally:
        first.stop()
    second = LiveGateway(config).start()
    try:  # the board is seeded from the restored engine, not from events it never saw
        wait_for(lambda: open_ids(second, "state=open") == opened, what="the restored incident listed")
    finally:
        second.stop()


# -- devices and rules ----------------------------------------------------------------------------------------


def test_devices_turn_silent_and_healthy_on_the_driven_clock(
    tmp_path: Path, mosquitto: Mosquitto, pub: mqtt.Client
) -> None:
    clock = DrivenClock()
    live = LiveGateway(write_test_config(tmp_path / "cfg", mosquitto.url), clock=clock).start()
    try:
        stream = SseReader(live.port)
        assert stream.connected.wait(10)
        send(pub, "dust-0000", "dust", CELLS[0], pm10=20)
        wait_for(lambda: live.json("/api/v1/devices")["devices"][0]["health"] == "ok", what="dust-0000 heard")
        devices = {d["id"]: d for d in live.json("/api/v1/devices")["devices"]}
        assert len(devices) == 12
        assert devices["dust-0000"]["health"] == "ok" and devices["dust-0000"]["silent"] is False
        assert devices["dust-0000"]["age_s"] == 0 and devices["dust-0000"]["interval_s"] == 60
        assert devices["water-0001"]["health"] == "waiting" and devices["water-0001"]["last_seen_ns"] is None
        clock.advance(179)  # still within 3 × 60 s
        body = live.json("/api/v1/devices")
        assert body["silent"] == 0 and body["devices"][0]["id"] == "dust-0000"
        clock.advance(2)  # 181 s > 3 × 60 s
        body = live.json("/api/v1/devices")
        assert body["silent"] == 12 and body["devices"][0]["silent"] is True
        by_id = {d["id"]: d for d in body["devices"]}
        assert by_id["dust-0000"]["health"] == "silent" and by_id["water-0001"]["health"] == "never_seen"
        _, event = stream.next("device")  # the watcher publishes the change
        assert event["silent"] is True
        send(pub, "dust-0000", "dust", CELLS[0], pm10=20)
        wait_for(lambda: live.json("/api/v1/devices")["silent"] == 11, what="dust-0000 healthy again")
        assert live.metrics()[("gridedge_devices", (("health", "never_seen"),))] == 11
        stream.close()
    finally:
        live.stop()


def test_effective_rules_of_a_device(live: LiveGateway) -> None:
    body = live.json("/api/v1/devices/dust-0000/rules")
    assert [r["rule"] for r in body["rules"]] == ["pm10-high"]
    rule = body["rules"][0]
    assert rule["event_type_label"] == "施工管理/工地扬尘" and rule["overrides"] == []
    assert rule["settings"]["levels"][0]["set"] == 100 and "pm10" in rule["text"]
    assert live.json("/api/v1/devices/fire-0002/rules")["rules"] == []  # no rule selects fire
    status, body_bytes, _ = live.request("/api/v1/devices/no-such-device/rules")
    assert status == 404 and b"not in the registry" in body_bytes
    assert live.metrics()[("gridedge_api_rejected_total", (("reason", "unknown_device"),))] == 1


def test_grid_names_every_level(live: LiveGateway) -> None:
    grid = live.json("/api/v1/grid")
    assert len(grid["cells"]) == 6
    assert grid["names"][CELLS[0][:9]] == "建外街道" and grid["names"][CELLS[0][:12]] == "永安里社区"
    assert grid["names"][CELLS[3][:9]] == "呼家楼街道" and grid["names"][CELLS[0]] == "第1网格"


# -- live events ---------------------------------------------------------------------------------------------


def test_sse_delivers_incident_events_and_replays_after_last_event_id(live: LiveGateway, pub: mqtt.Client) -> None:
    stream = SseReader(live.port)
    assert stream.connected.wait(10)
    assert stream.response.getheader("Content-Type", "").startswith("text/event-stream")
    send(pub, "dust-0000", "dust", CELLS[0], pm10=150)
    seq, event = stream.next("incident")
    assert event["event"] == "opened" and event["incident"]["subject"] == "dust-0000"
    assert event["incident"]["state"] == "open" and event["incident"]["event_type"] == "200302"
    stream.close()
    send(pub, "water-0001", "water", CELLS[1], level=3.5)  # while no client is connected
    wait_for(lambda: len(open_ids(live, "state=open")) == 2, what="the water incident")
    again = SseReader(live.port, headers={"Last-Event-ID": str(seq)})
    _, missed = again.next("incident")
    assert missed["incident"]["subject"] == "water-0001"
    again.close()
    status, body, _ = live.request("/api/v1/events?last_event_id=x")
    assert status == 400 and b"Last-Event-ID" in body


# -- cameras -------------------------------------------------------------------------------------------------


@pytest.fixture
def file_camera(tmp_path: Path) -> Iterator[CameraSupervisor]:
    """A real camera worker playing a looped flame clip, with the flame detector."""
    from detectors import DetectorSet, Scene, parse_settings

    clip = clips.write_clip(tmp_path / "flame.avi", clips.flame(40), fps=10)
    processor = functools.partial(DetectorSet, Scene("cam-1", 320, 240, GridCell(CELLS[2])),
                                  (parse_settings({"type": "flame"}),))  # fmt: skip
    spec = CameraSpec("cam-1", "file", str(clip), processor, detect_fps=5, detect_size=(320, 240),
                      preview_interval_s=0.3, status_interval_s=0.3)  # fmt: skip
    supervisor = CameraSupervisor([spec], lambda _d: None)
    supervisor.start()
    yield supervisor
    supervisor.stop()


def test_cameras_list_their_state_and_latest_annotated_frame(
    tmp_path: Path, mosquitto: Mosquitto, file_camera: CameraSupervisor
) -> None:
    live = LiveGateway(write_test_config(tmp_path / "cfg", mosquitto.url), cameras=file_camera).start()
    try:
        stream = SseReader(live.port)

        def previewing() -> bool:
            camera = live.json("/api/v1/cameras")["cameras"][0]
            return bool(camera["snapshot"]) and camera["state"] == "running"

        wait_for(previewing, timeout=30, what="the camera running with a preview")
        camera = live.json("/api/v1/cameras")["cameras"][0]
        assert camera["id"] == "cam-1" and camera["state"] == "running" and camera["width"] == 320
        status, body, headers = live.request(camera["snapshot"])
        assert status == 200 and headers["Content-Type"] == "image/jpeg" and body[:2] == b"\xff\xd8"
        assert live.request("/api/v1/cameras/cam-9/snapshot.jpg")[0] == 404
        ready = live.json("/readyz")["components"]["cameras"]
        assert ready["ok"] is True and ready["cameras"]["cam-1"]["state"] == "running"
        wait_for(lambda: live.metrics().get(("gridedge_camera_fps", (("camera", "cam-1"),)), 0) > 0, timeout=15,
                 what="camera fps in /metrics")  # fmt: skip
        assert live.metrics()[("gridedge_camera_state", (("camera", "cam-1"), ("state", "running")))] == 1
        assert stream.next("camera", timeout=15)[1]["id"] == "cam-1"
        stream.close()
    finally:
        live.stop()


def test_clips_are_served_by_reference_behind_the_token(tmp_path: Path, mosquitto: Mosquitto) -> None:
    from detectors import DetectorSet, Scene, parse_settings

    clip = clips.write_clip(tmp_path / "flame.avi", clips.flame(40), fps=10)
    processor = functools.partial(DetectorSet, Scene("cam-1", 320, 240, GridCell(CELLS[2])),
                                  (parse_settings({"type": "flame"}),))  # fmt: skip
    store = ClipStore(tmp_path / "clips", max_bytes=50_000_000)
    spec = CameraSpec("cam-1", "file", str(clip), processor, detect_fps=5, detect_size=(320, 240),
                      clip=ClipSpec(str(store.directory), pre_s=1, post_s=1))  # fmt: skip
    (tmp_path / "secret.txt").write_text("not a clip")
    supervisor = CameraSupervisor([spec], lambda _d: None, clips=store)
    supervisor.start()
    live = LiveGateway(write_test_config(tmp_path / "cfg", mosquitto.url), cameras=supervisor).start()
    try:
        wait_for(lambda: store.stats().get("written", 0) >= 1, timeout=30, what="a clip written")
        ref = store.kept()[0].ref
        url = f"/api/v1/clips/{ref.removeprefix('clip:')}.avi"
        status, body, headers = live.request(url)
        kept = store.get(ref)
        assert kept is not None and status == 200 and headers["Content-Type"] == "video/x-msvideo"
        assert body == kept.path.read_bytes() and body[:4] == b"RIFF" and body[8:12] == b"AVI "
        assert live.request(url, token=None)[0] == 401
        req = urllib.request.Request(f"http://127.0.0.1:{live.port}{url}",
                                     headers={"Authorization": f"Bearer {TOKEN}", "Range": "bytes=0-11"})  # fmt: skip
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert resp.status == 206 and resp.read() == body[:12]  # players seek with Range requests
        assert live.json("/api/v1/cameras")["clips"]["clips"] >= 1
        metrics = live.metrics()
        assert metrics[("gridedge_clips_kept", ())] >= 1 and metrics[("gridedge_clips_bytes", ())] >= kept.size
        assert metrics[("gridedge_clips_max_bytes", ())] == 50_000_000
        assert metrics[("gridedge_clips_evicted_total", ())] == metrics[("gridedge_clips_failed_total", ())] == 0
        wait_for(lambda: live.metrics().get(("gridedge_camera_clips_total", (("camera", "cam-1"),)), 0) >= 1,
                 what="the worker's clip count in /metrics")  # fmt: skip
        assert live.request("/api/v1/clips/cam-1/123.avi")[0] == 404  # well formed, never recorded
        assert live.request("/api/v1/clips/cam-9/123.avi")[0] == 404
        for bad in ("/api/v1/clips/cam-1/..%2F..%2Fsecret.txt", "/api/v1/clips/cam-1/%2E%2E",
                    "/api/v1/clips/..%2F..%2F/secret.txt", "/api/v1/clips/cam-1/123.avi%00.txt"):  # fmt: skip
            status, body, _ = live.request(bad)
            assert status in (400, 404) and b"not a clip" not in body, bad
        assert live.status is not None
        assert live.status.api_rejects["bad_clip"] >= 2 and live.status.api_rejects["unknown_clip"] == 2
    finally:
        live.stop()
        supervisor.stop()
