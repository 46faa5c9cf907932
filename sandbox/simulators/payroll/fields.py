"""Reading the payroll API's request fields as the service would bind them: case-insensitive names, the SDKs'
enumeration codes, dates in ``MM/dd/yyyy`` (or the ISO form the Java SDK sends for ``HireDate``), decimals and
integers given as numbers or strings. Every refusal names the field, never its value (values are personal data).
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

EMPLOYMENT_STATUSES = ("A", "I", "T")
EMPLOYMENT_CATEGORIES = ("FT", "PT")
MARITAL_STATUSES = ("M", "S")
GENDERS = ("F", "M")
PAY_TYPES = ("H", "S", "T99", "T99H", "C", "Ah", "Ms")
HOURLY_TYPES = frozenset({"H", "T99H", "Ah"})
SALARIED_TYPES = frozenset({"S", "Ms"})
PAY_TYPE_FILTERS = {"H": HOURLY_TYPES, "1099": frozenset({"T99", "T99H"})}
"""``GetEmployees`` ``PayTypeCode`` (the SDK's ``FilterPayTypeCode``): ``H`` hourly, ``1099`` contractors. Which
pay types each takes in is the simulator's reading (unverified)."""

ENCRYPTED_IN = frozenset({"Password", "ClientCode", "FederalEin", "LastName", "SSN", "Address1", "ZipCode",
                          "BirthDate", "HourlyRate", "PerPaySalary"})
"""Request fields that arrive encrypted (reference §3)."""
ENCRYPTED_OUT = frozenset({"ClientCode", "FederalEin", "LastName", "Ssn", "Address1", "ZipCode", "BirthDay",
                           "HourlyRate", "PerPaySalary"})
"""Answer fields sent encrypted; an employee's SSN and birth date go out as ``Ssn`` and ``BirthDay``, the names
the SDKs read them by (java-sdk ``Employee.fromJson``)."""

KNOWN = ("Username", "Password", "ClientCode", "FederalEin", "EmployeeId", "EmploymentStatus", "HireDate",
         "TerminationDate", "TerminationReasonId", "InactivateDirectDepositAccounts", "EmployeeNumber",
         "EmploymentCategory", "TimeClockId", "FirstName", "LastName", "MiddleName", "SSN", "Address1", "Address2",
         "City", "StateCode", "ZipCode", "MaritalStatus", "BirthDate", "Gender", "PayGroupId", "PayTypeCode",
         "HourlyRate", "PerPaySalary", "WorkLocationId", "ActiveEmployeeOnly", "EmployeeOffset", "EmployeeCount",
         "FromDate", "ToDate", "RecordId", "PayItemTitle", "Hours", "Dollars", "PayRate")
_CANONICAL = {name.lower(): name for name in KNOWN}
_US_DATE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})(?: \d{1,2}:\d{2}(?::\d{2})?(?: ?[AP]M)?)?")
_ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:T[\d:.]+(?:Z|[+-]\d{2}:?\d{2})?)?")
_SSN = re.compile(r"(\d{3})-?(\d{2})-?(\d{4})")


class Refused(Exception):
    """A request the service refuses: answered with this ``StatusCode`` and ``ResponseMessage``."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def canonical(body: dict[str, Any]) -> dict[str, Any]:
    """``body`` with the names the service knows spelled its way (model binding ignores case)."""
    return {_CANONICAL.get(key.lower(), key): value for key, value in body.items()}


def blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def text(body: dict[str, Any], name: str, *, required: bool = False, limit: int = 50) -> str | None:
    value = body.get(name)
    if blank(value):
        if required:
            raise Refused(f"{name} is required")
        return None
    if not isinstance(value, str):
        raise Refused(f"{name} must be a string")
    if len(value.strip()) > limit:
        raise Refused(f"{name} is longer than {limit} characters")
    return value.strip()


def integer(body: dict[str, Any], name: str, *, required: bool = False) -> int | None:
    value = body.get(name)
    if blank(value):
        if required:
            raise Refused(f"{name} is required")
        return None
    if isinstance(value, bool):
        raise Refused(f"{name} must be an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?\d{1,10}", value.strip()):
        return int(value)
    raise Refused(f"{name} must be an integer")


def flag(body: dict[str, Any], name: str) -> bool:
    """A boolean as JSON.NET binds one: ``true``/``false``, ``1``/``0`` or their strings."""
    value = body.get(name)
    if blank(value):
        return False
    if isinstance(value, bool):
        return value
    if value in (0, 1, "0", "1"):
        return bool(int(value))
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise Refused(f"{name} must be true or false")


def amount(body: dict[str, Any], name: str, *, required: bool = False, minimum: Decimal | None = None
           ) -> Decimal | None:
    value = body.get(name)
    if blank(value):
        if required:
            raise Refused(f"{name} is required")
        return None
    if isinstance(value, bool | float):
        raise Refused(f"{name} must be a decimal number")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise Refused(f"{name} must be a decimal number") from None
    if not number.is_finite() or abs(number) >= Decimal(10) ** 9:
        raise Refused(f"{name} must be a decimal number")
    if minimum is not None and number < minimum:
        raise Refused(f"{name} must be at least {minimum}")
    return number


def day(body: dict[str, Any], name: str, *, required: bool = False, us_only: bool = False) -> date | None:
    """A date as ``MM/dd/yyyy`` (a time after it is ignored), or ISO ``yyyy-MM-dd[THH:mm:ss...]`` unless
    ``us_only`` (``TerminationDate``: the SDK formats it ``MM/dd/yyyy``)."""
    value = body.get(name)
    if blank(value):
        if required:
            raise Refused(f"{name} is required")
        return None
    raw = str(value).strip()
    found = _US_DATE.fullmatch(raw)
    parts: tuple[int, int, int] | None = None
    if found:
        parts = (int(found.group(3)), int(found.group(1)), int(found.group(2)))
    elif not us_only and (iso := _ISO_DATE.fullmatch(raw)):
        parts = (int(iso.group(1)), int(iso.group(2)), int(iso.group(3)))
    if parts is None:
        raise Refused(f"{name} must be a date as MM/dd/yyyy" + ("" if us_only else " (or yyyy-MM-dd)"))
    try:
        return date(*parts)
    except ValueError:
        raise Refused(f"{name} is not a calendar date") from None


def code(body: dict[str, Any], name: str, allowed: tuple[str, ...], *, required: bool = False) -> str | None:
    value = body.get(name)
    if blank(value):
        if required:
            raise Refused(f"{name} is required")
        return None
    if not isinstance(value, str) or value.strip() not in allowed:
        raise Refused(f"{name} must be one of {', '.join(allowed)}")
    return value.strip()


def ssn(body: dict[str, Any]) -> str | None:
    """Nine digits, dashes allowed (``123-45-6789``); answered without them."""
    value = body.get("SSN")
    if blank(value):
        return None
    found = _SSN.fullmatch(str(value).strip())
    if not found:
        raise Refused("SSN must be 9 digits")
    digits = "".join(found.groups())
    if digits.startswith(("000", "666")) or digits[3:5] == "00" or digits[5:] == "0000":
        raise Refused("SSN is not a valid social security number")
    return digits


def iso_datetime(value: date | None) -> str | None:
    """A date as the service answers one (``2024-03-01T00:00:00``, .NET's ``DateTime`` in JSON)."""
    return None if value is None else datetime(value.year, value.month, value.day).isoformat()
