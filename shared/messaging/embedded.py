"""Embedded bus on SQLite: Service Bus peek-lock semantics for the local host and the tests.

Several worker processes may share one database file, as Functions instances share a namespace, so
every receive and settlement runs in a ``BEGIN IMMEDIATE`` transaction: SQLite's single writer lock
is what guarantees that one message is never locked by two receivers at once.

Each message row has a state. ``READY`` rows are exactly the ones a receiver may take, which keeps
``receive`` a single index range scan in sequence order:

* a message without session is ``READY`` whenever it is active and unlocked;
* of a session's active messages only the lowest sequence number is ``READY``, and only while no
  message of that session is locked; the others wait (``WAITING``);
* ``LOCKED`` and ``SCHEDULED`` rows carry ``due_at`` (lock expiry, enqueue time) and are swept back
  to active, or to the dead-letter sub-queue, when it passes.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.messaging.errors import MessageLockLost, MessageTooLarge, MessagingError
from shared.messaging.messages import OutgoingMessage, PropertyValue, ReceivedMessage, validate_message
from shared.storage.group_commit import GroupCommit, begin_immediate

MAX_DELIVERY_COUNT_EXCEEDED = "MaxDeliveryCountExceeded"

_ACTIVE = 0
_DEAD_LETTER = 1

_READY = 0
_WAITING = 1
_LOCKED = 2
_SCHEDULED = 3

_PRUNE_INTERVAL_SECONDS = 5.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS queues (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    next_seq INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY,
    queue_id INTEGER NOT NULL,
    sub INTEGER NOT NULL,
    state INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    due_at REAL,
    message_id TEXT NOT NULL,
    session_id TEXT,
    body BLOB NOT NULL,
    properties TEXT,
    content_type TEXT NOT NULL,
    enqueued_at REAL NOT NULL,
    delivery_count INTEGER NOT NULL DEFAULT 0,
    lock_token TEXT,
    locked_until REAL,
    dead_letter_reason TEXT,
    dead_letter_description TEXT
);
CREATE INDEX IF NOT EXISTS messages_by_state
    ON messages (queue_id, sub, state, seq);
CREATE INDEX IF NOT EXISTS messages_due
    ON messages (queue_id, due_at) WHERE state IN (2, 3);
CREATE INDEX IF NOT EXISTS messages_by_session
    ON messages (queue_id, sub, session_id, state, seq) WHERE session_id IS NOT NULL;
CREATE UNIQUE INDEX IF NOT EXISTS messages_by_lock_token
    ON messages (lock_token) WHERE lock_token IS NOT NULL;
CREATE TABLE IF NOT EXISTS seen_message_ids (
    queue_id INTEGER NOT NULL,
    message_id TEXT NOT NULL,
    expires_at REAL NOT NULL,
    PRIMARY KEY (queue_id, message_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS seen_message_ids_expiry ON seen_message_ids (expires_at);
"""

_RECEIVED_COLUMNS = (
    "id, seq, message_id, session_id, body, properties, content_type, enqueued_at, delivery_count, "
    "dead_letter_reason, dead_letter_description"
)


_IDS_PER_STATEMENT = 300
"""Message ids claimed per statement: three parameters each, well under SQLite's limit."""


@dataclass(frozen=True)
class QueueOptions:
    """Per-queue settings, defaulting to Service Bus's own defaults so local runs behave like Azure."""

    lock_duration: timedelta = timedelta(seconds=60)
    max_delivery_count: int = 10
    duplicate_detection_window: timedelta = timedelta(minutes=10)
    max_message_bytes: int = 256 * 1024

    def __post_init__(self) -> None:
        if self.lock_duration <= timedelta(0):
            raise ValueError("lock_duration must be positive")
        if self.max_delivery_count < 1:
            raise ValueError("max_delivery_count must be at least 1")
        if self.duplicate_detection_window < timedelta(0):
            raise ValueError("duplicate_detection_window must not be negative")
        if self.max_message_bytes < 1:
            raise ValueError("max_message_bytes must be positive")


DEFAULT_QUEUE_OPTIONS = QueueOptions()


@dataclass(frozen=True)
class QueueCounts:
    """A queue's message counts, as Service Bus reports them for monitoring."""

    active: int
    scheduled: int
    locked: int
    dead_lettered: int


@dataclass(frozen=True)
class _Locked:
    row_id: int
    queue_id: int
    sub: int
    session_id: str | None
    delivery_count: int


class EmbeddedBus:
    """A durable, multi-process queue store with Service Bus peek-lock, session and dead-letter rules.

    Args:
        path: The SQLite database file; processes that open the same file share the queues.
        clock: Epoch seconds; every time decision uses it so tests can move time.
        queues: Options per queue name; other queues get ``default_options``.
        default_options: Options for queues not named in ``queues``.
        speedup: The bus's own timers run this many times faster: scheduled deliveries come due sooner and
            locks expire sooner. A sandbox day runs its retries and a dead worker's locks on a faster
            clock this way; what is delayed, and by how much, stays the sender's policy.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        clock: Callable[[], float] = time.time,
        queues: Mapping[str, QueueOptions] | None = None,
        default_options: QueueOptions = DEFAULT_QUEUE_OPTIONS,
        speedup: float = 1.0,
    ) -> None:
        if speedup < 1.0:
            raise ValueError("speedup must be at least 1")
        self._speedup = speedup
        self._path = os.fspath(path)
        self._clock = clock
        self._options = dict(queues or {})
        self._default_options = default_options
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self._inherited: list[sqlite3.Connection] = []
        self._pid = -1
        self._closed = False
        self._queue_ids: dict[str, int] = {}
        self._queue_names: dict[int, str] = {}
        self._last_prune = float("-inf")
        self._writes = GroupCommit(self._write, rolled_back=self._forget_queues)
        """Concurrent sends and completions share a commit."""
        with self._lock:
            self._connection()

    # -- connection and transactions ---------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        if self._closed:
            raise MessagingError("the embedded bus is closed")
        if self._conn is not None and self._pid == os.getpid():
            return self._conn
        # A connection inherited through fork must be neither used nor closed by the child: keep it
        # referenced so garbage collection cannot close it, and open a fresh one.
        if self._conn is not None:
            self._inherited.append(self._conn)
            self._conn = None
        parent = os.path.dirname(os.path.abspath(self._path))
        os.makedirs(parent, exist_ok=True)
        conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False, timeout=30.0)
        conn.execute("PRAGMA busy_timeout = 30000")
        conn.execute("PRAGMA journal_mode = WAL")
        # NORMAL in WAL mode survives process crashes; only an OS crash can lose the last commits.
        conn.execute("PRAGMA synchronous = NORMAL")
        try:
            conn.executescript("BEGIN IMMEDIATE;" + _SCHEMA + "COMMIT;")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            conn.close()
            raise
        self._conn = conn
        self._pid = os.getpid()
        return conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            conn = self._connection()
            begin_immediate(conn, 30.0)
            try:
                yield conn
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                self._forget_queues()
                raise
            else:
                conn.execute("COMMIT")

    def _forget_queues(self) -> None:
        """A queue created in a rolled-back transaction must not stay cached."""
        self._queue_ids.clear()
        self._queue_names.clear()

    def sweep_dead_letters(self, queue: str, park: Callable[[ReceivedMessage], None], *,
                           max_messages: int = 100) -> int:
        """Hand each dead-lettered message of ``queue`` to ``park`` and complete it; one that fails stays."""
        moved = 0
        for message in self.receive(queue, max_messages=max_messages, dead_letter=True):
            try:
                park(message)
            except Exception:
                self.abandon(message)
                raise
            self.complete(message)
            moved += 1
        return moved

    def close(self) -> None:
        """Release the database; the file keeps every message for the next opener."""
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None
            self._closed = True

    def __enter__(self) -> EmbeddedBus:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- queues ------------------------------------------------------------------------------

    def options(self, queue: str) -> QueueOptions:
        """The options that govern ``queue``."""
        return self._options.get(queue, self._default_options)

    def _options_by_id(self, conn: sqlite3.Connection, queue_id: int) -> QueueOptions:
        name = self._queue_names.get(queue_id)
        if name is None:
            row = conn.execute("SELECT name FROM queues WHERE id = ?", (queue_id,)).fetchone()
            name = str(row[0])
            self._queue_names[queue_id] = name
        return self.options(name)

    def _find_queue(self, conn: sqlite3.Connection, queue: str) -> int | None:
        queue_id = self._queue_ids.get(queue)
        if queue_id is None:
            row = conn.execute("SELECT id FROM queues WHERE name = ?", (queue,)).fetchone()
            if row is None:
                return None
            queue_id = int(row[0])
            self._queue_ids[queue] = queue_id
            self._queue_names[queue_id] = queue
        return queue_id

    def _ensure_queue(self, conn: sqlite3.Connection, queue: str) -> int:
        queue_id = self._find_queue(conn, queue)
        if queue_id is None:
            conn.execute("INSERT OR IGNORE INTO queues (name, next_seq) VALUES (?, 1)", (queue,))
            queue_id = self._find_queue(conn, queue)
            assert queue_id is not None
        return queue_id

    def queues(self) -> list[str]:
        """Names of the queues that have or had messages, sorted."""
        with self._lock:
            conn = self._connection()
            return [str(row[0]) for row in conn.execute("SELECT name FROM queues ORDER BY name")]

    # -- send --------------------------------------------------------------------------------

    def send(self, queue: str, messages: Sequence[OutgoingMessage]) -> None:
        """Enqueue all messages atomically; ids seen within the duplicate-detection window are dropped.

        Raises:
            MessageTooLarge: A body exceeds the queue's ``max_message_bytes``; nothing is sent.
            ValueError: An id is empty or too long, or a schedule time is naive; nothing is sent.
        """
        _check_queue_name(queue)
        options = self.options(queue)
        for message in messages:
            _validate(message, options)
        if not messages:
            return
        self._writes.run(lambda conn: self._send(conn, queue, messages, options))

    def _send(self, conn: sqlite3.Connection, queue: str, messages: Sequence[OutgoingMessage],
              options: QueueOptions) -> None:
        now = self._clock()
        queue_id = self._ensure_queue(conn, queue)
        window = options.duplicate_detection_window.total_seconds()
        new_ids: set[str] = set()
        for start in range(0, len(messages), _IDS_PER_STATEMENT):
            chunk = messages[start:start + _IDS_PER_STATEMENT]
            values = ", ".join(["(?, ?, ?)"] * len(chunk))
            new_ids.update(row[0] for row in conn.execute(
                f"INSERT INTO seen_message_ids (queue_id, message_id, expires_at) VALUES {values} "  # noqa: S608 - placeholders only
                "ON CONFLICT (queue_id, message_id) DO UPDATE SET expires_at = excluded.expires_at "
                "WHERE seen_message_ids.expires_at <= ? RETURNING message_id",
                [*(value for m in chunk for value in (queue_id, m.message_id, now + window)), now],
            ))
        accepted: list[OutgoingMessage] = []
        for message in messages:  # an id new to the window is sent once, however often the batch holds it
            if message.message_id in new_ids:
                new_ids.discard(message.message_id)
                accepted.append(message)
        if accepted:
            (end,) = conn.execute(
                "UPDATE queues SET next_seq = next_seq + ? WHERE id = ? RETURNING next_seq",
                (len(accepted), queue_id),
            ).fetchone()
            rows = self._new_rows(conn, queue_id, accepted, int(end) - len(accepted), now)
            conn.executemany(
                "INSERT INTO messages (queue_id, sub, state, seq, due_at, message_id, session_id, body, "
                "properties, content_type, enqueued_at) VALUES (?, 0, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
        if now - self._last_prune >= _PRUNE_INTERVAL_SECONDS:
            conn.execute("DELETE FROM seen_message_ids WHERE expires_at <= ?", (now,))
            self._last_prune = now

    def _new_rows(
        self,
        conn: sqlite3.Connection,
        queue_id: int,
        messages: Sequence[OutgoingMessage],
        first_seq: int,
        now: float,
    ) -> list[tuple[Any, ...]]:
        sessions_in_use: set[str] = set()
        rows: list[tuple[Any, ...]] = []
        for offset, message in enumerate(messages):
            scheduled = message.scheduled_enqueue_time
            due = now + (scheduled.timestamp() - now) / self._speedup if scheduled is not None else now
            if due > now:
                state, due_at, enqueued_at = _SCHEDULED, due, due
            else:
                due_at, enqueued_at = None, now
                session = message.session_id
                if session is None:
                    state = _READY
                elif session in sessions_in_use or self._session_busy(conn, queue_id, session):
                    state = _WAITING
                else:
                    state = _READY
                if session is not None:
                    sessions_in_use.add(session)
            properties = (
                json.dumps(dict(message.application_properties)) if message.application_properties else None
            )
            rows.append(
                (
                    queue_id,
                    state,
                    first_seq + offset,
                    due_at,
                    message.message_id,
                    message.session_id,
                    bytes(message.body),
                    properties,
                    message.content_type,
                    enqueued_at,
                )
            )
        return rows

    @staticmethod
    def _session_busy(conn: sqlite3.Connection, queue_id: int, session: str) -> bool:
        row = conn.execute(
            "SELECT 1 FROM messages WHERE queue_id = ? AND sub = 0 AND session_id = ? AND state IN (0, 1, 2) "
            "LIMIT 1",
            (queue_id, session),
        ).fetchone()
        return row is not None

    # -- receive -----------------------------------------------------------------------------

    def receive(
        self, queue: str, *, max_messages: int = 1, dead_letter: bool = False
    ) -> list[ReceivedMessage]:
        """Peek-lock up to ``max_messages`` messages in sequence order, honouring session FIFO.

        Args:
            queue: The queue name.
            max_messages: Upper bound on the messages returned; fewer (or none) may be available.
            dead_letter: Receive from the queue's dead-letter sub-queue instead.
        """
        _check_queue_name(queue)
        if max_messages < 1:
            raise ValueError("max_messages must be at least 1")
        with self._write() as conn:
            queue_id = self._find_queue(conn, queue)
            if queue_id is None:
                return []
            now = self._clock()
            self._sweep(conn, queue_id, now)
            sub = _DEAD_LETTER if dead_letter else _ACTIVE
            rows = conn.execute(
                f"SELECT {_RECEIVED_COLUMNS} FROM messages "  # noqa: S608 - fixed column list
                "WHERE queue_id = ? AND sub = ? AND state = 0 ORDER BY seq LIMIT ?",
                (queue_id, sub, max_messages),
            ).fetchall()
            if not rows:
                return []
            locked_until = now + self.lock_seconds(queue)
            tokens = [str(uuid.uuid4()) for _ in rows]
            conn.executemany(
                "UPDATE messages SET state = 2, lock_token = ?, locked_until = ?, due_at = ?, "
                "delivery_count = delivery_count + 1 WHERE id = ?",
                [
                    (token, locked_until, locked_until, row[0])
                    for token, row in zip(tokens, rows, strict=True)
                ],
            )
        until = _to_datetime(locked_until)
        return [
            ReceivedMessage(
                body=bytes(row[4]),
                message_id=row[2],
                session_id=row[3],
                application_properties=_load_properties(row[5]),
                content_type=row[6],
                delivery_count=int(row[8]) + 1,
                enqueued_time=_to_datetime(row[7]),
                sequence_number=int(row[1]),
                lock_token=token,
                locked_until=until,
                dead_letter_reason=row[9],
                dead_letter_description=row[10],
            )
            for token, row in zip(tokens, rows, strict=True)
        ]

    def _sweep(self, conn: sqlite3.Connection, queue_id: int, now: float) -> None:
        """Activate due scheduled messages and release expired locks, as the broker does on its own."""
        due = conn.execute(
            "SELECT id, sub, state, session_id, delivery_count FROM messages "
            "WHERE queue_id = ? AND state IN (2, 3) AND due_at <= ? ORDER BY seq",
            (queue_id, now),
        ).fetchall()
        for row_id, sub, state, session_id, delivery_count in due:
            if state == _SCHEDULED:
                self._activate(conn, queue_id, row_id, sub, session_id)
            else:
                self._release(conn, _Locked(row_id, queue_id, sub, session_id, delivery_count))

    def _activate(
        self, conn: sqlite3.Connection, queue_id: int, row_id: int, sub: int, session_id: str | None
    ) -> None:
        if sub == _ACTIVE and session_id is not None:
            conn.execute(
                "UPDATE messages SET state = 1, due_at = NULL, lock_token = NULL, locked_until = NULL "
                "WHERE id = ?",
                (row_id,),
            )
            self._refresh_session(conn, queue_id, session_id)
        else:
            conn.execute(
                "UPDATE messages SET state = 0, due_at = NULL, lock_token = NULL, locked_until = NULL "
                "WHERE id = ?",
                (row_id,),
            )

    def _release(self, conn: sqlite3.Connection, locked: _Locked) -> None:
        """Unlock after abandon or lock expiry; past the max delivery count the message is dead-lettered."""
        options = self._options_by_id(conn, locked.queue_id)
        if locked.sub == _ACTIVE and locked.delivery_count >= options.max_delivery_count:
            description = f"Message could not be consumed after {locked.delivery_count} delivery attempts."
            self._move_to_dead_letter(conn, locked, MAX_DELIVERY_COUNT_EXCEEDED, description)
        else:
            self._activate(conn, locked.queue_id, locked.row_id, locked.sub, locked.session_id)

    def _move_to_dead_letter(
        self, conn: sqlite3.Connection, locked: _Locked, reason: str, description: str
    ) -> None:
        conn.execute(
            "UPDATE messages SET sub = 1, state = 0, due_at = NULL, lock_token = NULL, locked_until = NULL, "
            "dead_letter_reason = ?, dead_letter_description = ? WHERE id = ?",
            (reason, description, locked.row_id),
        )
        if locked.sub == _ACTIVE and locked.session_id is not None:
            self._refresh_session(conn, locked.queue_id, locked.session_id)

    @staticmethod
    def _refresh_session(conn: sqlite3.Connection, queue_id: int, session_id: str) -> None:
        """Restore the invariant: only the lowest active message of an unlocked session is READY."""
        key = (queue_id, session_id)
        locked = conn.execute(
            "SELECT 1 FROM messages WHERE queue_id = ? AND sub = 0 AND session_id = ? AND state = 2 LIMIT 1",
            key,
        ).fetchone()
        ready = conn.execute(
            "SELECT id, seq FROM messages WHERE queue_id = ? AND sub = 0 AND session_id = ? AND state = 0",
            key,
        ).fetchall()
        if locked is not None:
            if ready:
                conn.executemany("UPDATE messages SET state = 1 WHERE id = ?", [(r[0],) for r in ready])
            return
        head = conn.execute(
            "SELECT id, seq FROM messages WHERE queue_id = ? AND sub = 0 AND session_id = ? AND state = 1 "
            "ORDER BY seq LIMIT 1",
            key,
        ).fetchone()
        candidates = [*ready, *([head] if head is not None else [])]
        if not candidates:
            return
        head_id = min(candidates, key=lambda r: r[1])[0]
        demote = [(r[0],) for r in ready if r[0] != head_id]
        if demote:
            conn.executemany("UPDATE messages SET state = 1 WHERE id = ?", demote)
        if all(r[0] != head_id for r in ready):
            conn.execute("UPDATE messages SET state = 0 WHERE id = ?", (head_id,))

    # -- settlement --------------------------------------------------------------------------

    def _locked(self, conn: sqlite3.Connection, message: ReceivedMessage, now: float) -> _Locked:
        row = conn.execute(
            "SELECT id, queue_id, sub, session_id, delivery_count FROM messages "
            "WHERE lock_token = ? AND state = 2 AND locked_until > ?",
            (message.lock_token, now),
        ).fetchone()
        if row is None:
            raise _lock_lost(message)
        return _Locked(int(row[0]), int(row[1]), int(row[2]), row[3], int(row[4]))

    def complete(self, message: ReceivedMessage) -> None:
        """Remove the message for good.

        Raises:
            MessageLockLost: The lock expired, or the message was settled or redelivered.
        """
        if self.complete_many([message]):
            raise _lock_lost(message)

    def complete_many(self, messages: Sequence[ReceivedMessage]) -> list[ReceivedMessage]:
        """Complete messages (a batch trigger's) in one statement and one commit; returns those whose lock was
        lost (expired, or settled or redelivered meanwhile), which stay where they are."""
        return self._writes.run(lambda conn: self._complete_many(conn, messages)) if messages else []

    def _complete_many(self, conn: sqlite3.Connection, messages: Sequence[ReceivedMessage]) -> list[ReceivedMessage]:
        now, done = self._clock(), set()
        for start in range(0, len(messages), _IDS_PER_STATEMENT):
            chunk = messages[start:start + _IDS_PER_STATEMENT]
            marks = ",".join("?" * len(chunk))
            for token, queue_id, sub, session_id in conn.execute(
                    f"DELETE FROM messages WHERE lock_token IN ({marks}) AND state = 2 AND locked_until > ? "  # noqa: S608 - placeholders only
                    "RETURNING lock_token, queue_id, sub, session_id", [*(m.lock_token for m in chunk), now]):
                done.add(token)
                if sub == _ACTIVE and session_id is not None:
                    self._refresh_session(conn, int(queue_id), session_id)
        return [m for m in messages if m.lock_token not in done]

    def together(self) -> AbstractContextManager[None]:
        """Sends and completions this thread makes in the block share one transaction, committed at its end
        (a batch trigger's completions, one commit instead of one each)."""
        return self._writes.together()

    def abandon(self, message: ReceivedMessage) -> None:
        """Make the message visible again at once, or dead-letter it once its delivery count is spent.

        Raises:
            MessageLockLost: The lock expired, or the message was settled or redelivered.
        """
        with self._write() as conn:
            self._release(conn, self._locked(conn, message, self._clock()))

    def dead_letter(self, message: ReceivedMessage, *, reason: str, description: str = "") -> None:
        """Park the message in the dead-letter sub-queue with a reason an operator can act on.

        Raises:
            MessageLockLost: The lock expired, or the message was settled or redelivered.
        """
        with self._write() as conn:
            locked = self._locked(conn, message, self._clock())
            self._move_to_dead_letter(conn, locked, reason, description)

    def renew_lock(self, message: ReceivedMessage) -> datetime:
        """Extend the lock by the queue's lock duration for work that outlasts one lock.

        Returns:
            The new lock expiry (UTC).

        Raises:
            MessageLockLost: The lock expired, or the message was settled or redelivered.
        """
        with self._write() as conn:
            now = self._clock()
            locked = self._locked(conn, message, now)
            until = now + self._options_by_id(conn, locked.queue_id).lock_duration.total_seconds() / self._speedup
            conn.execute(
                "UPDATE messages SET locked_until = ?, due_at = ? WHERE id = ?", (until, until, locked.row_id)
            )
        return _to_datetime(until)

    # -- monitoring --------------------------------------------------------------------------

    def lock_seconds(self, queue: str) -> float:
        """How long a received message stays locked on this bus's clock."""
        return self.options(queue).lock_duration.total_seconds() / self._speedup

    def in_flight(self, queue: str) -> list[tuple[str, str]]:
        """``(message id, state)`` of every message not yet settled: ready, waiting, locked or scheduled."""
        _check_queue_name(queue)
        names = {_READY: "ready", _WAITING: "waiting for its session", _LOCKED: "locked", _SCHEDULED: "scheduled"}
        with self._write() as conn:
            queue_id = self._find_queue(conn, queue)
            if queue_id is None:
                return []
            self._sweep(conn, queue_id, self._clock())
            rows = conn.execute("SELECT message_id, state FROM messages WHERE queue_id = ? AND sub = ? ORDER BY seq",
                                (queue_id, _ACTIVE)).fetchall()
        return [(str(message_id), names[int(state)]) for message_id, state in rows]

    def counts(self, queue: str) -> QueueCounts:
        """Counts as of ``clock()``: expired locks and due schedules are settled first."""
        _check_queue_name(queue)
        with self._write() as conn:
            queue_id = self._find_queue(conn, queue)
            if queue_id is None:
                return QueueCounts(active=0, scheduled=0, locked=0, dead_lettered=0)
            self._sweep(conn, queue_id, self._clock())
            totals: dict[tuple[int, int], int] = {
                (int(sub), int(state)): int(n)
                for sub, state, n in conn.execute(
                    "SELECT sub, state, COUNT(*) FROM messages WHERE queue_id = ? GROUP BY sub, state",
                    (queue_id,),
                )
            }
        return QueueCounts(
            active=totals.get((_ACTIVE, _READY), 0) + totals.get((_ACTIVE, _WAITING), 0),
            scheduled=totals.get((_ACTIVE, _SCHEDULED), 0),
            locked=totals.get((_ACTIVE, _LOCKED), 0),
            dead_lettered=sum(n for (sub, _), n in totals.items() if sub == _DEAD_LETTER),
        )


def _check_queue_name(queue: str) -> None:
    if not queue:
        raise ValueError("queue name must not be empty")


def _validate(message: OutgoingMessage, options: QueueOptions) -> None:
    validate_message(message)
    if len(message.body) > options.max_message_bytes:
        raise MessageTooLarge(
            f"message {message.message_id!r} has {len(message.body)} bytes; "
            f"the queue accepts at most {options.max_message_bytes}"
        )
    for key, value in message.application_properties.items():
        if not isinstance(key, str) or not isinstance(value, str | int | float | bool):
            raise TypeError(f"application property {key!r} must map a str to str, int, float or bool")


def _lock_lost(message: ReceivedMessage) -> MessageLockLost:
    return MessageLockLost(
        f"lock on message {message.message_id!r} (sequence {message.sequence_number}) "
        "expired, or the message was settled or delivered again"
    )


def _load_properties(raw: str | None) -> dict[str, PropertyValue]:
    if raw is None:
        return {}
    loaded: dict[str, PropertyValue] = json.loads(raw)
    return loaded


def _to_datetime(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=UTC)
