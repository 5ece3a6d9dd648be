"""The status parts without I/O: the incident board and its filters, device health on a driven clock,
the SSE hub (replay, slow clients cut off, client limit), histogram folding, grid level names."""

from __future__ import annotations

import asyncio
from collections import deque

from gateway.model import GridCell, Incident, IncidentEvent, IncidentEventKind, Reading
from gateway.registry import Device
from gateway.status_devices import DeviceHealth
from gateway.status_grid import level_names
from gateway.status_hub import EventHub
from gateway.status_incidents import IncidentBoard, IncidentFilter, incident_json
from gateway.status_metrics import WindowHistogram

S = 1_000_000_000
A = GridCell("110105001001001", "建外街道 永安里社区 第1网格")
B = GridCell("110105003002001")


def incident(id_: str, grid: GridCell, event_type: str = "200302", t: int = 1) -> Incident:
    return Incident(id_, "r", f"dev-{id_}", event_type, "warning", grid, opened_ns=t * S, revision=1, updated_ns=t * S)


def event(kind: IncidentEventKind, inc: Incident) -> IncidentEvent:
    return IncidentEvent(kind, inc, inc.updated_ns)


def test_board_follows_events_and_filters() -> None:
    board = IncidentBoard(recent_max=2)
    one, two = incident("1", A, t=1), incident("2", B, "500104", t=2)
    board.apply([event(IncidentEventKind.OPENED, one), event(IncidentEventKind.OPENED, two)])
    one.values["value"] = 1.0  # the engine keeps changing its own object: the board holds a copy
    assert board.get("1") is not None and board.get("1").values == {}  # type: ignore[union-attr]
    assert [i.id for i in board.query(IncidentFilter())] == ["2", "1"]  # newest change first
    assert [i.id for i in board.query(IncidentFilter(grid="110105001"))] == ["1"]
    assert [i.id for i in board.query(IncidentFilter(event_type="500104"))] == ["2"]
    resolved = incident("1", A, t=3)
    resolved.state, resolved.revision = "resolved", 2
    board.apply([event(IncidentEventKind.RESOLVED, resolved)])
    assert [i.id for i in board.query(IncidentFilter(state="open"))] == ["2"]
    assert [i.id for i in board.query(IncidentFilter(state="resolved"))] == ["1"]
    assert board.opened == {"200302": 1, "500104": 1} and board.resolved == {"200302": 1}
    assert board.open_by_type() == {"500104": 1}
    for n in range(3):  # only the last `recent_max` resolved incidents are kept
        gone = incident(f"x{n}", A, t=10 + n)
        gone.state = "resolved"
        board.apply([event(IncidentEventKind.RESOLVED, gone)])
    assert [i.id for i in board.query(IncidentFilter(state="resolved"))] == ["x2", "x1"]
    board.seed([incident("9", A)])  # the engine's open set replaces the board's
    assert [i.id for i in board.query(IncidentFilter(state="open"))] == ["9"]


def test_incident_json_hides_snapshot_refs_and_names_levels() -> None:
    inc = incident("1", A)
    inc.evidence = ["snapshot:cam/zone/1", "https://example.invalid/clip"]
    data = incident_json(inc, lambda code: f"label-{code}")
    assert data["has_snapshot"] is True and data["evidence"] == ["https://example.invalid/clip"]
    assert data["levels"]["community"] == "110105001001" and data["event_type_label"] == "label-200302"
    assert data["opened_at"] == "1970-01-01T00:00:01+00:00"


def test_device_health_on_a_driven_clock() -> None:
    now = [1000 * S]
    health = DeviceHealth(lambda: now[0])
    regular = Device("d1", "dust", A, interval=60)
    other = Device("d2", "dust", A, interval=60)
    alarm = Device("f1", "fire", A)
    assert health.health(regular, now[0]) == "waiting"
    health.observe(Reading("d1", "dust", now[0], {"pm10": 1.0}, grid=A))
    health.observe(Reading("zz", "dust", now[0], {"pm10": 1.0}, grid=A, tags={"quarantine": "true"}))
    assert "zz" not in health.last_seen
    now[0] += 180 * S
    assert health.health(regular, now[0]) == "ok" and health.health(other, now[0]) == "waiting"
    now[0] += 1
    assert health.health(regular, now[0]) == "silent" and health.health(other, now[0]) == "never_seen"
    assert health.health(alarm, now[0]) == "unmonitored"
    rows = health.rows([alarm, regular, other], now[0])
    assert [r["id"] for r in rows] == ["d1", "d2", "f1"] and [r["silent"] for r in rows] == [True, True, False]


def test_hub_replays_after_last_event_id_and_cuts_off_slow_clients() -> None:
    async def scenario() -> None:
        hub = EventHub(keep=3, client_queue=2, max_clients=2)
        hub.bind(asyncio.get_running_loop())
        for n in range(4):
            hub.publish("device", {"n": n})
        joined = hub.subscribe(last_id=2)
        assert joined is not None
        client, missed = joined
        assert [e.seq for e in missed] == [3, 4]  # the ring keeps the last 3; seq 1 is gone
        assert hub.subscribe() is not None and hub.subscribe() is None  # the client limit
        for n in range(3):
            hub.publish("device", {"n": n})
        await asyncio.sleep(0)  # fan-out runs on the loop
        items = [client.queue.get_nowait() for _ in range(client.queue.qsize())]
        assert [e.seq if e else None for e in items] == [5, 6, None]  # 2 queued, then the stream ends
        assert hub.cut_off == 2 and hub.clients == 0  # the other client did not read either
        assert missed[0].encode().startswith(b"id: 3\nevent: device\ndata: {")

    asyncio.run(scenario())


def test_histogram_folds_only_new_samples() -> None:
    samples: deque[float] = deque(maxlen=4)
    hist = WindowHistogram((0.1, 1.0))
    samples.extend([0.05, 0.5])
    hist.fold(samples)
    hist.fold(samples)  # nothing new: nothing counted twice
    assert hist.buckets() == [("0.1", 1.0), ("1.0", 2.0), ("+Inf", 2.0)]
    samples.extend([float(x) for x in ("0.05", "0.05")])  # equal values are still new samples
    hist.fold(samples)
    assert hist.buckets()[-1] == ("+Inf", 4.0)
    samples.extend([2.0 + n for n in range(6)])  # more than the window between two folds
    hist.fold(samples)
    assert hist.buckets()[-1] == ("+Inf", 8.0)  # the 4 still in the window; 2 were lost, as documented
    assert round(hist.total, 2) == round(0.05 * 3 + 0.5 + 4 + 5 + 6 + 7, 2)


def test_level_names_from_cell_names() -> None:
    names = level_names([A, B, GridCell("110105011003001", "朝阳区 酒仙桥街道 社区003 网格001")])
    assert names["110105001"] == "建外街道" and names["110105001001"] == "永安里社区"
    assert names["110105001001001"] == "第1网格" and names["110105"] == "朝阳区"
    assert "110105003002001" not in names  # no name given
