"""A seeded Heartland Payroll register export, with the mapping section it satisfies, for tests, the demo and
``hl365 payroll generate``.

One biweekly run of a restaurant-and-retail client: six departments over three stores, every code family
(earnings with hours, tips reported in cash and paid back as a post-tax deduction, withholdings, pre- and
post-tax deductions, employer taxes and contributions, net pay by direct deposit, check or both), and
employees shared between two departments whose earnings rows appear under each. Every amount is to the cent
and every employee balances (gross = net + withholdings + deductions, net never below zero), so a register
read back proves; ``malformed_register`` plants one error of each kind the reader reports, with where.

Who is shared, and between which departments, does not depend on the seed, so ``PAYROLL_MAPPING``'s
allocations fit every register generated.
"""

from __future__ import annotations

import csv
import io
import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from sandbox.scenario.contoso import MAIN_ACCOUNTS
from shared.canonical.payroll import NET, PAID_OUT, CodeFamily
from shared.payroll.rules import COLUMNS

CENT = Decimal("0.01")
QUARTER = Decimal("0.25")

DEPARTMENTS = {"KITCHEN": "031", "FOH": "032", "BAR": "033", "RETAIL": "034", "ADMIN": "035", "DELIVERY": "036"}
"""Department -> its F&O ``Department`` dimension value."""
LOCATIONS = {"STORE1": "001", "STORE2": "002", "STORE3": "003"}
"""Location -> its F&O ``BusinessUnit`` dimension value."""
_WEIGHTS = {"KITCHEN": 25, "FOH": 30, "BAR": 12, "RETAIL": 15, "ADMIN": 6, "DELIVERY": 12}
_JOBS = {"KITCHEN": "COOK", "FOH": "SERVER", "BAR": "BARTENDER", "RETAIL": "CASHIER", "ADMIN": "OFFICE",
         "DELIVERY": "DRIVER"}
_RATES = {"KITCHEN": (15, 28), "FOH": (12, 16), "BAR": (12, 18), "RETAIL": (14, 20), "ADMIN": (20, 38),
          "DELIVERY": (13, 19)}
"""Hourly rate range per department, in dollars."""
_TIPPED = ("FOH", "BAR", "DELIVERY")
_NO_STATE_TAX = ("STORE3",)
"""A store in a state with no income tax: its employees have no SIT line."""

SHARED_EVERY = 25
"""Employee ``E{1001 + i}`` with ``i % SHARED_EVERY == 3`` works in two departments (20 of 500)."""
_PAIRS = (("KITCHEN", "BAR"), ("FOH", "BAR"), ("RETAIL", "ADMIN"), ("KITCHEN", "DELIVERY"), ("FOH", "RETAIL"))
_SPLITS = (("0.6", "0.4"), ("0.75", "0.25"), ("0.5", "0.5"))

EMPLOYER_ACCOUNTS = {
    "employer_tax": {"ER-SS": ("601300", "240210"), "ER-MED": ("601300", "240220"),
                     "FUTA": ("601300", "240240"), "SUTA": ("601300", "240250")},
    "employer_contribution": {"ER-401K": ("601500", "240300"), "ER-MED": ("601500", "240310")},
}
ACCOUNTS = {
    "earning": {"REG": "601100", "OT": "601110", "TIPS": "240150", "BONUS": "601120", "PTO": "601130"},
    "withholding": {"FIT": "240200", "FICA-SS": "240210", "FICA-MED": "240220", "SIT": "240230"},
    "deduction_pre_tax": {"401K": "240300", "MED": "240310"},
    "deduction_post_tax": {"GARN": "240320", "TIPS-PAID": "240150"},
}
"""Code -> GL account. Cash tips are reported as earnings (``TIPS``) and taken back as ``TIPS-PAID`` (the employee
already has the cash), both on one clearing account, so they cancel in the ledger and net pay stays right."""

_NAMES = {
    "601110": ("Overtime wages", "Expense"), "601120": ("Bonuses", "Expense"),
    "601130": ("Paid time off", "Expense"), "240110": ("Payroll checks outstanding", "BalanceSheet"),
    "240150": ("Cash tips reported - clearing", "BalanceSheet"),
    "240200": ("Federal income tax withheld", "BalanceSheet"),
    "240210": ("Social security payable", "BalanceSheet"), "240220": ("Medicare payable", "BalanceSheet"),
    "240230": ("State income tax withheld", "BalanceSheet"), "240240": ("FUTA payable", "BalanceSheet"),
    "240250": ("SUTA payable", "BalanceSheet"), "240300": ("401(k) payable", "BalanceSheet"),
    "240310": ("Medical insurance payable", "BalanceSheet"), "240320": ("Garnishments payable", "BalanceSheet"),
}
PAYROLL_ACCOUNTS = [(account, name, kind) for account, (name, kind) in sorted(_NAMES.items())
                    if account not in {main for main, _, _ in MAIN_ACCOUNTS}]
"""The main accounts ``PAYROLL_MAPPING`` names beyond Contoso's (``contoso.MAIN_ACCOUNTS``): seed them into the
F&O simulator before posting a generated register (``sim.add_main_account(account, name, account_type=kind)``)."""


def _shared(index: int) -> tuple[str, str] | None:
    if index % SHARED_EVERY != 3:
        return None
    return _PAIRS[(index // SHARED_EVERY) % len(_PAIRS)]


def _number(index: int) -> str:
    return f"E{1001 + index}"


def payroll_mapping(*, employees: int = 500) -> dict[str, Any]:
    """The ``payroll:`` section of ``mapping.yaml`` a register of ``employees`` satisfies: every code, department
    and location it uses, and an allocation for each shared employee (by hours, or a fixed split)."""
    allocations: dict[str, dict[str, Any]] = {}
    for index in range(employees):
        pair = _shared(index)
        if pair is None:
            continue
        nth = index // SHARED_EVERY
        if nth % 2 == 0:
            allocations[_number(index)] = {"by": "hours"}
        else:
            first, second = _SPLITS[(nth // 2) % len(_SPLITS)]
            allocations[_number(index)] = {"by": "fixed", "split": {pair[0]: first, pair[1]: second},
                                           "remainder_to": pair[0]}
    codes: dict[str, Any] = {family: dict(accounts) for family, accounts in ACCOUNTS.items()}
    for family, accounts in EMPLOYER_ACCOUNTS.items():
        codes[family] = {code: {"expense": expense, "liability": liability}
                         for code, (expense, liability) in accounts.items()}
    codes["net_direct_deposit"] = "240100"
    codes["net_check"] = "240110"
    return {
        "codes": codes,
        "departments": {name: {"Department": value} for name, value in DEPARTMENTS.items()},
        "locations": {name: {"BusinessUnit": value} for name, value in LOCATIONS.items()},
        "allocations": allocations,
    }


PAYROLL_MAPPING = payroll_mapping()
"""The section for the default 500 employees (an allocation of an employee a smaller register lacks is unused)."""


@dataclass
class _Employee:
    number: str
    location: str
    home: str
    rows: list[tuple[str, str, CodeFamily, str, Decimal | None, Decimal]] = field(default_factory=list)
    """(department, labor field, family, code, hours, amount)."""

    def add(self, family: CodeFamily, code: str, amount: Decimal, *, department: str | None = None,
            hours: Decimal | None = None) -> None:
        department = department or self.home
        labor = _JOBS[department] if family is CodeFamily.EARNING else ""
        self.rows.append((department, labor, family, code, hours, amount))

    def total(self, *families: CodeFamily) -> Decimal:
        return sum((row[5] for row in self.rows if row[2] in families), Decimal(0))


def _money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_EVEN)


def _cents(rng: random.Random, low: int, high: int) -> Decimal:
    """A random amount between ``low`` and ``high`` dollars, to the cent."""
    return Decimal(rng.randint(low * 100, high * 100)) / 100


def _quarters(rng: random.Random, low: int, high: int) -> Decimal:
    return Decimal(rng.randint(low * 4, high * 4)) * QUARTER


def _employee(rng: random.Random, index: int) -> _Employee:
    pair = _shared(index)
    home = pair[0] if pair else rng.choices(list(_WEIGHTS), weights=list(_WEIGHTS.values()))[0]
    person = _Employee(_number(index), rng.choice(list(LOCATIONS)), home)
    low, high = _RATES[home]
    rate = _cents(rng, low, high)
    hours = _quarters(rng, 40, 80)
    if pair:
        first = (hours * Decimal(rng.randint(30, 70)) / 100 / QUARTER).to_integral_value() * QUARTER
        for department, worked in zip(pair, (first, hours - first), strict=True):
            person.add(CodeFamily.EARNING, "REG", _money(worked * rate), department=department, hours=worked)
    else:
        person.add(CodeFamily.EARNING, "REG", _money(hours * rate), hours=hours)
    regular = person.total(CodeFamily.EARNING)
    if rng.random() < 0.35:
        overtime = _quarters(rng, 1, 12)
        person.add(CodeFamily.EARNING, "OT", _money(overtime * rate * Decimal("1.5")),
                   department=rng.choice(pair) if pair else None, hours=overtime)
    tipped = [d for d in (pair or (home,)) if d in _TIPPED]
    tips = Decimal(0)
    if tipped:
        tips = _cents(rng, 20, int(min(regular * Decimal("0.4"), Decimal(600))))
        person.add(CodeFamily.EARNING, "TIPS", tips, department=tipped[-1])
    if rng.random() < 0.05:
        person.add(CodeFamily.EARNING, "BONUS", Decimal(rng.randint(5, 50) * 10))
    if rng.random() < 0.15:
        pto = _quarters(rng, 4, 16)
        person.add(CodeFamily.EARNING, "PTO", _money(pto * rate), hours=pto)
    gross = person.total(CodeFamily.EARNING)

    retirement = _money(gross * Decimal(rng.randint(3, 6)) / 100) if rng.random() < 0.55 else Decimal(0)
    medical = _cents(rng, 25, 120) if rng.random() < 0.45 else Decimal(0)
    fica_wages = gross - medical
    taxable = gross - retirement - medical
    social, medicare = _money(fica_wages * Decimal("0.062")), _money(fica_wages * Decimal("0.0145"))
    person.add(CodeFamily.WITHHOLDING, "FIT", _money(taxable * Decimal(rng.randint(6, 14)) / 100))
    person.add(CodeFamily.WITHHOLDING, "FICA-SS", social)
    person.add(CodeFamily.WITHHOLDING, "FICA-MED", medicare)
    if person.location not in _NO_STATE_TAX:
        person.add(CodeFamily.WITHHOLDING, "SIT", _money(taxable * Decimal("0.04")))
    if retirement:
        person.add(CodeFamily.DEDUCTION_PRE_TAX, "401K", retirement)
    if medical:
        person.add(CodeFamily.DEDUCTION_PRE_TAX, "MED", medical)
    if tips:
        person.add(CodeFamily.DEDUCTION_POST_TAX, "TIPS-PAID", tips)
    left = gross - person.total(*PAID_OUT)
    if rng.random() < 0.03 and left > 0:
        person.add(CodeFamily.DEDUCTION_POST_TAX, "GARN", min(_cents(rng, 50, 250), _money(left / 2)))
    net = gross - person.total(*PAID_OUT)
    if net < 0:  # pragma: no cover (the rates above leave every employee well above zero)
        raise AssertionError(f"{person.number}: net pay {net} is below zero")
    draw = rng.random()
    if draw < 0.8:
        person.add(CodeFamily.NET_DIRECT_DEPOSIT, "", net)
    elif draw < 0.9:
        check = _money(net * Decimal(rng.choice((20, 25, 30, 50))) / 100)
        person.add(CodeFamily.NET_DIRECT_DEPOSIT, "", net - check)
        person.add(CodeFamily.NET_CHECK, "", check)
    else:
        person.add(CodeFamily.NET_CHECK, "", net)

    person.add(CodeFamily.EMPLOYER_TAX, "ER-SS", social)
    person.add(CodeFamily.EMPLOYER_TAX, "ER-MED", medicare)
    person.add(CodeFamily.EMPLOYER_TAX, "FUTA", _money(fica_wages * Decimal("0.006")))
    person.add(CodeFamily.EMPLOYER_TAX, "SUTA", _money(fica_wages * Decimal("0.027")))
    if retirement:
        person.add(CodeFamily.EMPLOYER_CONTRIBUTION, "ER-401K",
                   min(_money(retirement / 2), _money(gross * Decimal("0.03"))))
    if medical:
        person.add(CodeFamily.EMPLOYER_CONTRIBUTION, "ER-MED", medical * 3)
    return person


def generate_register(*, employees: int = 500, seed: int = 7, check_date: date, client_code: str = "HLD001",
                      run_id: str | None = None) -> tuple[bytes, dict[str, Any]]:
    """A biweekly register export in the canonical CSV layout (one totals row per family at the end), and what
    it holds: ``gross``, ``net``, ``withholdings``, ``deductions``, ``employer`` (Decimals), ``employees`` (a
    count), ``departments``, ``locations``, ``shared`` (employee numbers), ``totals`` (family -> Decimal),
    ``gross_by_department``, ``lines`` and the run's header fields."""
    rng = random.Random(seed)
    period_end = check_date - timedelta(days=5)
    period_start = period_end - timedelta(days=13)
    run = run_id or f"{check_date:%Y%m%d}-1"
    header = [client_code, "BIWEEKLY", period_start.isoformat(), period_end.isoformat(), check_date.isoformat(),
              run]
    people = [_employee(rng, index) for index in range(employees)]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    totals: dict[CodeFamily, Decimal] = defaultdict(Decimal)
    by_department: dict[str, Decimal] = defaultdict(Decimal)
    lines = 0
    for person in people:
        for department, labor, family, code, hours, amount in person.rows:
            writer.writerow([*header, person.number, department, person.location, labor, family.value, code,
                             "" if hours is None else str(hours), str(amount)])
            totals[family] += amount
            if family is CodeFamily.EARNING:
                by_department[department] += amount
            lines += 1
    for family in CodeFamily:
        if family in totals:
            writer.writerow([*header, "TOTAL", "", "", "", "total", family.value, "", str(totals[family])])
    summary: dict[str, Any] = {
        "client_code": client_code, "run_id": run, "check_date": check_date, "period_start": period_start,
        "period_end": period_end, "employees": len(people), "lines": lines,
        "gross": totals[CodeFamily.EARNING],
        "net": sum((totals[family] for family in NET), Decimal(0)),
        "withholdings": totals[CodeFamily.WITHHOLDING],
        "deductions": totals[CodeFamily.DEDUCTION_PRE_TAX] + totals[CodeFamily.DEDUCTION_POST_TAX],
        "employer": totals[CodeFamily.EMPLOYER_TAX] + totals[CodeFamily.EMPLOYER_CONTRIBUTION],
        "totals": dict(totals),
        "departments": sorted({row[0] for person in people for row in person.rows}),
        "locations": sorted({person.location for person in people}),
        "gross_by_department": dict(sorted(by_department.items())),
        "shared": [_number(index) for index in range(employees) if _shared(index)],
    }
    return out.getvalue().encode(), summary


def malformed_register(*, check_date: date, seed: int = 7, employees: int = 6) -> tuple[bytes, list[str]]:
    """A small register with one error of each kind planted on its own row: a date that does not exist, an
    amount that is not one, a code its family does not name, an amount with a tenth of a cent, a line that lost
    its employee number, and a run id that differs from the first row's. Returns the file and the
    ``LINE: COLUMN`` of each problem the reader must report, in line order."""
    data, _ = generate_register(employees=employees, seed=seed, check_date=check_date)
    rows = list(csv.reader(io.StringIO(data.decode(), newline="")))
    column = {name: index for index, name in enumerate(rows[0])}
    # The first data row (line 2) sets the run's header every other row is held to: leave it whole.
    candidates = [i for i, row in enumerate(rows) if i > 1 and row[column["employee_number"]] != "TOTAL"]
    rng = random.Random(seed)
    earnings = [i for i in candidates if rows[i][column["type"]] == CodeFamily.EARNING.value]
    code_row = rng.choice(earnings)
    others = rng.sample([i for i in candidates if i != code_row], 5)
    plants = [
        (code_row, "code", "BONUSX"),
        (others[0], "period_end", f"{check_date:%m}/32/{check_date:%Y}"),
        (others[1], "amount", "12.3.4"),
        (others[2], "amount", "101.125"),
        (others[3], "employee_number", ""),
        (others[4], "run_id", rows[1][column["run_id"]] + "X"),
    ]
    for index, name, value in plants:
        rows[index][column[name]] = value
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue().encode(), [f"{index + 1}: {name}" for index, name, _ in sorted(plants)]
