"""Dead letters: messages parked with the reason, the original body and the target's error text."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

from shared.security.pan import redact
from shared.storage.port import Entity, Table

TABLE = "DeadLetters"


class DeadLetters:
    """Parks messages in the ``DeadLetters`` table, one partition per queue and day."""

    def __init__(self, table: Table) -> None:
        self._table = table

    def park(self, *, queue: str, body: bytes, message_id: str, reason: str, description: str) -> Entity:
        now = datetime.now(UTC)
        row = Entity(
            f"{queue}-{now:%Y%m%d}",
            f"{now:%H%M%S%f}-{uuid.uuid4().hex[:8]}",
            {
                "Queue": queue,
                "MessageId": message_id,
                "Reason": reason,
                "Description": redact(description)[:32_000],
                "Body": redact(body.decode("utf-8", errors="replace"))[:32_000],
                "ParkedAt": now,
            },
        )
        return self._table.insert(row)

    def list(self, queue: str, day: datetime) -> Iterator[Entity]:
        return self._table.query(f"{queue}-{day:%Y%m%d}")
