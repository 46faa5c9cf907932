"""GP API wire models as hl365 reads them: minor-unit amount strings become ``Money`` (Decimal) here, once.

Every model ignores fields it does not name, so a field GP adds later cannot break parsing, and a card
number could never be kept even if one were sent: card models name masked forms only.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, SecretStr, model_validator

from shared.canonical.money import Money
from shared.canonical.payments import PaymentStatus

DepositStatus = Literal["FUNDED", "SPLIT_FUNDING", "DELAYED", "RESERVED", "IRREG", "RELEASED"]


def money(value: Any, currency: str) -> Money:
    """A GP amount as Money: minor units in a string or integer; ``""`` or null (GP's "nothing") is zero."""
    if isinstance(value, Money):
        return value
    if value is None or value == "":
        return Money.from_minor(0, currency)
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f"{value!r} is not a minor-unit amount")
    return Money.from_minor(value, currency)


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Account(_Wire):
    id: str
    name: str


class Scope(_Wire):
    merchant_id: str | None = None
    merchant_name: str | None = None
    accounts: list[Account] = Field(default_factory=list)

    def account(self, prefix: str) -> Account | None:
        """The first account whose id starts with ``prefix`` (``TRA_`` processes, ``DAA_`` reports)."""
        return next((a for a in self.accounts if a.id.startswith(prefix)), None)


class AccessToken(_Wire):
    """An access token; the token itself is a SecretStr so it never lands in a log or a repr."""

    token: SecretStr
    type: str = "Bearer"
    app_id: str | None = None
    app_name: str | None = None
    time_created: AwareDatetime | None = None
    seconds_to_expire: int = Field(ge=0)
    scope: Scope = Field(default_factory=Scope)


class ActionInfo(_Wire):
    id: str | None = None
    type: str | None = None
    time_created: AwareDatetime | None = None
    result_code: str | None = None
    app_id: str | None = None
    app_name: str | None = None


class Card(_Wire):
    """Masked card details only: brand, last four (or first six and last four), auth code, ARN."""

    brand: str | None = None
    masked_number_last4: str | None = None
    masked_number_first6last4: str | None = None
    authcode: str | None = None
    brand_reference: str | None = None
    arn: str | None = None
    funding: str | None = None

    @property
    def last4(self) -> str | None:
        masked = self.masked_number_last4 or self.masked_number_first6last4 or ""
        tail = masked[-4:]
        return tail if len(tail) == 4 and tail.isdigit() else None


class PaymentMethod(_Wire):
    id: str | None = Field(default=None, description="the stored payment-method token (PMT_...)")
    result: str | None = None
    message: str | None = None
    entry_mode: str | None = None
    card: Card | None = None


class SystemInfo(_Wire):
    mid: str | None = None
    hierarchy: str | None = None
    name: str | None = None
    dba: str | None = None
    tid: str | None = None


class Transaction(_Wire):
    """A transaction (also the ``status_url`` body). ``replayed`` marks one returned for a replayed key."""

    id: str
    time_created: AwareDatetime
    type: Literal["SALE", "REFUND"]
    status: PaymentStatus
    amount: Money
    channel: str | None = None
    capture_mode: str | None = None
    country: str | None = None
    merchant_id: str | None = None
    merchant_name: str | None = None
    account_id: str | None = None
    account_name: str | None = None
    reference: str | None = None
    batch_id: str | None = None
    parent_resource_id: str | None = None
    payment_method: PaymentMethod | None = None
    action: ActionInfo | None = None
    replayed: bool = False

    @model_validator(mode="before")
    @classmethod
    def _amounts(cls, data: Any) -> Any:
        if isinstance(data, dict) and "currency" in data:
            data = dict(data)
            currency = str(data.pop("currency"))
            for field in ("amount", "deposit_amount"):
                if field in data and not (field == "deposit_amount" and data[field] in (None, "")):
                    data[field] = money(data[field], currency)
        return data

    @property
    def currency(self) -> str:
        return self.amount.currency

    @property
    def approved(self) -> bool:
        """The issuer approved it (result ``00``) and the gateway did not decline or reject it."""
        result = self.payment_method.result if self.payment_method else None
        return self.status not in (PaymentStatus.DECLINED, PaymentStatus.REJECTED) and result in (None, "00")

    @property
    def declined(self) -> bool:
        return not self.approved


class SettlementTransaction(Transaction):
    """A ``/settlement/transactions`` row: a transaction plus where it was batched and deposited."""

    deposit_id: str | None = None
    deposit_status: DepositStatus | None = None
    deposit_time_created: date | None = None
    deposit_amount: Money | None = None
    batch_time_created: AwareDatetime | None = None
    time_created_reference: str | None = None
    order_reference: str | None = None
    system: SystemInfo | None = None

    @model_validator(mode="before")
    @classmethod
    def _order(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("order"), dict):
            data = {**data, "order_reference": data["order"].get("reference")}
        return data


class CountAmount(_Wire):
    """A summary section: how many and how much (refunds and fees are negative)."""

    count: int = 0
    amount: Money


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _section(value: Any, currency: str) -> dict[str, Any]:
    value = _object(value)
    return {"count": int(value.get("count") or 0), "amount": money(value.get("amount"), currency)}


class Deposit(_Wire):
    """A funding deposit. Its ``amount`` is net: sales + refunds + fees (+ disputes), each section signed."""

    id: str
    time_created: date
    status: DepositStatus
    funding_type: Literal["CREDIT", "DEBIT"] | None = None
    amount: Money
    aggregation_model: str | None = None
    masked_account_number_last4: str | None = None
    system: SystemInfo | None = None
    sales: CountAmount
    refunds: CountAmount
    discounts: CountAmount
    tax: CountAmount
    chargebacks: CountAmount
    dispute_reversals: CountAmount
    fees: Money

    @model_validator(mode="before")
    @classmethod
    def _amounts(cls, data: Any) -> Any:
        if not isinstance(data, dict) or "currency" not in data:
            return data
        currency = str(data["currency"])
        disputes, bank, fees = (_object(data.get(k)) for k in ("disputes", "bank_transfer", "fees"))
        return {
            **{k: v for k, v in data.items() if k not in ("currency", "disputes", "bank_transfer", "fees")},
            "amount": money(data.get("amount"), currency),
            "masked_account_number_last4": bank.get("masked_account_number_last4"),
            **{name: _section(data.get(name), currency) for name in ("sales", "refunds", "discounts", "tax")},
            "chargebacks": _section(disputes.get("chargebacks"), currency),
            "dispute_reversals": _section(disputes.get("reversals"), currency),
            "fees": money(fees.get("amount"), currency),
        }

    @property
    def currency(self) -> str:
        return self.amount.currency


class BrandTotals(_Wire):
    brand: str
    count: int = 0
    amount: Money
    sales: CountAmount
    refunds: CountAmount


class BatchClose(_Wire):
    """The answer to closing a batch: its totals, overall and per card brand (refunds negative)."""

    id: str
    batch_id: str | None = None
    status: str
    transaction_count: int = 0
    amount: Money
    device_reference: str | None = None
    sales: CountAmount
    refunds: CountAmount
    brand_breakdown: list[BrandTotals] = Field(default_factory=list)
    action: ActionInfo | None = None

    @classmethod
    def parse(cls, data: dict[str, Any], default_currency: str) -> BatchClose:
        """Batch answers may omit the currency; the caller's default fills in."""
        currency = str(data.get("currency") or default_currency)
        return cls.model_validate({
            **data,
            "amount": money(data.get("amount"), currency),
            "sales": _section(data.get("sales"), currency),
            "refunds": _section(data.get("refunds"), currency),
            "brand_breakdown": [
                {**b, "amount": money(b.get("amount"), currency), "sales": _section(b.get("sales"), currency),
                 "refunds": _section(b.get("refunds"), currency)}
                for b in data.get("brand_breakdown") or [] if isinstance(b, dict)
            ],
        })
