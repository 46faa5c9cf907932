"""The register reader against the generator's exports and small hand-written ones: what a person who exports a
register from Heartland Payroll sees, a register read exactly or every problem of the file named where it is."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from datetime import date
from decimal import Decimal

import pytest

from sandbox.scenario.payroll import PAYROLL_MAPPING, generate_register, malformed_register, payroll_mapping
from shared.canonical.payroll import NET, PAID_OUT, CodeFamily, Register, RegisterLine, RegisterTotal
from shared.errors import FatalError
from shared.payroll.register import RegisterError, read_register
from shared.payroll.rules import PayrollRules

CHECK_DATE = date(2026, 6, 19)

RULES = PayrollRules.model_validate({
    "columns": {"employee_number": ["Emp #", "EE No"], "amount": ["Amt"], "type": ["E/W/D"]},
    "types": {"E": "earning", "W": "withholding", "D": "deduction_post_tax", "DD": "net_direct_deposit"},
    "codes": {
        "earning": {"REG": "601100", "OT": "601110"},
        "withholding": {"FIT": "240200"},
        "deduction_pre_tax": {"MED": "240310"},
        "deduction_post_tax": {"GARN": "240320"},
        "employer_contribution": {"MED": {"expense": "601500", "liability": "240310"}},
        "net_direct_deposit": "240100",
        "net_check": "240110",
    },
    "departments": {"KITCHEN": {"Department": "031"}, "BAR": {"Department": "033"}},
    "locations": {"STORE1": {"BusinessUnit": "001"}},
})
HEAD = ("client_code,pay_group,period_start,period_end,check_date,run_id,employee_number,department,location,type,"
        "code,hours,amount")
RUN = "HLD001,BIWEEKLY,2026-06-01,2026-06-14,2026-06-19,R1"
REG = f"{RUN},E1,KITCHEN,STORE1,earning,REG,80,1000.00"
FIT = f"{RUN},E1,KITCHEN,STORE1,withholding,FIT,,100.00"
NET_PAY = f"{RUN},E1,KITCHEN,STORE1,net_direct_deposit,,,900.00"


def csv_of(*rows: str, head: str = HEAD) -> bytes:
    return "\n".join([head, *rows, ""]).encode()


def problems_of(data: bytes, name: str = "r.csv", rules: PayrollRules = RULES) -> list[str]:
    with pytest.raises(RegisterError) as caught:
        read_register(name, data, rules)
    return caught.value.problems


@pytest.fixture(scope="module")
def generated() -> tuple[bytes, dict, Register]:
    data, summary = generate_register(employees=500, seed=7, check_date=CHECK_DATE)
    return data, summary, read_register("register.csv", data, PayrollRules.model_validate(PAYROLL_MAPPING))


# -- the generated register -----------------------------------------------------------------------------------------

def test_the_generated_register_reads_back_to_its_summary(generated: tuple[bytes, dict, Register]) -> None:
    _, summary, register = generated
    assert register.source == "register.csv"
    assert register.gross == summary["gross"] > Decimal(500_000)
    assert register.total(*NET) == summary["net"]
    assert register.total(CodeFamily.WITHHOLDING) == summary["withholdings"]
    assert len(register.employees) == summary["employees"] == 500
    assert {line.family for line in register.lines} == set(CodeFamily)
    assert {line.department for line in register.lines} == set(summary["departments"]) == {
        "KITCHEN", "FOH", "BAR", "RETAIL", "ADMIN", "DELIVERY"}
    assert {line.location for line in register.lines} == {"STORE1", "STORE2", "STORE3"}
    header = register.header
    assert (header.client_code, header.run_id, header.check_date) == ("HLD001", "20260619-1", CHECK_DATE)
    assert header.period_start <= header.period_end < header.check_date
    # The export's own totals rows, one a family, agree with its lines.
    assert {total.family: total.amount for total in register.totals} == summary["totals"]


def test_every_generated_employee_balances_to_the_cent(generated: tuple[bytes, dict, Register]) -> None:
    _, _, register = generated
    by_employee: dict[str, list[RegisterLine]] = defaultdict(list)
    for line in register.lines:
        by_employee[line.employee_number].append(line)
        assert line.amount == line.amount.quantize(Decimal("0.01")), line
    for employee, lines in by_employee.items():
        gross = sum(line.amount for line in lines if line.family is CodeFamily.EARNING)
        paid = sum(line.amount for line in lines if line.family in PAID_OUT)
        net = sum(line.amount for line in lines if line.family in NET)
        assert gross == paid, employee
        assert net >= 0, employee


def test_tips_reported_in_cash_are_taken_back_so_net_pay_stays_right(
        generated: tuple[bytes, dict, Register]) -> None:
    _, _, register = generated
    tips: dict[str, Decimal] = defaultdict(Decimal)
    for line in register.lines:
        if line.code == "TIPS":
            tips[line.employee_number] += line.amount
        elif line.code == "TIPS-PAID":
            tips[line.employee_number] -= line.amount
    assert len(tips) > 50
    assert set(tips.values()) == {Decimal(0)}


def test_shared_employees_have_earnings_with_hours_under_both_departments(
        generated: tuple[bytes, dict, Register]) -> None:
    _, summary, register = generated
    assert len(summary["shared"]) == 20
    allocations = PAYROLL_MAPPING["allocations"]
    assert set(allocations) == set(summary["shared"])
    assert {allocation["by"] for allocation in allocations.values()} == {"hours", "fixed"}
    for employee in summary["shared"]:
        regular = [line for line in register.lines if line.employee_number == employee and line.code == "REG"]
        assert len({line.department for line in regular}) == 2, employee
        assert all(line.hours and line.hours > 0 for line in regular), employee
        if allocations[employee]["by"] == "fixed":
            assert set(allocations[employee]["split"]) == {line.department for line in regular}


def test_net_pay_is_split_between_direct_deposit_and_check(generated: tuple[bytes, dict, Register]) -> None:
    _, _, register = generated
    ways: dict[str, set[CodeFamily]] = defaultdict(set)
    for line in register.lines:
        if line.family in NET:
            ways[line.employee_number].add(line.family)
    kinds = [frozenset(families) for families in ways.values()]
    only_deposit = kinds.count(frozenset({CodeFamily.NET_DIRECT_DEPOSIT}))
    assert only_deposit > len(kinds) // 2
    assert kinds.count(frozenset(NET)) > 0
    assert kinds.count(frozenset({CodeFamily.NET_CHECK})) > 0


def test_where_names_the_row_of_the_file(generated: tuple[bytes, dict, Register]) -> None:
    data, _, register = generated
    rows = data.decode().split("\n")
    placed: list[RegisterLine | RegisterTotal] = [register.lines[0], register.lines[1234], register.lines[-1],
                                                  *register.totals]
    for line in placed:
        name, number = line.where.split(":")
        row = rows[int(number) - 1].split(",")
        assert name == "register.csv"
        assert row[-1] == str(line.amount)
        if isinstance(line, RegisterLine):
            assert row[6] == line.employee_number


def test_the_generator_is_deterministic_and_the_seed_matters() -> None:
    first, facts = generate_register(employees=40, seed=3, check_date=CHECK_DATE)
    again, _ = generate_register(employees=40, seed=3, check_date=CHECK_DATE)
    other, _ = generate_register(employees=40, seed=4, check_date=CHECK_DATE, run_id="R9")
    assert first == again
    assert first != other
    assert b",R9," in other
    assert facts["shared"] == ["E1004", "E1029"]
    assert set(payroll_mapping(employees=40)["allocations"]) == {"E1004", "E1029"}


# -- aliases and values ---------------------------------------------------------------------------------------------

def test_an_export_with_its_own_column_names_and_type_values() -> None:
    head = (" emp # ,SSN,Client_Code,pay_group,period_start,period_end,check_date,run_id,Department,location,"
            "E/W/D,code,hours,AMT")
    rows = [
        "E7,900-11-2222,HLD001,BW,06/01/2026,06/14/2026,6/19/2026,R1,kitchen,STORE1,E,REG,80,\"$1,234.50\"",
        "E7,900-11-2222,HLD001,BW,06/01/2026,06/14/2026,6/19/2026,R1,kitchen,STORE1,W,FIT,,(34.50)",
        "E7,900-11-2222,HLD001,BW,2026-06-01,2026-06-14,2026-06-19,R1,kitchen,STORE1,DD,,,\"1,269.00\"",
    ]
    data = b"\xef\xbb\xbf" + csv_of(*rows, head=head)
    register = read_register("export.csv", data, RULES)
    reg, fit, net = register.lines
    assert (reg.employee_number, reg.department, reg.family, reg.code, reg.hours, reg.amount) == (
        "E7", "KITCHEN", CodeFamily.EARNING, "REG", Decimal(80), Decimal("1234.50"))
    assert (fit.family, fit.amount) == (CodeFamily.WITHHOLDING, Decimal("-34.50"))
    assert (net.family, net.code, net.amount) == (CodeFamily.NET_DIRECT_DEPOSIT, "", Decimal("1269.00"))
    assert register.header.period_start == date(2026, 6, 1)
    assert register.header.check_date == CHECK_DATE
    assert [line.where for line in register.lines] == ["export.csv:2", "export.csv:3", "export.csv:4"]


def test_without_a_type_column_the_code_names_the_family() -> None:
    head = HEAD.replace(",type,", ",")
    rows = [f"{RUN},E1,KITCHEN,STORE1,reg,80,1000.00", f"{RUN},E1,KITCHEN,STORE1,FIT,,100.00",
            f"{RUN},E1,KITCHEN,STORE1,net_direct_deposit,,900.00",
            f"{RUN},TOTAL,,,earning,,1000.00", f"{RUN},,,,FIT,,100.00"]
    register = read_register("r.csv", csv_of(*rows, head=head), RULES)
    assert [(line.family, line.code) for line in register.lines] == [
        (CodeFamily.EARNING, "REG"), (CodeFamily.WITHHOLDING, "FIT"), (CodeFamily.NET_DIRECT_DEPOSIT, "")]
    assert [(total.family, total.code, total.amount) for total in register.totals] == [
        (CodeFamily.EARNING, None, Decimal("1000.00")), (CodeFamily.WITHHOLDING, "FIT", Decimal("100.00"))]


def test_totals_rows_of_a_family_and_of_a_code() -> None:
    rows = [REG, FIT, NET_PAY, f"{RUN},TOTAL,,,earning,,,1000.00", f"{RUN},,,,total,REG,,1000.00",
            f"{RUN},,,,total,withholding,,100.00", f"{RUN},TOTAL,,,E,OT,,0.00"]
    register = read_register("r.csv", csv_of(*rows), RULES)
    assert len(register.lines) == 3
    assert [(total.family, total.code, total.amount, total.where) for total in register.totals] == [
        (CodeFamily.EARNING, None, Decimal("1000.00"), "r.csv:5"),
        (CodeFamily.EARNING, "REG", Decimal("1000.00"), "r.csv:6"),
        (CodeFamily.WITHHOLDING, None, Decimal("100.00"), "r.csv:7"),
        (CodeFamily.EARNING, "OT", Decimal("0.00"), "r.csv:8"),
    ]


@pytest.mark.parametrize("newline", [b"\n", b"\r\n"])
def test_blank_lines_and_quoted_line_breaks_keep_the_line_numbers_of_the_file(newline: bytes) -> None:
    head = HEAD + ",labor_field"
    rows = [REG + ',"COOK\nLINE"', "", FIT + ",", "   ", f"{RUN},E1,KITCHEN,STORE1,earning,OT,2,nope,"]
    data = csv_of(*rows, head=head).replace(b"\n", newline)
    assert problems_of(data) == ["r.csv:7: amount: 'nope' is not an amount"]


def test_amounts_are_decimals_never_floats() -> None:
    register = read_register("r.csv", csv_of(REG, FIT, NET_PAY, f"{RUN},E1,KITCHEN,STORE1,earning,OT,0.5,0.10",
                                             f"{RUN},E1,KITCHEN,STORE1,earning,OT,,0.20",
                                             f"{RUN},E1,KITCHEN,STORE1,net_check,,,0.30"), RULES)
    values = [value for line in register.lines for value in (line.amount, line.hours) if value is not None]
    assert all(type(value) is Decimal for value in values)
    assert register.total(CodeFamily.EARNING) - Decimal("1000") == Decimal("0.30")


# -- problems -------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("rows", "expected"), [
    ([REG.replace("2026-06-01", "2026-13-01"), FIT, NET_PAY],
     "r.csv:2: period_start: '2026-13-01' is not a date (YYYY-MM-DD or MM/DD/YYYY)"),
    ([REG, FIT.replace("100.00", "1OO.00"), NET_PAY], "r.csv:3: amount: '1OO.00' is not an amount"),
    ([REG, FIT.replace("100.00", "12,34"), NET_PAY], "r.csv:3: -: 14 cells where the header has 13: is a value "
                                                     "with a comma not in quotes?"),
    ([REG, FIT.replace("100.00", "99.995"), NET_PAY], "r.csv:3: amount: '99.995' has more decimals than USD's 2"),
    ([REG.replace(",REG,", ",BONUSX,"), FIT, NET_PAY],
     "r.csv:2: code: 'BONUSX' is not an earning code in payroll.codes.earning"),
    ([REG, FIT.replace(",FIT,", ",GARN,"), NET_PAY],
     "r.csv:3: code: 'GARN' is not a withholding code in payroll.codes.withholding"),
    ([REG, FIT.replace(",E1,", ",,"), NET_PAY], "r.csv:3: employee_number: no employee number (a totals row has "
                                                "none, but no department or location either)"),
    ([REG, FIT, NET_PAY.replace(",R1,", ",R2,")], "r.csv:4: run_id: 'R2' differs from 'R1' on line 2"),
    ([REG, FIT, NET_PAY.replace("HLD001", "")], "r.csv:4: client_code: required on every row (the run's header)"),
    ([REG.replace("KITCHEN", "PATIO"), FIT, NET_PAY], "r.csv:2: department: 'PATIO' is not in payroll.departments"),
    ([REG, FIT.replace("STORE1", "STORE9"), NET_PAY], "r.csv:3: location: 'STORE9' is not in payroll.locations"),
    ([REG, FIT, NET_PAY.replace("KITCHEN", "")], "r.csv:4: department: required on a line row"),
    ([REG.replace(",80,", ",-8,"), FIT, NET_PAY], "r.csv:2: hours: '-8': hours cannot be negative"),
    ([REG.replace(",earning,", ",bonus,"), FIT, NET_PAY],
     "r.csv:2: type: 'bonus' is not a type: a family (earning, withholding, deduction_pre_tax, deduction_post_tax, "
     "employer_tax, employer_contribution, net_direct_deposit, net_check) or one of payroll.types (E, W, D, DD), or "
     "total"),
    ([REG.replace(",earning,", ",total,"), FIT, NET_PAY],
     "r.csv:2: type: 'total' marks a totals row: it has no employee number"),
    ([REG, FIT, NET_PAY, f"{RUN},TOTAL,,,total,MED,,5.00"],
     "r.csv:5: code: 'MED' is a code of several families of payroll.codes (deduction_pre_tax, "
     "employer_contribution): give the totals row its type"),
    ([REG, FIT, NET_PAY, f"{RUN},TOTAL,,,total,BONUSX,,5.00"],
     "r.csv:5: code: 'BONUSX' names no family and is in no family of payroll.codes"),
    ([x.replace("2026-06-14", "2026-05-14") for x in (REG, FIT, NET_PAY)],
     "r.csv:2: period_end: '2026-05-14' is before period_start 2026-06-01"),
    ([REG, f"{RUN},E1,KITCHEN,STORE1,withholding,{'X' * 60},,100.00", NET_PAY],
     f"r.csv:3: code: '{'X' * 40}…' is not a withholding code in payroll.codes.withholding"),
])
def test_each_problem_is_named_by_file_line_and_column(rows: list[str], expected: str) -> None:
    assert problems_of(csv_of(*rows)) == [expected]


def test_a_code_several_families_name_needs_a_type_column() -> None:
    head = HEAD.replace(",type,", ",")
    rows = [f"{RUN},E1,KITCHEN,STORE1,MED,,25.00", f"{RUN},E1,KITCHEN,STORE1,REGULAR,,25.00"]
    assert problems_of(csv_of(*rows, head=head)) == [
        "r.csv:2: code: 'MED' is a code of several families of payroll.codes (deduction_pre_tax, "
        "employer_contribution): add a type column",
        "r.csv:3: code: 'REGULAR' is in no family of payroll.codes",
    ]


@pytest.mark.parametrize(("data", "expected"), [
    (b"", ["r.csv:1: -: the file is empty"]),
    (b" \r\n\n", ["r.csv:1: -: the file is empty"]),
    (csv_of(), ["r.csv:1: -: no register lines: the file has no employee's amounts"]),
    (csv_of(head=HEAD.replace(",amount", ",total pay")),
     ["r.csv:1: amount: no column named amount nor 'Amt'"]),
    (csv_of(REG, head=HEAD + ",Amt"), ["r.csv:1: Amt: names the same column as 'amount' (amount)"]),
    (csv_of(REG, FIT) + b"HLD001,\xff\n", ["r.csv:4: -: not UTF-8 (byte 0xff cannot be read); export the register "
                                           "as UTF-8"]),
    (csv_of(REG).decode().encode("utf-16"), ["r.csv:1: -: the file is UTF-16; export the register as UTF-8"]),
])
def test_a_file_that_cannot_be_read_is_one_problem_not_a_crash(data: bytes, expected: list[str]) -> None:
    assert problems_of(data) == expected


def test_every_planted_error_is_reported_at_once_where_it_was_planted() -> None:
    data, expected = malformed_register(check_date=CHECK_DATE, seed=11)
    with pytest.raises(RegisterError) as caught:
        read_register("malformed.csv", data, PayrollRules.model_validate(PAYROLL_MAPPING))
    error = caught.value
    assert len(expected) == 6
    assert all(problem.startswith("malformed.csv:") for problem in error.problems)
    assert [":".join(problem.split(":")[1:3]) for problem in error.problems] == expected
    kinds = " ".join(error.problems)
    for said in ("is not a date", "is not an amount", "is not an earning code", "more decimals than USD's 2",
                 "no employee number", "differs from"):
        assert said in kinds


def test_the_error_stops_the_run_and_summarises_its_problems() -> None:
    rows = [REG.replace("1000.00", f"1000.00{n}") for n in range(1, 8)]
    with pytest.raises(RegisterError) as caught:
        read_register("big.csv", csv_of(*rows), RULES)
    error = caught.value
    assert isinstance(error, FatalError)
    assert error.reason == "RegisterInvalid"
    assert len(error.problems) == 7
    assert error.description.startswith("7 problems in big.csv; nothing was posted: big.csv:2: amount: ")
    assert "big.csv:6:" in error.description
    assert "big.csv:7:" not in error.description
    assert error.description.endswith("; and 2 more")


# -- JSON -----------------------------------------------------------------------------------------------------------

JSON_REGISTER = """{
  "header": {
    "client_code": "HLD001", "pay_group": "BIWEEKLY",
    "period_start": "2026-06-01", "period_end": "2026-06-14",
    "check_date": "06/19/2026", "run_id": 4711
  },
  "lines": [
    {"Emp #": "E1", "department": "KITCHEN", "location": "STORE1", "ssn": "900-11-2222",
     "type": "earning", "code": "REG", "hours": 80, "Amt": 1000.10},
    {"Emp #": "E1", "department": "KITCHEN", "location": "STORE1", "type": "W", "code": "FIT", "Amt": "100.00"},
    {"Emp #": "E1", "department": "KITCHEN", "location": "STORE1", "type": "net_check", "Amt": 900.10}
  ],
  "totals": [{"family": "earning", "Amt": 1000.10}, {"type": "total", "code": "FIT", "amount": 100}]
}
"""


def test_a_json_register_reads_exactly_with_the_lines_its_objects_start_on() -> None:
    register = read_register("r.json", JSON_REGISTER.encode(), RULES)
    assert register.header.run_id == "4711"
    assert register.header.check_date == CHECK_DATE
    assert [(line.where, line.family, line.amount) for line in register.lines] == [
        ("r.json:8", CodeFamily.EARNING, Decimal("1000.10")),
        ("r.json:10", CodeFamily.WITHHOLDING, Decimal("100.00")),
        ("r.json:11", CodeFamily.NET_CHECK, Decimal("900.10")),
    ]
    assert all(type(line.amount) is Decimal for line in register.lines)
    assert register.lines[0].hours == Decimal(80)
    assert [(total.family, total.code, total.amount) for total in register.totals] == [
        (CodeFamily.EARNING, None, Decimal("1000.10")), (CodeFamily.WITHHOLDING, "FIT", Decimal("100.00"))]


def test_json_problems_name_the_line_of_the_value_or_object() -> None:
    text = (JSON_REGISTER.replace('"Amt": 1000.10}', '"Amt": 1000.105}', 1)
            .replace('"check_date": "06/19/2026"', '"check_date": "06/31/2026"')
            .replace('{"Emp #": "E1", "department": "KITCHEN", "location": "STORE1", "type": "W"',
                     '{"department": "KITCHEN", "location": "STORE1", "type": "W"')
            .replace('"type": "net_check", "Amt": 900.10}', '"type": "net_check", "Amt": NaN},\n    7'))
    assert problems_of(text.encode(), "r.json") == [
        "r.json:5: check_date: '06/31/2026' is not a date (YYYY-MM-DD or MM/DD/YYYY)",
        "r.json:9: Amt: '1000.105' has more decimals than USD's 2",
        "r.json:10: employee_number: required on a line row",
        "r.json:11: Amt: 'NaN' is not an amount",
        "r.json:12: -: a line must be an object",
    ]


def test_json_that_does_not_parse_names_its_line() -> None:
    broken = JSON_REGISTER.replace('"FIT", "Amt": "100.00"}', '"FIT" "Amt": "100.00"}')
    assert problems_of(broken.encode(), "r.json") == [
        "r.json:10: -: not valid JSON: Expecting ',' delimiter (column 95)"]
    assert problems_of(b'\xef\xbb\xbf  [{"lines": []}]', "r.json") == [
        'r.json:1: -: a JSON register is an object: {"header": {...}, "lines": [...], "totals": [...]}']


def test_the_generated_run_as_json_reads_to_the_same_register(generated: tuple[bytes, dict, Register]) -> None:
    _, summary, register = generated
    header = {name: str(getattr(register.header, name)) for name in (
        "client_code", "pay_group", "period_start", "period_end", "check_date", "run_id")}
    lines = [{"employee_number": line.employee_number, "department": line.department, "location": line.location,
              "type": line.family.value, "code": line.code, "hours": None if line.hours is None else str(line.hours),
              "amount": f"<{line.amount}>"} for line in register.lines]
    text = json.dumps({"header": header, "lines": lines}, indent=1)
    text = re.sub(r'"<(-?[0-9.]+)>"', r"\1", text)  # amounts as JSON numbers, as an export writes them
    again = read_register("register.json", text.encode(), PayrollRules.model_validate(PAYROLL_MAPPING))
    assert again.gross == summary["gross"]
    assert [(line.employee_number, line.code, line.amount) for line in again.lines] == [
        (line.employee_number, line.code, line.amount) for line in register.lines]
    rows = text.split("\n")
    for line in (again.lines[0], again.lines[-1]):
        assert rows[int(line.where.split(":")[1]) - 1].strip() == "{"


def test_a_json_register_in_a_currency_without_cents() -> None:
    text = JSON_REGISTER.replace('"run_id": 4711', '"run_id": 4711, "currency": "jpy"')
    assert problems_of(text.encode(), "r.json") == [
        "r.json:9: Amt: '1000.10' has more decimals than JPY's 0",
        "r.json:11: Amt: '900.10' has more decimals than JPY's 0",
        "r.json:13: Amt: '1000.10' has more decimals than JPY's 0",
    ]


# -- what is never said ---------------------------------------------------------------------------------------------

SSN = "987-65-4329"
ACCOUNT = "000555000777"


def test_an_ignored_column_is_never_quoted_whatever_goes_wrong() -> None:
    head = "department,SSN,Bank Account," + HEAD.replace(",department,", ",")
    kept = f"{RUN},E1,STORE1,earning,REG,80,1000.00"
    rows = [
        f"KITCHEN,{SSN},{ACCOUNT}," + kept.replace("2026-06-01", "2026/06/01").replace(",REG,", ",RGE,"),
        f"KITCHEN,{SSN},{ACCOUNT},{RUN},,STORE1,withholding,FIT,,abc",
        f"KITCHEN,{SSN},{ACCOUNT},{RUN.replace(',R1', ',R2')},E1,STORE4,net_direct_deposit,,,900.00",
        f"{SSN},{ACCOUNT}," + kept,  # the department left out: the SSN would read as the department
        f"KITCHEN,{SSN},{ACCOUNT}," + kept + f",{SSN}",  # a cell too many
    ]
    with pytest.raises(RegisterError) as caught:
        read_register("r.csv", csv_of(*rows, head=head), RULES)
    error = caught.value
    assert len(error.problems) == 8
    assert error.problems[-2:] == [
        "r.csv:5: -: 14 cells where the header has 15: is a cell missing?",
        "r.csv:6: -: 16 cells where the header has 15: is a value with a comma not in quotes?"]
    for text in (str(error), error.description, *error.problems):
        assert SSN.replace("-", "") not in text.replace("-", "")
        assert ACCOUNT not in text


def test_an_unknown_key_of_a_json_line_is_never_quoted() -> None:
    text = (JSON_REGISTER.replace('"ssn": "900-11-2222"', f'"ssn": "{SSN}", "iban": "{ACCOUNT}"')
            .replace('"Amt": 1000.10}', '"Amt": "x"}', 1))
    with pytest.raises(RegisterError) as caught:
        read_register("r.json", text.encode(), RULES)
    assert caught.value.problems == ["r.json:9: Amt: 'x' is not an amount"]
    assert SSN not in str(caught.value)
    assert ACCOUNT not in str(caught.value)


def test_the_generated_mapping_is_a_valid_payroll_section() -> None:
    rules = PayrollRules.model_validate(payroll_mapping(employees=60))
    assert rules.codes.family_of("ER-MED") == [CodeFamily.EMPLOYER_TAX, CodeFamily.EMPLOYER_CONTRIBUTION]
    assert rules.codes.deduction_post_tax["TIPS-PAID"] == rules.codes.earning["TIPS"]
    assert rules.departments["KITCHEN"] == {"Department": "031"}
    assert rules.locations["STORE3"] == {"BusinessUnit": "003"}
    assert json.loads(json.dumps(payroll_mapping(employees=60))) == payroll_mapping(employees=60)
