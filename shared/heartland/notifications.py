"""GP API transaction notifications (the ``status_url`` body) and their normalisation to a Payment."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator

from shared.canonical.money import Money, minor_units
from shared.canonical.payments import Payment, PaymentKind, PaymentStatus


class GpCard(BaseModel):
    model_config = ConfigDict(extra="allow")

    brand: str | None = None
    masked_number_last4: str | None = None
    authcode: str | None = None


class GpPaymentMethod(BaseModel):
    model_config = ConfigDict(extra="allow")

    result: str | None = None
    card: GpCard | None = None


class GpTransaction(BaseModel):
    """The fields hl365 relies on; GP sends more, which are kept but not interpreted."""

    model_config = ConfigDict(extra="allow")

    id: str = Field(min_length=1, max_length=100)
    time_created: AwareDatetime
    type: Literal["SALE", "REFUND"]
    status: PaymentStatus
    amount: str = Field(pattern=r"^-?\d{1,15}$", description="minor units, as GP sends amounts")
    currency: str = Field(min_length=3, max_length=3)
    merchant_id: str | None = None
    reference: str | None = None
    batch_id: str | None = None
    payment_method: GpPaymentMethod | None = None

    @field_validator("currency")
    @classmethod
    def _iso_currency(cls, value: str) -> str:
        """Refused at intake, where the sender hears why, rather than dead-lettered by the transform."""
        minor_units(value.upper())
        return value

    @property
    def idempotency_key(self) -> str:
        """GP has no replay protection; one (transaction, status) pair is one event."""
        return f"gp:{self.id}:{self.status.value}"

    @property
    def partition(self) -> str:
        day = self.time_created
        return f"gp-{self.merchant_id or 'unknown'}-{day.year:04d}{day.month:02d}{day.day:02d}"


def parse_transaction(payload: object) -> GpTransaction:
    """Validate a notification body.

    Raises:
        ValueError: names each field and what is wrong with it.
    """
    try:
        return GpTransaction.model_validate(payload)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or 'body'}: {error['msg']}" for error in exc.errors()
        )
        raise ValueError(problems) from None


def to_payment(transaction: GpTransaction) -> Payment:
    card = transaction.payment_method.card if transaction.payment_method else None
    last4 = (card.masked_number_last4 or "")[-4:] if card else ""
    return Payment(
        transaction_id=transaction.id,
        merchant_id=transaction.merchant_id or "unknown",
        kind=PaymentKind.SALE if transaction.type == "SALE" else PaymentKind.REFUND,
        status=transaction.status,
        amount=Money.from_minor(transaction.amount, transaction.currency),
        reference=transaction.reference,
        batch_id=transaction.batch_id,
        card_brand=card.brand if card else None,
        card_last4=last4 if last4.isdigit() and len(last4) == 4 else None,
        auth_code=card.authcode if card else None,
        occurred_at=transaction.time_created,
    )
