"""The ledger port: where a canonical payment lands in the ERP, found again by its external key."""

from __future__ import annotations

from typing import Protocol

from shared.canonical.payments import Payment


class PaymentLedger(Protocol):
    def find(self, external_key: str) -> str | None:
        """The ERP's reference of what was posted under ``external_key``, or None.

        Asked after an uncertain outcome, before writing again.
        """
        ...

    def post(self, payment: Payment) -> str:
        """Post once and return the ERP's reference; ``payment.external_key`` is written into the record."""
        ...
