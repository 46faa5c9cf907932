"""What the table port stores and the limits it enforces: the few Table Storage shapes hl365 needs, checked
so SQLite honours exactly what Azure would (the port itself is ``shared.ports.Table``).

Values are limited to what Azure Table Storage stores natively (str, int, float, bool, bytes and
timezone-aware datetime); money travels as a decimal string, never a float.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

Value = str | int | float | bool | bytes | datetime
Operator = Literal["eq", "ne", "lt", "le", "gt", "ge"]

MAX_BATCH = 100


@dataclass(frozen=True)
class Entity:
    """One stored row; ``etag`` is set on every row an adapter returns."""

    partition_key: str
    row_key: str
    data: Mapping[str, Value] = field(default_factory=dict)
    etag: str | None = None

    def __getitem__(self, name: str) -> Any:
        return self.data[name]

    def get(self, name: str, default: Any = None) -> Any:
        return self.data.get(name, default)


@dataclass(frozen=True)
class Condition:
    """``property op value``; conditions in one query are ANDed. ``RowKey`` is a valid property."""

    name: str
    op: Operator
    value: Value


@dataclass(frozen=True)
class Operation:
    """One operation of a batch: ``insert`` (fails if present), ``upsert`` (insert or replace,
    conditioned on ``etag`` when given), ``delete`` (conditioned on ``etag`` when given)."""

    kind: Literal["insert", "upsert", "delete"]
    entity: Entity
    etag: str | None = None


# Limits Azure Table Storage enforces; checked before any I/O so the embedded store never accepts
# what Azure would reject.
MAX_KEY_UNITS = 512  # "1 KiB" of UTF-16; Azure and Azurite reject a 513-character key.
MAX_CONDITIONS = 14  # Azure allows 15 comparisons per $filter; the partition takes one.
MAX_PROPERTIES = 252  # 255 including PartitionKey, RowKey and Timestamp.
MAX_ENTITY_BYTES = 1024 * 1024
MAX_BATCH_BYTES = 4 * 1024 * 1024
MAX_STRING_UNITS = 32 * 1024  # 64 KiB of UTF-16.
MAX_BINARY_BYTES = 64 * 1024
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
RESERVED_PROPERTIES = frozenset({"PartitionKey", "RowKey", "Timestamp"})

_TABLE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]{2,62}")
_FORBIDDEN_KEY_CHARS = re.compile(r"[/\\#?\x00-\x1f\x7f-\x9f]")


def validate_table_name(name: str) -> str:
    """Reject names Azure would refuse, so a table that works locally also exists in Azure."""
    if not isinstance(name, str) or not _TABLE_NAME.fullmatch(name) or name.lower() == "tables":
        raise ValueError(
            f"invalid table name {name!r}: 3-63 letters or digits, starting with a letter, not 'Tables'"
        )
    return name


def validate_key(kind: str, value: str) -> str:
    """Check a PartitionKey or RowKey (``kind``) against Azure's rules; they end up in request URLs."""
    if not isinstance(value, str):
        raise TypeError(f"{kind} must be a str, not {type(value).__name__}")
    if len(value) > MAX_KEY_UNITS // 2 and len(value.encode("utf-16-le")) > 2 * MAX_KEY_UNITS:
        raise ValueError(f"{kind} is longer than 1 KiB ({MAX_KEY_UNITS} UTF-16 code units)")
    bad = _FORBIDDEN_KEY_CHARS.search(value)
    if bad:
        raise ValueError(f"{kind} {value!r} contains the forbidden character {bad.group()!r}")
    return value


def normalize_value(name: str, value: Any) -> Value:
    """The plain, storable form of ``value``: exact built-in types and datetimes in UTC."""
    kind = type(value)
    if (kind is str and len(value) <= MAX_STRING_UNITS // 2) or (kind is int and INT64_MIN <= value <= INT64_MAX):
        return value  # most values: short text and integers, stored as given
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        if not INT64_MIN <= value <= INT64_MAX:
            raise ValueError(f"property {name!r}: {value} does not fit in a 64-bit integer")
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        if len(value) > MAX_STRING_UNITS // 2 and len(value.encode("utf-16-le")) > 2 * MAX_STRING_UNITS:
            raise ValueError(f"property {name!r}: string longer than 64 KiB in UTF-16")
        return str.__str__(value)
    if isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value)
        if len(raw) > MAX_BINARY_BYTES:
            raise ValueError(f"property {name!r}: binary value larger than 64 KiB")
        return raw
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"property {name!r}: datetime must be timezone-aware")
        utc = value.astimezone(UTC)
        return datetime(
            utc.year, utc.month, utc.day, utc.hour, utc.minute, utc.second, utc.microsecond, tzinfo=UTC
        )
    raise TypeError(f"property {name!r}: unsupported type {type(value).__name__}")


def entity_size(entity: Entity) -> int:
    """Azure's billing size of an entity, the measure its 1 MiB and 4 MiB (batch) limits apply to."""
    return 4 + 2 * (len(entity.partition_key) + len(entity.row_key)) + sum(
        _property_size(name, value) for name, value in entity.data.items())


def _property_size(name: str, value: Value) -> int:
    if isinstance(value, str):
        return 12 + 2 * len(name) + (2 * len(value) if value.isascii() else len(value.encode("utf-16-le")))
    if isinstance(value, bytes):
        return 12 + 2 * len(name) + len(value)
    return 8 + 2 * len(name) + (1 if isinstance(value, bool) else 8)


def normalize_entity(entity: Entity) -> Entity:
    """Validate keys, property names and values, and return the entity as an adapter stores it.

    Raises:
        ValueError: a key, name or value Azure would reject (the message names it).
        TypeError: a key or value of an unsupported type.
    """
    return _sized(entity)[0]


def _sized(entity: Entity) -> tuple[Entity, int]:
    """``normalize_entity`` and the entity's size (as ``entity_size`` measures it), in one pass: every write
    takes it."""
    validate_key("PartitionKey", entity.partition_key)
    validate_key("RowKey", entity.row_key)
    if len(entity.data) > MAX_PROPERTIES:
        raise ValueError(f"more than {MAX_PROPERTIES} properties")
    size = 4 + 2 * (len(entity.partition_key) + len(entity.row_key))
    data: dict[str, Value] = {}
    for name, value in entity.data.items():
        if name not in _VALID_NAMES:
            validate_property_name(name)
        value = normalize_value(name, value)
        size += _property_size(name, value)
        data[name] = value
    result = Entity(entity.partition_key, entity.row_key, data, entity.etag)
    if size > MAX_ENTITY_BYTES:
        raise ValueError(f"entity {entity.partition_key!r}/{entity.row_key!r} is larger than 1 MiB")
    return result, size


def validate_property_name(name: str) -> str:
    """Property names become OData identifiers; the key names are the service's own."""
    if name in _VALID_NAMES:  # a program writes a handful of names millions of times
        return name
    if not isinstance(name, str) or not name.isidentifier() or len(name) > 255:
        raise ValueError(f"invalid property name {name!r}: an identifier of at most 255 characters")
    if name in RESERVED_PROPERTIES:
        raise ValueError(f"{name} is reserved and cannot be stored as a property")
    if len(_VALID_NAMES) < 4096:
        _VALID_NAMES.add(name)
    return name


_VALID_NAMES: set[str] = set()


def normalize_conditions(where: Sequence[Condition]) -> list[Condition]:
    """Validate conditions up front so a bad query fails the same way on every adapter."""
    if len(where) > MAX_CONDITIONS:
        raise ValueError(f"at most {MAX_CONDITIONS} conditions per query")
    result = []
    for condition in where:
        if condition.op not in ("eq", "ne", "lt", "le", "gt", "ge"):
            raise ValueError(f"unknown operator {condition.op!r}")
        if condition.name != "RowKey":
            validate_property_name(condition.name)
        value = normalize_value(condition.name, condition.value)
        result.append(Condition(condition.name, condition.op, value))
    return result


def normalize_batch(operations: Sequence[Operation]) -> list[Operation]:
    """Enforce the entity-group-transaction rules before anything is sent.

    Raises:
        ValueError: more than ``MAX_BATCH`` operations, mixed partitions, a row addressed twice or
            more than 4 MiB of entities.
    """
    if len(operations) > MAX_BATCH:
        raise ValueError(f"a batch holds at most {MAX_BATCH} operations, got {len(operations)}")
    result: list[Operation] = []
    seen: set[str] = set()
    total = 0
    for index, operation in enumerate(operations):
        if operation.kind not in ("insert", "upsert", "delete"):
            raise ValueError(f"operation {index}: unknown kind {operation.kind!r}")
        if operation.kind == "insert" and operation.etag is not None:
            raise ValueError(f"operation {index}: an insert takes no etag")
        entity, size = _sized(operation.entity)
        total += size
        if result and entity.partition_key != result[0].entity.partition_key:
            raise ValueError(
                f"operation {index}: PartitionKey {entity.partition_key!r} differs from "
                f"{result[0].entity.partition_key!r}; a batch covers one partition"
            )
        if entity.row_key in seen:
            raise ValueError(f"operation {index}: RowKey {entity.row_key!r} appears twice in the batch")
        seen.add(entity.row_key)
        result.append(Operation(operation.kind, entity, operation.etag))
    if total > MAX_BATCH_BYTES:
        raise ValueError("a batch carries at most 4 MiB of entities")
    return result
