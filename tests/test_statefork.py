"""The rule-state snapshot written by a forked child (gateway/statefork.py)."""

from __future__ import annotations

from pathlib import Path

from gateway.statefork import ForkedSnapshot, remove_leftovers
from tests.servers import wait_for


def test_the_child_writes_the_snapshot_as_it_was_at_the_fork(tmp_path: Path) -> None:
    state = {"n": 1}
    fork = ForkedSnapshot(lambda: f'{{"n": {state["n"]}}}' + " " * 300_000, tmp_path, upto=7, now_ns=9)
    state["n"] = 2  # the parent goes on changing the engine: the child has its own copy
    result: list[str | None] = []

    def finished() -> bool:
        done, text = fork.poll()
        if done:
            result.append(text)
        return done

    wait_for(finished, timeout=10, what="the snapshot child")
    assert result[0] is not None and result[0].startswith('{"n": 1}') and len(result[0]) == 300_008
    assert (fork.upto, fork.now_ns) == (7, 9) and not list(tmp_path.iterdir())  # its file read and removed


def test_a_failing_child_gives_none_and_leaves_no_file(tmp_path: Path) -> None:
    def broken() -> str:
        raise ValueError("snapshot failed")

    assert ForkedSnapshot(broken, tmp_path, upto=1, now_ns=1).wait() is None
    assert not list(tmp_path.iterdir())


def test_files_of_a_killed_gateways_writers_are_removed(tmp_path: Path) -> None:
    (tmp_path / ".rule-state-abc.json").write_text("{")
    (tmp_path / "journal.db").write_text("kept")
    assert remove_leftovers(tmp_path) == 1 and [p.name for p in tmp_path.iterdir()] == ["journal.db"]
