"""End-of-day settlement (U1) and its reconciliation (U2) for one merchant and business date.

Streams the day from the sources page by page into the journal builder and the reconciler, proves
every journal balanced, posts each exactly once in effect, then reconciles against what the ERP
holds. The sources and the ledger are ports; the flow never knows which ERP it talks to.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from shared.canonical.journals import Journal
from shared.errors import FatalError
from shared.flows.posting import post_once
from shared.flows.reconcile import Discrepancy, Reconciler
from shared.flows.settlement_builder import SettlementBuilder
from shared.mapping.schema import MappingConfig, PostingMode
from shared.ops.alerts import Alert, Notifier
from shared.ports import JournalLedger, Ports, SettlementSource, Table, TicketSource
from shared.storage import tables
from shared.storage.entities import Entity
from shared.storage.idempotency import IdempotencyKeys
from shared.storage.keys import safe_key

log = logging.getLogger("hl365.settlement")

SETTLEMENT_QUEUE = "eod-settlement"
"""The queue name dead letters of settlement carry; a replay of one closes its day again."""


@dataclass(frozen=True)
class Posting:
    external_key: str
    document: str
    created: bool


@dataclass
class DayResult:
    """What one run did; re-running the same day reports every journal as not ``created``."""

    merchant_id: str
    business_date: date
    journals: list[Journal] = field(default_factory=list)
    postings: list[Posting] = field(default_factory=list)
    discrepancies: list[Discrepancy] = field(default_factory=list)
    failed: dict[str, FatalError] = field(default_factory=dict)
    """Batches not posted, with why; the caller dead-letters each one."""
    transactions: int = 0
    tickets: int = 0
    deposits: int = 0

    @property
    def created(self) -> list[str]:
        return [p.document for p in self.postings if p.created]

    @property
    def already_posted(self) -> list[str]:
        return [p.document for p in self.postings if not p.created]


def close_day(
    *,
    merchant_id: str,
    business_date: date,
    mapping: MappingConfig,
    settlement: SettlementSource,
    tickets: TicketSource,
    ledger: JournalLedger,
    keys: IdempotencyKeys,
    discrepancies: Table,
    alerts: Notifier,
    foreign_currencies: tuple[str, ...] = (),
    deposit_window_days: int = 5,
    as_of: date | None = None,
    uncertain_grace: float = 30.0,
) -> DayResult:
    """Build, post and reconcile one merchant's business day.

    A batch with an unmapped name or an unbalanced journal is not posted; it comes back in
    ``DayResult.failed`` with the reason, and the day's other batches post.

    Raises:
        RetriableError: the ERP's answer was uncertain and the journal could not be found yet.
    """
    rates = {c: ledger.exchange_rate(c, mapping.base_currency, business_date) for c in foreign_currencies}
    if mapping.journal.line_limit > ledger.max_lines:
        mapping = mapping.model_copy(update={"journal": mapping.journal.model_copy(
            update={"line_limit": ledger.max_lines})})
    builder = SettlementBuilder(mapping, merchant_id=merchant_id, business_date=business_date, rates=rates)
    reconciler = Reconciler(business_date=business_date, as_of=as_of or datetime.now(UTC).date(),
                            tolerance=Decimal(mapping.amount_tolerance))
    result = DayResult(merchant_id=merchant_id, business_date=business_date)
    for transaction in settlement.settled(business_date):
        builder.add_settled(transaction)
        reconciler.add_settled(transaction)
        result.transactions += 1
    for deposit in settlement.deposits(business_date, business_date + timedelta(days=deposit_window_days)):
        builder.add_deposit(deposit)
        reconciler.add_deposit(deposit)
        result.deposits += 1
    for ticket in tickets.tickets(business_date):
        builder.add_ticket(ticket)
        reconciler.add_ticket(ticket)
        result.tickets += 1
    result.journals = builder.journals()
    result.failed = dict(builder.failures)
    for journal in result.journals:
        document, created = post_once(journal, auto_post=mapping.journal.posting_mode is PostingMode.AUTO,
                                      ledger=ledger, keys=keys, uncertain_grace=uncertain_grace)
        result.postings.append(Posting(journal.external_key, document, created))
    for journal in result.journals:
        bank = sum((line.amount for line in journal.lines if line.account == mapping.accounts.bank), Decimal(0))
        reconciler.expect_journal(journal.external_key, bank, mapping.base_currency)
        if ledger.find_journal(journal.external_key) is not None:
            reconciler.posted([journal.external_key])
    result.discrepancies = reconciler.discrepancies()
    record_discrepancies(discrepancies, merchant_id, business_date, result.discrepancies, alerts)
    return result


def journal_totals(journals: Iterable[Journal]) -> dict[str, dict[str, list[str]]]:
    """Debit and credit per currency of each journal, as the close records them for people to read later."""
    return {j.external_key: {c: [str(d), str(k)] for c, (d, k) in sorted(j.totals().items())} for j in journals}


def record_discrepancies(table: Table, merchant_id: str, business_date: date, found: list[Discrepancy],
                         alerts: Notifier) -> None:
    """Make the day's stored discrepancies exactly ``found`` and alert a summary.

    A re-run overwrites rather than duplicates, and a difference that has since cleared (a late
    deposit that arrived) is removed, so the table always shows what is still wrong.
    """
    partition = safe_key(f"{merchant_id}-{business_date:%Y%m%d}")
    current = {safe_key(d.key()) for d in found}
    for stale in [row for row in table.query(partition) if row.row_key not in current]:
        table.delete(partition, stale.row_key)
    for discrepancy in found:
        table.upsert(Entity(partition, safe_key(discrepancy.key()), {
            "Type": discrepancy.type.value, "Amount": str(discrepancy.amount), "Currency": discrepancy.currency,
            "Reference": discrepancy.reference, "Detail": discrepancy.detail,
            "FoundAt": datetime.now(UTC),
        }))
    if found:
        kinds = sorted({d.type.value for d in found})
        alerts.notify(Alert("discrepancies", f"{len(found)} discrepancies for {merchant_id} on {business_date}",
                            {"merchant": merchant_id, "date": business_date.isoformat(), "types": ", ".join(kinds)}))


def stored_discrepancies(table: Table, merchant_id: str, business_date: date) -> list[Entity]:
    return list(table.query(safe_key(f"{merchant_id}-{business_date:%Y%m%d}")))


def business_date_for(now: datetime, timezone: str) -> date:
    """The day to close: yesterday in the merchant's time zone."""
    return (now.astimezone(ZoneInfo(timezone)) - timedelta(days=1)).date()


def run_settlement(ports: Ports, business_date: date | None = None) -> DayResult:
    """The one entry point of the timer, the admin endpoint and ``hl365 settle``.

    A batch the mapping cannot place, or one that does not balance, is parked in DeadLetters with
    the reason and alerted; the day's other batches post. A replay closes the day again, and what
    was posted already is found by its key and not posted twice.
    """
    settings = ports.settings
    merchant = str(settings.require("merchant_id"))
    day = business_date or business_date_for(datetime.now(UTC), settings.merchant_timezone)
    currencies = tuple(c.strip().upper() for c in settings.foreign_currencies.split(",") if c.strip())
    result = close_day(
        merchant_id=merchant, business_date=day, mapping=ports.mapping,
        settlement=ports.settlement_source, tickets=ports.ticket_source,
        ledger=ports.journal_ledger, keys=ports.keys,
        discrepancies=ports.tables.table(tables.DISCREPANCIES), alerts=ports.alerts,
        foreign_currencies=currencies, uncertain_grace=settings.http_timeout_seconds,
    )
    for batch_id, error in sorted(result.failed.items()):
        body = json.dumps({"merchant": merchant, "date": day.isoformat(), "batch": batch_id}).encode()
        ports.dead_letters.park(queue=SETTLEMENT_QUEUE, body=body,
                                message_id=f"settlement-{merchant}-{day}-{batch_id}", reason=error.reason,
                                description=f"batch {batch_id}: {error.description}")
        ports.alerts.notify(Alert("settlement_failed", f"batch {batch_id} of {merchant} {day} was not posted: "
                                  f"{error.reason}", {"merchant": merchant, "date": day.isoformat(),
                                                       "batch": batch_id, "description": error.description}))
    ports.audit.record(step="settlement.close", event_id=f"{merchant}-{day}", correlation_id=f"{merchant}-{day}",
                       outcome="closed", detail={"journals": len(result.journals), "created": len(result.created),
                                                 "failed_batches": len(result.failed),
                                                 "discrepancies": len(result.discrepancies),
                                                 "totals": journal_totals(result.journals)})
    return result
