"""The audit trail: append-only, one record per step per event, tamper-evident.

Each day is a partition holding a chain: record ``n`` carries the MAC of record ``n-1`` and its own
HMAC-SHA256 under the audit key, and a head row (written in the same atomic batch as each record)
seals the last sequence number. Editing, inserting or deleting any record, the last one included,
breaks the chain at a place ``verify`` can name.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from shared.ports import Table
from shared.security.pan import redact
from shared.storage.entities import Entity, Operation
from shared.storage.errors import BatchError

HEAD = "~head"
GENESIS = "genesis"
_FIELDS = ("Step", "EventId", "CorrelationId", "Outcome", "Detail", "At")


def _partition(day: date) -> str:
    return day.strftime("%Y%m%d")


def _row_key(seq: int) -> str:
    return f"{seq:012d}"


@dataclass(frozen=True)
class VerifyReport:
    """The result of checking one day: ``problems`` name each broken record."""

    day: date
    records: int
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


class AuditTrail:
    """Appends and verifies audit records in the ``AuditLog`` table."""

    def __init__(
        self,
        table: Table,
        *,
        key: bytes,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if not key:
            raise ValueError("the audit key must not be empty")
        self._table = table
        self._key = key
        self._clock = clock
        self._heads: dict[str, Entity] = {}
        self._lock = threading.Lock()

    def record(
        self,
        *,
        step: str,
        event_id: str,
        correlation_id: str,
        outcome: str,
        detail: Mapping[str, object] | None = None,
    ) -> Entity:
        """Append one record; ``detail`` values pass through PAN masking before anything is stored."""
        at = self._clock().astimezone(UTC)
        text = redact(json.dumps(dict(detail or {}), sort_keys=True, default=str, separators=(",", ":")))
        body = {
            "Step": step,
            "EventId": redact(event_id),
            "CorrelationId": correlation_id,
            "Outcome": outcome,
            "Detail": text,
            "At": at.isoformat(timespec="microseconds"),
        }
        partition = _partition(at.date())
        with self._lock:
            for _ in range(100):
                head = self._heads.get(partition) or self._table.get(partition, HEAD)
                seq = int(head["Seq"]) + 1 if head else 1
                prev = str(head["Mac"]) if head else GENESIS
                mac = self._mac(partition, seq, prev, body)
                row = Entity(partition, _row_key(seq), {**body, "Seq": seq, "Prev": prev, "Mac": mac})
                seal = Entity(partition, HEAD, {"Seq": seq, "Mac": mac, "Seal": self._seal(partition, seq, mac)})
                ops = [
                    Operation("insert", row),
                    Operation("upsert", seal, etag=head.etag) if head else Operation("insert", seal),
                ]
                try:
                    results = self._table.submit(ops)
                except BatchError:
                    self._heads.pop(partition, None)
                    continue
                stored_head = results[1]
                if stored_head is not None:
                    self._heads[partition] = stored_head
                return row
        raise RuntimeError(f"audit partition {partition} is under too much contention to append")

    def records(self, day: date) -> Iterator[Entity]:
        """The day's records in order, without the head row."""
        for row in self._table.query(_partition(day)):
            if row.row_key != HEAD:
                yield row

    def verify(self, day: date) -> VerifyReport:
        """Recompute the day's chain and name every record that was edited, inserted or deleted.

        The seal is read first: records appended while the day is being read are newer than it, and
        they must chain like every other, but the seal cannot name them.
        """
        partition = _partition(day)
        problems: list[str] = []
        head = self._table.get(partition, HEAD)
        sealed_seq = int(head["Seq"]) if head is not None else 0
        sealed_mac: str | None = None
        expected_seq, prev, count = 1, GENESIS, 0
        for row in self.records(day):
            count += 1
            name = f"record {partition}/{row.row_key}"
            try:
                seq = int(row["Seq"])
                body = {k: str(row[k]) for k in _FIELDS}
            except (KeyError, ValueError):
                problems.append(f"{name}: inserted (not an audit record of this trail)")
                continue
            gap = False
            if row.row_key != _row_key(seq):
                problems.append(f"{name}: inserted or moved (its sequence number says {seq})")
            elif seq > expected_seq:
                gap = True
                missing = ", ".join(_row_key(s) for s in range(expected_seq, seq))
                problems.append(f"{name}: records before it were deleted ({missing})")
            if not hmac.compare_digest(str(row.get("Mac", "")), self._mac(partition, seq, str(row["Prev"]), body)):
                problems.append(f"{name}: edited (its content does not match its MAC)")
            elif row["Prev"] != prev and not gap:
                problems.append(f"{name}: inserted or out of order (it does not chain to the record before)")
            expected_seq, prev = seq + 1, str(row.get("Mac", ""))
            if seq == sealed_seq:
                sealed_mac = prev
        if head is None:
            if count:
                problems.append(f"record {partition}/{HEAD}: the seal was deleted")
        elif not hmac.compare_digest(str(head["Seal"]), self._seal(partition, int(head["Seq"]), str(head["Mac"]))):
            problems.append(f"record {partition}/{HEAD}: the seal was edited")
        elif expected_seq - 1 < sealed_seq or head["Mac"] != sealed_mac:
            gone = ", ".join(_row_key(s) for s in range(expected_seq, sealed_seq + 1)) or _row_key(sealed_seq)
            problems.append(f"record {partition}/{gone}: deleted (the seal names record {_row_key(sealed_seq)} last)")
        return VerifyReport(day, count, problems)

    def _mac(self, partition: str, seq: int, prev: str, body: Mapping[str, str]) -> str:
        message = json.dumps([partition, seq, prev, [body[k] for k in _FIELDS]], separators=(",", ":"))
        return hmac.new(self._key, message.encode(), hashlib.sha256).hexdigest()

    def _seal(self, partition: str, seq: int, mac: str) -> str:
        return hmac.new(self._key, f"{partition}|{seq}|{mac}".encode(), hashlib.sha256).hexdigest()
