"""Money: a Decimal amount in an ISO 4217 currency, rounded to that currency's minor units."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from moneyed import CurrencyDoesNotExist, get_currency
from pydantic import BaseModel, ConfigDict, field_validator, model_validator

ROUNDING = ROUND_HALF_EVEN
"""Banker's rounding: the default of ledgers, so summing rounded lines does not drift one way."""


@lru_cache(maxsize=512)
def minor_units(currency: str) -> int:
    """Decimal places of an ISO 4217 currency (USD 2, JPY 0, BHD 3).

    Raises:
        ValueError: the code is not an ISO 4217 currency.
    """
    try:
        sub_unit = get_currency(code=currency).sub_unit
    except CurrencyDoesNotExist:
        raise ValueError(f"{currency!r} is not an ISO 4217 currency code") from None
    return len(str(sub_unit)) - 1


def _quantum(currency: str) -> Decimal:
    return Decimal(1).scaleb(-minor_units(currency))


class Money(BaseModel):
    """An amount and its currency; floats are refused because they cannot hold cents exactly."""

    model_config = ConfigDict(frozen=True)

    amount: Decimal
    currency: str

    @field_validator("amount", mode="before")
    @classmethod
    def _no_float(cls, value: Any) -> Any:
        if isinstance(value, float):
            raise ValueError(f"{value!r} is a float; give the amount as a string or Decimal")
        if isinstance(value, bool):
            raise ValueError(f"{value!r} is not an amount")
        return value

    @field_validator("amount")
    @classmethod
    def _finite(cls, value: Decimal) -> Decimal:
        if not value.is_finite():
            raise ValueError(f"{value} is not a finite amount")
        return value

    @field_validator("currency", mode="before")
    @classmethod
    def _iso_code(cls, value: Any) -> str:
        if not isinstance(value, str) or len(value) != 3 or not value.isalpha():
            raise ValueError(f"{value!r} is not a three-letter ISO 4217 code")
        code = value.upper()
        minor_units(code)
        return code

    @model_validator(mode="after")
    def _round(self) -> Money:
        object.__setattr__(self, "amount", self.amount.quantize(_quantum(self.currency), rounding=ROUNDING))
        return self

    @classmethod
    def of(cls, amount: Decimal | str | int, currency: str) -> Money:
        return cls(amount=amount, currency=currency)

    @classmethod
    def from_minor(cls, minor: int | str, currency: str) -> Money:
        """Build from an integer count of minor units, as the GP API sends amounts ("1400" is 14.00 USD)."""
        try:
            units = Decimal(int(minor))
        except (TypeError, ValueError, InvalidOperation):
            raise ValueError(f"{minor!r} is not a whole number of minor units") from None
        code = currency.upper() if isinstance(currency, str) and len(currency) == 3 and currency.isalpha() else None
        if code is None:
            return cls.of(units, currency)  # lets validation name the bad currency
        # A whole number of minor units is already exact at the currency's precision: nothing to round,
        # so the hot path of reading gateway amounts skips re-validation.
        return cls.model_construct(amount=units.scaleb(-minor_units(code)), currency=code)

    def to_minor(self) -> int:
        return int(self.amount.scaleb(minor_units(self.currency)))

    def _same(self, other: Money) -> None:
        if other.currency != self.currency:
            raise ValueError(f"cannot combine {self.currency} with {other.currency}")

    # Sums and negations of amounts already at the currency's precision stay exact at it, so the
    # results are built without validating again.

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money.model_construct(amount=self.amount + other.amount, currency=self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money.model_construct(amount=self.amount - other.amount, currency=self.currency)

    def __neg__(self) -> Money:
        return Money.model_construct(amount=-self.amount, currency=self.currency)

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"
