"""Group commit: concurrent writers share one SQLite transaction, each answered once its own commit is done.

A commit costs the same for one row as for fifty, so when sixteen requests write at once, the first to
find the writer free becomes the leader: it runs every write waiting at that moment in one transaction,
each under its own savepoint, commits, and wakes the others. A write that fails rolls back to its
savepoint and fails alone; a commit that fails fails every write it held. Nobody returns before the
transaction holding their write is committed, so durability is what it was with one commit per write.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, TypeVar

T = TypeVar("T")

Work = Callable[[sqlite3.Connection], Any]


class _Pending:
    __slots__ = ("done", "error", "result", "work")

    def __init__(self, work: Work) -> None:
        self.work = work
        self.done = False
        self.result: Any = None
        self.error: BaseException | None = None


class GroupCommit:
    """Runs writes through ``transaction`` (which begins an immediate transaction on entry, commits on a
    normal exit and rolls back on an exception), several at a time.

    Args:
        transaction: opens the write transaction.
        rolled_back: called after a savepoint of a failed write is rolled back, so a cache of what that write
            created can be dropped.
    """

    def __init__(self, transaction: Callable[[], AbstractContextManager[sqlite3.Connection]],
                 rolled_back: Callable[[], None] | None = None) -> None:
        self._transaction = transaction
        self._rolled_back = rolled_back
        self._leader = threading.Lock()
        self._queue_lock = threading.Lock()
        self._queue: list[_Pending] = []
        self._local = threading.local()

    @contextmanager
    def together(self) -> Iterator[None]:
        """The writes this thread makes in the block share one transaction, committed when the block ends;
        nothing written in it is durable before then, so answer nobody inside it. Other threads' writes
        wait for the block to end. A write that fails rolls back alone; an exception leaving the block
        rolls back all of them."""
        if self.open_connection() is not None:
            yield
            return
        with self._leader, self._transaction() as connection:
            self._local.connection = connection
            try:
                yield
            finally:
                self._local.connection = None

    def open_connection(self) -> sqlite3.Connection | None:
        """The connection of this thread's ``together`` block, if it is in one: its reads must see its writes."""
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        return connection

    def run(self, work: Callable[[sqlite3.Connection], T], *, one_statement: bool = False) -> T:
        """Run ``work`` in a transaction committed before this returns (in a ``together`` block: when the block
        ends); its exception is raised here, in the caller's thread.

        ``one_statement``: ``work`` changes the database in at most one statement, which SQLite undoes by itself
        when it fails, so inside a ``together`` block it needs no savepoint of its own.
        """
        pending = _Pending(work)
        connection = self.open_connection()
        if connection is not None and one_statement:
            return work(connection)
        if connection is not None:  # inside this thread's ``together`` block
            self._run_alone(connection, pending)
        else:
            with self._queue_lock:
                self._queue.append(pending)
            with self._leader:
                if not pending.done:
                    with self._queue_lock:
                        group, self._queue = self._queue, []
                    self._commit(group)
        if pending.error is not None:
            raise pending.error
        result: T = pending.result
        return result

    def _commit(self, group: list[_Pending]) -> None:
        try:
            with self._transaction() as connection:
                if len(group) == 1:  # alone: its own transaction, no savepoint needed
                    group[0].result = group[0].work(connection)
                else:
                    for pending in group:
                        self._run_alone(connection, pending)
        except BaseException as error:  # the commit (or a lone write) failed: none of the group is written
            for pending in group:
                pending.result, pending.error = None, pending.error or error
        finally:
            for pending in group:
                pending.done = True

    def _run_alone(self, connection: sqlite3.Connection, pending: _Pending) -> None:
        connection.execute("SAVEPOINT write")
        try:
            pending.result = pending.work(connection)
        except Exception as error:
            pending.error = error
            connection.execute("ROLLBACK TO write")
            if self._rolled_back is not None:
                self._rolled_back()
        connection.execute("RELEASE write")


def begin_immediate(connection: sqlite3.Connection, timeout: float) -> None:
    """Take the write lock, waiting up to ``timeout`` seconds for another process to release it.

    SQLite's busy handler sleeps 1, 2, 5, 10 ms and more between tries, so a writer in another process
    that holds the lock a tenth of a millisecond at a time would cost each wait milliseconds; this tries
    again after a tenth of a millisecond, backing off to five.
    """
    deadline = time.monotonic() + timeout
    delay = 0.0001
    connection.execute("PRAGMA busy_timeout = 0")
    try:
        while True:
            try:
                connection.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as error:
                if not _busy(error) or time.monotonic() > deadline:
                    raise
            time.sleep(delay)
            delay = min(delay * 1.5, 0.005)
    finally:
        connection.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")


def _busy(error: sqlite3.OperationalError) -> bool:
    return getattr(error, "sqlite_errorcode", None) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED) or \
        "locked" in str(error)


__all__ = ["GroupCommit", "begin_immediate"]
