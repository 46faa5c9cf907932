"""The ``AnomalyFlags`` table: what the anomaly watch flagged, one row per transaction and pattern.

PartitionKey ``af-{yyyymmdd}`` (the transaction's UTC day), RowKey ``{transaction}|{pattern}``: a flag found
again by a later, overlapping run is the same row, so each is alerted once, and a rule reads one
transaction's flags with one query.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from shared.ports import Table
from shared.security.pan import redact
from shared.storage.entities import Condition, Entity
from shared.storage.errors import EntityExists

MAX_REASON = 2_000


@dataclass(frozen=True)
class StoredFlag:
    transaction_id: str
    pattern: str
    score: float
    reason: str
    day: date
    flagged_at: datetime | None = None


def _partition(day: date) -> str:
    return f"af-{day:%Y%m%d}"


class AnomalyFlags:
    def __init__(self, table: Table) -> None:
        self._table = table

    def add(self, flags: Iterable[StoredFlag]) -> list[StoredFlag]:
        """Store each flag not stored before; returns the new ones (those to alert)."""
        new = []
        now = datetime.now(UTC)
        for flag in flags:
            row = Entity(_partition(flag.day), f"{flag.transaction_id}|{flag.pattern}",
                         {"Transaction": flag.transaction_id, "Pattern": flag.pattern, "Score": flag.score,
                          "Reason": redact(flag.reason)[:MAX_REASON], "FlaggedAt": now})
            try:
                self._table.insert(row)
            except EntityExists:
                continue
            new.append(flag)
        return new

    def patterns(self, transaction_id: str, day: date) -> list[str]:
        """The patterns flagged on one transaction of UTC ``day`` (the day of its gateway time, as stored)."""
        rows = self._table.query(_partition(day), [Condition("RowKey", "ge", f"{transaction_id}|"),
                                                   Condition("RowKey", "lt", f"{transaction_id}|~")])
        return sorted({str(row["Pattern"]) for row in rows})

    def recent(self, *, days: int = 2, today: date | None = None) -> Iterator[StoredFlag]:
        """The flags of the last ``days`` days, oldest day first."""
        last = today or datetime.now(UTC).date()
        for offset in range(days - 1, -1, -1):
            day = last - timedelta(days=offset)
            for row in self._table.query(_partition(day), []):
                yield StoredFlag(str(row["Transaction"]), str(row["Pattern"]), float(row["Score"]),
                                 str(row["Reason"]), day, row.get("FlaggedAt"))
