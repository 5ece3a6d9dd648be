"""Incident lifecycle: cooldown, flap guard, reminders and ack, quiet hours, schedules, peaks, ids,
snapshot/restore mid-`for`, reload keeping unchanged rules' state, device registry changes."""

from __future__ import annotations

import json
import textwrap

from gateway.model import GridCell, IncidentEvent, Reading
from rules import DeviceSpec, Engine, load_rules
from rules.lifecycle import incident_id

S = 1_000_000_000
M = 60 * S
H = 60 * M
# 2024-01-01 00:00 +08:00 (a Monday), so schedule tests can reason in local time
MIDNIGHT = 1_704_038_400 * S
GRID = GridCell("110101001002003")


def rules_text(body: str) -> str:
    """A rule file from an indented rule list."""
    return "rules:\n" + textwrap.indent(textwrap.dedent(body), "  ")


def engine(body: str, devices: list[DeviceSpec] | None = None) -> Engine:
    """An engine over a rule list."""
    return Engine(load_rules(rules_text(body)), "gw-test", devices or [])


def feed(eng: Engine, t: int, device: str = "d1", **fields: float) -> list[IncidentEvent]:
    """A reading at MIDNIGHT + t."""
    return eng.on_reading(Reading(device, "dust", MIDNIGHT + t, dict(fields), grid=GRID), None, MIDNIGHT + t)


def summary(events: list[IncidentEvent]) -> list[tuple[str, int, str]]:
    """(kind, offset, reason)."""
    return [(e.kind.value, e.ts_ns - MIDNIGHT, e.reason) for e in events]


BASE = """
- id: pm10
  kind: threshold
  event_type: "200302"
  field: pm10
  levels: [{severity: warning, set: 150, clear: 120}, {severity: critical, set: 250, clear: 200}]
"""


def with_(extra: str) -> str:
    """BASE with extra keys on the rule."""
    return BASE.replace("  levels", textwrap.dedent(extra).strip().replace("\n", "\n  ").join(["  ", "\n  levels"]))


def test_incident_id_is_derived_from_gateway_rule_subject_and_opening_time() -> None:
    eng = engine(BASE)
    opened = feed(eng, 0, pm10=200)[0]
    assert opened.incident.id == incident_id("gw-test", "pm10", "d1", MIDNIGHT)
    assert incident_id("gw-other", "pm10", "d1", MIDNIGHT) != opened.incident.id


def test_cooldown_defers_reopening() -> None:
    eng = engine(with_("cooldown: 30m"))
    feed(eng, 0, pm10=200)
    feed(eng, M, pm10=100)
    assert feed(eng, 2 * M, pm10=200) == []  # within the cooldown: pending
    assert summary(eng.tick(MIDNIGHT + 31 * M + 1)) == [("opened", 31 * M, "condition")]


def test_flap_guard_turns_a_storm_into_one_flapping_incident() -> None:
    eng = engine(with_("flap: {max_opens: 2, within: 1h}"))
    events: list[IncidentEvent] = []
    for i in range(10):  # open/close every minute
        events += feed(eng, 2 * i * M, pm10=200)
        events += feed(eng, (2 * i + 1) * M, pm10=100)
    opened = [e for e in events if e.kind.value == "opened"]
    assert len(opened) == 3
    assert opened[2].reason == "flapping" and opened[2].incident.values["flapping"] is True
    assert [e.kind.value for e in events].count("resolved") == 2
    # it resolves once the subject has been quiet for the whole flap period
    assert eng.tick(MIDNIGHT + 19 * M + H) == []
    assert summary(eng.tick(MIDNIGHT + 19 * M + H + 1)) == [("resolved", 19 * M + H, "cleared")]


def test_reminders_until_ack() -> None:
    eng = engine(with_("remind_every: 10m"))
    opened = feed(eng, 0, pm10=200)[0]
    reminders = eng.tick(MIDNIGHT + 25 * M)
    assert summary(reminders) == [("updated", 10 * M, "reminder"), ("updated", 20 * M, "reminder")]
    assert [e.incident.revision for e in reminders] == [2, 3]
    assert eng.ack(opened.incident.id) is True
    assert eng.tick(MIDNIGHT + 2 * H) == []
    assert eng.ack("no-such-incident") is False


def test_quiet_hours_defer_opening_to_their_end() -> None:
    eng = engine(with_('quiet_hours: [{start: "22:00", end: "06:00"}]'))
    assert feed(eng, 23 * H, pm10=200) == []  # 23:00 local: quiet
    assert eng.tick(MIDNIGHT + 30 * H) == []  # still quiet at 06:00 (due exactly then)
    assert summary(eng.tick(MIDNIGHT + 30 * H + 1)) == [("opened", 30 * H, "condition")]


def test_schedule_only_evaluates_in_hours_and_resolves_at_its_end() -> None:
    eng = engine(with_('schedule: [{start: "06:00", end: "22:00", days: [mon, tue, wed, thu, fri]}]'))
    assert feed(eng, 5 * H, pm10=200) == []  # 05:00 Monday: outside
    assert summary(feed(eng, 7 * H, pm10=200)) == [("opened", 7 * H, "condition")]
    assert summary(eng.tick(MIDNIGHT + 22 * H + 1)) == [("resolved", 22 * H, "schedule")]
    assert feed(eng, 23 * H, pm10=300) == []
    saturday = 5 * 24 * H
    assert feed(eng, saturday + 12 * H, pm10=300) == []


def test_schedule_timezone_is_configurable() -> None:
    text = "timezone: UTC\n" + rules_text(with_('schedule: [{start: "06:00", end: "22:00"}]'))
    eng = Engine(load_rules(text), "gw", [])
    # 05:00 +08:00 is 21:00 UTC the day before: inside the UTC schedule
    assert summary(feed(eng, 5 * H, pm10=200)) == [("opened", 5 * H, "condition")]


def test_new_peak_updates() -> None:
    eng = engine(with_("new_peak: 20"))
    feed(eng, 0, pm10=160)
    assert feed(eng, M, pm10=170) == []
    assert summary(feed(eng, 2 * M, pm10=185)) == [("updated", 2 * M, "peak")]
    assert feed(eng, 3 * M, pm10=190) == []


def test_snapshot_restore_mid_for_resumes_the_remaining_time() -> None:
    rules = load_rules(rules_text(with_("for: 10m")))
    eng = Engine(rules, "gw", [])
    feed(eng, 0, pm10=200)
    eng.tick(MIDNIGHT + 4 * M)  # 6 minutes left
    state = json.loads(json.dumps(eng.snapshot()))
    restart = MIDNIGHT + 60 * M  # 56 minutes of downtime
    resumed = Engine.restore(state, rules, "gw", [], restart)
    assert resumed.tick(restart) == []
    assert resumed.tick(restart + 6 * M) == []
    opened = resumed.tick(restart + 6 * M + 1)
    assert [(e.kind.value, e.ts_ns) for e in opened] == [("opened", restart + 6 * M)]


def test_snapshot_keeps_open_incidents_windows_and_revisions() -> None:
    body = (
        BASE
        + """
- id: pm10-avg
  kind: window
  event_type: "200302"
  field: pm10
  window: 1h
  levels: [{severity: warning, set: 100}]
"""
    )
    rules = load_rules(rules_text(body))
    eng = Engine(rules, "gw", [])
    feed(eng, 0, pm10=200)
    feed(eng, M, pm10=260)
    state = json.loads(json.dumps(eng.snapshot()))
    resumed = Engine.restore(state, rules, "gw", [], MIDNIGHT + 2 * M)
    assert len(resumed.open_incidents()) == 2
    events = resumed.on_reading(Reading("d1", "dust", MIDNIGHT + 3 * M, {"pm10": 0.0}), None, MIDNIGHT + 3 * M)
    by_rule = {e.incident.rule: e for e in events}
    assert by_rule["pm10"].kind.value == "resolved" and by_rule["pm10"].incident.revision == 3
    assert "pm10-avg" not in by_rule  # window avg (200 + 260 + 0) / 3 still above 100


def test_snapshot_json_is_the_snapshot_and_version_1_snapshots_still_restore() -> None:
    rules = load_rules(rules_text(BASE))
    eng = Engine(rules, "gw", [DeviceSpec("d2", "dust", grid=GRID, interval=60.0)])
    opened = feed(eng, 0, pm10=200)[0]
    feed(eng, M, device="d3", pm10=20)
    state = eng.snapshot()
    assert json.loads(eng.snapshot_json()) == json.loads(json.dumps(state))
    idle = next(s for s in state["subjects"] if s["subject"] == "d3")
    assert "incident" not in idle["machine"] and set(state["devices"]) == {"d1", "d2", "d3"}
    inline = [{**s, "device": state["devices"][s["device"]]} for s in state["subjects"]]
    old = {**state, "version": 1, "subjects": inline}
    del old["devices"]
    for snapshot in (state, old):
        resumed = Engine.restore(json.loads(json.dumps(snapshot)), rules, "gw", [], MIDNIGHT + 2 * M)
        assert resumed.open_incidents() == [opened.incident.id]
        again = json.loads(resumed.snapshot_json())
        assert again["devices"] == state["devices"]
        assert [(x["rule"], x["subject"], x["kind"]) for x in again["subjects"]] == [
            (x["rule"], x["subject"], x["kind"]) for x in state["subjects"]
        ]


def test_restore_with_a_changed_rule_resolves_its_incident() -> None:
    rules = load_rules(rules_text(BASE))
    eng = Engine(rules, "gw", [])
    opened = feed(eng, 0, pm10=200)[0]
    changed = load_rules(rules_text(BASE.replace("set: 150", "set: 160")))
    resumed = Engine.restore(eng.snapshot(), changed, "gw", [], MIDNIGHT + M)
    events = resumed.tick(MIDNIGHT + M)
    assert [(e.kind.value, e.reason, e.incident.id, e.incident.revision) for e in events] == [
        ("resolved", "rule_changed", opened.incident.id, 2)
    ]


def test_reload_keeps_unchanged_rules_state_only() -> None:
    body = (
        BASE
        + """
- id: pm10-avg
  kind: window
  event_type: "200302"
  field: pm10
  window: 1h
  for: 30m
  levels: [{severity: warning, set: 100}]
"""
    )
    eng = engine(body)
    feed(eng, 0, pm10=200)  # pm10 opens; pm10-avg pending until 30m
    changed = body.replace("set: 150, clear: 120", "set: 155, clear: 120")
    events = eng.reload(load_rules(rules_text(changed)), MIDNIGHT + 10 * M)
    assert summary(events) == [("resolved", 10 * M, "rule_changed")]
    assert summary(eng.tick(MIDNIGHT + 30 * M + 1)) == [("opened", 30 * M, "condition")]  # kept its pending timer
    removed = eng.reload(load_rules(rules_text(BASE)), MIDNIGHT + 40 * M)
    assert [(e.incident.rule, e.reason) for e in removed] == [("pm10-avg", "rule_removed")]


def test_update_devices_restarts_changed_subjects() -> None:
    body = """
- id: silent
  kind: silence
  event_type: "900101"
"""
    eng = engine(body, [DeviceSpec("d1", interval=60.0), DeviceSpec("d2", interval=60.0)])
    eng.tick(MIDNIGHT)
    assert len(eng.tick(MIDNIGHT + 4 * M)) == 2
    events = eng.update_devices([DeviceSpec("d1", interval=60.0)], MIDNIGHT + 5 * M)
    assert [(e.incident.subject, e.reason) for e in events] == [("d2", "device_changed")]
    assert len(eng.open_incidents()) == 1


def test_overrides_apply_class_then_grid_then_device() -> None:
    body = with_("""
overrides:
  device_class:
    tsp: {levels: [{severity: warning, set: 300}]}
  grid:
    "110101": {for: 5m}
    "110101001": {for: 7m}
  device:
    d9: {enabled: false}
""")
    rules = load_rules(rules_text(body))
    from rules import explain

    plain = explain(rules, DeviceSpec("d1", "dust"))[0]
    assert plain.sources == () and plain.rule.for_ == 0
    tuned = explain(rules, DeviceSpec("d2", "dust", "tsp", GRID))[0]
    assert tuned.sources == ("device_class:tsp", "grid:110101", "grid:110101001")
    assert tuned.rule.levels[0].set == 300 and tuned.rule.for_ == 7 * M
    assert "from: rule → device_class:tsp → grid:110101 → grid:110101001" in tuned.describe()
    off = explain(rules, DeviceSpec("d9", "dust"))[0]
    assert off.rule.enabled is False
    eng = Engine(rules, "gw", [DeviceSpec("d9", "dust")])
    assert feed(eng, 0, device="d9", pm10=999) == []


def test_selector_kind_class_grid_tags() -> None:
    body = BASE.replace("  levels", '  select: {kind: dust, grid: ["110101001"], tags: {site: a}}\n  levels')
    rules = load_rules(rules_text(body))
    from rules import explain

    assert explain(rules, DeviceSpec("d", "dust", grid=GRID, tags={"site": "a"}))
    assert not explain(rules, DeviceSpec("d", "dust", grid=GRID, tags={"site": "b"}))
    assert not explain(rules, DeviceSpec("d", "water", grid=GRID, tags={"site": "a"}))
    assert not explain(rules, DeviceSpec("d", "dust", grid=GridCell("110102001002003"), tags={"site": "a"}))
