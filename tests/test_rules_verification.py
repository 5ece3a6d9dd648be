"""The platform's 处置完毕 report is verified against the condition (核查): failed while still over the
clear level, passed when the incident then stays clear for `clear_for`; state survives a snapshot."""

from __future__ import annotations

from rules import Engine, load_rules
from tests.test_rules_lifecycle import MIDNIGHT, S, feed, rules_text, with_


def open_incident(eng: Engine) -> str:
    (opened,) = feed(eng, 0, pm10=180)
    return opened.incident.id


def test_handled_while_still_over_the_limit_fails_verification() -> None:
    eng = Engine(load_rules(rules_text(with_("clear_for: 60s"))), "gw-test", [])
    incident = open_incident(eng)
    (event,) = eng.handled(incident, MIDNIGHT + 10 * S)
    after = event.incident
    assert (event.kind.value, after.values["verification"], after.revision) == ("updated", "failed", 2)
    assert eng.handled("no-such-incident", MIDNIGHT + 11 * S) == []


def test_handled_while_clearing_resolves_with_verification_passed() -> None:
    eng = Engine(load_rules(rules_text(with_("clear_for: 60s"))), "gw-test", [])
    incident = open_incident(eng)
    assert feed(eng, 5 * S, pm10=100) == []  # below clear: clearing, `clear_for` running
    assert eng.handled(incident, MIDNIGHT + 10 * S) == []
    events = feed(eng, 70 * S, pm10=90)
    (resolved,) = [e for e in events if e.kind.value == "resolved"]
    assert resolved.incident.values["verification"] == "passed"


def test_verification_fails_when_the_condition_returns_during_clear_for() -> None:
    eng = Engine(load_rules(rules_text(with_("clear_for: 60s"))), "gw-test", [])
    incident = open_incident(eng)
    feed(eng, 5 * S, pm10=100)
    eng.handled(incident, MIDNIGHT + 10 * S)
    restored = Engine.restore(eng.snapshot(), load_rules(rules_text(with_("clear_for: 60s"))), "gw-test", [],
                              MIDNIGHT + 11 * S)
    (event,) = feed(restored, 20 * S, pm10=170)
    assert (event.kind.value, event.incident.values["verification"]) == ("updated", "failed")
