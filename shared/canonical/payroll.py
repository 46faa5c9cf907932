"""A payroll register as hl365 reads it (U7): one run of one client and pay group, its lines by employee and code,
and the register's own totals rows when the export has them. Amounts are ``Decimal`` in the run's currency.

Heartland Payroll has no API to read completed runs (reference §3), so a register comes from its export; the
reader (``shared.payroll.register``) turns any account's column names into this one shape.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum


class CodeFamily(StrEnum):
    """What a register line is. Gross pay is the earnings; it is paid out as net pay (direct deposit and check)
    plus what is withheld and deducted. Employer taxes and contributions are costs on top of gross, each with
    its liability."""

    EARNING = "earning"
    WITHHOLDING = "withholding"
    DEDUCTION_PRE_TAX = "deduction_pre_tax"
    DEDUCTION_POST_TAX = "deduction_post_tax"
    EMPLOYER_TAX = "employer_tax"
    EMPLOYER_CONTRIBUTION = "employer_contribution"
    NET_DIRECT_DEPOSIT = "net_direct_deposit"
    NET_CHECK = "net_check"


PAID_OUT = (CodeFamily.WITHHOLDING, CodeFamily.DEDUCTION_PRE_TAX, CodeFamily.DEDUCTION_POST_TAX,
            CodeFamily.NET_DIRECT_DEPOSIT, CodeFamily.NET_CHECK)
"""The families gross pay is split into: gross = net + withholdings + deductions."""
EMPLOYER = (CodeFamily.EMPLOYER_TAX, CodeFamily.EMPLOYER_CONTRIBUTION)
NET = (CodeFamily.NET_DIRECT_DEPOSIT, CodeFamily.NET_CHECK)


@dataclass(frozen=True)
class RegisterHeader:
    client_code: str
    pay_group: str
    period_start: date
    period_end: date
    check_date: date
    run_id: str
    currency: str = "USD"

    @property
    def external_key(self) -> str:
        """The run's key in the ERP and in hl365's claims: ``PR-{client}-{run}``."""
        return f"PR-{self.client_code}-{self.run_id}"


@dataclass(frozen=True)
class RegisterLine:
    """One amount of one employee: a code of a family, with hours for an earning that has them.

    ``where`` is the line's place in its file (``FILE:LINE``), for every message about it.
    """

    where: str
    employee_number: str
    department: str
    location: str
    family: CodeFamily
    code: str
    amount: Decimal
    hours: Decimal | None = None
    labor_field: str | None = None


@dataclass(frozen=True)
class RegisterTotal:
    """A totals row of the export: the register's own total of one family (``code`` None), or of one code."""

    where: str
    family: CodeFamily
    amount: Decimal
    code: str | None = None


@dataclass(frozen=True)
class Register:
    source: str
    header: RegisterHeader
    lines: tuple[RegisterLine, ...]
    totals: tuple[RegisterTotal, ...] = ()

    def total(self, *families: CodeFamily) -> Decimal:
        return sum((line.amount for line in self.lines if line.family in families), Decimal(0))

    @property
    def gross(self) -> Decimal:
        return self.total(CodeFamily.EARNING)

    @property
    def employees(self) -> set[str]:
        return {line.employee_number for line in self.lines}


class DiscrepancyKind(StrEnum):
    EMPLOYEE_UNBALANCED = "employee_unbalanced"
    """An employee's gross differs from net + withholdings + deductions."""
    REGISTER_UNBALANCED = "register_unbalanced"
    """The run's gross differs from its net + withholdings + deductions."""
    TOTALS_MISMATCH = "totals_mismatch"
    """A family's (or code's) sum differs from the register's own totals row."""
    EMPLOYER_UNBALANCED = "employer_unbalanced"
    """An employer tax or contribution's cost differs from the liability it creates."""
    NEGATIVE_NET = "negative_net"
    """An employee's net pay is below zero."""


@dataclass(frozen=True)
class PayrollDiscrepancy:
    """A proof that failed: the run is held and nothing is posted. ``expected`` and ``found`` say by how much."""

    kind: DiscrepancyKind
    subject: str
    """The employee number, the family or code, or ``run``."""
    expected: Decimal
    found: Decimal
    detail: str = ""
    where: tuple[str, ...] = field(default_factory=tuple)

    @property
    def difference(self) -> Decimal:
        return self.found - self.expected
