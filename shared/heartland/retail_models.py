"""Heartland Retail wire models: what hl365 reads from ``/api``, money already as ``Money``.

Heartland sends amounts without a currency (an account has one), so every model is validated with
``context={"currency": …}`` and each amount becomes a ``Money`` in that currency. Amounts arrive
as decimal strings (``"54.10"``) or as JSON numbers parsed to ``Decimal``; a float is refused, so a
lossy parse upstream fails loudly instead of shifting a cent. Unknown fields are kept (``extra``),
because the reference marks most ticket fields as unverified.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo

from shared.canonical.money import Money

DEFAULT_CURRENCY = "USD"


@lru_cache(maxsize=65_536)
def _money(text: str, currency: str) -> Money:
    """``Money`` is immutable and a day repeats few amounts ("0.00" most of all), so each is built once."""
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{text!r} is not an amount") from None
    return Money.of(amount, currency)


def _to_money(value: Any, info: ValidationInfo) -> Any:
    if value is None or isinstance(value, Money):
        return value
    if isinstance(value, float):
        raise ValueError(f"{value!r} arrived as a float; parse the body with a Decimal-preserving parser")
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise ValueError(f"{value!r} is not an amount")
    return _money(str(value), (info.context or {}).get("currency", DEFAULT_CURRENCY))


RetailMoney = Annotated[Money, BeforeValidator(_to_money)]
"""An amount in the account's currency, given in the validation context."""

Last4 = Annotated[str, Field(pattern=r"^\d{4}$")]
"""The last four digits of a card: the most of a card number hl365 ever accepts from the POS."""


class _Wire(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class TaxAmount(_Wire):
    """One tax component charged on a line (``State``, ``County``)."""

    name: str
    rate: Decimal | None = None
    amount: RetailMoney


class Discount(_Wire):
    name: str
    amount: RetailMoney


class TicketLine(_Wire):
    """A line as sold: revenue is ``net_amount`` (after discounts), booked to ``department``.

    ``type`` is ``ItemLine`` or ``GiftCardLine`` (a gift card sold: a liability, not revenue);
    a return has a negative ``qty`` and negative amounts.
    """

    id: int
    ticket_id: int | None = None
    type: str = "ItemLine"
    item_id: int | None = None
    description: str | None = None
    department: str | None = None
    qty: Decimal
    unit_price: RetailMoney
    extended_price: RetailMoney
    discounts: list[Discount] = Field(default_factory=list)
    discount_total: RetailMoney
    net_amount: RetailMoney
    taxes: list[TaxAmount] = Field(default_factory=list)
    tax_total: RetailMoney
    gift_card_last4: Last4 | None = None
    custom: dict[str, Any] = Field(default_factory=dict)

    @property
    def is_gift_card(self) -> bool:
        return self.type == "GiftCardLine"


class TicketPayment(_Wire):
    """A tender on a ticket; ``amount`` excludes ``tip`` and is negative for a refund.

    Card payments carry only brand, last four, auth code and the gateway's transaction id and
    reference, which is what reconciliation matches against the gateway's settlement.
    """

    id: int
    ticket_id: int | None = None
    payment_type_id: int
    type: str
    amount: RetailMoney
    tip: RetailMoney | None = None
    card_brand: str | None = None
    card_last4: Last4 | None = None
    auth_code: str | None = None
    gateway_transaction_id: str | None = None
    gateway_reference: str | None = None
    gift_card_last4: Last4 | None = None
    custom: dict[str, Any] = Field(default_factory=dict)

    @property
    def is_card(self) -> bool:
        return self.type == "CreditCardPayment"


class Customer(_Wire):
    id: int
    public_id: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    phone: str | None = None
    active: bool = True
    custom: dict[str, Any] = Field(default_factory=dict)
    created_at: AwareDatetime | None = None
    updated_at: AwareDatetime | None = None


class Location(_Wire):
    id: int
    public_id: str | None = None
    name: str
    station_ids: list[int] = Field(default_factory=list)
    custom: dict[str, Any] = Field(default_factory=dict)


class Ticket(_Wire):
    """A POS ticket with its totals and, when asked for, its lines and payments."""

    id: int
    public_id: str | None = None
    status: str
    customer_id: int | None = None
    location_id: int | None = None
    station_id: int | None = None
    subtotal: RetailMoney | None = None
    discount_total: RetailMoney | None = None
    tax_total: RetailMoney | None = None
    total: RetailMoney
    tip_total: RetailMoney | None = None
    amount_paid: RetailMoney | None = None
    balance: RetailMoney | None = None
    created_at: AwareDatetime | None = None
    updated_at: AwareDatetime | None = None
    completed_at: AwareDatetime | None = None
    voided_at: AwareDatetime | None = None
    custom: dict[str, Any] = Field(default_factory=dict)
    lines: list[TicketLine] = Field(default_factory=list)
    payments: list[TicketPayment] = Field(default_factory=list)
    customer: Customer | None = None
    location: Location | None = None


class Item(_Wire):
    id: int
    public_id: str | None = None
    description: str | None = None
    long_description: str | None = None
    department: str | None = None
    price: RetailMoney | None = None
    cost: RetailMoney | None = None
    active: bool = True
    taxable: bool = True
    grid_id: int | None = None
    primary_vendor_id: int | None = None
    custom: dict[str, Any] = Field(default_factory=dict)
    created_at: AwareDatetime | None = None
    updated_at: AwareDatetime | None = None


class PaymentType(_Wire):
    id: int
    name: str
    type: str | None = None
    active: bool = True


class InventoryValue(_Wire):
    """Stock of one group (item, location or both, per ``group[]``)."""

    item_id: int | None = None
    location_id: int | None = None
    qty_on_hand: Decimal
    qty_available: Decimal | None = None
    qty_committed: Decimal | None = None
    unit_cost: RetailMoney | None = None
    item: Item | None = None


class AdjustmentLine(_Wire):
    """One line of an adjustment set: ``qty`` is the signed change of ``item_id``'s stock."""

    id: int
    adjustment_set_id: int | None = None
    item_id: int
    qty: Decimal
    unit_cost: RetailMoney | None = None


class AdjustmentSet(_Wire):
    """Stock corrections at one location; they move ``qty_on_hand`` when the set is ``complete``."""

    id: int
    location_id: int
    reason_id: int | None = None
    status: str
    note: str | None = None
    custom: dict[str, Any] = Field(default_factory=dict)
    created_at: AwareDatetime | None = None
    completed_at: AwareDatetime | None = None
    lines: list[AdjustmentLine] = Field(default_factory=list)
