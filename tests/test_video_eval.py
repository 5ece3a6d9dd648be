"""bench/video_eval.py reads clip labels from SOURCES.md, so footage it has never seen is judged alike."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.video_eval import clip_labels, run_clip
from tests.conftest import SHARED_DATA

TABLE = """\
## 3a. Video clips — data/video/

| file | source | license | size | video | content / label |
|---|---|---|---|---|---|
| video/a_fire_smoke.mp4 | x | MIT | 1 MiB | 352x288 | FIRE+SMOKE: outdoor fire, dark plume |
| video/b_sunset.mp4 | x | CC BY | 1 MiB | 640x360 | NEGATIVE: sunset over a river (classic fire false-positive) |
| video/c_church.mp4 | x | CC0 | 1 MiB | 640x360 | CROWD: people leaving a church, candles |
| data/video/d_underpass.mp4 | x | CC0 | 1 MiB | 640x360 | FLOODING: underpass filling |
| video/e_cars.mp4 | x | CC0 | 1 MiB | 640x480 | PARKED VEHICLES / GARBAGE: kerbside |
| video/f_odd.mp4 | x | CC0 | 1 MiB | 640x480 | BIRDS: a flock |

## 3b. Still images
| images/fire/x.jpg | fire | cair | 1 KiB | 10x10 |
"""


def test_labels_come_from_the_sources_table(tmp_path: Path) -> None:
    sources = tmp_path / "SOURCES.md"
    sources.write_text(TABLE, encoding="utf-8")
    labels, unknown = clip_labels(sources)
    assert labels == {
        "a_fire_smoke.mp4": {"flame", "smoke"},
        "b_sunset.mp4": set(),  # a negative for every detector
        "c_church.mp4": {"crowd"},  # a crowd, and a negative for flame and smoke
        "d_underpass.mp4": {"water"},
        "e_cars.mp4": {"stationary"},
    }
    assert unknown == ["f_odd.mp4"]  # left out and named, never guessed


@pytest.mark.skipif(not (SHARED_DATA / "SOURCES.md").is_file(), reason="development data not present")
def test_the_development_clips_are_all_labelled() -> None:
    labels, unknown = clip_labels(SHARED_DATA / "SOURCES.md")
    assert unknown == []
    assert labels["emoykim_test7_nofire_lasvegas_neon.mp4"] == set()
    assert labels["emoykim_test1_fire_smoke_outdoor.mp4"] == {"flame", "smoke"}
    assert set(labels) == {p.name for p in (SHARED_DATA / "video").iterdir()}


def test_an_unreadable_clip_gives_no_frames(tmp_path: Path) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00" * 4096)
    assert run_clip(broken, "flame", 5.0).frames == 0
