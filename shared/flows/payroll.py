"""A payroll register into the ERP's general ledger (U7): read, proven, mapped, posted once.

Heartland Payroll has no API for completed runs, so a run arrives as its register export: a file given to
``hl365 payroll import`` or dropped into the watched container (a folder locally). Either way the same steps:

1. **Read** (``shared.payroll.register``): any problem in the file is reported as ``FILE:LINE: COLUMN: MESSAGE``,
   all of them at once, and nothing is posted.
2. **Prove** (``shared.payroll.proof``): per employee and in total, gross = net + withholdings + deductions;
   the register's own totals rows agree; employer items balance. A difference holds the run: it is stored
   with its numbers (``Discrepancies``, partition ``payroll-{client}-{run}``), alerted, and nothing is posted.
3. **Map** (``shared.payroll.journal``): one balanced journal per run, summarised by account and dimensions.
4. **Post** once under ``PR-{client}-{run}`` through the settlement's claim and look-up-after-uncertain-outcome
   (``shared.flows.posting``): a re-run, a second upload of the same file or a lost answer never posts twice.

A dry run stops after step 3 and returns the journal for a person to read.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from shared.canonical.journals import Journal
from shared.canonical.payroll import NET, PayrollDiscrepancy, Register
from shared.errors import FatalError
from shared.flows.posting import post_once
from shared.mapping.schema import PostingMode
from shared.ops.alerts import Alert
from shared.payroll.journal import build_journal, legal_entity_for, without_dimensions
from shared.payroll.proof import prove
from shared.payroll.register import RegisterError, read_register
from shared.payroll.rules import PayrollRules
from shared.ports import Ports
from shared.storage import tables
from shared.storage.entities import Entity
from shared.storage.keys import safe_key

log = logging.getLogger("hl365.payroll")

REGISTERS = "payroll-registers"
"""The container (a folder locally) a register is dropped into, and the queue name of its dead letters."""


@dataclass
class PayrollResult:
    """What one import did. ``document`` is the ERP's journal id when posted (or found posted before)."""

    source: str
    register: Register | None = None
    journal: Journal | None = None
    discrepancies: list[PayrollDiscrepancy] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    document: str | None = None
    created: bool = False
    dry_run: bool = False
    auto_posted: bool = False
    """Posted by hl365 (``journal.posting_mode: auto``), else created for a person to review and post."""

    @property
    def held(self) -> bool:
        return bool(self.discrepancies or self.problems)

    def summary(self) -> dict[str, object]:
        register = self.register
        header = register.header if register else None
        return {
            "source": self.source, "run": header.external_key if header else None,
            "check_date": header.check_date.isoformat() if header else None,
            "employees": len(register.employees) if register else 0,
            "gross": str(register.gross) if register else None,
            "net": str(register.total(*NET)) if register else None,
            "journal_lines": len(self.journal.lines) if self.journal else 0,
            "journal_balanced": _balanced(self.journal),
            "posted": self.document is not None, "created": self.created, "document": self.document,
            "dry_run": self.dry_run, "problems": list(self.problems),
            "discrepancies": [{"kind": d.kind.value, "subject": d.subject, "expected": str(d.expected),
                               "found": str(d.found), "detail": d.detail} for d in self.discrepancies],
        }


def _balanced(journal: Journal | None) -> bool | None:
    if journal is None:
        return None
    return all(debit == credit for debit, credit in journal.totals().values())


def rules_of(ports: Ports) -> PayrollRules:
    rules = ports.mapping.payroll
    if rules is None:
        raise FatalError("PayrollNotMapped", "the mapping has no payroll section: add payroll.codes (and "
                         "departments, locations) to the mapping file")
    return rules


def import_register(ports: Ports, name: str, data: bytes, *, dry_run: bool = False) -> PayrollResult:
    """``hl365 payroll import FILE`` and the watched container: one register, read, proven, mapped and (unless
    ``dry_run``) posted once. A register that cannot be read, does not prove, or that the mapping or the ERP
    refuses (an unmapped code, another legal entity, a closed period) is held: its problems are in the result and,
    unless ``dry_run``, stored, alerted and parked (by name, never its content); nothing is posted.

    Raises:
        FatalError: ``PayrollNotMapped``.
        RetriableError: the ERP was unavailable or its answer was lost; a re-run finds what landed.
    """
    rules = rules_of(ports)
    result = PayrollResult(name, dry_run=dry_run)
    try:
        register = read_register(name, data, rules)
    except RegisterError as error:
        result.problems = list(error.problems)
        _hold(ports, result, f"{len(error.problems)} problems in the register file", error.reason)
        return result
    result.register = register
    result.discrepancies = prove(register)
    if not dry_run:
        _record(ports, register, result.discrepancies)
    if result.discrepancies:
        _hold(ports, result, f"{len(result.discrepancies)} differences in the register's proof", "PayrollUnproven")
        return result
    try:
        return _post(ports, rules, result, register, dry_run=dry_run)
    except FatalError as error:  # the mapping or the ERP refuses the run: held, parked and alerted like the rest
        result.problems = [f"{error.reason}: {error.description}"]
        _hold(ports, result, "it could not be posted", error.reason)
        return result


def _post(ports: Ports, rules: PayrollRules, result: PayrollResult, register: Register, *, dry_run: bool
          ) -> PayrollResult:
    header = register.header
    entity = legal_entity_for(rules, header.client_code, ports.mapping.legal_entity)
    if entity.casefold() != ports.mapping.legal_entity.casefold():
        raise FatalError("OtherLegalEntity", f"client {header.client_code} posts to legal entity {entity}, but "
                         f"this ledger is {ports.mapping.legal_entity}")
    journal = build_journal(register, rules, legal_entity=entity)
    ledger = ports.journal_ledger
    if len(journal.lines) > ledger.max_lines:  # one run is one journal: fewer lines, not parts
        journal = without_dimensions(journal)
        if len(journal.lines) > ledger.max_lines:
            raise FatalError("JournalTooLong", f"{header.external_key}: {len(journal.lines)} lines, more than one "
                             f"journal of this ERP holds ({ledger.max_lines}); set payroll.employee_lines false")
    result.journal = journal
    if dry_run:
        return result
    auto = result.auto_posted = ports.mapping.journal.posting_mode is PostingMode.AUTO
    result.document, result.created = post_once(journal, auto_post=auto, ledger=ledger, keys=ports.keys,
                                                uncertain_grace=ports.settings.http_timeout_seconds)
    ports.audit.record(step="payroll.post", event_id=header.external_key, correlation_id=header.external_key,
                       outcome=("posted" if auto else "created") if result.created else "already_there",
                       detail={"source": result.source, "employees": len(register.employees),
                               "gross": str(register.gross), "check_date": header.check_date.isoformat(),
                               "document": result.document, "lines": len(journal.lines)})
    log.info("payroll %s: %s (%d employees, gross %s) as %s", header.external_key,
             "posted" if result.created else "already posted", len(register.employees), register.gross,
             result.document)
    return result


def _record(ports: Ports, register: Register, found: list[PayrollDiscrepancy]) -> None:
    """Make the run's stored discrepancies exactly ``found`` (a corrected re-import clears them)."""
    table = ports.tables.table(tables.DISCREPANCIES)
    partition = safe_key(f"payroll-{register.header.client_code}-{register.header.run_id}")
    keys = {safe_key(f"{d.kind.value}-{d.subject}") for d in found}
    for stale in [row for row in table.query(partition) if row.row_key not in keys]:
        table.delete(partition, stale.row_key)
    for discrepancy in found:
        table.upsert(Entity(partition, safe_key(f"{discrepancy.kind.value}-{discrepancy.subject}"), {
            "Type": discrepancy.kind.value, "Subject": discrepancy.subject, "Expected": str(discrepancy.expected),
            "Found": str(discrepancy.found), "Difference": str(discrepancy.difference),
            "Detail": discrepancy.detail, "Where": ", ".join(discrepancy.where)[:1000],
            "FoundAt": datetime.now(UTC)}))


def _hold(ports: Ports, result: PayrollResult, what: str, reason: str) -> None:
    """Park the run by its file's name (never its content: a register carries pay) and alert; a dry run only
    reports."""
    if result.dry_run:
        return
    header = result.register.header if result.register else None
    run = header.external_key if header else result.source
    # A file's problems name lines and columns; a proof's differences name only their kind and subject (the
    # amounts are pay: they stay in Discrepancies, read by those who may see them).
    details = result.problems or [f"{d.kind.value} {d.subject}" for d in result.discrepancies]
    description = f"{run}: {what}; nothing was posted. " + "; ".join(details[:20])
    ports.dead_letters.park(queue=REGISTERS, body=json.dumps({"register": result.source}).encode(),
                            message_id=f"payroll-{run}", reason=reason, description=description)
    ports.alerts.notify(Alert("payroll_held", f"payroll {run} was not posted: {what}",
                              {"register": result.source, "run": run, "reason": reason}))
    ports.audit.record(step="payroll.hold", event_id=run, correlation_id=run, outcome="held",
                       detail={"source": result.source, "reason": reason, "problems": len(result.problems),
                               "discrepancies": len(result.discrepancies)})
    log.warning("payroll %s held: %s", run, what)


def posted_gross(journal: Journal, rules: PayrollRules) -> Decimal:
    """The earnings a journal debits (less what it credits back to earnings accounts): what reached the ledger
    as gross pay, to compare with the register's gross."""
    accounts = set(rules.codes.earning.values())
    return sum((line.debit - line.credit for line in journal.lines if line.account in accounts), Decimal(0))


