"""Detectors on synthetic footage: each fires on its event, stays quiet on its classic false alarm."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable
from typing import Any

import cv2
import numpy as np
import pytest
from pydantic import ValidationError

from detectors import DetectorSet, Frame, Scene, Zone, load_all, parse_settings
from detectors.flame import steady_previous
from detectors.scene import Polygon
from gateway.model import Detection, GridCell
from tests.data.video import clips

GRID = GridCell("110101001001001", "东华门 grid 1")
FULL: Polygon = ((0, 0), (320, 0), (320, 240), (0, 240))
STEP_NS = 200_000_000  # 5 fps, the production detect rate


def run(
    settings: dict[str, Any],
    frames: Iterable[np.ndarray],
    zones: tuple[Zone, ...] = (),
    masks: tuple[Polygon, ...] = (),
) -> list[tuple[float, Detection]]:
    """Feed frames at 5 fps through a detector set; return (seconds, detection) pairs."""
    scene = Scene("cam-1", 320, 240, GRID, zones, masks)
    detectors = DetectorSet(scene, [parse_settings(settings)])
    found = []
    for i, img in enumerate(frames):
        for d in detectors.process(img, i * STEP_NS):
            found.append((i * STEP_NS / 1e9, d))
    return found


def only(found: list[tuple[float, Detection]], detector: str) -> list[tuple[float, Detection]]:
    """The detections of one detector."""
    return [(t, d) for t, d in found if d.detector == detector]


def test_registry_holds_every_detector_and_builds_a_discriminated_union() -> None:
    assert set(load_all()) == {"motion", "flame", "smoke", "water", "crowd", "stationary", "tamper", "model"}
    assert parse_settings({"type": "flame", "flicker_min": 5}).type == "flame"
    with pytest.raises(ValidationError, match="flicker_minimum"):
        parse_settings({"type": "flame", "flicker_minimum": 5})
    with pytest.raises(ValidationError):
        parse_settings({"type": "unicorn"})
    with pytest.raises(ValidationError):
        parse_settings({"type": "smoke", "min_area": -1})


def test_every_settings_field_is_documented() -> None:
    for cls in load_all().values():
        for name, info in cls.settings_model.model_fields.items():
            if name != "type":
                assert info.description, f"{cls.type_key}.{name} has no description"


def test_bad_frames_are_refused_with_a_clear_error() -> None:
    with pytest.raises(ValueError, match="HxWx3 uint8"):
        Frame(np.zeros((10, 10), np.uint8), 0)
    with pytest.raises(ValueError, match="HxWx3 uint8"):
        Frame(np.zeros((10, 10, 3), np.float32), 0)


def test_flame_fires_within_three_seconds_with_a_full_detection() -> None:
    found = only(run({"type": "flame"}, clips.flame(40)), "flame")
    assert found, "no flame detected"
    first_s, d = found[0]
    assert first_s <= 3.0
    assert (d.camera, d.zone, d.grid, d.detector) == ("cam-1", "frame", GRID, "flame")
    assert d.boxes and d.boxes[0].label == "flame"
    box = d.boxes[0]
    assert 120 <= box.x + box.w / 2 <= 200 and 120 <= box.y + box.h / 2 <= 200
    assert d.snapshot is not None
    image = cv2.imdecode(np.frombuffer(d.snapshot, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None and image.shape == (240, 320, 3)
    assert d.values["flicker"] >= 6


def test_flame_ignores_a_blinking_lamp_and_a_still_orange_object() -> None:
    assert not only(run({"type": "flame"}, clips.blinking_lamp(60)), "flame")
    assert not only(run({"type": "flame"}, clips.static_orange(60)), "flame")


def test_flame_ignores_a_shaking_camera_and_still_sees_flames_through_it() -> None:
    """A pole camera in the wind moves small lights and sharp edges by a pixel or two between frames:
    their pixels change each their own way, like flicker, unless the view's own shift is taken out."""
    for sigma_px in (0.75, 1.5):
        shaken = clips.shaking(clips.still(clips.dusk_city(), 60), sigma_px=sigma_px)
        assert not only(run({"type": "flame"}, shaken), "flame"), sigma_px
    found = only(run({"type": "flame"}, clips.shaking(clips.flame(40))), "flame")
    assert found and found[0][0] <= 3.0


def test_the_views_own_shift_is_taken_out_and_a_scene_dominated_by_its_flame_is_left_alone() -> None:
    city = cv2.cvtColor(clips.dusk_city(), cv2.COLOR_BGR2GRAY).astype(np.float32)
    shift = np.array([[1, 0, 1.3], [0, 1, -0.7]], np.float32)
    shaken = cv2.warpAffine(city, shift, (320, 240), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    inner = np.s_[20:-20, 20:-20]
    assert np.abs(shaken - city)[inner].mean() > 5
    assert np.abs(shaken - steady_previous(city, np.asarray(shaken, np.float32)))[inner].mean() < 0.2
    # A big flame on a plain wall: the "shifts" of several px are the flame's, with a weak peak.
    wall = np.full((240, 320, 3), 120, np.uint8)
    frames = [cv2.cvtColor(f, cv2.COLOR_BGR2GRAY).astype(np.float32) for f in clips.flame(12, base=wall)]
    spurious = [(a, b) for a, b in itertools.pairwise(frames) if math.hypot(*cv2.phaseCorrelate(a, b)[0]) > 2]
    assert len(spurious) >= 4
    assert all(steady_previous(a, b) is a for a, b in spurious)


def test_flame_reports_at_most_once_per_interval_per_zone() -> None:
    found = only(run({"type": "flame", "report_every_s": 2.0}, clips.flame(60)), "flame")
    times = [d.ts_ns for _, d in found]
    assert len(times) >= 3
    assert all(b - a >= 2_000_000_000 for a, b in itertools.pairwise(times))


def test_zones_carry_their_grid_and_masks_hide_what_is_behind_them() -> None:
    other = GridCell("110101001001002")
    left = Zone("left", ((0, 0), (120, 0), (120, 240), (0, 240)), other)
    right = Zone("right", ((120, 0), (320, 0), (320, 240), (120, 240)), GRID)
    found = only(run({"type": "flame"}, clips.flame(40), zones=(left, right)), "flame")
    assert {d.zone for _, d in found} == {"right"}
    assert found[0][1].grid == GRID
    masked = run(
        {"type": "flame"},
        clips.flame(40),
        zones=(left, right),
        masks=(((100, 100), (240, 100), (240, 240), (100, 240)),),
    )
    assert not only(masked, "flame")


def test_a_zone_can_be_kept_from_a_detector() -> None:
    zone = Zone("yard", FULL, GRID, frozenset({"smoke"}))
    assert not run({"type": "flame"}, clips.flame(40), zones=(zone,))


def test_a_still_scene_skips_the_gated_detectors() -> None:
    scene = Scene("cam-1", 320, 240, GRID)
    detectors = DetectorSet(scene, [parse_settings({"type": "flame"}), parse_settings({"type": "smoke"})])
    still = clips.background(3)
    for i in range(20):
        assert detectors.process(still, i * STEP_NS) == []
    assert detectors.still_frames == 19


def test_the_gate_counts_moving_pixels_per_zone_and_skips_masks() -> None:
    """A square appearing in one zone moves the gate by its share of that zone; behind a mask it does not."""
    left = Zone("left", ((0, 0), (160, 0), (160, 240), (0, 240)))
    right = Zone("right", ((160, 0), (320, 0), (320, 240), (160, 240)))
    mask: Polygon = ((0, 0), (160, 0), (160, 120), (0, 120))
    rng = np.random.default_rng(4)
    base = clips.background(3)

    def gate(at: tuple[int, int], side: int, min_fraction: float) -> bool:
        scene = Scene("cam-1", 320, 240, GRID, (left, right), (mask,))
        detectors = DetectorSet(scene, [parse_settings({"type": "motion", "min_fraction": min_fraction})])
        for i in range(5):
            detectors.process(clips.noisy(base, rng), i * STEP_NS)
        shown = clips.noisy(base, rng)
        shown[at[1] : at[1] + side, at[0] : at[0] + side] = 255
        detectors.process(shown, 5 * STEP_NS)
        share = float(detectors.motion.mask.sum()) / detectors.motion.mask.size  # type: ignore[union-attr]
        assert 0 < share < 0.1
        return detectors.motion.moving

    # A 24 px square is 0.9 % of a 160x240 zone (at the 160 px motion width: 12x12 of 80x120, 1.5 %).
    assert gate((200, 100), 24, 0.005)
    assert not gate((200, 100), 24, 0.05)
    assert not gate((40, 40), 24, 0.005)  # behind the mask: no zone sees it
    assert gate((40, 160), 24, 0.005)


def test_motion_can_report_when_asked() -> None:
    found = only(run({"type": "motion", "emit": True}, clips.walkers(10, 3)), "motion")
    assert found and found[-1][1].values["fraction"] > 0


def test_smoke_fires_on_a_rising_plume_and_not_on_a_still_scene() -> None:
    found = only(run({"type": "smoke"}, clips.plume(50)), "smoke")
    assert found, "no smoke detected"
    assert found[0][0] <= 6.0
    assert found[0][1].values["rise"] >= 1.0
    assert not only(run({"type": "smoke"}, clips.static_orange(50)), "smoke")


def test_smoke_ignores_a_blinking_lamp() -> None:
    assert not only(run({"type": "smoke"}, clips.blinking_lamp(60)), "smoke")


def test_smoke_ignores_grey_walkers_and_a_fading_light() -> None:
    # Walkers are colourless and move (some upward), but each is a small body of its own, not one plume.
    assert not only(run({"type": "smoke"}, clips.walkers(100, 20)), "smoke")
    # A whole scene darkening (a timelapse at dusk) is grey change everywhere that does not rise.
    assert not only(run({"type": "smoke"}, clips.dusk(150)), "smoke")


def test_water_reports_covered_fraction_and_a_rising_level() -> None:
    gauge = Zone("gauge", ((140, 40), (180, 40), (180, 240), (140, 240)), GRID)
    settings = {"type": "water", "interval_s": 0.0, "hold_s": 1.0, "covered_min": 0.3}
    found = only(run(settings, clips.rising_water(90), zones=(gauge,)), "water")
    assert found, "no flooding detected"
    levels = [d.values["level"] for _, d in found]
    assert levels == sorted(levels) and levels[-1] > levels[0]
    assert found[-1][1].values["covered"] > 0.6
    assert not only(run(settings, clips.static_orange(60), zones=(gauge,)), "water")


FLOOR = Zone("floor", ((0, 120), (320, 120), (320, 240), (0, 240)), GRID)
WATER = {"type": "water", "interval_s": 1.0, "hold_s": 3.0}


def test_water_is_not_grey_light_added_over_a_dark_floor() -> None:
    # Smoke welling up over a dark floor covers the zone and then hangs there: only brighter and greyer.
    assert only(run({**WATER, "glow_max": 1.0}, clips.plume_on_black(100), zones=(FLOOR,)), "water")
    assert not only(run(WATER, clips.plume_on_black(100), zones=(FLOOR,)), "water")
    found = only(run(WATER, clips.rising_water(100, rise_px=1.5), zones=(FLOOR,)), "water")
    assert found and found[-1][1].values["glow"] < 0.6


def test_water_is_not_a_surface_that_keeps_churning() -> None:
    # Blotches redrawn every frame cover the zone, but standing water keeps its look from second to second.
    assert only(run({**WATER, "churn_max": 100.0}, clips.churning(100, 10), zones=(FLOOR,)), "water")
    assert not only(run(WATER, clips.churning(100, 10), zones=(FLOOR,)), "water")
    found = only(run(WATER, clips.rising_water(100, rise_px=1.5), zones=(FLOOR,)), "water")
    assert found and found[-1][1].values["churn"] < 0.8


def test_crowd_fires_when_enough_people_stay() -> None:
    settings = {"type": "crowd", "person_area": 140, "min_people": 8, "hold_s": 3, "interval_s": 0}
    found = only(run(settings, clips.walkers(60, 20)), "crowd")
    assert found and found[0][0] >= 5.0 + 3.0  # warm-up, then the hold
    assert found[-1][1].values["people"] >= 8
    assert not only(run(settings, clips.walkers(60, 3)), "crowd")


def test_crowd_takes_the_person_size_from_the_frame_and_ignores_large_bodies() -> None:
    settings = {"type": "crowd", "min_people": 8, "hold_s": 3, "interval_s": 0}  # no person_area: a share of the frame
    found = only(run(settings, clips.walkers(60, 20)), "crowd")
    assert found and 12 <= found[-1][1].values["people"] <= 40  # 20 walkers, some overlapping their trails
    # Rising water is one large changed body, not a crowd of person-sized ones.
    assert not only(run(settings, clips.rising_water(60)), "crowd")


def test_a_moving_camera_is_told_from_moving_objects_and_resets_view_detectors() -> None:
    scene = Scene("cam-1", 320, 240, GRID)
    detectors = DetectorSet(scene, [parse_settings({"type": "water", "interval_s": 0, "hold_s": 1})])
    moved = []
    for i, img in enumerate(clips.panning(40)):
        assert not detectors.process(img, i * STEP_NS)  # water compares with a view the camera left
        moved.append(detectors.motion.camera_moving)
    assert sum(moved) >= 20  # the view shifts on most frames
    assert not only(run({"type": "water", "interval_s": 0, "hold_s": 1}, clips.panning(40)), "water")
    still_camera = DetectorSet(scene, [parse_settings({"type": "flame"})])
    for i, img in enumerate(clips.walkers(40, 20)):
        still_camera.process(img, i * STEP_NS)
        assert not still_camera.motion.camera_moving


def test_stationary_fires_on_what_stays_and_not_on_what_passes() -> None:
    settings = {"type": "stationary", "min_s": 10, "interval_s": 0, "min_area": 400}
    found = only(run(settings, clips.new_object(120, appear=10)), "stationary")
    assert found, "parked object not reported"
    t, d = found[0]
    assert 12.0 <= t <= 20.0 and d.values["age_s"] >= 10
    box = d.boxes[0]
    assert box.x <= 130 <= box.x + box.w and box.y <= 160 <= box.y + box.h  # the object's centre
    assert not only(run(settings, clips.new_object(120, appear=10, leave=40)), "stationary")


def test_stationary_ignores_a_fading_light() -> None:
    # Dusk changes every pixel's brightness for good, but by one global gain and keeping the edges.
    settings = {"type": "stationary", "min_s": 10, "interval_s": 0, "min_area": 400}
    assert not only(run(settings, clips.dusk(150)), "stationary")


STATIONARY = {"type": "stationary", "min_s": 10, "interval_s": 0, "min_area": 400}


def test_stationary_ignores_a_haze_that_settles() -> None:
    # A soft haze that drifts in and hangs still is new and unmoving, but it has no outline of its own.
    assert only(run({**STATIONARY, "outline_min": 0.0}, clips.settled_haze(120, 10)), "stationary")
    assert not only(run(STATIONARY, clips.settled_haze(120, 10)), "stationary")


def test_stationary_ignores_an_object_in_a_scene_that_changed_around_it() -> None:
    # A box lying in flood water: sharp, still, new; but its surroundings are new and rippling too.
    assert only(run({**STATIONARY, "surround_max": 1.0}, clips.debris_in_water(120, 10)), "stationary")
    assert not only(run(STATIONARY, clips.debris_in_water(120, 10)), "stationary")


def test_tamper_does_not_call_a_crowd_filling_the_view_a_moved_camera() -> None:
    # The plain square's only texture is people, who leave the learnt view; but they never form a steady new one.
    settings = {"type": "tamper", "hold_s": 3, "interval_s": 0}
    assert only(run({**settings, "steady_corr": -0.99}, clips.walkers(100, 30)), "tamper")
    assert not only(run(settings, clips.walkers(100, 30)), "tamper")


@pytest.mark.parametrize("kind", ["covered", "defocused", "moved", "frozen"])
def test_tamper_reports_each_kind(kind: str) -> None:
    settings = {"type": "tamper", "hold_s": 3, "interval_s": 0}
    found = only(run(settings, clips.tampered(60, 20, kind)), "tamper")
    kinds = {b.label for _, d in found for b in d.boxes}
    assert kind in kinds, f"{kind} not reported (got {kinds})"
    assert min(t for t, d in found if d.boxes[0].label == kind) >= 4.0 + 3.0
    assert found[0][1].values[kind] == 1.0


def test_tamper_is_quiet_on_a_healthy_camera() -> None:
    assert not run({"type": "tamper", "hold_s": 3, "interval_s": 0}, clips.tampered(60, 999, "none"))


def test_clips_written_as_mjpg_and_h264_read_back_and_detect(tmp_path: Any) -> None:
    avi = clips.write_clip(tmp_path / "flame.avi", clips.flame(30))
    mp4 = clips.write_clip(tmp_path / "flame.mp4", clips.flame(30), h264=True)
    for path in (avi, mp4):
        frames = list(clips.read_clip(path))
        assert len(frames) == 30
        assert only(run({"type": "flame"}, frames), "flame")
