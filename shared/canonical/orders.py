"""A sales order as U4 charges it: validated, with no card data and no payment token."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.canonical.money import Money

Erp = Literal["fo", "bc"]


class OrderItem(BaseModel):
    """An item line: what the stock check before charging needs. ``warehouse`` is where it ships from as the
    ERP names it (F&O ``site/warehouse``, a Business Central location code), or None when the line names none."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    item_number: str = Field(min_length=1)
    quantity: Decimal = Field(gt=0)
    warehouse: str | None = None


class Order(BaseModel):
    """A validated order, ready to charge: what the ``orders-charge`` message carries (no card data, no
    payment token: the charge step reads the token itself, so it never sits on a queue or in a dead letter)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    erp: Erp
    company: str = Field(min_length=1)
    number: str = Field(min_length=1, max_length=64)
    customer: str = Field(min_length=1)
    amount: Money
    lines: int = Field(ge=1)
    items: tuple[OrderItem, ...] = ()
    entity_id: str | None = None

    @property
    def external_key(self) -> str:
        """``HLO-{company}-{order}``: the ``x-gp-idempotency`` key and hl365's claim; one charge per order."""
        return f"HLO-{self.company.upper()}-{self.number}"
