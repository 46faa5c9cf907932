"""Canonical card payments, independent of the gateway that reported them."""

from __future__ import annotations

from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from shared.canonical.money import Money


class PaymentKind(StrEnum):
    SALE = "sale"
    REFUND = "refund"


class PaymentStatus(StrEnum):
    """The gateway's status vocabulary (GP API), kept verbatim so mapping rules can name it."""

    INITIATED = "INITIATED"
    AUTHENTICATED = "AUTHENTICATED"
    PENDING = "PENDING"
    DECLINED = "DECLINED"
    PREAUTHORIZED = "PREAUTHORIZED"
    CAPTURED = "CAPTURED"
    BATCHED = "BATCHED"
    REVERSED = "REVERSED"
    FUNDED = "FUNDED"
    REJECTED = "REJECTED"


SETTLING = frozenset({PaymentStatus.CAPTURED, PaymentStatus.BATCHED, PaymentStatus.FUNDED})


class Payment(BaseModel):
    """A card payment event; card data is reduced to brand and last four digits before it gets here."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    transaction_id: str = Field(min_length=1)
    merchant_id: str = Field(min_length=1)
    kind: PaymentKind
    status: PaymentStatus
    amount: Money
    reference: str | None = None
    batch_id: str | None = None
    card_brand: str | None = None
    card_last4: str | None = Field(default=None, pattern=r"^\d{4}$")
    auth_code: str | None = None
    occurred_at: AwareDatetime
    journal: str | None = Field(default=None, max_length=10,
                                description="the customer payment journal a workflow rule routed it to; None: the "
                                            "mapping's")
    note: str | None = Field(default=None, max_length=60, description="journal line text a workflow rule set")

    @property
    def moves_money(self) -> bool:
        """Captured (then batched, funded) or reversed; other statuses have nothing to post."""
        return self.status in SETTLING or self.status is PaymentStatus.REVERSED

    @property
    def received(self) -> Money:
        """What the customer paid: negative when money goes back (a refund, or the reversal of a sale)."""
        paid = Money.model_construct(amount=abs(self.amount.amount), currency=self.amount.currency)
        back = (self.kind is PaymentKind.REFUND) != (self.status is PaymentStatus.REVERSED)
        return -paid if back else paid

    @property
    def external_key(self) -> str:
        """The key written into the ERP record so a retry can find what was already posted.

        Capture, batching and funding of one transaction are one effect (one key); a reversal is
        another, posted as the reverse entry under its own key.
        """
        suffix = "-REV" if self.status is PaymentStatus.REVERSED else ""
        return f"HPY-{self.transaction_id}{suffix}"
