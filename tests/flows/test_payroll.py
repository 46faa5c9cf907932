"""A payroll register into each ERP end to end: the app settings name the ERP simulator (over HTTPS, as in Azure),
the wiring builds the real clients, and the simulators' own journals are the ground truth."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from sandbox.scenario.payroll import PAYROLL_ACCOUNTS, generate_register, malformed_register
from sandbox.simulators.base import SimulatorApp, serve
from sandbox.simulators.bc import BusinessCentral
from sandbox.simulators.bc import create as create_bc
from sandbox.simulators.fo import FinanceOperations
from sandbox.simulators.fo import create as create_fo
from sandbox.simulators.tls import SandboxCA
from shared import wiring
from shared.flows.payroll import PayrollResult, import_register
from shared.storage import tables
from tests.loopback import dynamics_environment

ROOT = Path(__file__).parents[2]
CHECK_DATE = date(2026, 11, 20)


@dataclass
class Erp:
    kind: str
    app: SimulatorApp

    def journals(self) -> list[dict[str, Any]]:
        """Every journal the ERP holds as (key, lines with signed amounts)."""
        sim = self.app.simulated
        if isinstance(sim, FinanceOperations):
            return [{"key": j["IntegrationKey"], "balanced": j["balanced"],
                     "lines": [(line["AccountDisplayValue"].split("-")[0],
                                Decimal(line["DebitAmount"]) - Decimal(line["CreditAmount"]))
                               for line in j["lines"]]} for j in sim.journals("ledger")]
        assert isinstance(sim, BusinessCentral)
        found = []
        for journal in sim.records("journals"):
            lines = sim.journal_lines(journal["code"])
            if lines:
                amounts = [(line["accountNumber"], Decimal(str(line["amount"]))) for line in lines]
                found.append({"key": journal["displayName"], "balanced": sum(a for _, a in amounts) == 0,
                              "lines": amounts})
        return found


@pytest.fixture(params=["fo", "bc"])
def erp(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Erp]:
    kind: str = request.param
    app = create_fo(seed=6, event_interval=None) if kind == "fo" else create_bc(seed=6)
    sim: Any = app.simulated
    for account, name, account_type in PAYROLL_ACCOUNTS:
        if kind == "fo":
            sim.add_main_account(account, name, account_type=account_type)
        else:
            sim.add_account(account, name)
    if kind == "bc":
        for account in ("601100", "601300", "601500", "240100"):
            if not sim.records("accounts", number=account):
                sim.add_account(account, f"hl365 {account}")
    with SandboxCA() as tls:
        server = serve(app, tls=tls)
        dynamics_environment(monkeypatch, erp_url=server.url, ca_bundle=tls.ca_bundle, data_dir=tmp_path / "data",
                             target=kind)
        try:
            yield Erp(kind, app)
        finally:
            wiring.reset()
            server.stop()
            if isinstance(sim, BusinessCentral):
                sim.close()


def run(data: bytes, name: str = "register.csv", *, dry_run: bool = False) -> PayrollResult:
    return import_register(wiring.services(), name, data, dry_run=dry_run)


def test_a_500_employee_register_posts_once_balanced_with_the_registers_gross(erp: Erp) -> None:
    data, facts = generate_register(employees=500, seed=7, check_date=CHECK_DATE)
    assert facts["employees"] == 500 and len(facts["departments"]) == 6 and len(facts["locations"]) == 3
    first = run(data)
    assert first.created and first.document and not first.held
    [journal] = erp.journals()
    assert journal["key"] == "PR-HLD001-" + str(facts["run_id"]) and journal["balanced"]
    earnings = {"601100", "601110", "601120", "601130"}  # REG, OT, BONUS, PTO; tips go through their clearing
    tips = sum((amount for account, amount in journal["lines"] if account == "240150" and amount > 0), Decimal(0))
    posted_gross = sum((amount for account, amount in journal["lines"] if account in earnings), Decimal(0)) + tips
    assert posted_gross == facts["gross"]
    again = run(data, "register-uploaded-again.csv")
    assert not again.created and again.document == first.document
    assert len(erp.journals()) == 1, "a second import of the run posted it again"


def test_a_dry_run_prints_the_journal_and_posts_nothing(erp: Erp) -> None:
    data, _ = generate_register(employees=40, seed=3, check_date=CHECK_DATE)
    result = run(data, dry_run=True)
    assert result.journal is not None and result.document is None and erp.journals() == []
    assert sum((line.debit for line in result.journal.lines), Decimal(0)) == sum(
        (line.credit for line in result.journal.lines), Decimal(0))


def test_a_malformed_register_reports_every_error_with_its_line_and_posts_nothing(erp: Erp) -> None:
    data, expected = malformed_register(seed=7, check_date=CHECK_DATE)
    result = run(data, "bad.csv")
    assert result.held and result.document is None and erp.journals() == []
    found = {problem.split(": ", 2)[0] + ": " + problem.split(": ", 2)[1] for problem in result.problems}
    assert {f"bad.csv:{where}" for where in expected} <= found


def test_a_register_that_does_not_prove_is_held_with_its_differences(erp: Erp) -> None:
    data, _ = generate_register(employees=30, seed=5, check_date=CHECK_DATE)
    text = data.decode()
    head, first, *rest = text.splitlines()
    columns = head.split(",")
    cells = first.split(",")
    amount = columns.index("amount")
    cells[amount] = str(Decimal(cells[amount]) + Decimal("3.00"))  # the first line is off by 3.00
    result = run("\n".join([head, ",".join(cells), *rest]).encode())
    assert result.held and result.document is None and erp.journals() == []
    kinds = {d.kind.value for d in result.discrepancies}
    assert "employee_unbalanced" in kinds
    stored = list(wiring.services().tables.table(tables.DISCREPANCIES).query(
        f"payroll-HLD001-{result.register.header.run_id}" if result.register else ""))
    assert {row["Type"] for row in stored} == kinds
    assert any(row["Difference"] in ("3.00", "-3.00") for row in stored)


def test_a_dry_run_of_a_bad_register_reports_its_problems_and_parks_nothing(erp: Erp) -> None:
    data, expected = malformed_register(seed=7, check_date=CHECK_DATE)
    result = run(data, "bad.csv", dry_run=True)
    assert result.held and len(result.problems) >= len(expected) and erp.journals() == []
    assert list(wiring.services().dead_letters.list(days=1)) == [], "a preview was parked as a failure"
    real = run(data, "bad.csv")
    assert real.held and [row["Reason"] for row in wiring.services().dead_letters.list(days=1)] == ["RegisterInvalid"]
