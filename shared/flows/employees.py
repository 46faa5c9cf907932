"""Dynamics workers kept in step with Heartland Payroll (U7): a hire is added, a change updated, a termination
terminated, each once.

The ERP's workers changed since the last run are read (``WorkerSource``); each is compared by its fingerprint
(a keyed hash, so nothing personal is stored) with what the last run sent. Payroll's employees are matched by
employee number = the ERP's personnel number, so an employee a person added by hand is linked, not added twice,
and an add whose answer was lost is found on the next run. What hl365 keeps per worker (``CrossReference``,
partition ``employee-{erp}``) is the payroll id, the fingerprint and the outcome: never a name, an SSN, a birth
date or an address. Audit records name the worker by number only.

Business Central's API holds no SSN: such a hire is reported for a person to add in Heartland Payroll with the
same employee number; the next run links it and keeps it in step.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from shared.canonical.workers import Worker, WorkerStatus
from shared.errors import FatalError, UncertainOutcome
from shared.heartland.payroll_models import EmploymentStatus, PayrollEmployee, PayTypeCode
from shared.payroll.rules import EmployeeRules
from shared.ports import PayrollEmployees, Ports, Table, WorkerSource
from shared.storage import tables
from shared.storage.entities import Entity

log = logging.getLogger("hl365.employees")

CHECKPOINT_PARTITION = "employees"


@dataclass
class EmployeesResult:
    erp: str
    read: int = 0
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    terminated: list[str] = field(default_factory=list)
    linked: list[str] = field(default_factory=list)
    unchanged: int = 0
    problems: dict[str, str] = field(default_factory=dict)
    """Worker number → why it is not in step (for a person)."""

    def summary(self) -> dict[str, object]:
        return {"erp": self.erp, "read": self.read, "added": len(self.added), "updated": len(self.updated),
                "terminated": len(self.terminated), "linked": len(self.linked), "unchanged": self.unchanged,
                "problems": dict(self.problems)}


def fingerprint_key(secret: str) -> bytes:
    """The workers' fingerprint key, derived from the audit key so no further secret is needed."""
    return hmac.new(secret.encode(), b"hl365 worker fingerprint", hashlib.sha256).digest()


def sync_employees(workers: WorkerSource, payroll: PayrollEmployees, rules: EmployeeRules, *, state: Table,
                   checkpoints: Table, key: bytes, today: date) -> EmployeesResult:
    """One pass; see the module. A worker payroll refuses is reported with payroll's words and the others go on.

    Raises:
        ApiError: the ERP's read or payroll's list failed (nothing was written; the next run starts over).
    """
    result = EmployeesResult(workers.kind)
    mark = checkpoints.get(CHECKPOINT_PARTITION, workers.kind)
    since = mark.get("Checkpoint") if mark is not None else None
    changed, next_mark = workers.changes(since)
    partition = f"employee-{workers.kind}"
    held = {row.row_key: row for row in state.query(partition)}
    seen = {worker.number for worker in changed}
    for entry in held.values():  # a worker left with a problem is tried again though the ERP did not change it
        if entry.get("Problem") and entry.get("Worker") and entry["Worker"] not in seen:
            again = workers.get(str(entry["Worker"]))
            if again is not None:
                changed.append(again)
    result.read = len(changed)
    by_number: dict[str, PayrollEmployee] | None = None
    for worker in sorted(changed, key=lambda w: w.number):
        stamp = worker.fingerprint(key)
        row = held.get(_row_key(worker.number))
        if row is not None and row.get("Fingerprint") == stamp and not row.get("Problem"):
            result.unchanged += 1
            continue
        if by_number is None:
            by_number = {e.employee_number: e for e in payroll.employees() if e.employee_number}
        try:
            known = row is not None and bool(row.get("EmployeeId"))
            outcome, employee_id = _apply(worker, by_number.get(worker.number), payroll, rules, today, result,
                                          known=known)
        except FatalError as error:  # this worker's problem (payroll refused it): the rest goes on
            result.problems[worker.number] = f"{error.reason}: {error.description}"[:500]
            outcome, employee_id = "refused", None
        except ValueError as error:  # a value payroll cannot take (an SSN that is not nine digits): the same
            result.problems[worker.number] = f"InvalidWorker: worker {worker.number}: {error}"[:500]
            outcome, employee_id = "refused", None
        except UncertainOutcome:
            outcome, employee_id = "uncertain", None  # the next run looks the employee up by number first
            result.problems[worker.number] = "payroll's answer was lost; the next run looks it up by number"
        problem = result.problems.get(worker.number)
        state.upsert(Entity(partition, _row_key(worker.number), {
            "Worker": worker.number, "EmployeeId": employee_id or (row.get("EmployeeId") if row else None) or "",
            "Fingerprint": "" if problem else stamp, "Outcome": outcome, "Problem": problem or "",
            "SyncedAt": datetime.now(UTC)}))
    if next_mark is not None:
        checkpoints.upsert(Entity(CHECKPOINT_PARTITION, workers.kind, {"Checkpoint": next_mark,
                                                                       "ReadAt": datetime.now(UTC)}))
    log.info("employees %s: %d read, %d added, %d updated, %d terminated, %d linked, %d unchanged, %d problems",
             workers.kind, result.read, len(result.added), len(result.updated), len(result.terminated),
             len(result.linked), result.unchanged, len(result.problems))
    return result


def _row_key(number: str) -> str:
    return hashlib.sha256(number.encode()).hexdigest()[:32]


def _apply(worker: Worker, current: PayrollEmployee | None, payroll: PayrollEmployees, rules: EmployeeRules,
           today: date, result: EmployeesResult, *, known: bool) -> tuple[str, str | None]:
    """Add, update or terminate one worker; returns the outcome and the payroll id. ``known``: an earlier run
    already linked it (else a payroll employee of its number was added by a person, or by an add whose answer was
    lost, and is linked now)."""
    terminated = worker.status is WorkerStatus.TERMINATED
    if current is None and known:
        raise FatalError("NotInPayroll", f"worker {worker.number} was in Heartland Payroll and no payroll employee has "
                         "that number now: check the employee number in payroll (hl365 adds nobody twice)")
    if current is not None and current.employee_id is not None:
        if terminated:
            if current.employment_status is EmploymentStatus.TERMINATED:
                return "already_terminated", current.employee_id
            on = worker.termination_date or today
            payroll.terminate_employee(current.employee_id, on, rules.termination_reason_id)
            result.terminated.append(worker.number)
            return "terminated", current.employee_id
        if current.employment_status is EmploymentStatus.TERMINATED:
            raise FatalError("Rehired", f"worker {worker.number} is active again in {worker.source} but terminated in "
                             "Heartland Payroll: rehire the employee there (hl365 does not reopen a termination)")
        payroll.update_employee(_employee(worker, rules, employee_id=current.employee_id))
        (result.updated if known else result.linked).append(worker.number)
        return "updated" if known else "linked", current.employee_id
    if terminated:
        return "never_in_payroll", None
    if worker.ssn is None:
        raise FatalError("NoSsn", f"{worker.source} holds no SSN for worker {worker.number} (its API has none): add "
                         f"the employee in Heartland Payroll with employee number {worker.number}; hl365 links it "
                         "on the next run")
    employee_id = payroll.add_employee(_employee(worker, rules))
    result.added.append(worker.number)
    return "added", employee_id


def _employee(worker: Worker, rules: EmployeeRules, *, employee_id: str | None = None) -> PayrollEmployee:
    """The worker as payroll takes it. An update (``employee_id`` given) leaves pay group, pay type and work
    location to payroll (fields left None are not sent): its people may have set them since the hire."""
    new = employee_id is None
    location = rules.work_locations.get(worker.location or "", rules.default_work_location_id) if new else None
    digits = "".join(ch for ch in worker.postal_code or "" if ch.isdigit())
    return PayrollEmployee(
        employee_id=employee_id, employee_number=worker.number, first_name=worker.first_name or "",
        last_name=worker.last_name or "", middle_name=worker.middle_name,
        ssn=worker.ssn.reveal() if worker.ssn is not None else None,
        birth_date=worker.birth_date.reveal() if worker.birth_date is not None else None,
        hire_date=worker.hire_date, address1=worker.address_line1, address2=worker.address_line2, city=worker.city,
        state_code=(worker.state or None) if len(worker.state or "") == 2 else None,
        zip_code=digits if len(digits) in (5, 9) else None,
        pay_group_id=rules.pay_group_id if new else None,
        pay_type_code=PayTypeCode(rules.pay_type_code) if new else None,
        work_location_id=location, employment_status=EmploymentStatus.ACTIVE if new else None)


def run_employee_sync(ports: Ports, erp: str | None = None) -> EmployeesResult | None:
    """``hl365 payroll employees`` and the ``employees_sync`` timer: the ERP given, else the one ``D365_TARGET``
    names; nothing to do (None) without an ERP, a ``payroll.employees`` section or Heartland Payroll settings.

    Raises:
        FatalError: ``EmployeesNotMapped`` when ``erp`` was asked for but the mapping has no ``payroll.employees``.
        ConfigError: the ERP or Heartland Payroll is not configured (when ``erp`` was asked for).
    """
    target = erp or ports.settings.d365_target
    rules = ports.mapping.payroll.employees if ports.mapping.payroll else None
    if erp is None and (target not in ("fo", "bc") or rules is None or not ports.settings.heartland_payroll_url):
        log.info("employees sync: nothing to do")
        return None
    if rules is None:
        raise FatalError("EmployeesNotMapped", "the mapping has no payroll.employees section (pay_group_id, "
                         "termination_reason_id, work_locations)")
    result = sync_employees(ports.workers(target), ports.payroll_employees, rules,
                            state=ports.tables.table(tables.CROSS_REFERENCE),
                            checkpoints=ports.tables.table(tables.CHECKPOINTS),
                            key=fingerprint_key(ports.settings.audit_key.get_secret_value()),
                            today=datetime.now(UTC).date())
    for action, numbers in (("added", result.added), ("updated", result.updated),
                            ("terminated", result.terminated), ("linked", result.linked)):
        for number in numbers:
            ports.audit.record(step=f"employee.{action}", event_id=f"{target}-{number}",
                               correlation_id=f"employees-{target}", outcome=action, detail={"worker": number})
    for number, problem in result.problems.items():
        ports.audit.record(step="employee.refused", event_id=f"{target}-{number}",
                           correlation_id=f"employees-{target}", outcome="refused",
                           detail={"worker": number, "problem": problem})
    return result
