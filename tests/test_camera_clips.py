"""Pre/post clips: the ring buffer's bounds, detection episodes, the AVI writer (read back by OpenCV and
ffprobe), the clip store's byte budget, and a real file-camera worker cutting a clip around its detection."""

from __future__ import annotations

import functools
import json
import os
import shutil
import signal
import subprocess
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from adapters.camera import CameraSpec, CameraSupervisor, ClipDone, ClipSpec, ClipStore
from adapters.camera.avi import write_mjpeg_avi
from adapters.camera.clipspool import SPOOL_SUFFIX, ClipSpool
from adapters.camera.jpeg import encode_jpeg
from adapters.camera.ring import ClipRecorder, FrameRing, Recording, clip_ref
from adapters.webhook.evidence import evidence_entries
from detectors import DetectorSet, Scene, parse_settings
from gateway.clips import clip_evidence, clip_ref_of, clip_url
from gateway.model import Detection, GridCell
from rules import Engine, load_rules
from rules.lifecycle import Machine, Policy
from tests.data.video import clips
from tests.servers import wait_for
from tests.test_camera_worker import Collector

S = 1_000_000_000
FPS = 5
PERIOD = S // FPS
RULE = """
rules:
  - {id: flame, kind: detection, event_type: "500106", detector: flame, clear_after: 30s}
"""


def jpeg_frames(n: int, seed: int = 1) -> list[bytes]:
    """Real JPEGs of a noisy synthetic scene, 320x240."""
    rng = np.random.default_rng(seed)
    base = clips.background(seed)
    return [encode_jpeg(clips.noisy(base, rng), 70) for _ in range(n)]


# -- the ring buffer -------------------------------------------------------------------------------------


def test_ring_keeps_its_time_span_and_byte_bound() -> None:
    ring = FrameRing(max_bytes=10_000)
    for i in range(100):
        ring.add(i * PERIOD, bytes(1000), keep_from_ns=i * PERIOD - 2 * S)
        assert ring.bytes <= 10_000
    assert len(ring) == 10 and ring.dropped == 90 - 0  # 2 s at 5 fps would be 11 frames: the bytes bind first
    wide = FrameRing(max_bytes=1_000_000)
    for i in range(100):
        wide.add(i * PERIOD, bytes(1000), keep_from_ns=i * PERIOD - 2 * S)
    assert len(wide) == 11 and wide.dropped == 0 and wide.bytes == 11_000  # the time span binds, uncounted


def test_recorder_memory_stays_bounded_while_recording() -> None:
    recorder = ClipRecorder("cam", pre_s=5, post_s=5, fps=FPS, cooldown_s=30, max_bytes=50_000)
    frame = bytes(4000)
    peak = 0
    for i in range(600):  # 2 minutes at 5 fps, a detection every 10 s
        ts = i * PERIOD
        recorder.add(ts, frame)
        if i % 50 == 25:
            recorder.on_detection("flame", f"zone-{i}", ts)
        peak = max(peak, recorder.ring.bytes)
    assert peak <= 50_000 and recorder.ring.dropped > 0  # 10 s of 4 kB frames is 200 kB: the bound held


def test_a_clip_covers_pre_and_post_seconds_around_the_first_detection() -> None:
    recorder = ClipRecorder("cam", pre_s=3, post_s=2, fps=FPS, cooldown_s=30, max_bytes=10_000_000)
    done = []
    refs = []
    for i in range(100):
        ts = i * PERIOD
        finished = recorder.add(ts, bytes(100))
        if finished is not None:
            done.append((finished, recorder.frames(finished)))
        if 50 <= i < 60:  # detections from 10 s to 12 s
            refs.append(recorder.on_detection("flame", "gate", ts))
    assert refs == [clip_ref("cam", 10 * S)] * 10  # one episode, one clip
    ((rec, frames),) = done
    assert (rec.start_ns, rec.trigger_ns, rec.end_ns) == (7 * S, 10 * S, 12 * S)
    assert [ts for ts, _ in frames] == [7 * S + k * PERIOD for k in range(25)]  # 3 s before + 2 s after


def test_episodes_share_a_recording_and_restart_after_the_cooldown() -> None:
    recorder = ClipRecorder("cam", pre_s=2, post_s=4, fps=FPS, cooldown_s=5, max_bytes=10_000_000)
    first = recorder.on_detection("flame", "gate", 10 * S)
    assert recorder.on_detection("smoke", "yard", 11 * S) == first  # another episode while recording: same clip
    assert recorder.on_detection("flame", "gate", 14 * S) == first  # within the cooldown: same episode
    recorder.add(14 * S, b"x")  # the window [8 s, 14 s) is over
    assert recorder.recording is None
    assert recorder.on_detection("flame", "gate", 18 * S) == first  # 4 s after the last: still the episode
    later = recorder.on_detection("flame", "gate", 30 * S)  # 12 s of quiet: a new episode, a new clip
    assert later == clip_ref("cam", 30 * S) != first
    assert recorder.on_detection("smoke", "yard", 30 * S) == later  # its old episode expired; joins the recording


# -- the AVI writer ----------------------------------------------------------------------------------------


def test_avi_plays_in_opencv_and_ffprobe(tmp_path: Path) -> None:
    frames = jpeg_frames(23)
    path = tmp_path / "clip.avi"
    size = write_mjpeg_avi(path, frames, 5.0, (320, 240))
    assert size == path.stat().st_size and not list(tmp_path.glob("*.part"))
    decoded = list(clips.read_clip(path))
    assert len(decoded) == 23 and decoded[0].shape == (240, 320, 3)
    assert all(jpeg in path.read_bytes() for jpeg in frames)  # the JPEGs went in untouched, not re-encoded
    original = np.asarray(cv2.imdecode(np.frombuffer(frames[7], np.uint8), cv2.IMREAD_COLOR), np.uint8)
    assert float(np.mean(cv2.absdiff(decoded[7], original))) < 3.0  # FFmpeg and libjpeg convert colour apart
    cap = cv2.VideoCapture(str(path))
    assert cap.get(cv2.CAP_PROP_FPS) == 5.0
    cap.release()
    ffprobe = shutil.which("ffprobe")
    assert ffprobe is not None
    out = subprocess.run(
        [ffprobe, "-v", "error", "-count_frames", "-show_entries", "stream=codec_name,nb_read_frames,r_frame_rate",
         "-of", "json", str(path)], capture_output=True, check=True, text=True,
    )  # fmt: skip
    (stream,) = json.loads(out.stdout)["streams"]
    assert stream == {"codec_name": "mjpeg", "r_frame_rate": "5/1", "nb_read_frames": "23"}


def test_avi_writer_refuses_an_empty_clip(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least one frame"):
        write_mjpeg_avi(tmp_path / "x.avi", [], 5.0, (320, 240))
    assert not list(tmp_path.iterdir())


# -- the clip store ------------------------------------------------------------------------------------------


def stored(store: ClipStore, camera: str, trigger: int, frames: list[bytes]) -> ClipDone:
    """Write a clip as a worker does and report it to the store."""
    name = f"{trigger}_{camera}.avi"
    size = write_mjpeg_avi(store.directory / name, frames, 5.0, (320, 240))
    done = ClipDone(camera, clip_ref(camera, trigger), name, trigger - 2 * S, trigger + 2 * S, len(frames), 5.0, size)
    store.add(done)
    return done


def test_store_evicts_the_oldest_beyond_its_budget(tmp_path: Path) -> None:
    frames = jpeg_frames(20)
    one = write_mjpeg_avi(tmp_path / "probe.avi", frames, 5.0, (320, 240))
    store = ClipStore(tmp_path / "clips", max_bytes=int(one * 2.5))
    store.open()
    refs = [stored(store, "cam", (10 + k) * S, frames).ref for k in range(4)]
    assert [store.state(ref) for ref in refs] == ["missing", "missing", "ready", "ready"]
    assert sorted(p.name for p in store.directory.iterdir()) == [f"{12 * S}_cam.avi", f"{13 * S}_cam.avi"]
    stats = store.stats()
    assert stats["clips"] == 2 and stats["evicted"] == 2 and stats["evicted_bytes"] == 2 * one
    assert stats["bytes"] == 2 * one <= stats["max_bytes"] and stats["written"] == 4


def test_store_reindexes_a_previous_run_and_removes_half_written_clips(tmp_path: Path) -> None:
    frames = jpeg_frames(10)
    first = ClipStore(tmp_path, max_bytes=10_000_000)
    first.open()
    done = stored(first, "gate-1", 5 * S, frames)
    (tmp_path / f"{6 * S}_gate-1.avi.part").write_bytes(b"RIFF")  # a worker killed mid-write
    (tmp_path / f"{7 * S}_gate-1.avi").write_bytes(b"not a clip")
    (tmp_path / "notes.txt").write_text("kept: not ours")
    again = ClipStore(tmp_path, max_bytes=10_000_000)
    again.open()
    clip = again.get(done.ref)
    assert clip is not None and (clip.frames, clip.size, clip.duration_s) == (10, done.size, 2.0)
    assert again.stats()["partial_removed"] == 1 and again.stats()["unreadable_removed"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [done.name, "notes.txt"]


def spool(directory: Path, trigger: int, frames: list[bytes], camera: str = "gate-1") -> Path:
    """A recording's spool as a worker leaves it when killed: header and one record per frame."""
    rec = Recording(clip_ref(camera, trigger), trigger, trigger - 2 * S, trigger + 10 * S)
    path = directory / f"{trigger}_{camera}.avi{SPOOL_SUFFIX}"
    writer = ClipSpool(path, rec, camera, 5.0, (320, 240))
    for k, jpeg in enumerate(frames):
        writer.add(rec.start_ns + k * PERIOD, jpeg)
    return path


def test_a_spool_left_by_a_killed_worker_becomes_its_clip_at_start(tmp_path: Path) -> None:
    frames = jpeg_frames(8)
    left = spool(tmp_path, 5 * S, frames)
    with left.open("r+b") as f:  # killed mid-write: the last record is cut short
        f.truncate(left.stat().st_size - len(frames[-1]) // 2)
    (tmp_path / f"{6 * S}_gate-1.avi{SPOOL_SUFFIX}").write_bytes(b"GECLIP1\n{not json")
    (tmp_path / f"{7 * S}_gate-1.avi{SPOOL_SUFFIX}").write_bytes(b"")
    store = ClipStore(tmp_path, max_bytes=10_000_000)
    store.open()
    clip = store.get(clip_ref("gate-1", 5 * S))
    assert clip is not None and clip.frames == 7 and store.state(clip.ref) == "ready"
    assert clip.start_ns == 3 * S and clip.end_ns == 3 * S + 7 * PERIOD
    decoded = list(clips.read_clip(clip.path))
    assert len(decoded) == 7 and decoded[0].shape == (240, 320, 3)
    stats = store.stats()
    assert (stats["salvaged"], stats["unreadable_removed"], stats["written"]) == (1, 2, 1)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{5 * S}_gate-1.avi"]  # no spool left


def test_salvage_takes_only_the_camera_whose_worker_exited(tmp_path: Path) -> None:
    store = ClipStore(tmp_path, max_bytes=10_000_000)
    store.open()
    spool(tmp_path, 5 * S, jpeg_frames(3), camera="cam-1")
    running = spool(tmp_path, 6 * S, jpeg_frames(3), camera="cam-10")  # another camera, still recording
    store.expect(clip_ref("cam-1", 5 * S))
    assert store.salvage("cam-1") == 1 and running.exists()
    assert store.state(clip_ref("cam-1", 5 * S)) == "ready" and store.state(clip_ref("cam-10", 6 * S)) == "missing"


def test_store_states_and_badly_named_reports(tmp_path: Path) -> None:
    store = ClipStore(tmp_path, max_bytes=10_000_000)
    store.open()
    ref = clip_ref("cam", 42 * S)
    assert store.state(ref) == "missing"
    store.expect(ref)
    assert store.state(ref) == "recording"
    store.add(ClipDone("cam", ref, "../../etc/passwd", 0, 1, 1, 5.0, 10))
    assert store.stats()["bad_name"] == 1 and store.state(ref) == "recording"
    other = clip_ref("cam-2", 42 * S)
    store.expect(other)
    store.forget("cam")  # the worker of "cam" stopped mid-recording
    assert (store.state(ref), store.state(other)) == ("missing", "recording")
    store.add(ClipDone("cam-2", other, f"{42 * S}_cam-2.avi", 0, 1, 0, 5.0, 0, error="disk full"))
    assert store.state(other) == "missing" and store.stats()["failed"] == 1 and not list(tmp_path.iterdir())


# -- references, evidence and URLs ------------------------------------------------------------------------


def test_clip_urls_parse_strictly() -> None:
    ref = clip_ref("gate-1", 1_700_000_000_000_000_000)
    url = clip_url(ref)
    assert url == "/api/v1/clips/gate-1/1700000000000000000.avi"
    assert clip_ref_of("gate-1", "1700000000000000000.avi") == ref
    for camera, name in [("gate-1", "..%2Fjournal.db"), ("gate-1", "1.avi/.."), ("a/b", "1.avi"), ("", "1.avi"),
                         ("gate-1", "1.mp4"), ("gate-1", "x1.avi")]:  # fmt: skip
        assert clip_ref_of(camera, name) is None


def test_evidence_names_the_clip_by_url_with_its_state(tmp_path: Path) -> None:
    store = ClipStore(tmp_path, max_bytes=10_000_000)
    store.open()
    done = stored(store, "cam", 9 * S, jpeg_frames(20))
    pending = clip_ref("cam", 99 * S)
    store.expect(pending)
    problems: Counter[str] = Counter()
    refs = [done.ref, pending, clip_ref("cam", 1)]
    entries = evidence_entries(refs, lambda _r: None, 1000, problems, functools.partial(clip_evidence, store))
    assert entries[0] == {
        "ref": done.ref, "kind": "clip", "media_type": "video/x-msvideo", "url": f"/api/v1/clips/cam/{9 * S}.avi",
        "state": "ready", "duration_s": 4.0, "frames": 20, "size": done.size,
    }  # fmt: skip
    assert [e["state"] for e in entries[1:]] == ["recording", "missing"]
    base = "https://edge-07.city.example:8443"  # api.public_url: absolute for a platform hearing many gateways
    (absolute,) = evidence_entries(refs[:1], lambda _r: None, 1000, problems,
                                   functools.partial(clip_evidence, store, base_url=base))  # fmt: skip
    assert absolute["url"] == f"{base}/api/v1/clips/cam/{9 * S}.avi"
    assert problems == {"evidence_clip_missing": 1}
    assert all("data_base64" not in e for e in entries)  # never inline


def test_incident_evidence_carries_snapshot_and_clip_and_reads_old_state() -> None:
    eng = Engine(load_rules(RULE), "gw-test", [])
    clip = clip_ref("cam", 4 * S)
    detection = Detection("cam", "flame", "gate", 5 * S, 0.9, snapshot=b"\xff\xd8", clip=clip)
    (opened,) = eng.on_detection(detection, 5 * S)
    assert opened.incident.evidence == [f"snapshot:cam/gate/{5 * S}", clip]
    machine = Machine(Policy("gw", "r", "500106", ("warning",)), "cam:gate", None)
    saved = machine.dump() | {"trigger_evidence": "snapshot:cam/gate/1"}  # a state saved before clips existed
    machine.load(saved, 0)
    assert machine.trigger_evidence == ("snapshot:cam/gate/1",)


# -- a real worker -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def late_flame(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4 s of a quiet scene, then 6 s of flame (10 fps, H.264): the clip's pre-roll has frames to show."""
    quiet = list(clips.still(clips.background(2), 40, seed=3))
    path = tmp_path_factory.mktemp("video") / "late-flame.mp4"
    return clips.write_clip(path, [*quiet, *clips.flame(60)], fps=10, h264=True)


@pytest.fixture
def supervise() -> Iterator[Callable[..., CameraSupervisor]]:
    started: list[CameraSupervisor] = []

    def start(spec: CameraSpec, store: ClipStore, got: Collector) -> CameraSupervisor:
        supervisor = CameraSupervisor([spec], got, clips=store)
        supervisor.start()
        started.append(supervisor)
        return supervisor

    yield start
    for supervisor in started:
        supervisor.stop()


def flame_spec(path: Path, clip: ClipSpec) -> CameraSpec:
    scene = Scene("cam", 320, 240, GridCell("110101001001001"))
    processor = functools.partial(DetectorSet, scene, (parse_settings({"type": "flame"}),))
    return CameraSpec("cam", "file", str(path), processor, loop=False, realtime=False, detect_fps=FPS,
                      detect_size=(320, 240), status_interval_s=0.2, clip=clip)  # fmt: skip


def test_a_worker_cuts_one_clip_around_its_first_detection(
    tmp_path: Path, late_flame: Path, supervise: Callable[..., CameraSupervisor]
) -> None:
    store = ClipStore(tmp_path / "clips", max_bytes=50_000_000)
    spec = flame_spec(late_flame, ClipSpec(str(store.directory), pre_s=2, post_s=2))
    got = Collector()
    supervisor = supervise(spec, store, got)
    wait_for(lambda: supervisor.status()["cam"].state == "ended", timeout=60, what="the file to end")
    wait_for(lambda: len(got.items) == supervisor.status()["cam"].detections > 0, what="delivery")
    first = got.items[0]
    assert first.clip == clip_ref("cam", first.ts_ns)
    assert {d.clip for d in got.items} == {first.clip}  # one episode: every detection names the same clip
    clip = store.get(first.clip)
    assert clip is not None and supervisor.status()["cam"].clips == 1
    decoded = list(clips.read_clip(clip.path))
    assert 19 <= len(decoded) == clip.frames <= 20  # 2 s before + 2 s after at 5 fps
    assert clip.start_ns <= first.ts_ns < clip.end_ns
    assert clip.start_ns == pytest.approx(first.ts_ns - 2 * S, abs=PERIOD)
    assert clip.end_ns == pytest.approx(first.ts_ns + 2 * S, abs=PERIOD)
    assert clip.duration_s == pytest.approx(4.0, abs=0.25)
    before = decoded[int((first.ts_ns - clip.start_ns) // PERIOD) - 5]
    assert float(np.mean(before[100:180, 130:190, 2])) < 150  # a second before the detection: no flame yet


def test_a_source_ending_mid_recording_still_leaves_its_clip(
    tmp_path: Path, supervise: Callable[..., CameraSupervisor]
) -> None:
    short = clips.write_clip(tmp_path / "short.avi", clips.flame(30), fps=10)  # 3 s, all flame
    store = ClipStore(tmp_path / "clips", max_bytes=50_000_000)
    got = Collector()
    supervisor = supervise(flame_spec(short, ClipSpec(str(store.directory), pre_s=1, post_s=30)), store, got)
    wait_for(lambda: supervisor.status()["cam"].state == "ended", timeout=60, what="the file to end")
    wait_for(lambda: store.stats().get("written") == 1, what="the cut-short clip")
    (clip_path,) = store.directory.glob("*.avi")
    assert 5 <= len(list(clips.read_clip(clip_path))) <= 15  # what there was: detection to the end of the file


def realtime_flame(
    tmp_path: Path, video: Path, supervise: Callable[..., CameraSupervisor], pre_s: float, post_s: float
) -> tuple[ClipStore, CameraSupervisor, Collector]:
    """A clip store and a supervised camera playing `video` in real time, recording pre/post clips."""
    store = ClipStore(tmp_path / "clips", max_bytes=50_000_000)
    spec = replace(flame_spec(video, ClipSpec(str(store.directory), pre_s=pre_s, post_s=post_s)), realtime=True)
    got = Collector()
    return store, supervise(spec, store, got), got


def test_a_worker_killed_mid_recording_leaves_the_clip_it_had(
    tmp_path: Path, late_flame: Path, supervise: Callable[..., CameraSupervisor]
) -> None:
    store, supervisor, got = realtime_flame(tmp_path, late_flame, supervise, pre_s=2, post_s=60)
    wait_for(lambda: got.items, timeout=30, what="a flame detection (its clip starts recording)")
    ref = got.items[0].clip
    assert ref is not None

    def spooled() -> int:
        found = list(store.directory.glob(f"*{SPOOL_SUFFIX}"))
        return found[0].stat().st_size if found else 0

    wait_for(lambda: spooled() > 150_000, timeout=30, what="a few seconds of the recording spooled")
    handle = supervisor.handles["cam"]
    assert handle.proc is not None and handle.proc.pid is not None
    os.kill(handle.proc.pid, signal.SIGKILL)  # 60 s of post-roll to go: only the spool has the frames
    wait_for(lambda: store.state(ref) == "ready", timeout=30, what="the killed worker's clip kept")
    clip = store.get(ref)
    assert clip is not None and store.stats()["salvaged"] >= 1
    decoded = list(clips.read_clip(clip.path))
    assert len(decoded) == clip.frames >= 10  # the 2 s pre-roll at 5 fps, and what followed
    assert clip.start_ns <= got.items[0].ts_ns < clip.end_ns
    assert not (store.directory / f"{clip.path.name}{SPOOL_SUFFIX}").exists()


def test_a_clip_that_cannot_be_written_is_counted_and_the_camera_goes_on(
    tmp_path: Path, late_flame: Path, supervise: Callable[..., CameraSupervisor]
) -> None:
    store, supervisor, got = realtime_flame(tmp_path, late_flame, supervise, pre_s=1, post_s=1)
    store.directory.rmdir()  # the disk goes bad under the store: the worker's first clip is 5 s away
    store.directory.write_text("not a directory")
    wait_for(lambda: supervisor.status()["cam"].state == "ended", timeout=60, what="the file to end")
    status = supervisor.status()["cam"]
    assert (status.clip_errors, status.clips, status.restarts) == (1, 0, 0) and status.detections > 0
    wait_for(lambda: len(got.items) == status.detections, what="delivery")
    assert got.items[0].clip is not None and store.state(got.items[0].clip) == "missing"
    assert store.stats()["failed"] == 1
