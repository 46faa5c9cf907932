"""Heartland Payroll's records as hl365 holds them: the employee (its SDK fields, personal values never shown)
and the lookups. Data only, so the ports can name them; the client is ``shared.heartland.payroll``."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

# The employee and the other records -------------------------------------------------------------------------------


class EmploymentStatus(StrEnum):
    ACTIVE = "A"
    INACTIVE = "I"
    TERMINATED = "T"


class EmploymentCategory(StrEnum):
    FULL_TIME = "FT"
    PART_TIME = "PT"


class MaritalStatus(StrEnum):
    MARRIED = "M"
    SINGLE = "S"


class Gender(StrEnum):
    FEMALE = "F"
    MALE = "M"


class PayTypeCode(StrEnum):
    HOURLY = "H"
    SALARY = "S"
    T1099 = "T99"
    T1099_HOURLY = "T99H"
    COMMISSION = "C"
    AUTO_HOURLY = "Ah"
    MANUAL_SALARY = "Ms"


def mask_ssn(ssn: str | None) -> str:
    """``***-**-1234``: the last four at most."""
    return "None" if not ssn else f"***-**-{ssn[-4:]}"


def _money(name: str, value: Any) -> Decimal | None:
    if value is None or isinstance(value, Decimal):
        return value
    if isinstance(value, float | bool):
        raise TypeError(f"{name} must be a Decimal (or a string or int), not a {type(value).__name__}")
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"{name} is not a number") from None


@dataclass(frozen=True, kw_only=True, repr=False)
class PayrollEmployee:
    """One employee, as ``AddEmployee``/``UpdateEmployee`` take it and ``GetEmployee(s)`` answer it.

    The SSN is kept as its nine digits (``123-45-6789`` is accepted). ``repr``/``str`` show the SSN's last four
    and never the birth date, the address, the ZIP code or the pay rates. ``termination_date`` and
    ``termination_reason_id`` are read back only: ``HeartlandPayrollClient.terminate_employee`` sets them.
    """

    first_name: str
    last_name: str
    ssn: str | None = None
    hire_date: date | None = None
    employee_number: str | None = None
    middle_name: str | None = None
    address1: str | None = None
    address2: str | None = None
    city: str | None = None
    state_code: str | None = None
    zip_code: str | None = None
    birth_date: date | None = None
    gender: Gender | None = None
    marital_status: MaritalStatus | None = None
    pay_group_id: int | None = None
    pay_type_code: PayTypeCode | None = None
    hourly_rate: Decimal | None = None
    per_pay_salary: Decimal | None = None
    work_location_id: int | None = None
    employment_status: EmploymentStatus | None = None
    employment_category: EmploymentCategory | None = None
    time_clock_id: int | None = None
    employee_id: str | None = None
    termination_date: date | None = None
    termination_reason_id: int | None = None

    def __post_init__(self) -> None:
        if self.ssn is not None:
            digits = re.sub(r"[\s-]", "", self.ssn)
            if not re.fullmatch(r"\d{9}", digits):
                raise ValueError("an SSN is nine digits")
            object.__setattr__(self, "ssn", digits)
        object.__setattr__(self, "hourly_rate", _money("hourly_rate", self.hourly_rate))
        object.__setattr__(self, "per_pay_salary", _money("per_pay_salary", self.per_pay_salary))

    def __repr__(self) -> str:
        hidden = "***"
        shown = [f"employee_id={self.employee_id!r}", f"employee_number={self.employee_number!r}",
                 f"first_name={self.first_name!r}", f"last_name={self.last_name!r}", f"ssn={mask_ssn(self.ssn)}",
                 f"birth_date={hidden if self.birth_date else None}",
                 f"address1={hidden if self.address1 else None}", f"zip_code={hidden if self.zip_code else None}",
                 f"hire_date={self.hire_date!r}", f"employment_status={self.employment_status!r}",
                 f"pay_group_id={self.pay_group_id!r}", f"pay_type_code={self.pay_type_code!r}",
                 f"hourly_rate={hidden if self.hourly_rate is not None else None}",
                 f"per_pay_salary={hidden if self.per_pay_salary is not None else None}",
                 f"work_location_id={self.work_location_id!r}"]
        return f"PayrollEmployee({', '.join(shown)})"

    __str__ = __repr__


@dataclass(frozen=True, kw_only=True)
class PayData:
    """One line of ``PostPayData``: hours and/or dollars of one pay item for one employee.

    ``record_id`` is the caller's own number for the line (unique within a post); ``client_code`` defaults to
    the client's. ``hours``, ``dollars`` and ``pay_rate`` are sent as decimal strings, as the SDKs send them.
    """

    record_id: int
    employee_id: str
    pay_item_title: str
    hours: Decimal | None = None
    dollars: Decimal | None = None
    pay_rate: Decimal | None = None
    client_code: str | None = None

    def __post_init__(self) -> None:
        for name in ("hours", "dollars", "pay_rate"):
            object.__setattr__(self, name, _money(name, getattr(self, name)))
        if self.hours is None and self.dollars is None:
            raise ValueError(f"pay data record {self.record_id} needs hours or dollars")
        if not self.pay_item_title:
            raise ValueError(f"pay data record {self.record_id} needs a pay item title")


@dataclass(frozen=True)
class PayrollClientInfo:
    """A payroll client (employer account): ``ClientCode`` names it in every other call."""

    client_code: str
    client_name: str
    federal_ein: str


@dataclass(frozen=True)
class TerminationReason:
    id: int
    description: str


@dataclass(frozen=True)
class WorkLocation:
    id: int
    description: str


@dataclass(frozen=True)
class PayGroup:
    id: int
    name: str
    frequency: int | None = None
    """Pay periods a year (52 weekly, 26 bi-weekly, 24 semi-monthly, 12 monthly), the SDK's ``PayGroupFrequency``."""


@dataclass(frozen=True)
class LaborField:
    id: str
    title: str
    values: tuple[tuple[str, str], ...] = field(default=())
    """``(value, description)`` of each lookup value the field offers."""


@dataclass(frozen=True)
class PayItem:
    code: str
    title: str
