"""Canonical ledger journals: what hl365 posts to any ERP, proven balanced before it leaves."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.canonical.money import ROUNDING, minor_units


class AccountType(StrEnum):
    LEDGER = "Ledger"
    BANK = "Bank"


class JournalLine(BaseModel):
    """One summarised line: an account, its dimensions and currency, and a debit or a credit.

    ``exchange_rate`` is the ERP's rate of the business date, kept when the currency is not the
    legal entity's base currency.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    account: str = Field(min_length=1)
    account_type: AccountType = AccountType.LEDGER
    dimensions: dict[str, str] = Field(default_factory=dict)
    currency: str = Field(min_length=3, max_length=3)
    debit: Decimal = Decimal(0)
    credit: Decimal = Decimal(0)
    text: str = ""
    exchange_rate: Decimal | None = None

    @model_validator(mode="after")
    def _one_side(self) -> JournalLine:
        if self.debit < 0 or self.credit < 0:
            raise ValueError("debit and credit are never negative; a negative amount goes to the other side")
        if self.debit and self.credit:
            raise ValueError("a line has a debit or a credit, not both")
        quantum = Decimal(1).scaleb(-minor_units(self.currency))
        for side in (self.debit, self.credit):
            if side != side.quantize(quantum, rounding=ROUNDING):
                raise ValueError(f"{side} has more decimals than {self.currency} allows")
        return self

    @property
    def amount(self) -> Decimal:
        """Signed: debit positive, credit negative."""
        return self.debit - self.credit


class JournalUnbalanced(ValueError):
    """Debits and credits differ in some currency; the journal must not be posted."""


class Journal(BaseModel):
    """One journal per settlement batch (or one part of it, when split by the line limit)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    external_key: str = Field(min_length=1, max_length=60)
    merchant_id: str
    batch_id: str
    business_date: date
    description: str
    lines: tuple[JournalLine, ...]
    part: int = 1
    parts: int = 1

    @property
    def claim_partition(self) -> str:
        """Where its idempotency key is claimed: one partition per merchant and day."""
        return f"journal-{self.merchant_id}-{self.business_date:%Y%m%d}"

    def totals(self) -> dict[str, tuple[Decimal, Decimal]]:
        """Debit and credit totals per currency."""
        sums: dict[str, list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
        for line in self.lines:
            sums[line.currency][0] += line.debit
            sums[line.currency][1] += line.credit
        return {currency: (d, c) for currency, (d, c) in sums.items()}

    def assert_balanced(self) -> None:
        """Raises:
        JournalUnbalanced: naming each currency whose debits and credits differ.
        """
        off = {c: d - k for c, (d, k) in self.totals().items() if d != k}
        if off:
            detail = ", ".join(f"{c} debits exceed credits by {v}" for c, v in sorted(off.items()))
            raise JournalUnbalanced(f"journal {self.external_key} is unbalanced: {detail}")
