"""The journal: group commit, acks after commit in order, cursors, disk budget, dead letters."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from gateway.journal import SCHEMA_VERSION, Journal, JournalSettings, JournalVersionError
from tests.servers import wait_for

REPO = Path(__file__).resolve().parents[1]


def _line(i: int) -> str:
    return f"dust,device=d{i % 7} pm10={i}.0 {1_700_000_000_000_000_000 + i}"


def test_acks_run_after_commit_in_submission_order(tmp_path: Path) -> None:
    journal = Journal(JournalSettings(tmp_path / "j.db", commit_readings=50, commit_interval=0.01), sinks=["influx"])
    acked: list[int] = []
    durable_at_ack: list[int] = []
    reader = Journal(JournalSettings(tmp_path / "j.db"), sinks=["influx"])  # a second handle sees only commits

    def ack_for(i: int) -> object:
        def ack() -> None:
            acked.append(i)
            if i % 100 == 0:
                durable_at_ack.append(len(reader.pending("influx", 10_000)))

        return ack

    journal.start()
    for i in range(1000):
        journal.append(i, "d", "dust", _line(i), ack_for(i))  # type: ignore[arg-type]
    wait_for(lambda: len(acked) == 1000, what="all acks")
    journal.close()
    assert acked == list(range(1000))
    assert all(n >= (k * 100) + 1 for k, n in enumerate(durable_at_ack))  # acked i => rows 0..i on disk
    reader.close()


def test_survives_reopen_and_cursor_moves(tmp_path: Path) -> None:
    settings = JournalSettings(tmp_path / "j.db")
    journal = Journal(settings, sinks=["influx"])
    for i in range(10):
        journal.append(i, "d", "dust", _line(i), None)
    journal.flush()
    rows = journal.pending("influx", 4)
    assert [line for _, line in rows] == [_line(i) for i in range(4)]
    journal.landed("influx", rows[-1][0])
    journal.flush()  # cursors persist with the next commit
    journal.close()
    again = Journal(settings, sinks=["influx"])
    assert [line for _, line in again.pending("influx", 100)] == [_line(i) for i in range(4, 10)]
    assert again.depth("influx") == 6
    again.close()


def test_drop_oldest_keeps_budget_and_counts(tmp_path: Path) -> None:
    settings = JournalSettings(tmp_path / "j.db", max_bytes=300_000, full_policy="drop_oldest", commit_readings=500)
    journal = Journal(settings, sinks=["influx"])
    for i in range(20_000):
        journal.append(i, "d", "dust", _line(i) + " " * 50, None)
        if i % 500 == 499:
            journal.flush()
    journal.flush()
    assert journal.used_bytes() <= 300_000
    assert journal.stats.dropped > 0
    pending = journal.pending("influx", 100_000)
    assert pending[-1][1].startswith(_line(19_999))  # the newest survive
    assert len(pending) + journal.stats.dropped == 20_000
    journal.close()


def test_block_policy_stops_acking_until_a_sink_frees_space(tmp_path: Path) -> None:
    settings = JournalSettings(tmp_path / "j.db", max_bytes=200_000, full_policy="block", commit_readings=200)
    journal = Journal(settings, sinks=["influx"])
    acked = threading.Event()
    for i in range(6_000):
        journal.append(i, "d", "dust", _line(i) + " " * 50, None)
        if i % 200 == 199:
            journal.flush()
    assert journal.stats.full
    journal.append(0, "d", "dust", "late x=1 1", acked.set)
    assert journal.flush() == 0 and not acked.is_set()  # over budget: nothing commits, nothing acks
    queued = journal.queued
    rows = journal.pending("influx", 100_000)
    journal.landed("influx", rows[-1][0])  # the sink caught up
    assert journal.flush() == queued and acked.is_set()
    assert journal.stats.dropped == 0
    journal.close()


def test_dead_letters_are_bounded_and_counted(tmp_path: Path) -> None:
    journal = Journal(JournalSettings(tmp_path / "j.db", dead_letter_max=10))
    for i in range(25):
        journal.dead_letter("mqtt:x", "malformed" if i % 2 else "oversize", f"bad {i}", b"raw", None)
    journal.flush()
    letters = journal.dead_letters(100)
    assert len(letters) == 10 and letters[0][4] == "bad 24"
    assert journal.reject_counts() == {"malformed": 12, "oversize": 13}
    journal.close()


def test_ids_keep_growing_after_everything_is_pruned(tmp_path: Path) -> None:
    settings = JournalSettings(tmp_path / "j.db", max_bytes=1)  # everything landed is pruned at once
    journal = Journal(settings, sinks=[])
    journal.append(1, "d", "dust", _line(1), None)
    journal.flush()
    journal.close()
    again = Journal(JournalSettings(tmp_path / "j.db"), sinks=["influx"])
    again.append(2, "d", "dust", _line(2), None)
    again.flush()
    assert again.pending("influx", 10)[0][0] >= 2
    again.close()


def test_sync_waits_for_the_committer_from_another_thread(tmp_path: Path) -> None:
    journal = Journal(JournalSettings(tmp_path / "j.db", commit_readings=10_000, commit_interval=0.05), ["influx"])
    journal.start()
    for i in range(300):
        journal.append(i, "d", "dust", _line(i), None)
    results: list[bool] = []
    threads = [threading.Thread(target=lambda: results.append(journal.sync(10))) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(15)
    assert results == [True, True, True]
    assert journal.depth("influx") == 300  # committed by the committer thread alone
    journal.close()


def test_schema_version_stamped_and_a_newer_file_refused(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    Journal(JournalSettings(path), sinks=["influx"]).close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        db.execute("PRAGMA user_version = 0")  # a file from before the version was kept: stamped again
    Journal(JournalSettings(path), sinks=["influx"]).close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")  # a newer release wrote it
    with pytest.raises(JournalVersionError, match=r"newer GridEdge \(schema 2; this release reads up to 1\)"):
        Journal(JournalSettings(path), sinks=["influx"])
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 1  # left as it was


def test_run_refuses_a_newer_journal_with_a_message(tmp_path: Path) -> None:
    env = {**os.environ, "GRIDEDGE_GATEWAY__DATA_DIR": str(tmp_path)}
    with sqlite3.connect(tmp_path / "journal.db") as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    run = subprocess.run([sys.executable, str(REPO / "edge.py"), "run"], capture_output=True, text=True,
                         env=env, timeout=60, check=False)  # fmt: skip
    assert run.returncode == 1
    assert "was written by a newer GridEdge" in run.stderr and "Traceback" not in run.stderr, run.stderr
