"""A ledger kept in the ``Postings`` table: where payments and journals land when no Dynamics target is set
(the embedded defaults and the tests)."""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal

from shared.canonical.journals import Journal
from shared.canonical.payments import Payment, PaymentStatus
from shared.errors import FatalError
from shared.ports import Table
from shared.storage.entities import Condition, Entity
from shared.storage.errors import EntityExists
from shared.storage.keys import safe_key

PARTITION = "payments"


class TableLedger:
    """One row per external key: insert-if-absent makes a second post of the same payment a no-op."""

    def __init__(self, table: Table) -> None:
        self._table = table

    def find(self, external_keys: Collection[str]) -> dict[str, str]:
        found = {}
        for key in external_keys:
            row = self._table.get(PARTITION, key)
            if row is not None:
                found[key] = str(row["DocumentNo"])
        return found

    def post(self, payments: Sequence[Payment]) -> dict[str, str | FatalError]:
        """A capture books the payment; a reversal books its reverse entry under its own key."""
        return {payment.external_key: self._post_one(payment) for payment in payments}

    def _post_one(self, payment: Payment) -> str:
        reversal = payment.status is PaymentStatus.REVERSED
        document = f"PAY-{payment.transaction_id}" + ("-REV" if reversal else "")
        row = Entity(
            PARTITION,
            payment.external_key,
            {
                "DocumentNo": document,
                "MerchantId": payment.merchant_id,
                "Kind": "reversal" if reversal else payment.kind.value,
                "Status": payment.status.value,
                "Amount": str(payment.received.amount),
                "Currency": payment.amount.currency,
                "Reference": payment.reference or "",
                "Text": payment.note or "",
                "PostedAt": datetime.now(UTC),
            },
        )
        try:
            self._table.insert(row)
        except EntityExists:
            return self.find([payment.external_key]).get(payment.external_key, document)
        return document

    def postings(self) -> list[Entity]:
        return list(self._table.query(PARTITION))


JOURNALS_PARTITION = "journals"


class TableJournals:
    """Journals recorded in the ``Postings`` table.

    Each journal is one row keyed by its external key, written with insert-if-absent, so creating
    the same journal twice leaves one row.
    """

    max_lines = 10_000

    def __init__(self, table: Table, *, rates: dict[str, Decimal] | None = None) -> None:
        self._table = table
        self._rates = dict(rates or {})

    def find_journal(self, external_key: str) -> str | None:
        row = self._table.get(JOURNALS_PARTITION, safe_key(external_key))
        return None if row is None else str(row["DocumentNo"])

    def create_journal(self, journal: Journal) -> str:
        document = f"GJ-{journal.external_key}"
        row = Entity(JOURNALS_PARTITION, safe_key(journal.external_key), {
            "DocumentNo": document,
            "BatchId": journal.batch_id,
            "BusinessDate": journal.business_date.isoformat(),
            "Lines": len(journal.lines),
            "Totals": json.dumps({c: [str(d), str(k)] for c, (d, k) in sorted(journal.totals().items())}),
            "Posted": False,
        })
        try:
            self._table.insert(row)
        except EntityExists:
            return self.find_journal(journal.external_key) or document
        return document

    def post_journal(self, document_id: str) -> None:
        for row in self._table.query(JOURNALS_PARTITION, [Condition("DocumentNo", "eq", document_id)]):
            self._table.upsert(Entity(row.partition_key, row.row_key, {**row.data, "Posted": True}), etag=row.etag)

    def exchange_rate(self, currency: str, base_currency: str, on: date) -> Decimal:
        if currency == base_currency:
            return Decimal(1)
        if currency not in self._rates:
            raise FatalError("NoExchangeRate", f"no {currency}/{base_currency} exchange rate for {on}")
        return self._rates[currency]

    def recorded(self) -> list[Entity]:
        """Every journal row: document number, batch, line count, debit and credit totals per currency."""
        return list(self._table.query(JOURNALS_PARTITION))
