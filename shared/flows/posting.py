"""Posting a document to an ERP exactly once in effect: a settlement journal, a day's POS sales as an inventory
movement. One claim per document key; after an uncertain outcome the ERP is asked before anything is written
again."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol, TypeVar

from shared.errors import FatalError, RetriableError, UncertainOutcome
from shared.storage.idempotency import IdempotencyKeys, LeaseLost

log = logging.getLogger("hl365.posting")


class Postable(Protocol):
    @property
    def external_key(self) -> str: ...

    @property
    def claim_partition(self) -> str: ...


D = TypeVar("D", bound=Postable, contravariant=True)


class DocumentLedger(Protocol[D]):
    """Where documents of one kind land; ``JournalLedger`` and ``StockJournal`` are two."""

    def find_journal(self, external_key: str) -> str | None: ...

    def create_journal(self, journal: D) -> str: ...

    def post_journal(self, document_id: str) -> None: ...


P = TypeVar("P", bound=Postable)


def post_once(journal: P, *, auto_post: bool, ledger: DocumentLedger[P], keys: IdempotencyKeys,
              uncertain_grace: float = 30.0) -> tuple[str, bool]:
    """Create (and with ``auto_post``, post) a document exactly once in effect.

    Returns the ERP document id and whether this call created it. After an uncertain outcome the
    document is looked up by its external key before anything is written again; if it is not there yet,
    the key stays held ``uncertain_grace`` seconds, the time a slow write may still take to land.
    """
    with keys.renewing() as renewing:  # a large journal may take longer than a lease to create and post
        return _post_once(journal, auto_post=auto_post, ledger=ledger, keys=renewing, uncertain_grace=uncertain_grace)


def _post_once(journal: P, *, auto_post: bool, ledger: DocumentLedger[P], keys: IdempotencyKeys,
               uncertain_grace: float) -> tuple[str, bool]:
    claim = keys.claim(journal.claim_partition, journal.external_key)
    if claim.duplicate:
        return claim.result_ref or "", False
    if not claim.acquired:
        raise RetriableError("JournalBusy", f"{journal.external_key} is being posted by another run")
    try:
        document = ledger.find_journal(journal.external_key)
        created = document is None
        if document is None:
            document = _create(ledger, journal)
        if document is not None and auto_post:
            ledger.post_journal(document)
    except (FatalError, RetriableError) as error:
        # The key goes back with the attempt counted, so the next run need not wait out the lease.
        reason = f"{error.reason}: {error.description}"[:1000]
        _settle(journal, lambda: keys.fail(claim, reason))
        raise
    if document is None:
        # A write that timed out may still land: nobody writes again before it could have, and the next run,
        # a retry delay later, looks again first.
        _settle(journal, lambda: keys.hold(claim, uncertain_grace,
                                           "the ERP's answer was lost and the journal was not there yet"))
        raise RetriableError("JournalUncertain", f"{journal.external_key}: the ERP's answer was lost and the "
                             "journal is not there yet; the next run looks again")
    _settle(journal, lambda: keys.complete(claim, document))
    return document, created


def _create(ledger: DocumentLedger[P], journal: P) -> str | None:
    """Create the document; ``None`` when the answer was lost and a look-up does not find it (yet)."""
    try:
        return ledger.create_journal(journal)
    except UncertainOutcome:
        return ledger.find_journal(journal.external_key)


def _settle(journal: Postable, settle: Callable[[], object]) -> None:
    try:
        settle()
    except LeaseLost:
        log.warning("lease on %s ran out while posting; its successor asks the ERP", journal.external_key)
