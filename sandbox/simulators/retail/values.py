"""Values as the Retail API reads and writes them: money with exactly the currency's minor units, whole
quantities, times with their offset, and string fields read as numbers or times when filters compare them."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from sandbox.simulators.retail.errors import Invalid


def parse_decimal(value: Any, name: str) -> Decimal:
    if isinstance(value, bool) or value is None:
        raise Invalid({name: ["is not a number"]})
    try:
        number = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        raise Invalid({name: ["is not a number"]}) from None
    if not number.is_finite():
        raise Invalid({name: ["is not a number"]})
    return number


def parse_amount(value: Any, name: str, places: int = 2) -> Decimal:
    """A money amount as given by a caller: at most ``places`` decimals, refused otherwise."""
    number = parse_decimal(value, name)
    try:
        rounded = number.quantize(Decimal(1).scaleb(-places))
    except InvalidOperation:
        raise Invalid({name: ["is too large"]}) from None
    if rounded != number:
        raise Invalid({name: [f"must have at most {places} decimal places"]})
    return rounded


def parse_quantity(value: Any, name: str = "qty") -> int:
    number = parse_decimal(value, name)
    if number == 0 or number != number.to_integral_value():
        raise Invalid({name: ["must be a whole number other than zero"]})
    return int(number)


def iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError(f"{moment!r} has no time zone; the API sends every time with its offset")
    return moment.isoformat(timespec="seconds")


_NUMBER = re.compile(r"^-?\d+(?:\.\d+)?$")
_MOMENT = re.compile(r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$")


@lru_cache(maxsize=131_072)
def read_text(text: str) -> tuple[Decimal | None, datetime | None]:
    """A string field read as a number (money) or a time, once per distinct string: filters run per row."""
    if _NUMBER.match(text):
        return Decimal(text), None
    if _MOMENT.match(text):
        try:
            return None, datetime.fromisoformat(text)
        except ValueError:
            return None, None
    return None, None


def as_number(value: Any) -> Decimal | None:
    if isinstance(value, str):
        return read_text(value)[0]
    if isinstance(value, bool):
        return None
    if isinstance(value, int | Decimal):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(str(value))
    return None


def as_moment(value: Any) -> datetime | None:
    return read_text(value)[1] if isinstance(value, str) else None


def align(a: datetime, b: datetime) -> tuple[datetime, datetime]:
    """A date-only or naive bound takes the other side's offset (a local business day), else UTC."""
    if a.tzinfo is not None and b.tzinfo is not None:
        return a, b
    if a.tzinfo is None:
        a = a.replace(tzinfo=b.tzinfo or UTC)
    if b.tzinfo is None:
        b = b.replace(tzinfo=a.tzinfo)
    return a, b


def as_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if value in ("true", "1", 1):
        return True
    if value in ("false", "0", 0):
        return False
    return None


def as_int(value: Any) -> int:
    """An id from a request; -1 (which no record has) when it is not a whole number."""
    if isinstance(value, bool):
        return -1
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1


def parse_last4(value: Any, name: str) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}", value):
        raise Invalid({name: ["must be the last four digits only"]})
    return value
