"""The payroll rules finance edits, under ``payroll`` in ``mapping.yaml``: how an account's register export is
read (column names, type values), which GL account each code lands on, which financial dimensions a department
and a location carry, and how employees shared between departments are split.

Example::

    payroll:
      columns: {employee_number: ["Emp #", "EE No"], amount: ["Amt"]}   # aliases of the canonical columns
      types: {E: earning, W: withholding}                                # aliases of the type values
      codes:
        earning: {REG: "600100", OT: "600110", TIPS: "600120"}
        withholding: {FIT: "220100", FICA-SS: "220110"}
        deduction_pre_tax: {"401K": "220200"}
        deduction_post_tax: {GARN: "220300"}
        employer_tax: {ER-SS: {expense: "610100", liability: "220400"}}
        employer_contribution: {ER-401K: {expense: "610200", liability: "220500"}}
        net_direct_deposit: "220600"
        net_check: "220610"
      departments: {KITCHEN: {Department: "031"}}
      locations: {STORE1: {BusinessUnit: "001"}}
      allocations:
        E1001: {by: hours}                                      # earnings split by the hours of each department
        E1002: {by: fixed, split: {KITCHEN: "0.6", BAR: "0.4"}, remainder_to: KITCHEN}
      employee_lines: false                                     # true: one line per employee, not per account
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from shared.canonical.payroll import CodeFamily

Account = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60)]

COLUMNS = ("client_code", "pay_group", "period_start", "period_end", "check_date", "run_id", "employee_number",
           "department", "location", "labor_field", "type", "code", "hours", "amount")
"""The canonical columns of a register (README, "Payroll registers")."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EmployerAccounts(_Strict):
    """An employer tax or contribution: a cost (``expense``) and what is owed for it (``liability``)."""

    expense: Account
    liability: Account


class PayrollCodes(_Strict):
    """Code → GL account, per family. A register line whose code its family does not name stops the run."""

    earning: dict[Name, Account] = Field(default_factory=dict)
    withholding: dict[Name, Account] = Field(default_factory=dict)
    deduction_pre_tax: dict[Name, Account] = Field(default_factory=dict)
    deduction_post_tax: dict[Name, Account] = Field(default_factory=dict)
    employer_tax: dict[Name, EmployerAccounts] = Field(default_factory=dict)
    employer_contribution: dict[Name, EmployerAccounts] = Field(default_factory=dict)
    net_direct_deposit: Account
    net_check: Account

    def family_of(self, code: str) -> list[CodeFamily]:
        """The families that name ``code`` (a code may appear in several, e.g. ``MED`` pre-tax and employer)."""
        folded = code.casefold()
        return [family for family in CodeFamily
                if family not in (CodeFamily.NET_DIRECT_DEPOSIT, CodeFamily.NET_CHECK)
                and any(name.casefold() == folded for name in getattr(self, family.value))]


class AllocationBy(StrEnum):
    HOURS = "hours"
    FIXED = "fixed"


class Allocation(_Strict):
    """How one shared employee's costs are split between departments: by the hours the register gives each
    department, or by a fixed split that sums to 1. Rounding keeps every amount to the cent; the remainder goes
    to ``remainder_to`` (a department of the split), else the largest share."""

    by: AllocationBy
    split: dict[Name, Decimal] = Field(default_factory=dict)
    remainder_to: Name | None = None

    @model_validator(mode="after")
    def _complete(self) -> Allocation:
        if self.by is AllocationBy.FIXED:
            if not self.split:
                raise ValueError("a fixed allocation needs split: {DEPARTMENT: share, ...}")
            if any(share <= 0 for share in self.split.values()):
                raise ValueError("every share of a split must be above 0")
            if sum(self.split.values()) != 1:
                raise ValueError(f"the shares of a split must sum to 1, not {sum(self.split.values())}")
        elif self.split:
            raise ValueError("an allocation by hours takes its shares from the register: give no split")
        if self.remainder_to is not None and self.split and self.remainder_to not in self.split:
            raise ValueError(f"remainder_to {self.remainder_to} is not a department of the split")
        return self


class EmployeeRules(_Strict):
    """Dynamics workers kept in step with Heartland Payroll: what payroll needs that the ERPs' worker APIs do not
    hold. Pay rates are not among them: they are kept in Heartland Payroll by its people."""

    pay_group_id: int = Field(ge=1, description="Heartland pay group new employees join")
    pay_type_code: Literal["H", "S"] = Field("H", description="H hourly, S salaried")
    work_locations: dict[Name, int] = Field(default_factory=dict,
                                            description="the ERP worker's location -> Heartland WorkLocationId")
    default_work_location_id: int | None = Field(None, description="for a worker whose location is not mapped")
    termination_reason_id: int = Field(ge=1, description="Heartland termination reason of a Dynamics termination")


class PayrollRules(_Strict):
    """``payroll`` in ``mapping.yaml``; see the module."""

    employees: EmployeeRules | None = None

    columns: dict[str, list[Name]] = Field(default_factory=dict,
                                           description="canonical column -> the names an export gives it")
    types: dict[Name, CodeFamily] = Field(default_factory=dict, description="type value -> family")
    codes: PayrollCodes
    departments: dict[Name, dict[Name, Name]] = Field(default_factory=dict,
                                                       description="department -> financial dimensions")
    locations: dict[Name, dict[Name, Name]] = Field(default_factory=dict,
                                                     description="location -> financial dimensions")
    allocations: dict[Name, Allocation] = Field(default_factory=dict, description="employee number -> split")
    employee_lines: bool = Field(False, description="one journal line per employee instead of per account")
    clients: dict[Name, Name] = Field(default_factory=dict,
                                      description="client code -> legal entity its runs post to (else the file's)")
    description: str = Field("Heartland payroll {client} {pay_group} run {run} check date {check_date}",
                             max_length=200)
    dimension_order: Literal["department_first", "location_first"] = "department_first"

    @field_validator("columns")
    @classmethod
    def _known_columns(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        unknown = sorted(set(value) - set(COLUMNS))
        if unknown:
            raise ValueError(f"unknown column {', '.join(unknown)}; the columns are {', '.join(COLUMNS)}")
        seen: dict[str, str] = {}
        for column, aliases in value.items():
            for alias in aliases:
                other = seen.setdefault(alias.casefold(), column)
                if other != column:
                    raise ValueError(f"alias {alias!r} names both {other} and {column}")
        return value

    @model_validator(mode="after")
    def _allocations_name_departments(self) -> PayrollRules:
        for employee, allocation in self.allocations.items():
            unknown = sorted(d for d in allocation.split if self.departments and d not in self.departments)
            if unknown:
                raise ValueError(f"allocation of {employee} names department {', '.join(unknown)}, which "
                                 "payroll.departments does not")
        return self
