"""Edm types and the values rows hold: primitive type names, ``Edm.DateTimeOffset`` text, and a JSON request
value coerced to the property it is written to."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sandbox.simulators.odata.errors import ODataQueryError

PRIMITIVES = frozenset({"Edm.String", "Edm.Decimal", "Edm.Double", "Edm.Int32", "Edm.Int64", "Edm.Boolean",
                        "Edm.DateTimeOffset", "Edm.Date", "Edm.Guid"})
NUMERIC = frozenset({"Edm.Decimal", "Edm.Double", "Edm.Int32", "Edm.Int64"})
_DATETIME = re.compile(r"(.*T\d\d:\d\d(?::\d\d)?)(\.\d+)?(Z|[+-]\d\d:\d\d)?")


def parse_datetime(text: str) -> datetime:
    """ISO 8601 with up to 7 fractional digits (F&O writes ``.2942742Z``) and a ``Z`` or an offset."""
    try:
        match = _DATETIME.fullmatch(text.strip())
        if match is None:
            return datetime.combine(date.fromisoformat(text.strip()), datetime.min.time(), UTC)
        base, fraction, zone = match.groups()
        micro = (fraction or "")[:7].ljust(7, "0")[1:7] if fraction else ""
        parsed = datetime.fromisoformat(base + (f".{micro}" if micro else "") + ("+00:00" if zone in (None, "Z")
                                                                                 else zone))
        return parsed.astimezone(UTC)
    except ValueError as exc:
        raise ODataQueryError(f"'{text}' is not a valid Edm.DateTimeOffset.") from exc


def coerce(value: Any, edm: str, name: str, members: Sequence[str] = ()) -> Any:
    """A JSON request value (numbers parsed as ``Decimal``/``int``) as the value a row stores.

    Dates are normalised to ``YYYY-MM-DDTHH:MM:SSZ``; decimals stay exact.

    Raises:
        ODataQueryError: the value does not fit the property's type (or is not one of the enum ``members``).
    """
    if value is None:
        return None
    if edm in NUMERIC:
        if isinstance(value, bool) or not isinstance(value, int | Decimal):
            raise _wrong(value, edm, name)
        if edm in ("Edm.Int32", "Edm.Int64"):
            if isinstance(value, Decimal) and value != value.to_integral_value():
                raise _wrong(value, edm, name)
            return int(value)
        if isinstance(value, Decimal) and not value.is_finite():
            raise _wrong(value, edm, name)
        return Decimal(value)
    if edm == "Edm.Boolean":
        if not isinstance(value, bool):
            raise _wrong(value, edm, name)
        return value
    if not isinstance(value, str):
        raise _wrong(value, edm, name)
    if edm == "Edm.DateTimeOffset":
        try:
            return parse_datetime(value).strftime("%Y-%m-%dT%H:%M:%SZ")
        except ODataQueryError as exc:
            raise _wrong(value, edm, name) from exc
    if edm == "Edm.Date":
        try:
            return date.fromisoformat(value).isoformat()
        except ValueError as exc:
            raise _wrong(value, edm, name) from exc
    if members and value not in members:
        raise ODataQueryError(f"The value '{value}' is not a member of the enum type '{edm}' of property '{name}'; "
                              f"use one of {', '.join(members)}.")
    return value


def _wrong(value: Any, edm: str, name: str) -> ODataQueryError:
    """Built only on failure: formatting it for every value of every line cost more than the check."""
    return ODataQueryError(f"Cannot convert the literal '{value}' to the expected type '{edm}' of property "
                           f"'{name}'.")
