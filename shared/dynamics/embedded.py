"""The embedded ledger: records payments in the ``Postings`` table when no Dynamics target is set."""

from __future__ import annotations

from datetime import UTC, datetime

from shared.canonical.payments import Payment
from shared.storage.errors import EntityExists
from shared.storage.port import Entity, Table

TABLE = "Postings"
PARTITION = "payments"


class EmbeddedLedger:
    """One row per external key: insert-if-absent makes a second post of the same payment a no-op."""

    def __init__(self, table: Table) -> None:
        self._table = table

    def find(self, external_key: str) -> str | None:
        row = self._table.get(PARTITION, external_key)
        return None if row is None else str(row["DocumentNo"])

    def post(self, payment: Payment) -> str:
        document = f"PAY-{payment.transaction_id}"
        row = Entity(
            PARTITION,
            payment.external_key,
            {
                "DocumentNo": document,
                "MerchantId": payment.merchant_id,
                "Kind": payment.kind.value,
                "Status": payment.status.value,
                "Amount": str(payment.amount.amount),
                "Currency": payment.amount.currency,
                "Reference": payment.reference or "",
                "PostedAt": datetime.now(UTC),
            },
        )
        try:
            self._table.insert(row)
        except EntityExists:
            return self.find(payment.external_key) or document
        return document

    def postings(self) -> list[Entity]:
        return list(self._table.query(PARTITION))
