"""The outbox: events stored once in the writer's transaction, per-incident order, dead letters, bounds, evidence."""

from __future__ import annotations

import base64
import json
import sqlite3
from pathlib import Path

import pytest

from adapters.webhook import EscalationPolicy
from gateway.journal import Journal, JournalSettings, Txn
from gateway.model import IncidentEventKind
from gateway.outbox import (
    Outbox,
    OutboxFull,
    OutboxOptions,
    enqueue,
    format_dead_letters,
    outbox_emitter,
    store_snapshot,
)
from tests.test_webhook_kit import GRID, OTHER_STREET, T0, commit_events, connect, incident_event, stream

ALL = lambda kind, etype, grid: True  # noqa: E731 - a filter that takes everything


@pytest.fixture
def box(tmp_path: Path) -> tuple[sqlite3.Connection, Outbox]:
    """A writer connection and an Outbox with one endpoint `a` over the same file."""
    db = connect(tmp_path / "journal.db")
    outbox = Outbox(tmp_path / "journal.db")
    outbox.register({"a": "http://127.0.0.1:1/a"})
    return db, outbox


def test_enqueue_stores_the_final_cloudevent_once(box: tuple[sqlite3.Connection, Outbox]) -> None:
    db, outbox = box
    commit_events(db, [incident_event(1, 1)], T0)
    assert outbox.admit("a", ALL) == 1
    [item] = outbox.due("a", T0, 10)
    event = json.loads(item.body)
    assert item.event_id == event["id"] == f"{1:032x}-1"
    assert event["specversion"] == "1.0" and event["type"] == "cn.gridedge.incident.opened"
    assert event["source"] == "urn:gridedge:gateway:gw-test" and event["subject"] == GRID.code
    assert event["time"] == "2023-11-14T22:13:20.000000Z"
    data = event["data"]
    assert data["grid"] == {"code": GRID.code, "name": GRID.name, **GRID.levels()}
    assert data["subject"] == {"kind": "device", "id": "dust-0001", "device": "dust-0001"}
    assert data["routing"] == {"level": "grid", "name": "网格", "code": GRID.code}
    assert data["location"] == {"lat": 39.9163, "lon": 116.3972}


def test_a_rolled_back_transaction_leaves_nothing(box: tuple[sqlite3.Connection, Outbox]) -> None:
    db, outbox = box
    db.execute("BEGIN IMMEDIATE")
    enqueue(db, [incident_event(1, 1)], "gw-test", T0)
    db.execute("ROLLBACK")
    assert outbox.admit("a", ALL) == 0
    assert outbox.backlog() == 0


def test_an_incident_goes_in_revision_order_and_incidents_in_parallel(box: tuple[sqlite3.Connection, Outbox]) -> None:
    db, outbox = box
    commit_events(db, stream(3, 3), T0)
    outbox.admit("a", ALL)
    first = outbox.due("a", T0, 10)
    assert [(p.incident[-1], p.revision) for p in first] == [("0", 1), ("1", 1), ("2", 1)]
    assert outbox.due("a", T0, 10, busy={first[0].incident}) == first[1:]
    outbox.delivered("a", first[0].seq)
    assert [p.revision for p in outbox.due("a", T0, 10) if p.incident == first[0].incident] == [2]


def test_a_retry_time_holds_back_the_incident_only(box: tuple[sqlite3.Connection, Outbox]) -> None:
    db, outbox = box
    commit_events(db, stream(2, 2), T0)
    outbox.admit("a", ALL)
    a1, b1 = outbox.due("a", T0, 10)
    outbox.failed("a", a1.seq, T0 + 5_000_000_000, "unavailable: 503")
    assert outbox.due("a", T0, 10) == [b1]
    assert outbox.next_due("a") == 0
    [again] = [p for p in outbox.due("a", T0 + 5_000_000_000, 10) if p.incident == a1.incident]
    assert again.attempts == 1 and again.revision == 1


def test_dead_letter_frees_the_next_revision_and_replay_resends(box: tuple[sqlite3.Connection, Outbox]) -> None:
    db, outbox = box
    commit_events(db, stream(1, 2), T0)
    outbox.admit("a", ALL)
    [first] = outbox.due("a", T0, 10)
    outbox.dead("a", first.seq, "http_400", T0)
    [second] = outbox.due("a", T0, 10)
    assert second.revision == 2
    [letter] = outbox.dead_letters()
    assert (letter.event_id, letter.reason, letter.endpoint) == (first.event_id, "http_400", "a")
    assert "http_400" in format_dead_letters([letter])
    outbox.delivered("a", second.seq)
    assert outbox.replay(event_ids=[first.event_id]) == 1
    [back] = outbox.due("a", T0, 10)
    assert back.event_id == first.event_id and back.attempts == 0
    assert outbox.dead_letters() == []


def test_delivered_events_are_deleted_once_every_endpoint_has_them(tmp_path: Path) -> None:
    db = connect(tmp_path / "j.db")
    outbox = Outbox(tmp_path / "j.db")
    outbox.register({"a": "http://127.0.0.1:1/a", "b": "http://127.0.0.1:1/b"})
    commit_events(db, [incident_event(1, 1)], T0)
    outbox.admit("a", ALL)
    outbox.admit("b", ALL)
    [pa], [pb] = outbox.due("a", T0, 1), outbox.due("b", T0, 1)
    outbox.delivered("a", pa.seq)
    assert outbox.backlog() == 1 and outbox.backlog("a") == 0 and outbox.backlog("b") == 1
    assert outbox.oldest_age_s(T0 + 3_000_000_000) == 3.0
    outbox.delivered("b", pb.seq)
    assert outbox.backlog() == 0 and outbox.oldest_age_s(T0) is None


def test_filters_decide_what_an_endpoint_admits(box: tuple[sqlite3.Connection, Outbox]) -> None:
    db, outbox = box
    events = [incident_event(1, 1), incident_event(2, 1, grid=OTHER_STREET), incident_event(3, 2)]
    commit_events(db, events, T0)
    street = GRID.street
    assert outbox.admit("a", lambda kind, etype, grid: grid.startswith(street) and kind == "opened") == 1
    assert [p.incident for p in outbox.due("a", T0, 10)] == [f"{1:032x}"]
    assert outbox.backlog() == 1  # the two events nobody wants are pruned


def test_block_policy_refuses_the_commit_when_full(box: tuple[sqlite3.Connection, Outbox]) -> None:
    db, outbox = box
    options = OutboxOptions(max_events=3)
    commit_events(db, stream(3, 1), T0, options)
    with pytest.raises(OutboxFull, match="outbox full"):
        commit_events(db, [incident_event(9, 1)], T0, options)
    assert isinstance(OutboxFull("x"), sqlite3.Error)  # the journal retries the group commit
    outbox.admit("a", ALL)
    outbox.delivered("a", outbox.due("a", T0, 1)[0].seq)
    commit_events(db, [incident_event(9, 1)], T0, options)
    assert outbox.backlog() == 3


def test_drop_oldest_policy_drops_counted(
    box: tuple[sqlite3.Connection, Outbox], caplog: pytest.LogCaptureFixture
) -> None:
    db, outbox = box
    options = OutboxOptions(max_events=3, full_policy="drop_oldest")
    commit_events(db, stream(5, 1), T0, options)
    assert outbox.backlog() == 3
    assert outbox.counters()["dropped"] == 2
    assert "DROPPED 2 undelivered events" in caplog.text
    outbox.admit("a", ALL)
    assert [p.incident[-1] for p in outbox.due("a", T0, 10)] == ["2", "3", "4"]


def test_a_repeated_event_is_counted_and_stored_once(box: tuple[sqlite3.Connection, Outbox]) -> None:
    db, outbox = box
    commit_events(db, [incident_event(1, 1)], T0)
    commit_events(db, [incident_event(1, 1)], T0)
    assert outbox.backlog() == 1 and outbox.counters()["duplicate_events"] == 1


def test_removed_endpoint_dead_letters_and_changed_url_reenables(box: tuple[sqlite3.Connection, Outbox]) -> None:
    db, outbox = box
    commit_events(db, [incident_event(1, 1)], T0)
    outbox.admit("a", ALL)
    outbox.disable("a", "410 Gone")
    assert outbox.register({"a": "http://127.0.0.1:1/a"}) == {"a": "410 Gone"}
    assert outbox.register({"a": "http://127.0.0.1:2/a"}) == {"a": None}
    assert outbox.register({"b": "http://127.0.0.1:1/b"}) == {"b": None}
    [letter] = outbox.dead_letters()
    assert letter.reason == "endpoint_removed" and letter.endpoint == "a"


def test_snapshot_travels_inline_and_bad_evidence_is_counted(box: tuple[sqlite3.Connection, Outbox]) -> None:
    db, outbox = box
    jpeg = b"\xff\xd8\xff\xe0" + b"x" * 100
    event = incident_event(1, 1)
    event.incident.values.update(camera="cam-7", zone="gate")
    event.incident.subject = "cam-7:gate"
    event.incident.evidence = ["snapshot:cam-7/gate/1", "snapshot:cam-7/gate/2", "snapshot:cam-7/gate/3"]
    db.execute("BEGIN")
    store_snapshot(db, "snapshot:cam-7/gate/1", jpeg, T0)
    store_snapshot(db, "snapshot:cam-7/gate/2", b"GIF89a", T0)
    enqueue(db, [event], "gw-test", T0, OutboxOptions(max_inline=1000))
    db.execute("COMMIT")
    outbox.admit("a", ALL)
    data = json.loads(outbox.due("a", T0, 1)[0].body)["data"]
    assert data["subject"] == {"kind": "camera", "id": "cam-7:gate", "camera": "cam-7", "zone": "gate"}
    inline, bad, missing = data["evidence"]
    assert base64.b64decode(inline["data_base64"]) == jpeg and inline["media_type"] == "image/jpeg"
    assert bad["omitted"] == "not_jpeg" and missing["omitted"] == "missing"
    counters = outbox.counters()
    assert counters["evidence_not_jpeg"] == 1 and counters["evidence_missing"] == 1


def test_oversize_snapshot_goes_as_reference(box: tuple[sqlite3.Connection, Outbox]) -> None:
    db, outbox = box
    event = incident_event(1, 1)
    event.incident.evidence = ["snapshot:c/z/1"]
    db.execute("BEGIN")
    store_snapshot(db, "snapshot:c/z/1", b"\xff\xd8\xff" + bytes(5000), T0)
    enqueue(db, [event], "gw-test", T0, OutboxOptions(max_inline=4096))
    db.execute("COMMIT")
    outbox.admit("a", ALL)
    [entry] = json.loads(outbox.due("a", T0, 1)[0].body)["data"]["evidence"]
    assert entry == {"ref": "snapshot:c/z/1", "kind": "snapshot", "media_type": "image/jpeg", "size": 5003,
                     "omitted": "oversize"}  # fmt: skip


def test_routing_level_escalates_until_acknowledged(box: tuple[sqlite3.Connection, Outbox]) -> None:
    db, outbox = box
    policy = OutboxOptions(escalation=EscalationPolicy((60.0, 120.0, 180.0)))
    s = 1_000_000_000
    late = incident_event(1, 2, ts_ns=T0)
    late = type(late)(late.kind, late.incident, T0 + 130 * s, late.reason)  # two levels up: street
    commit_events(db, [late], T0, policy)
    outbox.record_ack(f"{2:032x}", T0 + 70 * s)  # acked while at community
    acked = incident_event(2, 2)
    acked = type(acked)(acked.kind, acked.incident, T0 + 500 * s, acked.reason)
    commit_events(db, [acked], T0, policy)
    outbox.admit("a", ALL)
    levels = [json.loads(p.body)["data"]["routing"] for p in outbox.due("a", T0, 10)]
    assert [r["level"] for r in levels] == ["street", "community"]
    assert levels[0]["code"] == GRID.street and levels[1]["code"] == GRID.community


def test_journal_stage_writes_events_in_its_transaction(tmp_path: Path) -> None:
    """The lead's wiring: the emitter enqueues inside the journal's group commit; a separate Outbox reads them."""
    journal = Journal(JournalSettings(path=tmp_path / "journal.db", commit_interval=0.005))
    pending = stream(2, 2)
    emit = outbox_emitter("gw-test")

    def stage(txn: Txn) -> None:
        if txn.readings:
            emit(txn, [pending.pop(0)])

    journal.add_stage(stage)
    for i in range(4):
        journal.append(T0 + i, "dust-1", "dust", f"dust,device=dust-1 pm10=1 {T0 + i}", None)
        journal.flush()
    journal.close()
    outbox = Outbox(tmp_path / "journal.db")
    outbox.register({"a": "http://127.0.0.1:1/a"})
    assert outbox.admit("a", ALL) == 4
    assert [p.event_id for p in outbox.due("a", T0, 10)] == [f"{n:032x}-1" for n in range(2)]


def test_resolved_event_forgets_ack_and_snapshots(box: tuple[sqlite3.Connection, Outbox]) -> None:
    db, outbox = box
    event = incident_event(1, 3, kind=IncidentEventKind.RESOLVED)
    event.incident.evidence = ["snapshot:c/z/1"]
    outbox.record_ack(event.incident.id, T0)
    db.execute("BEGIN")
    store_snapshot(db, "snapshot:c/z/1", b"\xff\xd8\xff", T0)
    enqueue(db, [event], "gw-test", T0)
    db.execute("COMMIT")
    assert db.execute("SELECT count(*) FROM outbox_acks").fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM outbox_snapshots").fetchone()[0] == 0
