"""The durable journal: SQLite in WAL mode with group commit, and the store-and-forward spool.

Inputs enqueue readings and rejects (cheap, any thread); one committer thread writes them in
batches (every `commit_readings` items or `commit_interval` seconds, whichever first), commits,
then calls each item's ack in submission order. Sinks (the InfluxDB writer) read pending rows
after their cursor and move the cursor as rows land. The file is held to a disk budget with a
documented full policy: `block` stops committing (so nothing is acked and the broker keeps the
messages) until sinks free space; `drop_oldest` deletes the oldest rows and counts them.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypeVar

from gateway.model import Ack, Reading

log = logging.getLogger("gridedge.journal")

FullPolicy = Literal["block", "drop_oldest"]
T = TypeVar("T")
BUDGET_CHECK_EVERY = 0.5
"""Seconds between disk-budget checks while under budget (sooner once 1 % of the budget was written)."""

SCHEMA_VERSION = 1
"""The journal file's layout (its own tables and those of the outbox and the rule state), kept in
SQLite's `user_version`. A release that changes a table raises it and migrates older files at open;
a file from a newer release is refused, so a box rolled back never misreads what it cannot know."""

SCHEMA = """
CREATE TABLE IF NOT EXISTS readings (
    id INTEGER PRIMARY KEY,
    ts INTEGER NOT NULL,
    device TEXT NOT NULL,
    kind TEXT NOT NULL,
    line TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS cursors (sink TEXT PRIMARY KEY, upto INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    source TEXT NOT NULL,
    reason TEXT NOT NULL,
    detail TEXT NOT NULL,
    raw BLOB
);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""

class JournalVersionError(RuntimeError):
    """The journal file was written by a newer release (a higher SCHEMA_VERSION than this one reads)."""


def check_schema_version(db: sqlite3.Connection, path: Path) -> None:
    """Refuse a file from a newer release; stamp a new (or pre-versioning) file with SCHEMA_VERSION."""
    version = int(db.execute("PRAGMA user_version").fetchone()[0])
    if version > SCHEMA_VERSION:
        raise JournalVersionError(
            f"journal {path} was written by a newer GridEdge (schema {version}; this release reads up to "
            f"{SCHEMA_VERSION}): run that release again, or move the file aside to start an empty journal "
            "(its readings not yet in InfluxDB and its undelivered incidents stay in the moved file)"
        )
    if version < SCHEMA_VERSION:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


class Txn:
    """One group commit's transaction, as stages and jobs see it: the connection, the readings it adds,
    the commit time, and a way to add more lines (incident points) in the same transaction."""

    __slots__ = ("conn", "extra", "now_ns", "readings")

    def __init__(self, conn: sqlite3.Connection, readings: list[tuple[int, Reading | None]], now_ns: int) -> None:
        self.conn = conn
        self.readings = readings
        self.now_ns = now_ns
        self.extra: list[tuple[int, str, str, str]] = []

    def add_line(self, ts_ns: int, device: str, kind: str, line: str) -> None:
        """Journal one more line (it goes to the sinks like a reading) in this transaction."""
        self.extra.append((ts_ns, device, kind, line))


Stage = Callable[[Txn], None]
"""Runs inside every group commit's transaction (rule state and outbox change with the readings)."""

Job = Callable[[Txn], None]
"""Runs once, inside the next group commit's transaction, on the committer thread."""


@dataclass(frozen=True, slots=True)
class JournalSettings:
    """How the journal commits and how much disk it may use."""

    path: Path
    max_bytes: int = 1 << 30
    full_policy: FullPolicy = "block"
    commit_readings: int = 1000
    commit_interval: float = 0.02
    dead_letter_max: int = 10_000
    max_queued: int = 10_000
    """Items waiting for a commit beyond which blocking producers wait (see `wait_capacity`)."""
    synchronous: Literal["FULL", "NORMAL"] = "FULL"
    """FULL survives power loss; NORMAL survives a process crash only (kill -9) and is faster."""


@dataclass(slots=True)
class JournalStats:
    """What the journal has done since start; read by metrics and the status API."""

    committed: int = 0
    commits: int = 0
    dead_letters: int = 0
    dropped: int = 0
    full: bool = False
    held: bool = False
    """A gate (e.g. a full outbox) holds commits."""
    last_commit_s: float = 0.0
    commit_latency_s: deque[float] = field(default_factory=lambda: deque(maxlen=2048))


# Queue items: ("r", ts, device, kind, line, ack, reading), ("d", at, source, reason, detail, raw, ack)
# or ("j", job): jobs run on the committer thread, so state they touch needs no lock.
_Item = tuple[object, ...]


class Journal:
    """The journal file, its committer thread and the spool API the sinks use."""

    def __init__(self, settings: JournalSettings, sinks: Iterable[str] = (), clock: Callable[[], int] = time.time_ns):
        self.settings = settings
        self.sinks = list(sinks)
        self.clock = clock
        self.stats = JournalStats()
        self._stages: list[Stage] = []
        self.gates: list[Callable[[sqlite3.Connection], bool]] = []
        """Checked before each commit on the committer thread; any False holds the commit (nothing is acked)
        until it opens: how a full outbox stops intake without losing or desynchronising anything."""
        self.after_acks: list[Callable[[], None]] = []
        """Called after each commit's acks ran (the MQTT input sends its batched PUBACKs here)."""
        self._queue: list[_Item] = []
        self._cond = threading.Condition()
        self._stopping = False
        self._flushes = 0
        self._budget_checked = 0.0
        self._written_since_check = 0
        self._thread: threading.Thread | None = None
        settings.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = self._connect()
        check_schema_version(self._db, settings.path)
        self._db.executescript(SCHEMA)
        self._read_lock = threading.Lock()
        self._reader = self._connect()
        self._cursors = self._load_cursors()
        self._cursors_dirty = False
        self._next_id = self._first_free_id()
        self._dead_count = int(self._db.execute("SELECT count(*) FROM dead_letters").fetchone()[0])
        self._page_size = int(self._db.execute("PRAGMA page_size").fetchone()[0])

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.settings.path, check_same_thread=False, isolation_level=None, timeout=30)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={self.settings.synchronous}")
        return db

    def _load_cursors(self) -> dict[str, int]:
        stored = dict(self._db.execute("SELECT sink, upto FROM cursors").fetchall())
        return {sink: int(stored.get(sink, 0)) for sink in self.sinks}

    def _first_free_id(self) -> int:
        # Ids only grow, even when every row has been pruned, so sink cursors stay meaningful.
        top = self._db.execute("SELECT max(id) FROM readings").fetchone()[0] or 0
        stored = self._db.execute("SELECT max(upto) FROM cursors").fetchone()[0] or 0
        mark = self._db.execute("SELECT value FROM counters WHERE name = 'next_id'").fetchone()
        return max(int(top) + 1, int(stored) + 1, int(mark[0]) if mark else 1)

    def setup(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn` on the journal's connection before the committer starts (tables, state to resume)."""
        if self._thread is not None:
            raise RuntimeError("journal.setup() must run before journal.start()")
        return fn(self._db)

    # -- producers -------------------------------------------------------------------------------

    def add_stage(self, stage: Stage) -> None:
        """Run `stage` inside every group commit (rule state and outbox go in the same transaction)."""
        self._stages.append(stage)

    def append(
        self, ts_ns: int, device: str, kind: str, line: str, ack: Ack | None, reading: Reading | None = None
    ) -> None:
        """Enqueue one reading's line; `ack` runs after the commit that makes it durable."""
        with self._cond:
            self._queue.append(("r", ts_ns, device, kind, line, ack, reading))
            if len(self._queue) >= self.settings.commit_readings:
                self._cond.notify()

    def dead_letter(self, source: str, reason: str, detail: str, raw: bytes, ack: Ack | None) -> None:
        """Enqueue a rejected input for the bounded dead-letter table; `ack` runs after its commit."""
        with self._cond:
            self._queue.append(("d", self.clock(), source, reason, detail, raw, ack))

    def call(self, job: Job) -> None:
        """Run `job(txn)` on the committer thread inside the next transaction (ticks, detections, acks)."""
        with self._cond:
            self._queue.append(("j", job))
            self._cond.notify()

    def wait_capacity(self, timeout: float | None = None) -> bool:
        """Block a producer thread while too much waits for a commit (backpressure); False on timeout."""
        limit = self.settings.max_queued
        with self._cond:
            return self._cond.wait_for(lambda: len(self._queue) < limit or self._stopping, timeout)

    @property
    def queued(self) -> int:
        """Items waiting for the next group commit."""
        return len(self._queue)

    # -- committer -------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the committer thread."""
        self._thread = threading.Thread(target=self._run, name="journal-committer", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Commit what is queued, stop the committer and close the file."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=30)
        else:
            self.flush()
        self._save_cursors()
        self._db.close()
        self._reader.close()

    def _run(self) -> None:
        interval = self.settings.commit_interval
        while True:
            with self._cond:
                self._cond.wait_for(
                    lambda: self._stopping or len(self._queue) >= self.settings.commit_readings, interval
                )
                stopping = self._stopping
            try:
                self.flush()
            except sqlite3.Error:
                log.exception("journal commit failed; retrying")
                time.sleep(0.5)
                continue
            if stopping and (not self._queue or self.stats.full or self.stats.held):
                return  # when full, what is queued was never acked: the source sends it again
            if self.stats.full or self.stats.held:
                with self._cond:  # wait for a sink to land rows (landed() notifies) instead of spinning
                    self._cond.wait(0.2)

    def sync(self, timeout: float = 30.0) -> bool:
        """Wait until what was queued before the call is committed (or cannot be: full or held).

        For other threads: `flush` itself belongs to the committer thread (one connection, one writer).
        """
        if self._thread is None or not self._thread.is_alive():
            self.flush()
            return True
        with self._cond:
            target = self._flushes + 2  # a flush in progress may have taken its batch before our items
            self._cond.notify_all()
            return self._cond.wait_for(lambda: self._flushes >= target, timeout)

    def flush(self) -> int:
        """Commit what is queued now (on the committer thread, or before it starts); returns the items committed."""
        try:
            return self._flush()
        finally:
            with self._cond:
                self._flushes += 1
                self._cond.notify_all()

    def _flush(self) -> int:
        if self.stats.full and not self._make_room():
            return 0
        self.stats.held = not all(gate(self._db) for gate in self.gates)
        if self.stats.held:
            return 0
        with self._cond:
            batch, self._queue = self._queue, []
            self._cond.notify_all()
        if not batch:
            if self._cursors_dirty:
                self._save_cursors()
            return 0
        started = time.perf_counter()
        acks = self._write(batch)
        self.stats.last_commit_s = time.perf_counter() - started
        self.stats.commit_latency_s.append(self.stats.last_commit_s)
        for ack in acks:
            try:
                ack()
            except Exception:
                log.exception("acknowledging a committed item failed")
        for hook in self.after_acks:
            try:
                hook()
            except Exception:
                log.exception("sending batched acknowledgements failed")
        self._check_budget()
        return len(batch)

    def _write(self, batch: list[_Item]) -> list[Ack]:
        rows: list[tuple[int, int, str, str, str]] = []
        staged: list[tuple[int, Reading | None]] = []
        dead: list[tuple[object, ...]] = []
        jobs: list[Job] = []
        acks: list[Ack] = []
        next_id = self._next_id
        for item in batch:
            tag = item[0]
            if tag == "r":
                rows.append((next_id, item[1], item[2], item[3], item[4]))  # type: ignore[arg-type]
                self._written_since_check += len(item[4]) + 64  # type: ignore[arg-type]  # line + row overhead
                staged.append((next_id, item[6]))  # type: ignore[arg-type]
                next_id += 1
                ack = item[5]
            elif tag == "d":
                dead.append(item[1:6])
                ack = item[6]
            else:
                jobs.append(item[1])  # type: ignore[arg-type]
                continue
            if ack is not None:
                acks.append(ack)  # type: ignore[arg-type]
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            if rows:
                _insert_rows(db, rows)
            if dead:
                self._insert_dead(dead)
            txn = Txn(db, staged, self.clock())
            for stage in self._stages:
                stage(txn)
            for job in jobs:
                job(txn)
            if txn.extra:
                extra = [(next_id + i, *row) for i, row in enumerate(txn.extra)]
                _insert_rows(db, extra)
                next_id += len(extra)
            self._next_id = next_id
            if self._cursors_dirty:  # the id high-water mark is saved with every prune (see _delete_oldest)
                self._save_cursors()
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            with self._cond:  # put the batch back in front so nothing is lost or reordered
                self._queue[:0] = batch
            raise
        self.stats.committed += len(rows)
        self.stats.commits += 1
        self.stats.dead_letters += len(dead)
        return acks

    def _insert_dead(self, dead: list[tuple[object, ...]]) -> None:
        self._db.executemany("INSERT INTO dead_letters (at, source, reason, detail, raw) VALUES (?, ?, ?, ?, ?)", dead)
        self._db.executemany(
            "INSERT INTO counters (name, value) VALUES (?, 1) ON CONFLICT(name) DO UPDATE SET value = value + 1",
            [(f"reject.{d[2]}",) for d in dead],
        )
        self._dead_count += len(dead)
        excess = self._dead_count - self.settings.dead_letter_max
        if excess > 0:
            self._db.execute(
                "DELETE FROM dead_letters WHERE id IN (SELECT id FROM dead_letters ORDER BY id LIMIT ?)", (excess,)
            )
            self._dead_count -= excess

    def _save_cursors(self) -> None:
        self._cursors_dirty = False
        self._db.executemany(
            "INSERT INTO cursors (sink, upto) VALUES (?, ?) ON CONFLICT(sink) DO UPDATE SET upto = excluded.upto",
            list(self._cursors.items()),
        )
        # The id high-water mark: ids never repeat, even after every row was pruned.
        self._db.execute(
            "INSERT INTO counters (name, value) VALUES ('next_id', ?) ON CONFLICT(name) DO UPDATE SET value = ?",
            (self._next_id, self._next_id),
        )

    # -- disk budget -----------------------------------------------------------------------------

    def used_bytes(self) -> int:
        """Bytes the database pages hold (free pages excluded), plus the WAL file."""
        pages = int(self._db.execute("PRAGMA page_count").fetchone()[0])
        free = int(self._db.execute("PRAGMA freelist_count").fetchone()[0])
        wal = self.settings.path.with_name(self.settings.path.name + "-wal")
        wal_size = wal.stat().st_size if wal.exists() else 0
        return (pages - free) * self._page_size + wal_size

    def _landed_upto(self) -> int:
        return min(self._cursors.values()) if self._cursors else self._next_id - 1

    def _check_budget(self) -> None:
        # Twice a second is enough to keep the budget, and every SQLite call is a GIL hand-off that can
        # wait a switch interval behind paho's thread: per-commit bookkeeping delays the next commit.
        now = time.monotonic()
        written, budget = self._written_since_check, self.settings.max_bytes
        if not self.stats.full and now - self._budget_checked < BUDGET_CHECK_EVERY and written < budget / 100:
            return
        self._budget_checked, self._written_since_check = now, 0
        if self.used_bytes() <= self.settings.max_bytes:
            return
        if not self._make_room():
            if not self.stats.full:
                log.warning(
                    "journal is over its budget of %d bytes and nothing has landed to free: "
                    "not acking until sinks catch up (full_policy=block)",
                    self.settings.max_bytes,
                )
            self.stats.full = True

    def _make_room(self) -> bool:
        """Delete landed rows (then, with drop_oldest, the oldest pending ones) until under budget."""
        budget = self.settings.max_bytes
        chunk = max(self.settings.commit_readings, 1000)
        while self.used_bytes() > budget:
            landed = self._landed_upto()
            deleted = self._delete_oldest(chunk, max_id=landed)
            if deleted:
                continue
            if self.settings.full_policy != "drop_oldest":
                return False
            deleted = self._delete_oldest(chunk, max_id=None)
            if not deleted:
                return False
            self.stats.dropped += deleted
            log.warning("journal full: dropped the %d oldest unsent readings (full_policy=drop_oldest)", deleted)
        self.stats.full = False
        return True

    def _delete_oldest(self, limit: int, max_id: int | None) -> int:
        if max_id is None:
            sql = "SELECT max(id), count(*) FROM (SELECT id FROM readings ORDER BY id LIMIT ?)"
            top, count = self._db.execute(sql, (limit,)).fetchone()
        else:
            sql = "SELECT max(id), count(*) FROM (SELECT id FROM readings WHERE id <= ? ORDER BY id LIMIT ?)"
            top, count = self._db.execute(sql, (max_id, limit)).fetchone()
        if not count:
            return 0
        self._db.execute("DELETE FROM readings WHERE id <= ?", (top,))
        for sink, upto in self._cursors.items():
            self._cursors[sink] = max(upto, int(top))
        self._save_cursors()
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return int(count)

    # -- spool API for sinks -----------------------------------------------------------------------

    def pending(self, sink: str, limit: int) -> list[tuple[int, str]]:
        """Up to `limit` rows after the sink's cursor, oldest first, as (id, line)."""
        # One row out of SQLite, not `limit`: the sqlite3 module releases the GIL around every step, and
        # with paho's thread busy each re-acquisition can wait a whole switch interval.
        with self._read_lock:
            ids, lines = self._reader.execute(
                "SELECT group_concat(id, ','), group_concat(line, char(30)) FROM "
                "(SELECT id, line FROM readings WHERE id > ? ORDER BY id LIMIT ?)",
                (self._cursors[sink], limit),
            ).fetchone()
        if ids is None:
            return []
        return list(zip(map(int, ids.split(",")), lines.split("\x1e"), strict=True))

    def landed(self, sink: str, upto_rowid: int) -> None:
        """Everything up to `upto_rowid` reached the sink; persisted with the next commit."""
        self._cursors[sink] = max(self._cursors[sink], upto_rowid)
        self._cursors_dirty = True
        if self.stats.full:
            with self._cond:
                self._cond.notify_all()

    def rejected(self, sink: str, rows: list[tuple[int, str]], reason: str) -> None:
        """The sink refused these rows for good: keep them as dead letters (their cursor moves on)."""
        for _, line in rows:
            self.dead_letter(sink, "sink_rejected", reason[:500], line.encode(), None)

    def depth(self, sink: str) -> int:
        """How many rows the sink has yet to take."""
        with self._read_lock:
            row = self._reader.execute("SELECT count(*) FROM readings WHERE id > ?", (self._cursors[sink],)).fetchone()
        return int(row[0])

    def tail(self, limit: int, after_id: int = 0) -> list[tuple[int, str]]:
        """The newest `limit` rows after `after_id`, oldest first (for `edge.py tail`)."""
        with self._read_lock:
            rows = self._reader.execute(
                "SELECT id, line FROM (SELECT id, line FROM readings WHERE id > ? ORDER BY id DESC LIMIT ?)"
                " ORDER BY id",
                (after_id, limit),
            ).fetchall()
        return [(int(i), str(line)) for i, line in rows]

    def dead_letters(self, limit: int = 100) -> list[tuple[int, int, str, str, str, bytes]]:
        """The newest dead letters: (id, at_ns, source, reason, detail, raw)."""
        with self._read_lock:
            rows = self._reader.execute(
                "SELECT id, at, source, reason, detail, raw FROM dead_letters ORDER BY id DESC LIMIT ?", (limit,)
            ).fetchall()
        return [(int(a), int(b), str(c), str(d), str(e), bytes(f or b"")) for a, b, c, d, e, f in rows]

    def reject_counts(self) -> Counter[str]:
        """Rejections by reason over the journal's whole life (survives restarts)."""
        with self._read_lock:
            rows = self._reader.execute("SELECT name, value FROM counters WHERE name LIKE 'reject.%'").fetchall()
        return Counter({str(name)[len("reject.") :]: int(value) for name, value in rows})


_ROWS_PER_INSERT = 400  # 5 parameters each: well under SQLite's 32,766-variable limit


def _insert_rows(db: sqlite3.Connection, rows: list[tuple[int, int, str, str, str]]) -> None:
    """Insert journal rows with a few multi-row statements instead of one step per row.

    The sqlite3 module releases the GIL around every step; under load each re-acquisition can wait a
    whole switch interval for paho's thread, so a 1,000-row executemany could stall a commit for seconds.
    """
    for start in range(0, len(rows), _ROWS_PER_INSERT):
        chunk = rows[start : start + _ROWS_PER_INSERT]
        values = ",".join(["(?, ?, ?, ?, ?)"] * len(chunk))
        params = [value for row in chunk for value in row]
        db.execute(f"INSERT INTO readings (id, ts, device, kind, line) VALUES {values}", params)
