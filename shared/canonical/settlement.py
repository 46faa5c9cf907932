"""Canonical inputs of the end-of-day close: POS tickets, settled card transactions, deposits.

A day makes millions of these from input its source has already validated at the edge, so they are
frozen msgspec structs, built without validating again; ``msgspec.structs.replace`` copies one with a
field changed. Amounts are ``Money`` as everywhere else.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

import msgspec

from shared.canonical.money import Money
from shared.canonical.payments import PaymentKind, PaymentStatus


class _Record(msgspec.Struct, frozen=True, gc=False):
    """No record refers back to another, so none can be part of a cycle: the collector may skip them all."""


class LineKind(StrEnum):
    SALE = "sale"
    RETURN = "return"
    GIFT_CARD_SALE = "gift_card_sale"


class TicketLine(_Record, frozen=True, kw_only=True):
    """``amount`` is the extended price before discount, a magnitude (``kind`` gives the sign); ``taxes`` by
    tax component."""

    kind: LineKind = LineKind.SALE
    department: str
    amount: Money
    discount: Money | None = None
    taxes: dict[str, Money] = {}


class TicketPayment(_Record, frozen=True, kw_only=True):
    """A tender. ``amount`` excludes the tip; a card tender carries the gateway's transaction id."""

    payment_type: str
    amount: Money
    tip: Money | None = None
    gateway_transaction_id: str | None = None
    reference: str | None = None
    auth_code: str | None = None


class Ticket(_Record, frozen=True, kw_only=True):
    id: str
    location_id: str
    completed_at: datetime
    lines: tuple[TicketLine, ...]
    payments: tuple[TicketPayment, ...]


class SettledTransaction(_Record, frozen=True, kw_only=True):
    """A card transaction as the processor settled it; ``amount`` includes any tip, refunds negative."""

    id: str
    batch_id: str
    deposit_id: str | None = None
    kind: PaymentKind
    status: PaymentStatus
    amount: Money
    brand: str
    reference: str | None = None
    auth_code: str | None = None
    time_created: datetime


class Deposit(_Record, frozen=True, kw_only=True):
    """Funds sent to the merchant's bank, net of fees, for one or more batches."""

    id: str
    deposit_date: date
    status: str
    amount: Money
    fees: Money
    batch_ids: tuple[str, ...] = ()


def business_day_window(day: date, timezone: str) -> tuple[datetime, datetime]:
    """The merchant's local day as an aware ``[start, end)`` window."""
    zone = ZoneInfo(timezone)
    start = datetime.combine(day, time(0), zone)
    return start, datetime.combine(day + timedelta(days=1), time(0), zone)
