"""Dynamics workers into Heartland Payroll end to end: the ERP simulator over HTTPS, the payroll simulator over
HTTP, the real clients built by the wiring from app settings. The payroll simulator's decrypted records are the
ground truth; every byte hl365 wrote and every log line are searched for the SSNs it carried."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from sandbox.scenario.contoso import EMPLOYEES
from sandbox.simulators.base import SimulatorApp, serve
from sandbox.simulators.bc import BusinessCentral
from sandbox.simulators.bc import create as create_bc
from sandbox.simulators.fo import create as create_fo
from sandbox.simulators.payroll import DEFAULT_API_KEY, DEFAULT_CLIENT_CODE, DEFAULT_PASSWORD, DEFAULT_USERNAME
from sandbox.simulators.payroll import create as create_payroll
from sandbox.simulators.payroll import simulator as payroll_sim
from sandbox.simulators.tls import SandboxCA
from shared import wiring
from shared.flows.employees import EmployeesResult, run_employee_sync
from tests.loopback import dynamics_environment

ROOT = Path(__file__).parents[2]
NEW_SSN = "987-65-4327"


@dataclass
class World:
    erp: str
    erp_app: SimulatorApp
    payroll_app: SimulatorApp
    data_dir: Path

    def sync(self) -> EmployeesResult:
        result = run_employee_sync(wiring.services(), self.erp)
        assert result is not None
        return result

    def in_payroll(self, number: str) -> dict[str, Any] | None:
        return payroll_sim(self.payroll_app).employee_record(number)

    def payroll_writes(self) -> int:
        return sum(n for route, n in self.payroll_app.requests.items()
                   if any(verb in route for verb in ("AddEmployee", "UpdateEmployee", "TerminateEmployee")))


@pytest.fixture(params=["fo", "bc"])
def world(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    erp: str = request.param
    erp_app = create_fo(seed=8, event_interval=None) if erp == "fo" else create_bc(seed=8)
    payroll_app = create_payroll(seed=8)
    with SandboxCA() as tls:
        dynamics, payroll = serve(erp_app, tls=tls), serve(payroll_app)
        dynamics_environment(monkeypatch, erp_url=dynamics.url, ca_bundle=tls.ca_bundle,
                             data_dir=tmp_path / "data", target=erp, HEARTLAND_PAYROLL_URL=payroll.url,
                             HEARTLAND_PAYROLL_USERNAME=DEFAULT_USERNAME, HEARTLAND_PAYROLL_PASSWORD=DEFAULT_PASSWORD,
                             HEARTLAND_PAYROLL_API_KEY=DEFAULT_API_KEY,
                             HEARTLAND_PAYROLL_CLIENT_CODE=DEFAULT_CLIENT_CODE)
        try:
            yield World(erp, erp_app, payroll_app, tmp_path / "data")
        finally:
            wiring.reset()
            dynamics.stop()
            payroll.stop()
            if isinstance(erp_app.simulated, BusinessCentral):
                erp_app.simulated.close()


def fo_numbers(world: World) -> list[str]:
    sim: Any = world.erp_app.simulated
    return sorted(row["PersonnelNumber"] for row in sim.rows("Workers"))


@pytest.mark.parametrize("world", ["fo"], indirect=True)
def test_hires_changes_and_terminations_reach_payroll_once(world: World) -> None:
    first = world.sync()
    numbers = fo_numbers(world)
    assert sorted(first.added) == numbers and first.problems == {}
    held = world.in_payroll(numbers[0])
    assert held is not None and held["Ssn"].replace("-", "") == EMPLOYEES[0][4].replace("-", "")
    writes = world.payroll_writes()
    again = world.sync()
    assert again.unchanged == len(numbers) and world.payroll_writes() == writes, "an unchanged worker was sent again"
    sim: Any = world.erp_app.simulated
    hired = sim.add_employee("Lee", "Park", hired=date(2026, 11, 2), company="usmf", birth_date=date(1999, 4, 1),
                             ssn=NEW_SSN, AddressStreet="9 Elm St", AddressCity="Tacoma", AddressState="WA",
                             AddressZipCode="98402")["PersonnelNumber"]
    sim.update_employee(numbers[1], company="usmf", AddressCity="Redmond")
    sim.terminate_employee(numbers[2], date(2026, 11, 30), company="usmf")
    third = world.sync()
    assert (third.added, third.updated, third.terminated) == ([hired], [numbers[1]], [numbers[2]])
    moved = world.in_payroll(numbers[1])
    gone = world.in_payroll(numbers[2])
    assert moved is not None and moved["City"] == "Redmond"
    assert gone is not None and gone["EmploymentStatus"] == "T"
    assert world.sync().unchanged >= len(numbers)


@pytest.mark.parametrize("world", ["fo"], indirect=True)
def test_no_ssn_reaches_a_log_a_queue_an_audit_record_or_a_table(world: World, caplog: pytest.LogCaptureFixture
                                                                 ) -> None:
    caplog.set_level(logging.DEBUG)
    sim: Any = world.erp_app.simulated
    world.sync()
    sim.add_employee("Lee", "Park", hired=date(2026, 11, 2), company="usmf", ssn=NEW_SSN)
    world.sync()
    ssns = [ssn for *_, ssn, _ in EMPLOYEES] + [NEW_SSN]
    forms = {form for ssn in ssns for form in (ssn, ssn.replace("-", ""), ssn.replace("-", " "))}
    logged = "\n".join(record.getMessage() + repr(record.args) for record in caplog.records)
    assert caplog.records, "nothing was logged: the search below would prove nothing"
    assert not [form for form in forms if form in logged], "an SSN reached a log line"
    written = [path for path in world.data_dir.rglob("*") if path.is_file()]
    assert any(path.suffix in (".sqlite", ".db") or "sqlite" in path.name for path in written), written
    for path in written:  # tables (audit, cross-reference, checkpoints, dead letters) and the embedded bus
        content = path.read_bytes()
        assert not [form for form in forms if form.encode() in content], f"an SSN is stored in {path.name}"
    import json

    state = json.dumps(payroll_sim(world.payroll_app).state(), default=str)
    assert not [form for form in forms if form in state], "the payroll simulator keeps an SSN in clear"


@pytest.mark.parametrize("world", ["bc"], indirect=True)
def test_a_business_central_hire_without_an_ssn_is_reported_then_linked_once_a_person_adds_it(world: World) -> None:
    sim: Any = world.erp_app.simulated
    sim.add_employee("E900", "Kim", "Lee", employment_date=date(2026, 11, 2), addressLine1="4 Bay Rd", city="Fargo",
                     state="ND", postalCode="58102")
    first = world.sync()
    assert "E900" in first.problems and "Heartland Payroll with employee number E900" in first.problems["E900"]
    assert world.in_payroll("E900") is None
    payroll_sim(world.payroll_app).hire(EmployeeNumber="E900", FirstName="Kim", LastName="Lee", SSN="987654328",
                                        HireDate="2026-11-02", PayTypeCode="S", PayGroupId=202,
                                        PerPaySalary="2000.00")  # a person adds the hire, salaried
    second = world.sync()
    assert second.linked == ["E900"] and second.problems == {}
    linked = world.in_payroll("E900")
    assert linked is not None and (linked["PayTypeCode"], linked["PayGroupId"]) == ("S", 202), (
        "linking overwrote what payroll's people set")
    sim.terminate_employee("E900", date(2026, 12, 1))
    third = world.sync()
    record = world.in_payroll("E900")
    assert third.terminated == ["E900"] and record is not None and record["EmploymentStatus"] == "T"
    sim.update_employee("E900", status="Active", terminationDate=None)  # rehired in Business Central
    fourth = world.sync()
    assert "E900" in fourth.problems and "rehire the employee there" in fourth.problems["E900"]
