"""Replaying dead letters once their cause is fixed (a mapping entry added, a customer unblocked).

A queue message goes back to its queue with the same envelope, so the same idempotency key guards
its effect; only the bus ``MessageId`` carries the replay count, so duplicate detection lets it
through. A parked settlement day is closed again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date

from shared.canonical.envelope import Envelope
from shared.errors import InvalidRequest, NotFound
from shared.flows.settlement import SETTLEMENT_QUEUE, run_settlement
from shared.messaging.envelope import to_message
from shared.ops.deadletters import row_id
from shared.ports import Ports
from shared.storage.entities import Entity


@dataclass(frozen=True)
class Replayed:
    id: str
    queue: str
    reason: str
    outcome: str
    ok: bool


@dataclass(frozen=True)
class Replays:
    """Each row replayed, with its outcome; a row that could not be replayed stays parked."""

    replayed: list[Replayed]

    @property
    def failed(self) -> list[Replayed]:
        return [r for r in self.replayed if not r.ok]


def replay(ports: Ports, *, row: str | None = None, reason: str | None = None, days: int = 7) -> Replays:
    """Replay one parked row (by the id ``dlq list`` shows) or every parked row of one reason.

    Raises:
        InvalidRequest: neither or both of ``row`` and ``reason`` given.
        NotFound: no such row.
    """
    row, reason = row or None, reason or None
    if (row is None) == (reason is None):
        raise InvalidRequest("replay takes exactly one of an id or a reason")
    if row is not None:
        found = ports.dead_letters.find(row)
        if found is None:
            raise NotFound(f"no dead letter {row!r}")
        rows = [found]
    else:
        rows = list(ports.dead_letters.list(days=days, reason=reason))
    return Replays([_replay_one(ports, entity) for entity in rows])


def _replay_one(ports: Ports, row: Entity) -> Replayed:
    queue, reason = str(row["Queue"]), str(row["Reason"])
    if row.get("Truncated"):
        return Replayed(row_id(row), queue, reason, "body was truncated when parked; cannot replay", False)
    body = str(row["Body"]).encode()
    try:
        if queue == SETTLEMENT_QUEUE:
            outcome = _replay_settlement(ports, body)
        else:
            envelope = Envelope.from_body(body)
            replays = int(row.get("Replays", 0)) + 1
            ports.bus.send(queue, [to_message(envelope, message_id=f"{envelope.idempotency_key}:replay:{replays}")])
            outcome = f"sent back to {queue}"
    except Exception as error:  # a replay that fails stays parked, with why
        return Replayed(row_id(row), queue, reason, f"{type(error).__name__}: {error}", False)
    ports.dead_letters.mark_replayed(row)
    return Replayed(row_id(row), queue, reason, outcome, True)


def _replay_settlement(ports: Ports, body: bytes) -> str:
    day = date.fromisoformat(json.loads(body)["date"])
    result = run_settlement(ports, day)
    if result.failed:
        reasons = ", ".join(f"{batch}: {error.reason}" for batch, error in sorted(result.failed.items()))
        raise ValueError(f"still not postable ({reasons})")
    return f"closed {day}: {len(result.created)} journal(s) created"
