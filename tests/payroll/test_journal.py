"""The journal of a payroll run: balanced, by account and dimension, shared employees split to the cent."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.canonical.journals import Journal
from shared.canonical.payroll import CodeFamily, Register, RegisterHeader, RegisterLine
from shared.errors import ConfigError, FatalError
from shared.mapping.schema import UnmappedError
from shared.payroll.journal import build_journal, journal_summary, legal_entity_for, split
from shared.payroll.proof import prove
from shared.payroll.rules import Allocation, PayrollRules

F = CodeFamily
HEADER = RegisterHeader(client_code="C100", pay_group="BIWEEKLY", period_start=date(2026, 11, 2),
                        period_end=date(2026, 11, 15), check_date=date(2026, 11, 20), run_id="2026-23")
RULES = PayrollRules.model_validate({
    "codes": {
        "earning": {"REG": "600100", "OT": "600110", "TIPS": "600120"},
        "withholding": {"FIT": "220100", "FICA-SS": "220110"},
        "deduction_pre_tax": {"401K": "220200"},
        "deduction_post_tax": {"GARN": "220300"},
        "employer_tax": {"ER-SS": {"expense": "610100", "liability": "220400"}},
        "employer_contribution": {"ER-401K": {"expense": "610200", "liability": "220500"}},
        "net_direct_deposit": "220600",
        "net_check": "220610",
    },
    "departments": {"KITCHEN": {"Department": "031"}, "BAR": {"Department": "032"}, "PATIO": {"Department": "033"}},
    "locations": {"STORE1": {"BusinessUnit": "001"}, "STORE2": {"BusinessUnit": "002"}},
})
EARNING_ACCOUNTS = set(RULES.codes.earning.values())
KITCHEN = {"Department": "031", "BusinessUnit": "001"}
BAR = {"Department": "032", "BusinessUnit": "001"}
STORE1 = {"BusinessUnit": "001"}


class Lines:
    """Register lines numbered as a file's rows: ``lines.add(...)`` then ``register(lines)``."""

    def __init__(self) -> None:
        self.lines: list[RegisterLine] = []

    def add(self, employee: str, family: CodeFamily, code: str, amount: str, *, department: str = "KITCHEN",
            location: str = "STORE1", hours: str | None = None) -> Lines:
        self.lines.append(RegisterLine(
            where=f"reg.csv:{len(self.lines) + 2}", employee_number=employee, department=department,
            location=location, family=family, code=code, amount=Decimal(amount),
            hours=None if hours is None else Decimal(hours)))
        return self


def register(lines: Lines | list[RegisterLine], header: RegisterHeader = HEADER) -> Register:
    return Register(source="reg.csv", header=header, lines=tuple(lines.lines if isinstance(lines, Lines) else lines))


def rules(**update: Any) -> PayrollRules:
    if "allocations" in update:
        update["allocations"] = {e: Allocation.model_validate(a) for e, a in update["allocations"].items()}
    return RULES.model_copy(update=update)


def table(journal: Journal) -> list[tuple[str, dict[str, str], str, str, str]]:
    """Each line as (account, dimensions, debit, credit, text), an empty side as ``""``."""
    return [(line.account, line.dimensions, str(line.debit or ""), str(line.credit or ""), line.text)
            for line in journal.lines]


def two_employees() -> Lines:
    return (Lines()
            .add("E1", F.EARNING, "REG", "1000.00", hours="80")
            .add("E1", F.EARNING, "OT", "200.00", hours="8")
            .add("E1", F.WITHHOLDING, "FIT", "150.00")
            .add("E1", F.DEDUCTION_PRE_TAX, "401K", "50.00")
            .add("E1", F.DEDUCTION_POST_TAX, "GARN", "20.00")
            .add("E1", F.NET_DIRECT_DEPOSIT, "DD", "980.00")
            .add("E1", F.EMPLOYER_TAX, "ER-SS", "74.40")
            .add("E2", F.EARNING, "REG", "500.00", department="BAR", hours="40")
            .add("E2", F.WITHHOLDING, "FIT", "50.00", department="BAR")
            .add("E2", F.NET_CHECK, "CHK", "450.00", department="BAR")
            .add("E2", F.EMPLOYER_TAX, "ER-SS", "31.00", department="BAR"))


def test_a_run_becomes_one_balanced_journal_by_account_and_dimension() -> None:
    journal = build_journal(register(two_employees()), RULES, legal_entity="USMF")
    assert (journal.external_key, journal.merchant_id, journal.batch_id, journal.business_date) == (
        "PR-C100-2026-23", "C100", "2026-23", date(2026, 11, 20))
    assert journal.description == "Heartland payroll C100 BIWEEKLY run 2026-23 check date 2026-11-20"
    assert table(journal) == [
        ("220100", STORE1, "", "200.00", "FIT withheld"),
        ("220200", STORE1, "", "50.00", "401K deducted pre-tax"),
        ("220300", STORE1, "", "20.00", "GARN deducted post-tax"),
        ("220400", STORE1, "", "105.40", "Employer tax ER-SS payable"),
        ("220600", STORE1, "", "980.00", "Net pay direct deposit"),
        ("220610", STORE1, "", "450.00", "Net pay check"),
        ("600100", KITCHEN, "1000.00", "", "Earnings REG"),
        ("600100", BAR, "500.00", "", "Earnings REG"),
        ("600110", KITCHEN, "200.00", "", "Earnings OT"),
        ("610100", KITCHEN, "74.40", "", "Employer tax ER-SS"),
        ("610100", BAR, "31.00", "", "Employer tax ER-SS"),
    ]
    assert journal.totals() == {"USD": (Decimal("1805.40"), Decimal("1805.40"))}


def test_the_journal_does_not_depend_on_the_order_of_the_register() -> None:
    lines = two_employees().lines
    assert build_journal(register(lines[::-1]), RULES, legal_entity="USMF") == build_journal(
        register(lines), RULES, legal_entity="USMF")


def test_codes_sharing_an_account_share_its_line_and_its_text_names_them() -> None:
    shared = rules(codes=RULES.codes.model_copy(update={"earning": {"REG": "600100", "OT": "600100"}}))
    journal = build_journal(register(two_employees()), shared, legal_entity="USMF")
    assert ("600100", KITCHEN, "1200.00", "", "Earnings OT, REG") in table(journal)


def test_a_negative_amount_goes_to_the_other_side_and_stays_visible() -> None:
    lines = (Lines()
             .add("E1", F.EARNING, "REG", "1000.00")
             .add("E1", F.EARNING, "REG", "-100.00")
             .add("E1", F.WITHHOLDING, "FIT", "100.00")
             .add("E1", F.WITHHOLDING, "FIT", "-10.00")
             .add("E1", F.NET_DIRECT_DEPOSIT, "DD", "810.00")
             .add("E1", F.EMPLOYER_TAX, "ER-SS", "-6.20"))
    assert table(build_journal(register(lines), RULES, legal_entity="USMF")) == [
        ("220100", STORE1, "10.00", "", "FIT withheld"),
        ("220100", STORE1, "", "100.00", "FIT withheld"),
        ("220400", STORE1, "6.20", "", "Employer tax ER-SS payable"),
        ("220600", STORE1, "", "810.00", "Net pay direct deposit"),
        ("600100", KITCHEN, "1000.00", "", "Earnings REG"),
        ("600100", KITCHEN, "", "100.00", "Earnings REG"),
        ("610100", KITCHEN, "", "6.20", "Employer tax ER-SS"),
    ]


def shared_employee(amount: str = "100.01") -> Lines:
    """E3 works in PATIO by the register; the allocation decides where the cost lands."""
    return (Lines()
            .add("E3", F.EARNING, "REG", amount, department="PATIO")
            .add("E3", F.NET_CHECK, "CHK", amount, department="PATIO")
            .add("E3", F.EMPLOYER_CONTRIBUTION, "ER-401K", "3.01", department="PATIO"))


def expenses(journal: Journal, account: str) -> dict[str, Decimal]:
    return {line.dimensions["Department"]: line.debit for line in journal.lines if line.account == account}


@pytest.mark.parametrize(("remainder_to", "kitchen", "bar"), [
    ("BAR", "50.00", "50.01"),
    ("KITCHEN", "50.01", "50.00"),
    (None, "50.00", "50.01"),  # an even split: the first department by name, BAR, takes the cent
])
def test_the_remainder_of_a_fixed_split_lands_on_the_named_department(remainder_to: str | None, kitchen: str,
                                                                       bar: str) -> None:
    allocation = {"by": "fixed", "split": {"KITCHEN": "0.5", "BAR": "0.5"}, "remainder_to": remainder_to}
    journal = build_journal(register(shared_employee()), rules(allocations={"E3": allocation}), legal_entity="X")
    assert expenses(journal, "600100") == {"031": Decimal(kitchen), "032": Decimal(bar)}
    assert sum(expenses(journal, "610200").values()) == Decimal("3.01")
    assert [line.dimensions for line in journal.lines if line.account == "220500"] == [STORE1]


def test_without_remainder_to_the_largest_share_takes_the_remainder() -> None:
    allocation = {"by": "fixed", "split": {"KITCHEN": "0.7", "BAR": "0.3"}}
    journal = build_journal(register(shared_employee("0.05")), rules(allocations={"E3": allocation}),
                            legal_entity="X")
    assert expenses(journal, "600100") == {"031": Decimal("0.03"), "032": Decimal("0.02")}  # BAR 0.015 → 0.02


def test_an_employee_allocated_by_hours_spreads_every_cost_by_the_hours_of_each_department() -> None:
    lines = (Lines()
             .add("E4", F.EARNING, "REG", "600.00", department="KITCHEN", hours="30")
             .add("E4", F.EARNING, "REG", "200.00", department="BAR", hours="10")
             .add("E4", F.EARNING, "TIPS", "100.00", department="KITCHEN")
             .add("E4", F.WITHHOLDING, "FIT", "90.00")
             .add("E4", F.NET_DIRECT_DEPOSIT, "DD", "810.00")
             .add("E4", F.EMPLOYER_TAX, "ER-SS", "61.21"))
    journal = build_journal(register(lines), rules(allocations={"E4": {"by": "hours"}}), legal_entity="X")
    assert expenses(journal, "600100") == {"031": Decimal("600.00"), "032": Decimal("200.00")}
    assert expenses(journal, "600120") == {"031": Decimal("75.00"), "032": Decimal("25.00")}
    # 61.21 * 0.25 = 15.3025 → 15.30 to BAR; KITCHEN, the largest share, takes the rest
    assert expenses(journal, "610100") == {"031": Decimal("45.91"), "032": Decimal("15.30")}


def test_an_employee_allocated_by_hours_without_hours_stops_the_run_by_name() -> None:
    with pytest.raises(FatalError) as raised:
        build_journal(register(shared_employee()), rules(allocations={"E3": {"by": "hours"}}), legal_entity="X")
    assert raised.value.reason == "NoHoursToAllocate"
    assert "employee E3" in raised.value.description


def test_employees_not_allocated_keep_their_own_departments() -> None:
    journal = build_journal(register(two_employees()), rules(allocations={"E9": {"by": "hours"}}),
                            legal_entity="X")
    assert expenses(journal, "600100") == {"031": Decimal("1000.00"), "032": Decimal("500.00")}


def test_employee_lines_keep_one_line_per_employee_named_in_its_text() -> None:
    lines = (two_employees().add("E2", F.EARNING, "REG", "300.00", hours="20")  # E2 worked in KITCHEN too
             .add("E2", F.NET_CHECK, "CHK", "300.00"))
    summarised = build_journal(register(lines), RULES, legal_entity="X")
    detailed = build_journal(register(lines), rules(employee_lines=True), legal_entity="X")
    assert [(line.dimensions, line.debit) for line in summarised.lines
            if line.account == "600100"] == [(KITCHEN, Decimal("1300.00")), (BAR, Decimal("500.00"))]
    assert [(line.text, line.dimensions, line.debit) for line in detailed.lines if line.account == "600100"] == [
        ("E1 Earnings REG", KITCHEN, Decimal("1000.00")),
        ("E2 Earnings REG", KITCHEN, Decimal("300.00")),
        ("E2 Earnings REG", BAR, Decimal("500.00")),
    ]
    assert [line.text for line in detailed.lines if line.account == "220100"] == ["E1 FIT withheld",
                                                                                  "E2 FIT withheld"]
    assert detailed.totals() == summarised.totals()
    assert journal_summary(detailed) == journal_summary(summarised)


def test_every_unmapped_name_is_reported_at_once() -> None:
    lines = (two_employees()
             .add("E2", F.EARNING, "BONUS", "10.00", department="ROOF")
             .add("E2", F.WITHHOLDING, "SIT", "10.00", location="STORE9"))
    with pytest.raises(UnmappedError) as raised:
        build_journal(register(lines), RULES, legal_entity="X")
    assert raised.value.reason == "UnmappedPayrollCode"
    description = raised.value.description
    assert "payroll code BONUS (earning, at reg.csv:13) is not in payroll.codes.earning" in description
    assert "department 'ROOF' (at reg.csv:13) is not in payroll.departments" in description
    assert "payroll code SIT" in description and "location 'STORE9' (at reg.csv:14)" in description


def test_a_department_on_a_line_that_carries_none_is_not_required() -> None:
    lines = two_employees().add("E1", F.WITHHOLDING, "FIT", "0.00", department="ROOF")
    build_journal(register(lines), RULES, legal_entity="X")


def test_codes_match_regardless_of_case_named_as_mapped_and_empty_maps_mean_no_dimensions() -> None:
    lines = Lines().add("E1", F.EARNING, "reg", "10.00", department="ANY").add("E1", F.NET_CHECK, "C", "10.00")
    journal = build_journal(register(lines), rules(departments={}, locations={}), legal_entity="X")
    assert table(journal) == [("220610", {}, "", "10.00", "Net pay check"), ("600100", {}, "10.00", "", "Earnings REG")]


def test_location_first_lets_the_location_win_a_dimension_both_set() -> None:
    both = {"departments": {"KITCHEN": {"Department": "031", "BusinessUnit": "999"}}}
    lines = Lines().add("E1", F.EARNING, "REG", "10.00").add("E1", F.NET_CHECK, "C", "10.00")
    first = build_journal(register(lines), rules(**both), legal_entity="X")
    second = build_journal(register(lines), rules(**both, dimension_order="location_first"), legal_entity="X")
    assert first.lines[-1].dimensions == {"Department": "031", "BusinessUnit": "999"}
    assert second.lines[-1].dimensions == {"BusinessUnit": "001", "Department": "031"}


def test_a_run_key_too_long_for_the_erp_stops_the_run() -> None:
    long = RegisterHeader(client_code="C100", pay_group="W", period_start=date(2026, 11, 2),
                          period_end=date(2026, 11, 15), check_date=date(2026, 11, 20), run_id="R" * 53)
    with pytest.raises(FatalError) as raised:
        build_journal(register(two_employees(), long), RULES, legal_entity="X")
    assert raised.value.reason == "RunKeyTooLong" and "61 characters" in raised.value.description


def test_a_register_with_nothing_to_post_is_refused() -> None:
    with pytest.raises(FatalError, match="EmptyRegister"):
        build_journal(register(Lines()), RULES, legal_entity="X")
    with pytest.raises(FatalError, match="EmptyRegister"):
        build_journal(register(Lines().add("E1", F.EARNING, "REG", "0.00")), RULES, legal_entity="X")


def test_an_amount_finer_than_a_cent_stops_the_run_at_its_line() -> None:
    with pytest.raises(FatalError, match=r"AmountPrecision: amount 10.005 at reg.csv:2"):
        build_journal(register(Lines().add("E1", F.EARNING, "REG", "10.005")), RULES, legal_entity="X")


def test_an_unbalanced_register_cannot_become_a_journal() -> None:
    lines = two_employees().add("E1", F.EARNING, "REG", "3.00")
    assert prove(register(lines)) != []
    with pytest.raises(ValueError, match="unbalanced"):
        build_journal(register(lines), RULES, legal_entity="X")


def test_a_client_may_post_to_its_own_legal_entity() -> None:
    with_clients = rules(clients={"C100": "USRT"}, description="{legal_entity} payroll {client} {period_start}")
    assert legal_entity_for(with_clients, "C100", "USMF") == "USRT"
    assert legal_entity_for(with_clients, "C200", "USMF") == "USMF"
    journal = build_journal(register(two_employees()), with_clients, legal_entity="USMF")
    assert journal.description == "USRT payroll C100 2026-11-02"
    with pytest.raises(ConfigError, match=r"payroll\.description"):
        build_journal(register(two_employees()), rules(description="run {nope}"), legal_entity="USMF")


def test_the_summary_of_a_dry_run_reads_by_account() -> None:
    journal = build_journal(register(two_employees().add("E3", F.EARNING, "REG", "1234567.00")
                                     .add("E3", F.NET_CHECK, "C", "1234567.00")), RULES, legal_entity="X")
    summary = journal_summary(journal)
    assert summary[0] == ("220100", "BusinessUnit 001", "", "200.00")
    assert ("600100", "Department 031, BusinessUnit 001", "1,235,567.00", "") in summary
    assert summary[-1] == ("Total", "", "1,236,372.40", "1,236,372.40")


def test_a_split_keeps_every_part_on_the_side_of_the_amount() -> None:
    weights = {name: Decimal(w) for name, w in zip("ABCDEF", [25, 36, 47, 36, 48, 29], strict=True)}
    parts = split(Decimal("0.04"), weights, remainder_to="A")
    assert sum(parts.values()) == Decimal("0.04") and all(part >= 0 for part in parts.values())
    negative = split(Decimal("-0.04"), weights, remainder_to="A")
    assert negative == {name: -part for name, part in parts.items()}


# Property: any run that proves becomes a journal that balances, its earnings equal to the register's gross.

DEPARTMENTS = sorted(RULES.departments)
LOCATIONS = sorted(RULES.locations)
PAID = [(F.WITHHOLDING, "FIT"), (F.WITHHOLDING, "FICA-SS"), (F.DEDUCTION_PRE_TAX, "401K"),
        (F.DEDUCTION_POST_TAX, "GARN")]


def cents(value: int) -> Decimal:
    return Decimal(value).scaleb(-2)


@st.composite
def fixed_splits(draw: st.DrawFn) -> dict[str, Any]:
    departments = draw(st.lists(st.sampled_from(DEPARTMENTS), min_size=1, max_size=3, unique=True))
    weights = [draw(st.integers(min_value=1, max_value=100)) for _ in departments]
    shares = [(Decimal(w) / sum(weights)).quantize(Decimal("0.0001")) for w in weights[:-1]]
    split_ = dict(zip(departments, [*shares, 1 - sum(shares)], strict=True))
    return {"by": "fixed", "split": split_, "remainder_to": draw(st.none() | st.sampled_from(departments))}


@st.composite
def runs(draw: st.DrawFn) -> tuple[Register, PayrollRules]:
    """A run that proves: each employee's earnings paid out exactly; some employees shared between departments."""
    lines: list[RegisterLine] = []
    allocations: dict[str, Any] = {}

    def add(employee: str, family: CodeFamily, code: str, amount: Decimal, department: str, location: str,
            hours: Decimal | None = None) -> None:
        lines.append(RegisterLine(f"reg.csv:{len(lines) + 2}", employee, department, location, family, code, amount,
                                  hours))

    for number in range(draw(st.integers(min_value=1, max_value=6))):
        employee, location = f"E{number}", draw(st.sampled_from(LOCATIONS))
        allocation = draw(st.none() | st.just({"by": "hours"}) | fixed_splits())
        if allocation is not None:
            allocations[employee] = allocation
        gross = Decimal(0)
        for index in range(draw(st.integers(min_value=1, max_value=4))):
            amount = cents(draw(st.integers(min_value=-2_000, max_value=300_000)))
            hours = draw(st.none() | st.integers(min_value=1, max_value=8_000))
            if index == 0 and allocation is not None:
                hours = hours or 1
            add(employee, F.EARNING, draw(st.sampled_from(sorted(RULES.codes.earning))), amount,
                draw(st.sampled_from(DEPARTMENTS)), location, None if hours is None else cents(hours))
            gross += amount
        paid = Decimal(0)
        for family, code in draw(st.lists(st.sampled_from(PAID), max_size=4)):
            amount = cents(draw(st.integers(min_value=-1_000, max_value=50_000)))
            add(employee, family, code, amount, draw(st.sampled_from(DEPARTMENTS)), location)
            paid += amount
        check = cents(draw(st.integers(min_value=0, max_value=10_000)))
        add(employee, F.NET_CHECK, "CHK", check, DEPARTMENTS[0], location)
        add(employee, F.NET_DIRECT_DEPOSIT, "DD", gross - paid - check, DEPARTMENTS[0], location)
        for family, code in draw(st.lists(st.sampled_from([(F.EMPLOYER_TAX, "ER-SS"),
                                                           (F.EMPLOYER_CONTRIBUTION, "ER-401K")]), max_size=3)):
            add(employee, family, code, cents(draw(st.integers(min_value=-500, max_value=40_000))),
                draw(st.sampled_from(DEPARTMENTS)), location)
    run_rules = rules(allocations=allocations, employee_lines=draw(st.booleans()))
    return Register(source="reg.csv", header=HEADER, lines=tuple(lines)), run_rules


@settings(max_examples=150, deadline=None)
@given(runs())
def test_a_run_that_proves_always_balances_to_the_cent_with_its_gross_as_earnings(
        run: tuple[Register, PayrollRules]) -> None:
    payroll, run_rules = run
    assert [d for d in prove(payroll) if d.kind != "negative_net"] == []
    if not any(line.amount for line in payroll.lines):
        with pytest.raises(FatalError, match="EmptyRegister"):
            build_journal(payroll, run_rules, legal_entity="USMF")
        return
    journal = build_journal(payroll, run_rules, legal_entity="USMF")
    (debit, credit), = journal.totals().values()
    assert debit == credit
    earnings = [line for line in journal.lines if line.account in EARNING_ACCOUNTS]
    assert sum(line.debit - line.credit for line in earnings) == payroll.gross
    if all(line.amount >= 0 for line in payroll.lines if line.family is F.EARNING):
        assert sum(line.debit for line in earnings) == payroll.gross
    employer = payroll.total(F.EMPLOYER_TAX, F.EMPLOYER_CONTRIBUTION)
    assert sum(line.debit - line.credit for line in journal.lines if line.account.startswith("61")) == employer
    if run_rules.employee_lines:
        assert all(line.text.split(" ")[0] in payroll.employees for line in journal.lines)
