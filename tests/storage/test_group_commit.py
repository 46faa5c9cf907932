"""Group commit on the embedded table store: concurrent writers share a transaction, each answered after it
commits; a failing write fails alone; a ``together`` block reads its own writes and commits at its end."""

from __future__ import annotations

import sqlite3
import threading
import time
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest

from shared.storage.audit import AuditTrail
from shared.storage.entities import Entity
from shared.storage.errors import EntityExists, PreconditionFailed
from shared.storage.group_commit import GroupCommit, _Pending
from shared.storage.sqlite import SqliteTableStore


def test_writes_from_many_threads_share_commits_and_each_is_durable_when_it_returns(tmp_path: Path) -> None:
    store = SqliteTableStore(tmp_path / "t.sqlite")
    table = store.table("Keys")
    commits = 0
    transaction = store._group._transaction  # count the transactions the group opens

    def counting():  # type: ignore[no-untyped-def]
        nonlocal commits
        commits += 1
        return transaction()

    store._group._transaction = counting
    start = threading.Barrier(16)
    returned: list[str] = []

    def write(n: int) -> None:
        start.wait()
        for m in range(20):
            table.insert(Entity("p", f"{n:02d}-{m:02d}", {"n": n}))
            # another connection sees it at once: the write was committed before insert returned
            assert SqliteTableStore(tmp_path / "t.sqlite").table("Keys").get("p", f"{n:02d}-{m:02d}") is not None
        returned.append(str(n))

    threads = [threading.Thread(target=write, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(returned) == 16
    assert len(list(table.query("p"))) == 320
    assert commits < 320  # shared: fewer transactions than writes


def test_a_failing_write_in_a_group_fails_alone() -> None:
    connection = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
    connection.execute("CREATE TABLE t (k TEXT PRIMARY KEY)")
    lock = threading.Lock()

    @contextmanager
    def transaction():  # type: ignore[no-untyped-def]
        with lock:
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield connection
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")

    group = GroupCommit(transaction)
    items = [_Pending(lambda c, k=k: c.execute("INSERT INTO t VALUES (?)", (k,))) for k in ("a", "b", "a", "c")]
    group._commit(items)
    assert [type(p.error) for p in items] == [type(None), type(None), sqlite3.IntegrityError, type(None)]
    assert sorted(r[0] for r in connection.execute("SELECT k FROM t")) == ["a", "b", "c"]


def test_a_together_block_reads_its_own_writes_and_commits_at_its_end(tmp_path: Path) -> None:
    store = SqliteTableStore(tmp_path / "t.sqlite")
    table = store.table("Audit")
    outside = SqliteTableStore(tmp_path / "t.sqlite").table("Audit")
    with store.together():
        table.insert(Entity("p", "1", {"v": 1}))
        assert table.get("p", "1") is not None  # read your own write
        assert outside.get("p", "1") is None  # not yet committed for anyone else
        with pytest.raises(EntityExists):
            table.insert(Entity("p", "1", {"v": 2}))  # fails alone, the block goes on
        with pytest.raises(PreconditionFailed):
            table.upsert(Entity("p", "1", {"v": 3}), etag='W/"stale"')  # and so does a stale replace
        table.insert(Entity("p", "2", {"v": 2}))
    assert [(e.row_key, e["v"]) for e in outside.query("p")] == [("1", 1), ("2", 2)]


def test_an_exception_leaving_a_together_block_rolls_back_all_of_it(tmp_path: Path) -> None:
    store = SqliteTableStore(tmp_path / "t.sqlite")
    table = store.table("Audit")
    with pytest.raises(RuntimeError), store.together():
        table.insert(Entity("p", "1", {"v": 1}))
        raise RuntimeError("crash before the answer")
    assert table.get("p", "1") is None
    table.insert(Entity("p", "1", {"v": 1}))  # and the store writes again
    assert table.get("p", "1") is not None


def test_a_together_block_and_a_thread_appending_to_the_same_audit_chain_both_finish(tmp_path: Path) -> None:
    store = SqliteTableStore(tmp_path / "t.sqlite")
    trail = AuditTrail(store.table("AuditLog"), key=b"k" * 32, shard=lambda: 0)  # two writers sharing a chain
    waiting = threading.Event()

    def append_meanwhile() -> None:
        waiting.set()
        trail.record(step="post", event_id="gp:TRN_1:CAPTURED", correlation_id="c", outcome="posted")

    other = threading.Thread(target=append_meanwhile)
    with store.together():
        trail.record(step="intake", event_id="gp:TRN_1:CAPTURED", correlation_id="c", outcome="accepted")
        other.start()
        waiting.wait()
        time.sleep(0.1)  # the other append now waits for this block's commit
        trail.record(step="intake", event_id="gp:TRN_1:CAPTURED", correlation_id="c", outcome="duplicate")
    other.join(timeout=20)
    assert not other.is_alive()
    today = datetime.now(UTC).date()
    assert [r["Outcome"] for r in trail.records(today)] == ["accepted", "duplicate", "posted"]
    assert trail.verify(today).ok
