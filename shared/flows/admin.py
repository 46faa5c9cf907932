"""The admin routes' and commands' core calls: request parameters checked and turned into the same calls the
timers make. Each returns a domain result or raises a typed error; ``shared.presenter`` words it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from shared.errors import InvalidRequest
from shared.flows.orders.subscriptions import ensure_bc_subscription
from shared.flows.settlement import DayResult, run_settlement
from shared.ops.deadletters import row_id
from shared.ports import Ports, SubscriptionState

MAX_DAYS = 366


@dataclass(frozen=True)
class Parked:
    """Dead letters as a person lists them: id, queue, reason, the target's text, when, how often replayed."""

    rows: list[Mapping[str, Any]]


@dataclass(frozen=True)
class NoSubscriptionNeeded:
    reason: str


def business_day(text: str | None) -> date | None:
    """``YYYY-MM-DD``, or None for the default day.

    Raises:
        InvalidRequest: not a date.
    """
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        raise InvalidRequest(f"date {text!r} is not YYYY-MM-DD") from None


def close_day(ports: Ports, day: str | None) -> DayResult:
    """Close a business day now (default: yesterday in the merchant's time zone)."""
    return run_settlement(ports, business_day(day))


def parked(ports: Ports, days: str | None, reason: str | None) -> Parked:
    """What is parked over the last ``days`` (default 7), of one ``reason`` or all.

    Raises:
        InvalidRequest: ``days`` is not a whole number from 1 to 366.
    """
    try:
        span = int(days) if days else 7
    except ValueError:
        span = 0
    if not 1 <= span <= MAX_DAYS:
        raise InvalidRequest(f"days {days!r} is not a whole number from 1 to {MAX_DAYS}")
    return Parked([{"id": row_id(row), "queue": row["Queue"], "reason": row["Reason"],
                    "description": row["Description"], "message_id": row["MessageId"],
                    "parked_at": str(row["ParkedAt"]), "replays": row.get("Replays", 0)}
                   for row in ports.dead_letters.list(days=span, reason=reason or None)])


def keep_subscription(ports: Ports) -> SubscriptionState | NoSubscriptionNeeded:
    """The subscription timer's work now, e.g. right after a deployment."""
    result = ensure_bc_subscription(ports)
    if result is None:
        return NoSubscriptionNeeded("D365_TARGET is not bc: no subscription is needed")
    return result
