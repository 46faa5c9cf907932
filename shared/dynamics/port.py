"""The ledger port: where a canonical payment lands in the ERP, found again by its external key."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from shared.canonical.payments import Payment
from shared.errors import FatalError


class PaymentLedger(Protocol):
    def find(self, external_key: str) -> str | None:
        """The ERP's reference of what was posted under ``external_key``, or None.

        Asked after an uncertain outcome, before writing again.
        """
        ...

    def post(self, payments: Sequence[Payment]) -> Mapping[str, str | FatalError]:
        """Post the payments together, in one journal where the ERP has them, each under its external key.

        Returns, per external key, the ERP's reference, or the ``FatalError`` that refused that payment alone
        (an unknown order, an unmapped card brand); the others are posted.

        Raises:
            PermanentApiError: the ERP refused the journal as a whole; nothing was posted. Posting the
                payments one by one tells which of them the ERP refuses.
            RetriableError: throttled or unavailable (nothing was posted), or ``UncertainOutcome``.
        """
        ...
