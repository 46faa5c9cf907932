"""Dead letters: what no retry could fix, parked with the reason, the original body and the target's
error text, listed for a person and replayed once the cause is fixed.

One partition per day, newest last; a row keeps its queue, so a replay sends the body back where
it came from. Bodies are masked for card numbers before they are stored (intake refuses them
anyway) and kept whole up to Table Storage's 32K-character string limit; a longer one is marked
truncated and cannot be replayed.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

from shared.ports import Table
from shared.security.pan import redact
from shared.storage.entities import Condition, Entity

MAX_TEXT = 32_000
"""UTF-16 units kept of a body or description: under Table Storage's 32K-unit string limit."""

PARKED = "parked"
REPLAYED = "replayed"


def _partition(day: date) -> str:
    return f"dl-{day:%Y%m%d}"


class DeadLetters:
    """Parks, lists and marks replayed the rows of the ``DeadLetters`` table."""

    def __init__(self, table: Table) -> None:
        self._table = table

    def park(self, *, queue: str, body: bytes, message_id: str, reason: str, description: str) -> Entity:
        now = datetime.now(UTC)
        text = redact(body.decode("utf-8", errors="replace"))
        kept = _fit(text)
        row = Entity(
            _partition(now.date()),
            f"{now:%H%M%S%f}-{uuid.uuid4().hex[:8]}",
            {
                "Queue": queue,
                "MessageId": message_id,
                "Reason": reason,
                "Description": _fit(redact(description)),
                "Body": kept,
                "Truncated": kept != text,
                "Status": PARKED,
                "ParkedAt": now,
                "Replays": 0,
            },
        )
        return self._table.insert(row)

    def list(self, *, days: int = 7, reason: str | None = None, status: str | None = PARKED,
             today: date | None = None) -> Iterator[Entity]:
        """Rows of the last ``days`` days, oldest first, optionally of one reason and status."""
        last = today or datetime.now(UTC).date()
        where = [Condition("Reason", "eq", reason)] if reason else []
        if status:
            where.append(Condition("Status", "eq", status))
        for offset in range(days - 1, -1, -1):
            yield from self._table.query(_partition(last - timedelta(days=offset)), where)

    def find(self, row_id: str) -> Entity | None:
        """A row by the id ``list`` shows (``{partition}/{row}``)."""
        partition, _, row_key = row_id.partition("/")
        if not row_key:
            return None
        try:
            return self._table.get(partition, row_key)
        except ValueError:  # characters or a length no key may have: an id someone typed, naming no row
            return None

    def mark_replayed(self, row: Entity) -> Entity:
        replays = int(row.get("Replays", 0)) + 1
        changed = Entity(row.partition_key, row.row_key, {**row.data, "Status": REPLAYED, "Replays": replays,
                                                           "ReplayedAt": datetime.now(UTC)})
        return self._table.upsert(changed, etag=row.etag)


def _units(text: str) -> int:
    """Length as Table Storage counts it: UTF-16 code units (a character outside the BMP is two)."""
    return len(text.encode("utf-16-le")) // 2


def _fit(text: str) -> str:
    """``text`` cut to ``MAX_TEXT`` UTF-16 units, never through a character."""
    if _units(text) <= MAX_TEXT:
        return text
    return text.encode("utf-16-le")[: 2 * MAX_TEXT].decode("utf-16-le", errors="ignore")


def row_id(row: Entity) -> str:
    return f"{row.partition_key}/{row.row_key}"
