"""The ledger port: where a canonical payment lands in the ERP, found again by its external key."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from typing import Protocol

from shared.canonical.payments import Payment
from shared.errors import FatalError

LOOKUP_CHUNK = 40
"""External keys asked in one ``$filter``: a few requests for a whole micro-batch, each URL well under limits."""


class PaymentLedger(Protocol):
    def find(self, external_keys: Collection[str]) -> dict[str, str]:
        """The ERP's reference of each of ``external_keys`` that was posted; absent keys are left out.

        Asked after an uncertain outcome, before writing again: a few requests for a whole micro-batch, so a
        throttled ERP is asked little while it recovers.
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


def chunks(keys: Collection[str], size: int = LOOKUP_CHUNK) -> Iterator[list[str]]:
    """``keys`` sorted and cut into ``$filter``-sized lists."""
    ordered = sorted(set(keys))
    for start in range(0, len(ordered), size):
        yield ordered[start:start + size]
