"""gateway/simulator.py: the demo's scripted drill alarm (the CLI tests publish its traffic for real)."""

from __future__ import annotations

from gateway.simulator import Drill


def test_drill_alarm_comes_after_its_delay_lasts_its_length_and_repeats() -> None:
    drill = Drill("fire-0001", start=1000.0, after=15, length=30, every=180)
    at = [(s, drill.active("fire-0001", 1000.0 + s)) for s in (0, 14.9, 15, 44.9, 45, 194.9, 195, 224.9, 225)]
    assert at == [(0, False), (14.9, False), (15, True), (44.9, True), (45, False),
                  (194.9, False), (195, True), (224.9, True), (225, False)]  # fmt: skip
    assert not drill.active("fire-0002", 1020.0)  # only its own device
