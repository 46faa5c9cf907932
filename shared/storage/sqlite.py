"""The embedded table adapter: Table Storage semantics on one SQLite file.

Used by the local host, the demo and the tests, so it must behave like Azure where callers can tell
the difference: insert-if-absent is the claim primitive, ETags guard replacements, batches are
all-or-nothing, and several worker processes may share the file.
"""

from __future__ import annotations

import base64
import math
import operator
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

import orjson

from shared.storage.entities import (
    Condition,
    Entity,
    Operation,
    Value,
    normalize_batch,
    normalize_conditions,
    normalize_entity,
    validate_key,
    validate_table_name,
)
from shared.storage.errors import (
    BatchError,
    EntityExists,
    EntityNotFound,
    PreconditionFailed,
    StorageError,
)
from shared.storage.group_commit import GroupCommit, begin_immediate

__all__ = ["SqliteTable", "SqliteTableStore"]

T = TypeVar("T")

_PAGE_SIZE = 500
_SCHEMA = """
CREATE TABLE IF NOT EXISTS entities (
    tbl   TEXT NOT NULL,
    pk    TEXT NOT NULL,
    rk    TEXT NOT NULL,
    etag  TEXT NOT NULL,
    props TEXT NOT NULL,
    PRIMARY KEY (tbl, pk, rk)
) WITHOUT ROWID
"""
_SQL_OPS = {"eq": "=", "ne": "<>", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}
_PY_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "lt": operator.lt,
    "le": operator.le,
    "gt": operator.gt,
    "ge": operator.ge,
}


class SqliteTableStore:
    """Tables on one SQLite file, shared safely by threads and processes.

    WAL lets readers run beside the single writer; every write takes the write lock up front
    (``BEGIN IMMEDIATE``) so check-then-write sequences such as ETag conditions cannot interleave,
    and ``busy_timeout`` makes contending writers wait instead of failing.
    """

    def __init__(self, path: str | os.PathLike[str], *, busy_timeout: float = 30.0) -> None:
        self._path = os.fspath(path)
        self._busy_timeout = busy_timeout
        self._lock = threading.Lock()
        # One writer per process at a time, and concurrent writes share its transaction: threads queue in
        # the group commit, which hands over at once, instead of on SQLite's busy handler, which sleeps in
        # growing steps between retries.
        self._group = GroupCommit(self._transaction)
        self._idle: list[sqlite3.Connection] = []
        self._closed = False
        self._tables: dict[str, SqliteTable] = {}
        directory = os.path.dirname(os.path.abspath(self._path))
        os.makedirs(directory, exist_ok=True)
        self._initialise()

    def table(self, name: str) -> SqliteTable:
        """The table ``name``; names are case-insensitive, as in Azure."""
        validate_table_name(name)
        with self._lock:
            if self._closed:
                raise StorageError("the table store is closed")
            table = self._tables.get(name.lower())
            if table is None:
                table = self._tables[name.lower()] = SqliteTable(self, name)
            return table

    def together(self) -> AbstractContextManager[None]:
        """This thread's writes in the block share one transaction (see ``GroupCommit.together``)."""
        return self._group.together()

    def close(self) -> None:
        """Close idle connections now; connections in use are closed when they are handed back."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()

    def _initialise(self) -> None:
        # Changing the journal mode needs a moment of exclusive access, which the busy handler does
        # not always wait for when several processes open a new file at once, so retry here.
        deadline = time.monotonic() + self._busy_timeout
        while True:
            try:
                with self._connection() as connection:
                    connection.execute("PRAGMA journal_mode=WAL")
                    connection.execute(_SCHEMA)
                return
            except sqlite3.Error as error:
                if "locked" not in str(error) and "busy" not in str(error):
                    raise StorageError(f"cannot open {self._path}: {error}") from error
                if time.monotonic() > deadline:
                    raise StorageError(f"cannot open {self._path}: {error}") from error
                time.sleep(0.05)

    def _open(self) -> sqlite3.Connection:
        connection = sqlite3.connect(
            self._path, timeout=self._busy_timeout, isolation_level=None, check_same_thread=False
        )
        connection.execute(f"PRAGMA busy_timeout={int(self._busy_timeout * 1000)}")
        connection.execute("PRAGMA synchronous=NORMAL")
        return connection

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._closed:
                raise StorageError("the table store is closed")
            connection = self._idle.pop() if self._idle else None
        if connection is None:
            connection = self._open()
        try:
            yield connection
        finally:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            with self._lock:
                keep = not self._closed
                if keep:
                    self._idle.append(connection)
            if not keep:
                connection.close()

    def _read(self, sql: str, params: Sequence[Any]) -> list[Any]:
        inside = self._group.open_connection()
        try:
            if inside is not None:  # read this thread's own writes, not yet committed
                return inside.execute(sql, params).fetchall()
            with self._connection() as connection:
                return connection.execute(sql, params).fetchall()
        except sqlite3.Error as error:
            raise StorageError(f"SQLite read failed: {error}") from error

    def _write(self, work: Callable[[sqlite3.Connection], T], *, one_statement: bool = False) -> T:
        """Run ``work`` in a committed write transaction, perhaps shared with other threads' writes; an
        exception rolls back ``work`` alone (``GroupCommit.run``)."""
        try:
            return self._group.run(work, one_statement=one_statement)
        except sqlite3.Error as error:
            raise StorageError(f"SQLite write failed: {error}") from error

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._connection() as connection:
            begin_immediate(connection, self._busy_timeout)
            yield connection
            connection.execute("COMMIT")


class SqliteTable:
    """One table of a :class:`SqliteTableStore`; every method is thread- and process-safe."""

    def __init__(self, store: SqliteTableStore, name: str) -> None:
        self.name = name
        self._store = store
        self._key = name.lower()

    def get(self, partition_key: str, row_key: str) -> Entity | None:
        validate_key("PartitionKey", partition_key)
        validate_key("RowKey", row_key)
        rows = self._store._read(
            "SELECT etag, props FROM entities WHERE tbl = ? AND pk = ? AND rk = ?",
            (self._key, partition_key, row_key),
        )
        if not rows:
            return None
        return Entity(partition_key, row_key, _decode(rows[0][1]), rows[0][0])

    def get_many(self, partition_key: str, row_keys: Sequence[str]) -> dict[str, Entity]:
        validate_key("PartitionKey", partition_key)
        wanted = sorted({validate_key("RowKey", row_key) for row_key in row_keys})
        found: dict[str, Entity] = {}
        for start in range(0, len(wanted), _PAGE_SIZE):
            chunk = wanted[start:start + _PAGE_SIZE]
            marks = ",".join("?" * len(chunk))
            rows = self._store._read(
                f"SELECT rk, etag, props FROM entities WHERE tbl = ? AND pk = ? AND rk IN ({marks})",  # noqa: S608 - placeholders only
                (self._key, partition_key, *chunk),
            )
            found.update((rk, Entity(partition_key, rk, _decode(props), etag)) for rk, etag, props in rows)
        return found

    def insert(self, entity: Entity) -> Entity:
        checked = normalize_entity(entity)
        return self._store._write(lambda c: self._put(c, Operation("insert", checked)), one_statement=True)

    def upsert(self, entity: Entity, *, etag: str | None = None) -> Entity:
        checked = normalize_entity(entity)
        return self._store._write(lambda c: self._put(c, Operation("upsert", checked, etag)), one_statement=True)

    def delete(self, partition_key: str, row_key: str, *, etag: str | None = None) -> None:
        checked = normalize_entity(Entity(partition_key, row_key))
        self._store._write(lambda c: self._delete(c, checked, etag, missing_ok=etag is None))

    def query(self, partition_key: str, where: Sequence[Condition] = ()) -> Iterator[Entity]:
        """Stream the partition page by page (by RowKey), so no page holds a connection or lock
        while the caller works, and a huge partition never sits in memory at once."""
        validate_key("PartitionKey", partition_key)
        conditions = normalize_conditions(where)
        return self._stream(partition_key, conditions)

    def submit(self, operations: Sequence[Operation]) -> list[Entity | None]:
        checked = normalize_batch(operations)
        if not checked:
            return []

        def apply_all(connection: sqlite3.Connection) -> list[Entity | None]:
            results: list[Entity | None] = []
            index = 0
            while index < len(checked):
                operation = checked[index]
                if operation.kind == "insert":  # a run of inserts: one statement for all of them
                    end = index + 1
                    while end < len(checked) and checked[end].kind == "insert":
                        end += 1
                    results.extend(self._insert_many(connection, checked[index:end], index))
                    index = end
                    continue
                try:
                    if operation.kind == "delete":
                        self._delete(connection, operation.entity, operation.etag, missing_ok=False)
                        results.append(None)
                    else:
                        results.append(self._put(connection, operation))
                except (EntityExists, EntityNotFound, PreconditionFailed) as error:
                    raise BatchError(index, error) from error
                index += 1
            return results

        return self._store._write(apply_all)

    def _stream(self, partition_key: str, conditions: list[Condition]) -> Iterator[Entity]:
        sql = "SELECT rk, etag, props FROM entities WHERE tbl = ? AND pk = ?"
        params: list[Any] = [self._key, partition_key]
        rest: list[Condition] = []
        for condition in conditions:
            if condition.name != "RowKey":
                rest.append(condition)
            elif not isinstance(condition.value, str):
                return  # RowKey is a string; a comparison with another type is false.
            else:
                sql += f" AND rk {_SQL_OPS[condition.op]} ?"
                params.append(condition.value)
        after: str | None = None
        while True:
            page_sql = sql + (" AND rk > ?" if after is not None else "") + " ORDER BY rk LIMIT ?"
            page_params = [*params, *([after] if after is not None else []), _PAGE_SIZE]
            rows = self._store._read(page_sql, page_params)
            for row_key, etag, props in rows:
                data = _decode(props)
                if all(_matches(data.get(c.name), c) for c in rest):
                    yield Entity(partition_key, row_key, data, etag)
            if len(rows) < _PAGE_SIZE:
                return
            after = rows[-1][0]

    def _delete(
        self, connection: sqlite3.Connection, entity: Entity, etag: str | None, *, missing_ok: bool
    ) -> None:
        if not missing_ok:
            self._check(connection, entity, etag)
        connection.execute(
            "DELETE FROM entities WHERE tbl = ? AND pk = ? AND rk = ?",
            (self._key, entity.partition_key, entity.row_key),
        )

    def _put(self, connection: sqlite3.Connection, operation: Operation) -> Entity:
        """Insert or upsert ``operation.entity`` inside the caller's write transaction."""
        entity = operation.entity
        keys = (self._key, entity.partition_key, entity.row_key)
        etag = _new_etag()
        props = _encode(entity.data)
        if operation.kind == "insert":
            try:
                connection.execute(
                    "INSERT INTO entities (tbl, pk, rk, etag, props) VALUES (?, ?, ?, ?, ?)",
                    (*keys, etag, props),
                )
            except sqlite3.IntegrityError as error:
                raise EntityExists(f"{entity.partition_key!r}/{entity.row_key!r} already exists") from error
        elif operation.etag is None:
            connection.execute(
                "INSERT INTO entities (tbl, pk, rk, etag, props) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (tbl, pk, rk) DO UPDATE SET etag = excluded.etag, props = excluded.props",
                (*keys, etag, props),
            )
        else:
            updated = connection.execute(
                "UPDATE entities SET etag = ?, props = ? WHERE tbl = ? AND pk = ? AND rk = ? AND (etag = ? OR ? = '*')",
                (etag, props, *keys, operation.etag, operation.etag),
            ).rowcount
            if not updated:
                self._check(connection, entity, operation.etag)  # raises: absent, or changed
        return Entity(entity.partition_key, entity.row_key, dict(entity.data), etag)

    def _insert_many(self, connection: sqlite3.Connection, operations: Sequence[Operation],
                     offset: int) -> list[Entity | None]:
        """Inserts of a batch in one statement. One that finds its row present fails the batch, and the
        caller's rollback takes back the rows inserted before it."""
        rows = [(self._key, o.entity.partition_key, o.entity.row_key, _new_etag(), _encode(o.entity.data))
                for o in operations]
        try:
            connection.executemany("INSERT INTO entities (tbl, pk, rk, etag, props) VALUES (?, ?, ?, ?, ?)", rows)
        except sqlite3.IntegrityError as error:
            # The rows before the one present went in with their new ETags: it is the first without its own.
            for index, row in enumerate(rows):
                stored = connection.execute("SELECT etag FROM entities WHERE tbl = ? AND pk = ? AND rk = ?",
                                            row[:3]).fetchone()
                if stored is None or stored[0] != row[3]:
                    exists = EntityExists(f"{row[1]!r}/{row[2]!r} already exists")
                    raise BatchError(offset + index, exists) from error
            raise
        return [Entity(pk, rk, dict(o.entity.data), etag) for o, (_, pk, rk, etag, _) in zip(operations, rows,
                                                                                             strict=True)]

    def _check(self, connection: sqlite3.Connection, entity: Entity, etag: str | None) -> None:
        """Raise unless the row exists and, when ``etag`` is given, still carries it (``*`` matches any)."""
        row = connection.execute(
            "SELECT etag FROM entities WHERE tbl = ? AND pk = ? AND rk = ?",
            (self._key, entity.partition_key, entity.row_key),
        ).fetchone()
        if row is None:
            raise EntityNotFound(f"{entity.partition_key!r}/{entity.row_key!r} does not exist")
        if etag is not None and etag != "*" and row[0] != etag:
            raise PreconditionFailed(f"{entity.partition_key!r}/{entity.row_key!r} has changed")


def _new_etag() -> str:
    return f'W/"{os.urandom(16).hex()}"'


def _kind(value: Value) -> type:
    # bool is an int subclass; Table Storage treats them as unrelated types.
    return bool if isinstance(value, bool) else type(value)


def _matches(value: Value | None, condition: Condition) -> bool:
    """Table Storage semantics: a missing property or a value of another type never matches."""
    if value is None or _kind(value) is not _kind(condition.value):
        return False
    return _PY_OPS[condition.op](value, condition.value)


def _encode(data: Any) -> str:
    tagged: dict[str, list[Any]] = {}
    for name, value in data.items():
        if type(value) is str:
            tagged[name] = ["s", value]
        elif isinstance(value, bool):
            tagged[name] = ["b", value]
        elif isinstance(value, int):
            tagged[name] = ["i", value]
        elif isinstance(value, float):
            tagged[name] = ["f", value if math.isfinite(value) else repr(value)]  # JSON has no NaN or inf
        elif isinstance(value, str):
            tagged[name] = ["s", value]
        elif isinstance(value, bytes):
            tagged[name] = ["x", base64.b64encode(value).decode("ascii")]
        else:
            tagged[name] = ["d", value.isoformat()]
    return orjson.dumps(tagged).decode()


def _decode(props: str) -> dict[str, Value]:
    data: dict[str, Value] = {}
    for name, (tag, raw) in orjson.loads(props).items():
        if tag == "x":
            data[name] = base64.b64decode(raw)
        elif tag == "d":
            data[name] = datetime.fromisoformat(raw).astimezone(UTC)
        elif tag == "f":
            data[name] = float(raw)
        else:
            data[name] = raw
    return data
