"""The proof of a payroll register: a run that does not add up is held, each failure told with its numbers."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from shared.canonical.payroll import (
    CodeFamily,
    DiscrepancyKind,
    Register,
    RegisterHeader,
    RegisterLine,
    RegisterTotal,
)
from shared.payroll.proof import fmt, prove

F = CodeFamily
HEADER = RegisterHeader(client_code="C100", pay_group="BIWEEKLY", period_start=date(2026, 11, 2),
                        period_end=date(2026, 11, 15), check_date=date(2026, 11, 20), run_id="2026-23")


def line(number: int, employee: str, family: CodeFamily, code: str, amount: str) -> RegisterLine:
    return RegisterLine(where=f"reg.csv:{number}", employee_number=employee, department="KITCHEN",
                        location="STORE1", family=family, code=code, amount=Decimal(amount))


def employee(first: int, number: str, *, gross: str = "1523.40", fit: str = "150.00", k401: str = "76.17",
             garn: str = "50.00", net: str = "1247.23") -> list[RegisterLine]:
    """Gross 1,523.40 = 150.00 withheld + 76.17 pre-tax + 50.00 post-tax + 1,247.23 net."""
    return [
        line(first, number, F.EARNING, "REG", gross),
        line(first + 1, number, F.WITHHOLDING, "FIT", fit),
        line(first + 2, number, F.DEDUCTION_PRE_TAX, "401K", k401),
        line(first + 3, number, F.DEDUCTION_POST_TAX, "GARN", garn),
        line(first + 4, number, F.NET_DIRECT_DEPOSIT, "DD", net),
        line(first + 5, number, F.EMPLOYER_TAX, "ER-SS", "94.45"),
    ]


def register(*lines: RegisterLine, totals: tuple[RegisterTotal, ...] = ()) -> Register:
    return Register(source="reg.csv", header=HEADER, lines=tuple(lines), totals=totals)


def test_a_register_that_adds_up_proves() -> None:
    totals = (RegisterTotal("reg.csv:20", F.EARNING, Decimal("3046.80")),
              RegisterTotal("reg.csv:21", F.EARNING, Decimal("3046.80"), code="REG"),
              RegisterTotal("reg.csv:22", F.EMPLOYER_TAX, Decimal("188.90")),
              RegisterTotal("reg.csv:23", F.NET_DIRECT_DEPOSIT, Decimal("2494.46")))
    assert prove(register(*employee(2, "E1042"), *employee(8, "E1043"), totals=totals)) == []


def test_an_employee_whose_gross_is_not_paid_out_is_named_with_the_difference() -> None:
    found = prove(register(*employee(2, "E1042", net="1244.23"), *employee(8, "E1043")))
    assert [d.kind for d in found] == [DiscrepancyKind.EMPLOYEE_UNBALANCED, DiscrepancyKind.REGISTER_UNBALANCED]
    mine, run = found
    assert (mine.subject, mine.expected, mine.found, mine.difference) == (
        "E1042", Decimal("1523.40"), Decimal("1520.40"), Decimal("-3.00"))
    assert mine.detail == ("employee E1042: gross 1,523.40 but net + withholdings + deductions 1,520.40 "
                           "(difference 3.00)")
    assert mine.where == ("reg.csv:2", "reg.csv:3", "reg.csv:4")
    assert (run.subject, run.expected, run.found) == ("run", Decimal("3046.80"), Decimal("3043.80"))
    assert run.detail == "run 2026-23: gross 3,046.80 but net + withholdings + deductions 3,043.80 (difference 3.00)"
    assert run.where == ("reg.csv:2",)


def test_a_tolerance_accepts_differences_up_to_it() -> None:
    off_by_a_cent = register(*employee(2, "E1042", net="1247.22"))
    assert prove(off_by_a_cent, tolerance=Decimal("0.01")) == []
    assert [d.kind for d in prove(off_by_a_cent)] == [DiscrepancyKind.EMPLOYEE_UNBALANCED,
                                                      DiscrepancyKind.REGISTER_UNBALANCED]
    with pytest.raises(ValueError, match="tolerance"):
        prove(off_by_a_cent, tolerance=Decimal("-0.01"))


def test_small_differences_of_each_employee_can_add_up_to_an_unbalanced_run() -> None:
    found = prove(register(*employee(2, "E1042", net="1247.22"), *employee(8, "E1043", net="1247.22")),
                  tolerance=Decimal("0.01"))
    assert [(d.kind, d.difference) for d in found] == [(DiscrepancyKind.REGISTER_UNBALANCED, Decimal("-0.02"))]
    assert found[0].where == ("reg.csv:2", "reg.csv:8")


def test_negative_net_pay_is_reported_even_when_the_employee_balances() -> None:
    lines = [line(2, "E7", F.EARNING, "REG", "100.00"), line(3, "E7", F.DEDUCTION_POST_TAX, "GARN", "130.00"),
             line(4, "E7", F.NET_DIRECT_DEPOSIT, "DD", "-40.00"), line(5, "E7", F.NET_CHECK, "CHK", "10.00")]
    found = prove(register(*lines), tolerance=Decimal("100"))
    assert [d.kind for d in found] == [DiscrepancyKind.NEGATIVE_NET]
    (negative,) = found
    assert (negative.subject, negative.expected, negative.found) == ("E7", Decimal(0), Decimal("-30.00"))
    assert negative.detail == "employee E7: net pay -30.00 is below zero (direct deposit -40.00, check 10.00)"
    assert negative.where == ("reg.csv:4", "reg.csv:5")


def test_a_totals_row_that_is_not_the_sum_of_its_lines_is_named() -> None:
    totals = (RegisterTotal("reg.csv:30", F.EARNING, Decimal("3046.80")),
              RegisterTotal("reg.csv:31", F.WITHHOLDING, Decimal("310.00")),
              RegisterTotal("reg.csv:32", F.DEDUCTION_PRE_TAX, Decimal("150.00"), code="401k"))
    found = prove(register(*employee(2, "E1042"), *employee(8, "E1043"), totals=totals))
    assert [(d.kind, d.subject, d.expected, d.found) for d in found] == [
        (DiscrepancyKind.TOTALS_MISMATCH, "withholding", Decimal("310.00"), Decimal("300.00")),
        (DiscrepancyKind.TOTALS_MISMATCH, "401k", Decimal("150.00"), Decimal("152.34")),
    ]
    family, code = found
    assert family.detail == ("withholdings: the register's total is 310.00 but its lines sum to 300.00 "
                             "(difference 10.00)")
    assert family.where == ("reg.csv:31", "reg.csv:3", "reg.csv:9")
    assert code.detail == ("pre-tax deductions code 401k: the register's total is 150.00 but its lines sum to "
                           "152.34 (difference 2.34)")
    assert code.where[0] == "reg.csv:32"


def test_a_totals_row_of_a_family_without_lines_is_held_to_zero() -> None:
    found = prove(register(*employee(2, "E1042"), totals=(RegisterTotal("reg.csv:9", F.NET_CHECK, Decimal("5")),)))
    assert [(d.kind, d.subject, d.found, d.where) for d in found] == [
        (DiscrepancyKind.TOTALS_MISMATCH, "net_check", Decimal(0), ("reg.csv:9",))]


def test_employer_totals_that_differ_from_the_employer_lines_leave_cost_and_liability_unbalanced() -> None:
    totals = (RegisterTotal("reg.csv:30", F.EMPLOYER_TAX, Decimal("188.90"), code="ER-SS"),
              RegisterTotal("reg.csv:31", F.EMPLOYER_TAX, Decimal("198.90"), code="ER-SS"),
              RegisterTotal("reg.csv:32", F.EMPLOYER_CONTRIBUTION, Decimal("40.00")))
    found = prove(register(*employee(2, "E1042"), *employee(8, "E1043"),
                           line(14, "E1043", F.EMPLOYER_CONTRIBUTION, "ER-401K", "45.70"), totals=totals))
    assert [(d.kind, d.subject, d.expected, d.found) for d in found] == [
        (DiscrepancyKind.EMPLOYER_UNBALANCED, "ER-SS", Decimal("198.90"), Decimal("188.90")),
        (DiscrepancyKind.EMPLOYER_UNBALANCED, "employer_contribution", Decimal("40.00"), Decimal("45.70")),
    ]
    assert found[0].detail == ("employer taxes code ER-SS: the register's total is 198.90 but its lines sum to "
                               "188.90 (difference 10.00); the cost posted would differ from the liability the "
                               "register reports")
    assert found[0].where == ("reg.csv:31", "reg.csv:7", "reg.csv:13")
    assert found[1].where == ("reg.csv:32", "reg.csv:14")


def test_every_failure_of_a_register_is_reported_in_one_pass() -> None:
    lines = [*employee(2, "E2", gross="1533.40", net="-10.00"), *employee(8, "E1")]
    found = prove(register(*lines, totals=(RegisterTotal("reg.csv:40", F.EARNING, Decimal("1")),
                                           RegisterTotal("reg.csv:41", F.EMPLOYER_TAX, Decimal("1")))))
    assert [(d.kind, d.subject) for d in found] == [
        (DiscrepancyKind.EMPLOYEE_UNBALANCED, "E2"),
        (DiscrepancyKind.NEGATIVE_NET, "E2"),
        (DiscrepancyKind.REGISTER_UNBALANCED, "run"),
        (DiscrepancyKind.TOTALS_MISMATCH, "earning"),
        (DiscrepancyKind.EMPLOYER_UNBALANCED, "employer_tax"),
    ]


def test_amounts_read_as_an_accountant_writes_them() -> None:
    assert fmt(Decimal("1523.4"), 2) == "1,523.40"
    assert fmt(Decimal("-1234567"), 2) == "-1,234,567.00"
    assert fmt(Decimal("0.005"), 2) == "0.005"
    assert fmt(Decimal("1500"), 0) == "1,500"
