"""The demo day's payroll: a run whose check date is the demo's date, dropped into the watched folder as a register
export would be, dropped again (a second upload posts nothing), and the day's employee changes in the ERP kept in
step with the payroll simulator. The ERP's own journals are the ground truth of what was posted."""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sandbox.host import LocalHost
from sandbox.scenario.payroll import generate_register
from sandbox.simulators.base import SimulatorApp
from shared.errors import IntegrationError
from shared.flows.employees import EmployeesResult, run_employee_sync
from shared.flows.payroll import REGISTERS
from shared.ports import Ports
from shared.storage import tables

EMPLOYEES = 500
Journals = Callable[[str, SimulatorApp, str], list[dict[str, Any]]]


def run(erp: str, apps: dict[str, SimulatorApp], host: LocalHost, ports: Ports, *, day: date, seed: int,
        journals: Journals) -> dict[str, Any]:
    """The report's ``payroll`` part and its invariant (``payroll_ok``)."""
    try:
        return _run(erp, apps, host, ports, day=day, seed=seed, journals=journals)
    except IntegrationError as error:
        return {"payroll": {"error": f"{type(error).__name__}: {error}"}, "payroll_ok": False}


def _run(erp: str, apps: dict[str, SimulatorApp], host: LocalHost, ports: Ports, *, day: date, seed: int,
         journals: Journals) -> dict[str, Any]:
    data, facts = generate_register(employees=EMPLOYEES, seed=seed, check_date=day)
    name = f"register-{facts['client_code']}-{facts['run_id']}.csv"
    folder = host.blob_folder(REGISTERS)
    folder.mkdir(parents=True, exist_ok=True)
    for upload in (name, f"again-{name}"):  # the export uploaded, then uploaded again once it was handled
        _upload(host, folder, upload, data)
    key = f"PR-{facts['client_code']}-{facts['run_id']}"
    posted = [j for j in journals(erp, apps[erp], "PR-") if j["key"] == key]
    rules = ports.mapping.payroll
    earning_accounts = set(rules.codes.earning.values()) if rules else set()
    posted_gross = sum((_earnings(j, earning_accounts) for j in posted), Decimal(0))
    stored = list(ports.tables.table(tables.DISCREPANCIES).query(f"payroll-{facts['client_code']}-{facts['run_id']}"))
    changes = _employee_day(erp, apps, ports, day, seed)
    part = {
        "runs": len(posted), "registers_processed": len(list((folder / "processed").glob("*.csv"))),
        "registers_failed": len(list((folder / "failed").glob("*.csv"))), "employees": facts["employees"],
        "gross": str(facts["gross"]), "posted_gross": str(posted_gross),
        "journal_balanced": bool(posted) and all(j["balanced"] for j in posted),
        "journal_lines": sum(len(j["lines"]) for j in posted),
        "discrepancies": len(stored), "employee_changes": changes,
    }
    second = changes.get("second_run", {})
    ok = (len(posted) == 1 and part["registers_processed"] == 2 and posted_gross == facts["gross"]
          and part["journal_balanced"] and not stored
          and changes.get("in_step", False) and second.get("added", 1) == 0 and second.get("updated", 1) == 0
          and second.get("terminated", 1) == 0)
    return {"payroll": part, "payroll_ok": ok}


def _upload(host: LocalHost, folder: Path, name: str, data: bytes) -> None:
    """Put a register into the watched folder as a finished upload and wait until a watcher has handled it."""
    path = folder / name
    path.write_bytes(data)
    copied = time.time() - 5  # the upload finished a moment ago
    os.utime(path, (copied, copied))
    deadline = time.monotonic() + 120
    while (path.exists() or (folder / ".inflight" / name).exists()) and time.monotonic() < deadline:
        host.process_blobs(REGISTERS)  # beside the host's own watchers: whoever claims the file first
        time.sleep(0.1)


def _earnings(journal: dict[str, Any], accounts: set[str]) -> Decimal:
    """Gross pay as the ERP holds it: what the journal debits to the earnings' accounts (a clearing account that
    cash tips share with their offsetting deduction counts its debits only)."""
    return sum((amount for account, amount, _ in journal["amounts"]
                if account.split("-")[0] in accounts and amount > 0), Decimal(0))


def _employee_day(erp: str, apps: dict[str, SimulatorApp], ports: Ports, day: date, seed: int) -> dict[str, Any]:
    """The ERP's HR day (a hire, a change, a termination), synced, then synced again (nothing left to send)."""
    rng = random.Random(f"{seed}:employees")
    sim: Any = apps[erp].simulated
    payroll: Any = apps["payroll"].simulated
    first = _sync(ports, erp)
    if erp == "fo":
        numbers = sorted(row["PersonnelNumber"] for row in sim.rows("Workers"))
        hired = sim.add_employee("Lee", f"Park{seed % 100}", hired=day, company="usmf",
                                 birth_date=date(1990 + rng.randrange(10), 1 + rng.randrange(12), 1),
                                 ssn=f"987-65-{4323 + rng.randrange(6)}", AddressStreet="9 Elm St",
                                 AddressCity="Tacoma", AddressState="WA", AddressZipCode="98402")["PersonnelNumber"]
        sim.update_employee(numbers[1], company="usmf", AddressCity="Redmond")
        sim.terminate_employee(numbers[-1], day, company="usmf")
        changed, left = numbers[1], numbers[-1]
    else:
        for number, given in (("E900", "Kim"), ("E901", "Sam")):
            sim.add_employee(number, given, "Lee", employment_date=day - timedelta(days=30), city="Fargo",
                             state="ND", postalCode="58102")
        reported = _sync(ports, erp)  # Business Central holds no SSN: a person adds them in payroll
        for number in sorted(reported.problems):
            payroll.hire(EmployeeNumber=number, FirstName="Kim", LastName="Lee", SSN="98765432" + number[-1],
                         HireDate=(day - timedelta(days=30)).isoformat(), PayTypeCode="H", PayGroupId=201)
        hired = "E902"
        sim.add_employee(hired, "Ada", "Lee", employment_date=day, city="Fargo", state="ND", postalCode="58102")
        sim.update_employee("E900", city="Moorhead")
        sim.terminate_employee("E901", day)
        changed, left = "E900", "E901"
    third = _sync(ports, erp)
    again = _sync(ports, erp)
    in_payroll = payroll.employee_record(changed)
    gone = payroll.employee_record(left)
    in_step = (in_payroll is not None and in_payroll["City"] in ("Redmond", "Moorhead")
               and gone is not None and gone["EmploymentStatus"] == "T")
    return {"first_run": first.summary(), "changes_run": third.summary(), "second_run": again.summary(),
            "hired": hired, "changed": changed, "terminated": left, "in_step": in_step}


def _sync(ports: Ports, erp: str) -> EmployeesResult:
    result = run_employee_sync(ports, erp)
    assert result is not None
    return result
