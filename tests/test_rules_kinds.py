"""Each rule kind with a driven clock: readings and ticks at chosen instants, exact events out."""

from __future__ import annotations

import textwrap

from gateway.model import Box, Detection, GridCell, IncidentEvent, Reading
from rules import DeviceSpec, Engine, load_rules

S = 1_000_000_000
M = 60 * S
H = 60 * M
T0 = 1_700_000_000 * S  # 2023-11-15 06:13:20 +08:00
GRID = GridCell("110101001002003")


def engine(yaml_rules: str, devices: list[DeviceSpec] | None = None) -> Engine:
    """An engine over a YAML rule list (indented under `rules:`)."""
    text = "rules:\n" + textwrap.indent(textwrap.dedent(yaml_rules), "  ")
    return Engine(load_rules(text), "gw-test", devices or [])


def feed(eng: Engine, device: str, t: int, **fields: float | bool | str) -> list[IncidentEvent]:
    """One reading at T0 + t, received at the same time."""
    return eng.on_reading(Reading(device, "dust", T0 + t, dict(fields), grid=GRID), None, T0 + t)


def kinds(events: list[IncidentEvent]) -> list[tuple[str, int, str]]:
    """(kind, offset from T0, severity) of events."""
    return [(e.kind.value, e.ts_ns - T0, e.incident.severity) for e in events]


THRESHOLD = """
- id: pm10
  kind: threshold
  event_type: "200302"
  field: pm10
  levels: [{severity: warning, set: 150, clear: 120}, {severity: critical, set: 250, clear: 200}]
"""


def test_threshold_hysteresis_escalates_and_resolves() -> None:
    eng = engine(THRESHOLD)
    assert feed(eng, "d1", 0, pm10=149) == []
    opened = feed(eng, "d1", M, pm10=150)
    assert kinds(opened) == [("opened", M, "warning")]
    assert opened[0].incident.values["threshold"] == 150.0
    assert feed(eng, "d1", 2 * M, pm10=125) == []  # dead band: stays open
    assert kinds(feed(eng, "d1", 3 * M, pm10=300)) == [("updated", 3 * M, "critical")]
    assert kinds(feed(eng, "d1", 4 * M, pm10=210)) == []  # critical dead band
    assert kinds(feed(eng, "d1", 5 * M, pm10=199)) == [("updated", 5 * M, "warning")]
    resolved = feed(eng, "d1", 6 * M, pm10=119)
    assert kinds(resolved) == [("resolved", 6 * M, "warning")]
    assert resolved[0].incident.revision == 4
    assert resolved[0].incident.grid == GRID


def test_threshold_for_and_clear_for_fire_on_ticks_stamped_with_their_deadline() -> None:
    eng = engine(THRESHOLD.replace("  levels", "  for: 10m\n  clear_for: 5m\n  levels"))
    feed(eng, "d1", 0, pm10=160)
    assert eng.tick(T0 + 10 * M) == []  # due at 10m, fires strictly after
    assert kinds(eng.tick(T0 + 10 * M + 1)) == [("opened", 10 * M, "warning")]
    feed(eng, "d1", 11 * M, pm10=100)
    feed(eng, "d1", 13 * M, pm10=160)  # back before clear_for ran out
    feed(eng, "d1", 14 * M, pm10=100)
    assert eng.tick(T0 + 19 * M) == []
    assert kinds(eng.tick(T0 + 20 * M)) == [("resolved", 19 * M, "warning")]


def test_for_is_cancelled_when_the_condition_drops() -> None:
    eng = engine(THRESHOLD.replace("  levels", "  for: 10m\n  levels"))
    feed(eng, "d1", 0, pm10=160)
    feed(eng, "d1", 5 * M, pm10=100)
    assert eng.tick(T0 + H) == []


def test_below_direction() -> None:
    eng = engine("""
    - id: low-battery
      kind: threshold
      event_type: "900101"
      field: battery
      direction: below
      levels: [{severity: warning, set: 20, clear: 25}, {severity: critical, set: 10, clear: 12}]
    """)
    assert kinds(feed(eng, "d1", 0, battery=19)) == [("opened", 0, "warning")]
    assert kinds(feed(eng, "d1", M, battery=9)) == [("updated", M, "critical")]
    assert kinds(feed(eng, "d1", 2 * M, battery=24)) == [("updated", 2 * M, "warning")]
    assert kinds(feed(eng, "d1", 3 * M, battery=26)) == [("resolved", 3 * M, "warning")]


def test_window_average_over_sliding_time() -> None:
    eng = engine("""
    - id: pm10-15m
      kind: window
      event_type: "200302"
      field: pm10
      agg: avg
      window: 15m
      min_count: 2
      levels: [{severity: warning, set: 100}]
    """)
    assert feed(eng, "d1", 0, pm10=190) == []  # one sample < min_count
    opened = feed(eng, "d1", 5 * M, pm10=20)  # avg 105
    assert kinds(opened) == [("opened", 5 * M, "warning")]
    assert opened[0].incident.values["aggregate"] == 105.0
    assert opened[0].incident.values["current"] == 20.0
    # at 15m the sample at 0 leaves the window (t > now - 15m): avg of 20 and 30 = 25
    assert kinds(feed(eng, "d1", 15 * M, pm10=30)) == [("resolved", 15 * M, "warning")]


def test_window_max_min_count_percentile() -> None:
    for agg, values, expected in (("max", [5, 9, 3], 9.0), ("min", [5, 9, 3], 3.0), ("count", [1, 1, 1], 3.0),
                                  ("p50", [1, 3, 2, 4], 2.5), ("sum", [1, 2, 3], 6.0)):  # fmt: skip
        eng = engine(f"""
        - id: w
          kind: window
          event_type: x
          field: v
          agg: {agg}
          window: 1h
          levels: [{{severity: info, set: 1000000}}]
        """)
        for i, v in enumerate(values):
            feed(eng, "d1", i * M, v=v)
        binding = eng.subjects()[0]
        assert binding.kind.value == expected, agg


def test_rate_of_rise_and_time_to_threshold() -> None:
    eng = engine("""
    - id: rise
      kind: rate
      event_type: "500104"
      field: level
      window: 1h
      levels: [{severity: warning, set: 0.3, clear: 0.2}]
      predict: {target: 4.5, within: 30m, severity: major}
    """)
    assert feed(eng, "w1", 0, level=3.0) == []  # one sample: no rate yet
    assert feed(eng, "w1", 30 * M, level=3.1) == []  # 0.2 m/h, 4.5 m in 7 h
    opened = feed(eng, "w1", 60 * M, level=3.4)  # window (0, 60m]: 3.1 → 3.4 in 30 min = 0.6 m/h
    assert kinds(opened) == [("opened", 60 * M, "warning")]
    assert abs(float(opened[0].incident.values["rate"]) - 0.6) < 1e-9
    # 4.2 at 90m: rate (3.4 → 4.2 over 30 min) 1.6 m/h, 0.3 m to go: 11.25 min → predicted: major
    updated = feed(eng, "w1", 90 * M, level=4.2)
    assert kinds(updated) == [("updated", 90 * M, "major")]
    assert abs(float(updated[0].incident.values["eta_s"]) - 675.0) < 1e-6


def test_rate_waits_for_min_span() -> None:
    """A centimetre of gauge noise two minutes after start is no 0.3 m/h rise once min_span is set."""
    rules = """
    - id: rise
      kind: rate
      event_type: "500104"
      field: level
      window: 1h
      {min_span}
      levels: [{{severity: warning, set: 0.3, clear: 0.2}}]
    """
    noisy = [(0, 1.20), (2 * M, 1.21), (4 * M, 1.20), (6 * M, 1.21)]
    eager, patient = engine(rules.format(min_span="")), engine(rules.format(min_span="min_span: 15m"))
    assert kinds([e for t, v in noisy for e in feed(eager, "w1", t, level=v)]) == [
        ("opened", 2 * M, "warning"),  # 1 cm in 2 min: 0.3 m/h
        ("resolved", 4 * M, "warning"),  # and back: the noise flaps
    ]
    assert [e for t, v in noisy for e in feed(patient, "w1", t, level=v)] == []
    assert feed(patient, "w1", 14 * M, level=1.29) == []  # 9 cm in 14 min, 0.39 m/h: a span under 15 min
    opened = feed(patient, "w1", 16 * M, level=1.30)  # 10 cm in 16 min: 0.375 m/h, a real rise
    assert kinds(opened) == [("opened", 16 * M, "warning")]
    assert abs(float(opened[0].incident.values["rate"]) - 0.375) < 1e-9


def test_state_alarm_debounced() -> None:
    eng = engine("""
    - id: fire
      kind: state
      event_type: "500106"
      field: alarm
      debounce: 5s
    """)
    feed(eng, "f1", 0, alarm=1)
    feed(eng, "f1", 2 * S, alarm=0)  # a blip shorter than the debounce
    assert eng.tick(T0 + M) == []
    feed(eng, "f1", 2 * M, alarm=True)
    assert kinds(eng.tick(T0 + 2 * M + 5 * S + 1)) == [("opened", 2 * M + 5 * S, "critical")]
    feed(eng, "f1", 3 * M, alarm=0)
    assert kinds(eng.tick(T0 + 3 * M + 6 * S)) == [("resolved", 3 * M + 5 * S, "critical")]


def test_state_alarm_text_value() -> None:
    eng = engine("""
    - id: fire
      kind: state
      event_type: "500106"
      field: status
      alarm: FIRE
    """)
    assert kinds(feed(eng, "f1", 0, status="fire")) == [("opened", 0, "critical")]
    assert kinds(feed(eng, "f1", S, status="normal")) == [("resolved", S, "critical")]


SILENCE = """
- id: silent
  kind: silence
  event_type: "900101"
  levels: [{severity: warning, set: 3}, {severity: major, set: 10}]
"""


def test_silence_of_a_device_never_seen_since_start() -> None:
    eng = engine(SILENCE, [DeviceSpec("d1", "dust", interval=60.0, grid=GRID), DeviceSpec("d2", interval=None)])
    assert eng.tick(T0) == []  # the clock starts: d1 expected every 60 s; d2 has no interval → not watched
    assert eng.tick(T0 + 3 * M) == []
    opened = eng.tick(T0 + 3 * M + 1)
    assert kinds(opened) == [("opened", 3 * M, "warning")]
    assert opened[0].incident.values["never_seen"] is True
    assert opened[0].incident.subject == "d1"
    assert kinds(eng.tick(T0 + 11 * M)) == [("updated", 10 * M, "major")]
    assert kinds(feed(eng, "d1", 12 * M, pm10=1)) == [("resolved", 12 * M, "major")]
    assert kinds(eng.tick(T0 + 15 * M + 1)) == [("opened", 15 * M, "warning")]


def test_silence_rule_interval_default_and_unregistered_devices_ignored() -> None:
    eng = engine(SILENCE.replace("  levels", "  interval: 5m\n  levels"), [DeviceSpec("d1")])
    eng.tick(T0)
    feed(eng, "stranger", M, pm10=1)
    events = eng.tick(T0 + H)
    assert [e.incident.subject for e in events] == ["d1", "d1"]  # warning at 15m, major at 50m


def detection(t: int, score: float, zone: str = "gate", detector: str = "flame") -> Detection:
    """A detection of camera cam1 at T0 + t."""
    return Detection("cam1", detector, zone, T0 + t, score, [Box(1, 2, 3, 4)], grid=GRID, snapshot=b"\xff\xd8")


def test_detection_needs_frames_and_duration_then_clears() -> None:
    eng = engine("""
    - id: flame
      kind: detection
      event_type: "500106"
      detector: flame
      zones: [gate]
      min_score: 0.6
      min_frames: 3
      min_duration: 2s
      max_gap: 5s
      clear_after: 30s
    """)
    assert eng.on_detection(detection(0, 0.9), T0) == []
    assert eng.on_detection(detection(S, 0.5), T0 + S) == []  # below min_score: ignored
    assert eng.on_detection(detection(S, 0.9, detector="smoke"), T0 + S) == []
    assert eng.on_detection(detection(S, 0.9, zone="yard"), T0 + S) == []
    assert eng.on_detection(detection(S, 0.8), T0 + S) == []  # 2 frames
    opened = eng.on_detection(detection(2 * S, 0.7), T0 + 2 * S)  # 3 frames over 2 s
    assert kinds(opened) == [("opened", 2 * S, "warning")]
    incident = opened[0].incident
    assert incident.subject == "cam1:gate"
    assert incident.evidence == [f"snapshot:cam1/gate/{T0 + 2 * S}"]
    assert kinds(eng.tick(T0 + 33 * S)) == [("resolved", 32 * S, "warning")]


def test_detection_gap_restarts_the_run() -> None:
    eng = engine("""
    - id: flame
      kind: detection
      event_type: "500106"
      detector: flame
      min_frames: 2
      max_gap: 5s
    """)
    eng.on_detection(detection(0, 0.9), T0)
    assert eng.on_detection(detection(10 * S, 0.9), T0 + 10 * S) == []
    assert kinds(eng.on_detection(detection(12 * S, 0.9), T0 + 12 * S)) == [("opened", 12 * S, "warning")]


def test_expression_over_fields_and_windows() -> None:
    eng = engine("""
    - id: over-ref
      kind: expression
      event_type: "200302"
      expr: 'avg(pm10, "15m") - pm10_ref > 80 and not maintenance_ok == 0'
    """)
    assert feed(eng, "d1", 0, pm10=150, pm10_ref=100, maintenance_ok=1) == []
    opened = feed(eng, "d1", 5 * M, pm10=250, pm10_ref=100, maintenance_ok=1)  # avg 200 - 100 > 80
    assert kinds(opened) == [("opened", 5 * M, "warning")]
    assert opened[0].incident.values["avg(pm10,900s)"] == 200.0
    assert feed(eng, "d1", 6 * M, pm10=250) == []  # pm10_ref missing: not applicable, no change
    assert kinds(feed(eng, "d1", 7 * M, pm10=0, pm10_ref=200, maintenance_ok=1)) == [("resolved", 7 * M, "warning")]


def test_expression_value_levels() -> None:
    eng = engine("""
    - id: diff
      kind: expression
      event_type: x
      expr: 'abs(a - b) + max(0, min(c, 1))'
      levels: [{severity: warning, set: 10, clear: 5}]
    """)
    assert kinds(feed(eng, "d1", 0, a=3, b=14, c=0)) == [("opened", 0, "warning")]
    assert feed(eng, "d1", M, a=0, b=0, c=0.0, z=1) != []


def test_maintenance_and_calibration_readings_are_skipped_and_counted() -> None:
    eng = engine(THRESHOLD)
    assert feed(eng, "d1", 0, pm10=500, maintenance=True) == []
    assert feed(eng, "d1", M, pm10=500, data_flag="M") == []
    assert feed(eng, "d1", 2 * M, pm10=500, data_flag="c") == []
    assert eng.counters["maintenance_skipped"] == 3
    assert kinds(feed(eng, "d1", 3 * M, pm10=500, data_flag="N")) == [("opened", 3 * M, "critical")]
    eng2 = engine(THRESHOLD.replace("  levels", "  skip_maintenance: false\n  levels"))
    assert kinds(feed(eng2, "d1", 0, pm10=500, maintenance=True)) == [("opened", 0, "critical")]


def test_readings_without_the_field_or_non_numeric_do_not_apply() -> None:
    eng = engine(THRESHOLD)
    assert feed(eng, "d1", 0, pm25=500) == []
    assert feed(eng, "d1", M, pm10="high") == []
    assert feed(eng, "d1", 2 * M, pm10=float("nan")) == []
    assert feed(eng, "d1", 3 * M, pm10=float("inf")) == []
