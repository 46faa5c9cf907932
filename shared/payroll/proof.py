"""Proves a payroll register before anything is posted: a run that fails any proof is held, so the ledger never
carries a payroll that does not add up.

The proofs, each failure a ``PayrollDiscrepancy`` an accountant can act on:

* per employee and for the run, gross pay (earnings) equals net pay (direct deposit and check) plus withholdings
  plus pre- and post-tax deductions;
* no employee's net pay is below zero;
* every totals row of the register (a family's, or one code's) equals the sum of its lines;
* employer taxes and contributions: a register line of these is one amount that is both the cost and the
  liability, so each line balances itself. What can disagree is the register's own employer totals: every totals
  row of an employer family or code must equal its lines, else the cost hl365 would post differs from the liability
  the register reports (``EMPLOYER_UNBALANCED``). ``RegisterTotal`` has no cost/liability flag, so an export's
  separate cost and liability rows of one code are two rows of that code, each held to the same sum.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from decimal import Decimal

from shared.canonical.money import minor_units
from shared.canonical.payroll import (
    EMPLOYER,
    NET,
    PAID_OUT,
    CodeFamily,
    DiscrepancyKind,
    PayrollDiscrepancy,
    Register,
    RegisterLine,
    RegisterTotal,
)

WHERE_LIMIT = 3
"""Places (``FILE:LINE``) named per discrepancy: enough to open the file at the right rows."""

FAMILY_NAMES = {
    CodeFamily.EARNING: "earnings",
    CodeFamily.WITHHOLDING: "withholdings",
    CodeFamily.DEDUCTION_PRE_TAX: "pre-tax deductions",
    CodeFamily.DEDUCTION_POST_TAX: "post-tax deductions",
    CodeFamily.EMPLOYER_TAX: "employer taxes",
    CodeFamily.EMPLOYER_CONTRIBUTION: "employer contributions",
    CodeFamily.NET_DIRECT_DEPOSIT: "net direct deposits",
    CodeFamily.NET_CHECK: "net checks",
}
"""How a family reads in a message."""


def prove(register: Register, *, tolerance: Decimal = Decimal(0)) -> list[PayrollDiscrepancy]:
    """Every proof the register fails, employees first (by number), then the run, then its totals rows in order.

    Args:
        tolerance: the largest difference accepted (0: to the cent). Negative net pay is reported whatever it is.

    Raises:
        ValueError: the tolerance is negative.
    """
    if tolerance < 0:
        raise ValueError(f"the tolerance is a size, not {tolerance}")
    places = minor_units(register.header.currency)
    by_employee: dict[str, list[RegisterLine]] = defaultdict(list)
    for line in register.lines:
        by_employee[line.employee_number].append(line)
    found: list[PayrollDiscrepancy] = []
    for employee in sorted(by_employee):
        found.extend(_employee(employee, by_employee[employee], tolerance, places))
    found.extend(_run(register, by_employee, tolerance, places))
    for total in register.totals:
        discrepancy = _total(total, register.lines, tolerance, places)
        if discrepancy is not None:
            found.append(discrepancy)
    return found


def _employee(employee: str, lines: list[RegisterLine], tolerance: Decimal,
              places: int) -> Iterable[PayrollDiscrepancy]:
    gross, paid = _sum(lines, CodeFamily.EARNING), _sum(lines, *PAID_OUT)
    if abs(gross - paid) > tolerance:
        yield PayrollDiscrepancy(
            kind=DiscrepancyKind.EMPLOYEE_UNBALANCED, subject=employee, expected=gross, found=paid,
            detail=f"employee {employee}: {_unbalanced(gross, paid, places)}", where=_where(lines))
    net = _sum(lines, *NET)
    if net < 0:
        net_lines = [line for line in lines if line.family in NET]
        yield PayrollDiscrepancy(
            kind=DiscrepancyKind.NEGATIVE_NET, subject=employee, expected=Decimal(0), found=net,
            detail=(f"employee {employee}: net pay {fmt(net, places)} is below zero (direct deposit "
                    f"{fmt(_sum(lines, CodeFamily.NET_DIRECT_DEPOSIT), places)}, check "
                    f"{fmt(_sum(lines, CodeFamily.NET_CHECK), places)})"),
            where=_where(net_lines))


def _run(register: Register, by_employee: dict[str, list[RegisterLine]], tolerance: Decimal,
         places: int) -> Iterable[PayrollDiscrepancy]:
    gross, paid = register.gross, register.total(*PAID_OUT)
    if abs(gross - paid) > tolerance:
        # The first line of each employee who is off, however little: together they make the run's difference.
        off = [lines[0] for _, lines in sorted(by_employee.items())
               if _sum(lines, CodeFamily.EARNING) != _sum(lines, *PAID_OUT)]
        yield PayrollDiscrepancy(
            kind=DiscrepancyKind.REGISTER_UNBALANCED, subject="run", expected=gross, found=paid,
            detail=f"run {register.header.run_id}: {_unbalanced(gross, paid, places)}", where=_where(off))


def _total(total: RegisterTotal, lines: Sequence[RegisterLine], tolerance: Decimal,
           places: int) -> PayrollDiscrepancy | None:
    mine = [line for line in lines if line.family is total.family
            and (total.code is None or line.code.casefold() == total.code.casefold())]
    summed = _sum(mine, total.family)
    if abs(summed - total.amount) <= tolerance:
        return None
    what = FAMILY_NAMES[total.family] if total.code is None else f"{FAMILY_NAMES[total.family]} code {total.code}"
    detail = (f"{what}: the register's total is {fmt(total.amount, places)} but its lines sum to "
              f"{fmt(summed, places)} (difference {fmt(abs(summed - total.amount), places)})")
    employer = total.family in EMPLOYER
    if employer:
        detail += "; the cost posted would differ from the liability the register reports"
    return PayrollDiscrepancy(
        kind=DiscrepancyKind.EMPLOYER_UNBALANCED if employer else DiscrepancyKind.TOTALS_MISMATCH,
        subject=total.code or total.family.value, expected=total.amount, found=summed, detail=detail,
        where=(total.where, *_where(mine, WHERE_LIMIT - 1)))


def _unbalanced(gross: Decimal, paid: Decimal, places: int) -> str:
    return (f"gross {fmt(gross, places)} but net + withholdings + deductions {fmt(paid, places)} "
            f"(difference {fmt(abs(gross - paid), places)})")


def _sum(lines: Iterable[RegisterLine], *families: CodeFamily) -> Decimal:
    return sum((line.amount for line in lines if line.family in families), Decimal(0))


def _where(lines: Iterable[RegisterLine], limit: int = WHERE_LIMIT) -> tuple[str, ...]:
    return tuple(line.where for line in lines)[:limit]


def fmt(amount: Decimal, places: int) -> str:
    """``1,523.40``: thousands grouped, the currency's decimals, more only when the amount has them (never
    rounded away in a message about a difference)."""
    exponent = amount.normalize().as_tuple().exponent
    shown = max(places, -exponent) if isinstance(exponent, int) else places
    return f"{amount:,.{shown}f}"
