"""Canonical inputs of the end-of-day close: POS tickets, settled card transactions, deposits."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from shared.canonical.money import Money
from shared.canonical.payments import PaymentKind, PaymentStatus


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LineKind(StrEnum):
    SALE = "sale"
    RETURN = "return"
    GIFT_CARD_SALE = "gift_card_sale"


class TicketLine(_Frozen):
    """``amount`` is the extended price before discount; ``taxes`` by tax component."""

    kind: LineKind = LineKind.SALE
    department: str
    amount: Money
    discount: Money | None = None
    taxes: dict[str, Money] = Field(default_factory=dict)


class TicketPayment(_Frozen):
    """A tender. ``amount`` excludes the tip; a card tender carries the gateway's transaction id."""

    payment_type: str
    amount: Money
    tip: Money | None = None
    gateway_transaction_id: str | None = None
    reference: str | None = None
    auth_code: str | None = None


class Ticket(_Frozen):
    id: str
    location_id: str
    completed_at: datetime
    lines: tuple[TicketLine, ...]
    payments: tuple[TicketPayment, ...]


class SettledTransaction(_Frozen):
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
    time_created: AwareDatetime


class Deposit(_Frozen):
    """Funds sent to the merchant's bank, net of fees, for one or more batches."""

    id: str
    deposit_date: date
    status: str
    amount: Money
    fees: Money
    batch_ids: tuple[str, ...] = ()
