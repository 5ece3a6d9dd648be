"""The dispatch outbox: incident events stored in the journal file, in the transaction that made them.

Write side (inside the journal's group commit): `enqueue` serialises each event once into its final
CloudEvents body. Read side (`Outbox`, its own connection; WAL lets it read while the committer
writes): per endpoint, the next deliverable events with per-incident ordering, delivery marks, retry
times, dead letters and replay, backlog and age. Ordering: an incident's revision N+1 is never due
for an endpoint while its revision N is still pending there (delivered or dead-lettered frees it).

Bound: at most `max_events` stored events (pending or dead-lettered; delivered ones are deleted).
When an enqueue would pass it, `full_policy` decides, and neither is silent:
- `block` (default): `enqueue` raises `OutboxFull` (a sqlite3 error), the journal rolls the group
  commit back and retries it, so nothing is acked to the sensors until deliveries free room;
- `drop_oldest`: the oldest stored events are deleted to make room, counted in `dropped` and
  logged at ERROR, event by event id.
"""

from __future__ import annotations

import logging
import sqlite3
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal, Protocol

from adapters.webhook.cloudevent import build_event, encode, event_id
from adapters.webhook.escalation import EscalationPolicy, escalate, routing
from adapters.webhook.evidence import DEFAULT_MAX_INLINE, ClipLookup, evidence_entries
from adapters.webhook.store import Accept, Pending
from gateway.model import IncidentEvent, IncidentEventKind

__all__ = [
    "DeadLetter",
    "Outbox",
    "OutboxFull",
    "OutboxOptions",
    "create_tables",
    "enqueue",
    "format_dead_letters",
    "outbox_emitter",
    "store_snapshot",
]

log = logging.getLogger("gridedge.outbox")

FullPolicy = Literal["block", "drop_oldest"]

TABLES: Final = (
    """CREATE TABLE IF NOT EXISTS outbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL UNIQUE, incident TEXT NOT NULL,
        revision INTEGER NOT NULL, kind TEXT NOT NULL, event_type TEXT NOT NULL, grid TEXT NOT NULL,
        created INTEGER NOT NULL, body BLOB NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS outbox_endpoints (
        name TEXT PRIMARY KEY, url TEXT NOT NULL, admitted INTEGER NOT NULL, disabled TEXT)""",
    """CREATE TABLE IF NOT EXISTS outbox_deliveries (
        endpoint TEXT NOT NULL, seq INTEGER NOT NULL, incident TEXT NOT NULL, state TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0, next_at INTEGER NOT NULL DEFAULT 0, error TEXT NOT NULL DEFAULT '',
        dead_at INTEGER, PRIMARY KEY (endpoint, seq)) WITHOUT ROWID""",
    """CREATE INDEX IF NOT EXISTS outbox_deliveries_incident
        ON outbox_deliveries (endpoint, incident, seq) WHERE state = 'pending'""",
    "CREATE INDEX IF NOT EXISTS outbox_deliveries_seq ON outbox_deliveries (seq)",
    "CREATE TABLE IF NOT EXISTS outbox_snapshots (ref TEXT PRIMARY KEY, at INTEGER NOT NULL, jpeg BLOB NOT NULL)",
    "CREATE TABLE IF NOT EXISTS outbox_acks (incident TEXT PRIMARY KEY, acked INTEGER, handled INTEGER)",
    "CREATE TABLE IF NOT EXISTS outbox_counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)",
    "INSERT OR IGNORE INTO outbox_counters (name, value) VALUES ('stored', 0)",
    """CREATE TRIGGER IF NOT EXISTS outbox_count_in AFTER INSERT ON outbox
        BEGIN UPDATE outbox_counters SET value = value + 1 WHERE name = 'stored'; END""",
    """CREATE TRIGGER IF NOT EXISTS outbox_count_out AFTER DELETE ON outbox
        BEGIN UPDATE outbox_counters SET value = value - 1 WHERE name = 'stored'; END""",
)


class OutboxFull(sqlite3.DatabaseError):
    """The outbox holds `max_events` and its policy is `block`: the group commit must wait for deliveries."""


@dataclass(frozen=True, slots=True)
class OutboxOptions:
    """How `enqueue` bounds the outbox, routes events and inlines evidence."""

    max_events: int = 200_000
    full_policy: FullPolicy = "block"
    escalation: EscalationPolicy = field(default_factory=EscalationPolicy)
    max_inline: int = DEFAULT_MAX_INLINE
    max_snapshots: int = 1000
    """Snapshots kept for open incidents' evidence; the oldest are evicted (counted) beyond this."""
    clips: ClipLookup | None = None
    """What a clip reference points at now (gateway.clips.clip_evidence over the camera clip store)."""


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """An event an endpoint gave up on, with why and when."""

    endpoint: str
    seq: int
    event_id: str
    attempts: int
    reason: str
    dead_at_ns: int
    body: bytes = field(repr=False)


def create_tables(conn: sqlite3.Connection) -> None:
    """Create the outbox tables if missing (plain statements: safe inside an open transaction)."""
    if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'outbox_count_out'").fetchone() is None:
        for statement in TABLES:
            conn.execute(statement)


def _bump(conn: sqlite3.Connection, name: str, by: int = 1) -> None:
    """Add to a persistent counter."""
    conn.execute(
        "INSERT INTO outbox_counters (name, value) VALUES (?, ?) "
        "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
        (name, by),
    )


# -- write side (inside the journal's transaction) ------------------------------------------------------


def enqueue(
    conn: sqlite3.Connection,
    events: Sequence[IncidentEvent],
    gateway_id: str,
    now_ns: int,
    options: OutboxOptions | None = None,
) -> None:
    """Store each event once as its final CloudEvents body, in the caller's transaction."""
    if not events:
        return
    opts = options or OutboxOptions()
    create_tables(conn)
    if opts.full_policy == "block":
        _refuse_when_full(conn, len(events), opts)
    problems: dict[str, int] = {}
    for event in events:
        _insert(conn, event, gateway_id, now_ns, opts, problems)
    if opts.full_policy == "drop_oldest":
        _drop_oldest(conn, opts)
    for name, count in problems.items():
        _bump(conn, name, count)


def _insert(
    conn: sqlite3.Connection,
    event: IncidentEvent,
    gateway_id: str,
    now_ns: int,
    opts: OutboxOptions,
    problems: dict[str, int],
) -> None:
    """Serialise and store one event (a repeat of a stored id+revision is counted and ignored)."""
    inc = event.incident
    acked = conn.execute("SELECT acked FROM outbox_acks WHERE incident = ?", (inc.id,)).fetchone()
    level = escalate(inc.opened_ns, acked[0] if acked else None, event.ts_ns, opts.escalation)
    missing: Counter[str] = Counter()
    evidence = evidence_entries(inc.evidence, lambda ref: _snapshot(conn, ref), opts.max_inline, missing, opts.clips)
    for name, count in missing.items():
        problems[name] = problems.get(name, 0) + count
    body = encode(build_event(event, gateway_id, routing(inc.grid, level), evidence))
    cursor = conn.execute(
        "INSERT OR IGNORE INTO outbox (event_id, incident, revision, kind, event_type, grid, created, body)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (event_id(inc.id, inc.revision), inc.id, inc.revision, event.kind.value, inc.event_type,
         inc.grid.code if inc.grid else "", now_ns, body),
    )  # fmt: skip
    if cursor.rowcount == 0:
        problems["duplicate_events"] = problems.get("duplicate_events", 0) + 1
    if event.kind == IncidentEventKind.RESOLVED:
        conn.execute("DELETE FROM outbox_acks WHERE incident = ?", (inc.id,))
        conn.executemany("DELETE FROM outbox_snapshots WHERE ref = ?", [(ref,) for ref in inc.evidence])


def _snapshot(conn: sqlite3.Connection, ref: str) -> bytes | None:
    """A stored snapshot by its evidence reference."""
    row = conn.execute("SELECT jpeg FROM outbox_snapshots WHERE ref = ?", (ref,)).fetchone()
    return None if row is None else bytes(row[0])


def _stored(conn: sqlite3.Connection) -> int:
    """Events stored now (kept exact by triggers)."""
    return int(conn.execute("SELECT value FROM outbox_counters WHERE name = 'stored'").fetchone()[0])


def _refuse_when_full(conn: sqlite3.Connection, adding: int, opts: OutboxOptions) -> None:
    """`block`: raise OutboxFull when `adding` more events would pass `max_events`."""
    stored = _stored(conn)
    if stored + adding > opts.max_events:
        raise OutboxFull(
            f"outbox full: {stored} events stored (max_events {opts.max_events}); not committing until "
            "deliveries or an operator (deadletter replay/purge) free room (full_policy=block)"
        )


def _drop_oldest(conn: sqlite3.Connection, opts: OutboxOptions) -> None:
    """`drop_oldest`: delete the oldest stored events beyond `max_events`, counted and logged at ERROR."""
    excess = _stored(conn) - opts.max_events
    if excess <= 0:
        return
    oldest = conn.execute("SELECT seq, event_id FROM outbox ORDER BY seq LIMIT ?", (excess,)).fetchall()
    seqs = [(int(seq),) for seq, _ in oldest]
    conn.executemany("DELETE FROM outbox_deliveries WHERE seq = ?", seqs)
    conn.executemany("DELETE FROM outbox WHERE seq = ?", seqs)
    _bump(conn, "dropped", len(seqs))
    log.error(
        "outbox full (max_events %d): DROPPED %d undelivered events (full_policy=drop_oldest): %s",
        opts.max_events, len(seqs), ", ".join(str(eid) for _, eid in oldest[:20]),
    )  # fmt: skip


class _TxnLike(Protocol):
    """What `outbox_emitter` needs of the journal's Txn: its connection and commit time."""

    conn: sqlite3.Connection
    now_ns: int


def outbox_emitter(
    gateway_id: str, options: OutboxOptions | None = None
) -> Callable[[Any, Sequence[IncidentEvent]], None]:
    """An emitter for gateway.incidents.RuleRunner: `enqueue` into the group commit's transaction."""

    def emit(txn: _TxnLike, events: Sequence[IncidentEvent]) -> None:
        enqueue(txn.conn, events, gateway_id, txn.now_ns, options)

    return emit


def store_snapshot(conn: sqlite3.Connection, ref: str, jpeg: bytes, now_ns: int, max_snapshots: int = 1000) -> None:
    """Keep a detection snapshot under its evidence reference so events of its incident carry it."""
    create_tables(conn)
    conn.execute("INSERT OR REPLACE INTO outbox_snapshots (ref, at, jpeg) VALUES (?, ?, ?)", (ref, now_ns, jpeg))
    count = int(conn.execute("SELECT count(*) FROM outbox_snapshots").fetchone()[0])
    if count > max_snapshots:
        conn.execute(
            "DELETE FROM outbox_snapshots WHERE ref IN (SELECT ref FROM outbox_snapshots ORDER BY at LIMIT ?)",
            (count - max_snapshots,),
        )
        _bump(conn, "snapshots_evicted", count - max_snapshots)


# -- read side (the delivery worker's connection) --------------------------------------------------------


class Outbox:
    """Delivery state per endpoint over the outbox tables; implements adapters.webhook.DeliveryStore."""

    def __init__(self, path: Path, busy_timeout: float = 30.0) -> None:
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None, timeout=busy_timeout, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        # A lost delivery mark after a power cut means one re-send, which receivers drop by webhook-id.
        self._db.execute("PRAGMA synchronous=NORMAL")
        with self._tx():
            create_tables(self._db)

    def close(self) -> None:
        """Close the connection."""
        self._db.close()

    def _tx(self) -> _Transaction:
        return _Transaction(self._db)

    # -- endpoints ---------------------------------------------------------------------------------

    def register(self, endpoints: Mapping[str, str]) -> dict[str, str | None]:
        """Make endpoints known (name -> url); an endpoint whose url changed is re-enabled; removed ones dead-letter."""
        with self._tx() as db:
            known = {str(n): (str(u), d) for n, u, d in db.execute("SELECT name, url, disabled FROM outbox_endpoints")}
            for name, url in endpoints.items():
                if name not in known:
                    db.execute("INSERT INTO outbox_endpoints (name, url, admitted) VALUES (?, ?, 0)", (name, url))
                elif known[name][0] != url:
                    db.execute("UPDATE outbox_endpoints SET url = ?, disabled = NULL WHERE name = ?", (url, name))
            for name in set(known) - set(endpoints):
                self._remove(db, name)
            rows = db.execute("SELECT name, disabled FROM outbox_endpoints").fetchall()
        return {str(n): (None if d is None else str(d)) for n, d in rows}

    def _remove(self, db: sqlite3.Connection, name: str) -> None:
        """An endpoint left the config: its pending events become dead letters (replayable), loudly."""
        moved = db.execute(
            "UPDATE outbox_deliveries SET state = 'dead', error = 'endpoint_removed',"
            " dead_at = CAST(strftime('%s', 'now') AS INTEGER) * 1000000000"
            " WHERE endpoint = ? AND state = 'pending'",
            (name,),
        ).rowcount
        db.execute("DELETE FROM outbox_endpoints WHERE name = ?", (name,))
        if moved:
            log.warning("endpoint %s is no longer configured: %d pending events moved to dead letters", name, moved)

    def disable(self, endpoint: str, reason: str) -> None:
        """Stop delivering to the endpoint until `enable` or a changed url; events stay pending."""
        self._db.execute("UPDATE outbox_endpoints SET disabled = ? WHERE name = ?", (reason, endpoint))

    def disabled_reason(self, endpoint: str) -> str | None:
        """Why the endpoint is disabled, or None."""
        row = self._db.execute("SELECT disabled FROM outbox_endpoints WHERE name = ?", (endpoint,)).fetchone()
        return None if row is None or row[0] is None else str(row[0])

    def enable(self, endpoint: str) -> None:
        """Deliver to a disabled endpoint again."""
        self._db.execute("UPDATE outbox_endpoints SET disabled = NULL WHERE name = ?", (endpoint,))

    # -- delivery ----------------------------------------------------------------------------------

    def admit(self, endpoint: str, accept: Accept, limit: int = 5000) -> int:
        """Queue for the endpoint the new events its filter accepts; return how many were queued."""
        db = self._db
        (admitted,) = db.execute("SELECT admitted FROM outbox_endpoints WHERE name = ?", (endpoint,)).fetchone()
        rows = db.execute(
            "SELECT seq, incident, kind, event_type, grid FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?",
            (admitted, limit),
        ).fetchall()
        if not rows:
            return 0
        taken = [(endpoint, seq, inc) for seq, inc, kind, etype, grid in rows if accept(kind, etype, grid)]
        with self._tx():
            db.executemany(
                "INSERT OR IGNORE INTO outbox_deliveries (endpoint, seq, incident, state) VALUES (?, ?, ?, 'pending')",
                taken,
            )
            db.execute("UPDATE outbox_endpoints SET admitted = ? WHERE name = ?", (rows[-1][0], endpoint))
            self._prune_unrouted(db)
        return len(taken)

    def _prune_unrouted(self, db: sqlite3.Connection) -> None:
        """Delete events every endpoint has admitted and none still holds (delivered or filtered out)."""
        (low,) = db.execute("SELECT min(admitted) FROM outbox_endpoints").fetchone()
        if low:
            db.execute(
                "DELETE FROM outbox WHERE seq <= ? AND NOT EXISTS "
                "(SELECT 1 FROM outbox_deliveries d WHERE d.seq = outbox.seq)",
                (low,),
            )

    def due(self, endpoint: str, now_ns: int, limit: int, busy: Collection[str] = ()) -> list[Pending]:
        """Events due now, oldest first, one per incident (its lowest pending revision), none of a busy incident."""
        rows = self._db.execute(
            "SELECT d.seq, o.event_id, d.incident, o.revision, o.created, d.attempts, o.body"
            " FROM outbox_deliveries d JOIN outbox o ON o.seq = d.seq"
            " WHERE d.endpoint = ?1 AND d.state = 'pending' AND d.next_at <= ?2 AND NOT EXISTS ("
            "   SELECT 1 FROM outbox_deliveries p WHERE p.endpoint = ?1 AND p.incident = d.incident"
            "   AND p.state = 'pending' AND p.seq < d.seq)"
            " ORDER BY d.seq LIMIT ?3",
            (endpoint, now_ns, limit + len(busy)),
        ).fetchall()
        out = [Pending(s, e, i, r, c, a, bytes(b)) for s, e, i, r, c, a, b in rows if i not in busy]
        return out[:limit]

    def delivered(self, endpoint: str, seq: int) -> None:
        """The endpoint took the event: forget its delivery, and the event once no endpoint needs it."""
        with self._tx() as db:
            db.execute("DELETE FROM outbox_deliveries WHERE endpoint = ? AND seq = ?", (endpoint, seq))
            db.execute(
                "DELETE FROM outbox WHERE seq = ?1 AND ?1 <= (SELECT min(admitted) FROM outbox_endpoints)"
                " AND NOT EXISTS (SELECT 1 FROM outbox_deliveries d WHERE d.seq = ?1)",
                (seq,),
            )

    def failed(self, endpoint: str, seq: int, next_at_ns: int, error: str) -> None:
        """An attempt failed: count it and set the retry time."""
        self._db.execute(
            "UPDATE outbox_deliveries SET attempts = attempts + 1, next_at = ?, error = ?"
            " WHERE endpoint = ? AND seq = ?",
            (next_at_ns, error[:500], endpoint, seq),
        )

    def dead(self, endpoint: str, seq: int, reason: str, now_ns: int) -> None:
        """Give up on the event for this endpoint; it stays as a dead letter until replayed or purged."""
        self._db.execute(
            "UPDATE outbox_deliveries SET state = 'dead', error = ?, dead_at = ? WHERE endpoint = ? AND seq = ?",
            (reason[:500], now_ns, endpoint, seq),
        )

    def expedite(self, endpoint: str, now_ns: int) -> None:
        """Make the endpoint's events that waited out its unavailability due now (not those that failed alone)."""
        self._db.execute(
            "UPDATE outbox_deliveries SET next_at = ? WHERE endpoint = ? AND state = 'pending' AND next_at > ?"
            " AND error LIKE 'unavailable%'",
            (now_ns, endpoint, now_ns),
        )

    def next_due(self, endpoint: str) -> int | None:
        """The earliest retry time among the endpoint's pending events."""
        (value,) = self._db.execute(
            "SELECT min(next_at) FROM outbox_deliveries WHERE endpoint = ? AND state = 'pending'", (endpoint,)
        ).fetchone()
        return None if value is None else int(value)

    # -- operators and metrics ---------------------------------------------------------------------

    def backlog(self, endpoint: str | None = None) -> int:
        """Events stored and not yet delivered: pending for an endpoint, or not yet delivered anywhere."""
        if endpoint is None:
            return int(self._db.execute("SELECT value FROM outbox_counters WHERE name = 'stored'").fetchone()[0])
        sql = "SELECT count(*) FROM outbox_deliveries WHERE endpoint = ? AND state = 'pending'"
        pending = int(self._db.execute(sql, (endpoint,)).fetchone()[0])
        (admitted,) = self._db.execute("SELECT admitted FROM outbox_endpoints WHERE name = ?", (endpoint,)).fetchone()
        unseen = int(self._db.execute("SELECT count(*) FROM outbox WHERE seq > ?", (admitted,)).fetchone()[0])
        return pending + unseen

    def oldest_age_s(self, now_ns: int) -> float | None:
        """Seconds since the oldest event that some endpoint still has to take was recorded, or None."""
        (created,) = self._db.execute(
            "SELECT min(o.created) FROM outbox o WHERE EXISTS (SELECT 1 FROM outbox_deliveries d"
            " WHERE d.seq = o.seq AND d.state = 'pending') OR o.seq > (SELECT min(admitted) FROM outbox_endpoints)"
        ).fetchone()
        return None if created is None else max(0.0, (now_ns - int(created)) / 1e9)

    def dead_letters(self, endpoint: str | None = None, limit: int = 100) -> list[DeadLetter]:
        """The dead letters, oldest first."""
        rows = self._db.execute(
            "SELECT d.endpoint, d.seq, o.event_id, d.attempts, d.error, d.dead_at, o.body"
            " FROM outbox_deliveries d JOIN outbox o ON o.seq = d.seq"
            " WHERE d.state = 'dead' AND (?1 IS NULL OR d.endpoint = ?1) ORDER BY d.seq LIMIT ?2",
            (endpoint, limit),
        ).fetchall()
        return [
            DeadLetter(str(e), int(s), str(i), int(a), str(r), int(t or 0), bytes(b)) for e, s, i, a, r, t, b in rows
        ]

    def replay(self, endpoint: str | None = None, event_ids: Iterable[str] | None = None) -> int:
        """Send dead letters again (all, or those of one endpoint, or these event ids); return how many."""
        ids = None if event_ids is None else list(event_ids)
        with self._tx() as db:
            sql = (
                "UPDATE outbox_deliveries SET state = 'pending', attempts = 0, next_at = 0, error = '', dead_at = NULL"
                " WHERE state = 'dead' AND (?1 IS NULL OR endpoint = ?1)"
                " AND endpoint IN (SELECT name FROM outbox_endpoints)"
            )
            if ids is None:
                return int(db.execute(sql, (endpoint,)).rowcount)
            sql += " AND seq = (SELECT seq FROM outbox WHERE event_id = ?2)"
            return sum(int(db.execute(sql, (endpoint, eid)).rowcount) for eid in ids)

    def purge_dead(self, endpoint: str | None = None) -> int:
        """Delete dead letters for good (an operator's decision); return how many."""
        with self._tx() as db:
            count = db.execute(
                "DELETE FROM outbox_deliveries WHERE state = 'dead' AND (?1 IS NULL OR endpoint = ?1)", (endpoint,)
            ).rowcount
            _bump(db, "purged", int(count))
            self._prune_unrouted(db)
        return int(count)

    def record_ack(self, incident_id: str, now_ns: int) -> None:
        """The platform acknowledged (受理) the incident: escalation stops at the level it reached."""
        self._db.execute(
            "INSERT INTO outbox_acks (incident, acked) VALUES (?, ?) ON CONFLICT(incident) DO UPDATE SET acked ="
            " coalesce(acked, excluded.acked)",
            (incident_id, now_ns),
        )

    def counters(self) -> dict[str, int]:
        """Persistent counters: stored, dropped, purged, duplicate_events, evidence_*, snapshots_evicted."""
        return {str(n): int(v) for n, v in self._db.execute("SELECT name, value FROM outbox_counters")}


class _Transaction:
    """BEGIN IMMEDIATE … COMMIT (ROLLBACK on error) on an autocommit connection."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> sqlite3.Connection:
        self._db.execute("BEGIN IMMEDIATE")
        return self._db

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        self._db.execute("ROLLBACK" if kind is not None else "COMMIT")


def format_dead_letters(rows: Sequence[DeadLetter]) -> str:
    """A table of dead letters for `edge.py deadletter list`."""
    lines = [f"{'endpoint':<16} {'event id':<40} {'attempts':>8}  reason"]
    lines += [f"{d.endpoint:<16} {d.event_id:<40} {d.attempts:>8}  {d.reason}" for d in rows]
    return "\n".join(lines)
