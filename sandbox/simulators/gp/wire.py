"""The GP API's values on the wire (reference/heartland.md §2.1, §2.2): statuses, entry modes and brands,
fixed-width timestamps, minor-unit amount strings, and the plain-JSON copies every record is answered as."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

from sandbox.simulators.gp.errors import GpError

TRANSACTION_STATUSES = ("INITIATED", "AUTHENTICATED", "PENDING", "DECLINED", "PREAUTHORIZED", "CAPTURED", "BATCHED",
                        "REVERSED", "FUNDED", "REJECTED")
DEPOSIT_STATUSES = ("FUNDED", "SPLIT_FUNDING", "DELAYED", "RESERVED", "IRREG", "RELEASED")
ENTRY_MODES = ("ECOM", "MOTO", "CHIP", "SWIPE", "MANUAL", "CONTACTLESS_CHIP", "CONTACTLESS_SWIPE", "IN_APP", "PHONE",
               "MAIL")
BRANDS = ("VISA", "MASTERCARD", "AMEX", "DISCOVER", "JCB", "DINERS")
BIN = {"VISA": "476173", "MASTERCARD": "545454", "AMEX": "371449", "DISCOVER": "601100", "JCB": "353011",
       "DINERS": "305693"}
PAN_LENGTH = {"AMEX": 15, "DINERS": 14}
CARD_FIELDS = ("number", "cvv", "cvn", "track", "track_data", "tag")
"""Card data the simulator refuses outright: a PAN, a security code, magnetic-stripe or EMV track data."""
SETTLED = ("BATCHED", "FUNDED")


def brand_of(number: str) -> str:
    """The card brand of a number by its leading digits (IIN ranges)."""
    if number.startswith(("34", "37")):
        return "AMEX"
    if number.startswith("4"):
        return "VISA"
    if number[:2] in {"51", "52", "53", "54", "55"} or 2221 <= int(number[:4]) <= 2720:
        return "MASTERCARD"
    return "DISCOVER" if number.startswith(("6011", "65", "644", "645", "646", "647", "648", "649")) else "VISA"


def iso(at: datetime) -> str:
    """GP's timestamp form, ``2025-03-01T15:02:05.235Z``; fixed width, so it sorts chronologically."""
    at = at.astimezone(UTC)
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def clone(value: Any) -> Any:
    """A deep copy of plain JSON data (far cheaper than ``copy.deepcopy``)."""
    if isinstance(value, dict):
        return {k: clone(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clone(v) for v in value]
    return value


def public(record: Mapping[str, Any]) -> dict[str, Any]:
    """A stored record as the API shows it: internal ``_`` fields removed, detached from the store."""
    return {k: clone(v) for k, v in record.items() if not k.startswith("_")}


def minor(value: Any, field: str, *, allow_zero: bool = False) -> int:
    """A minor-unit amount as GP sends it: a string (or integer) of digits, never a decimal or float."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise GpError("INVALID_REQUEST_DATA", f"{field} contains unexpected data")
    text = str(value)
    if not (text.isascii() and text.isdigit()) or len(text) > 15 or (int(text) == 0 and not allow_zero):
        raise GpError("INVALID_REQUEST_DATA", f"{field} contains unexpected data")
    return int(text)


def signed(amount: int) -> str:
    return str(amount)


def deposit_amount(amount: int) -> str:
    """Deposit sections show an empty string, not ``"0"``, when there is nothing in them (§2.2's example)."""
    return "" if amount == 0 else str(amount)


def iso_day(value: str, field: str) -> str:
    """A ``YYYY-MM-DD`` parameter, checked."""
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise GpError("INVALID_REQUEST_DATA", f"{field} contains unexpected data") from None


def nested(record: Mapping[str, Any], *keys: str) -> Any:
    """``record[k1][k2]…``, or None where a level is missing."""
    value: Any = record
    for key in keys:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value
