"""The ordering rule for the events of one card transaction: the only place it is decided.

GP notifies a capture, its refunds and its reversal in any order, some of them twice; several workers
handle them at once, any of them may lose the ERP's answer or die, and a dead worker's claim is taken
over when its lease runs out. The rule:

* a capture (its batching and funding are the same effect) posts ``HPY-{id}``;
* a refund is a transaction of its own and posts ``HPY-{refund}`` whenever it arrives;
* a reversal posts the reverse entry ``HPY-{id}-REV`` once the capture is posted, or in the same journal;
* a reversal that finds no capture posted voids both keys, so the capture, when it comes, posts nothing.

Invariant: once every event has been handled, the customer ledger's lines under a transaction's keys
net to what the gateway did (its amount; zero once reversed; a refund minus its amount on its own key),
and no key is written twice. It holds because a key is written only under a claim its writer holds,
after asking the ERP whenever an earlier attempt may have written it; and because a void is decided
under the capture's own claim, and, when that claim was taken over from an earlier attempt, only after
the ERP has said the capture is not there. A live worker renews its claims while it works
(``IdempotencyKeys.renewing``), so only a dead worker's claim is taken over; the rule assumes what the
lease is sized for: a dead worker's last write lands, if at all, within its lease.
``tests/flows/test_ordering.py`` proves it over interleavings of deliveries, duplicates, lost answers,
lease expiries, slow live workers and crashes across two workers.
"""

from __future__ import annotations

from collections.abc import Set

from shared.canonical.payments import Payment, PaymentStatus
from shared.errors import RetriableError
from shared.ports import PaymentLedger
from shared.storage.idempotency import Claim, IdempotencyKeys, KeyStatus

REVERSAL_SUFFIX = "-REV"
VOID = "void:"


def partition_of(payment: Payment) -> str:
    """Where a transaction's keys live: a capture and its reversal always share one partition."""
    return f"post-{payment.merchant_id}-{payment.occurred_at:%Y%m%d}"


def claim_to_post(keys: IdempotencyKeys, ledger: PaymentLedger, payment: Payment,
                  in_this_batch: Set[str]) -> Claim | str:
    """Claim the payment's key under the rule above; a string says why nothing is to be posted.

    ``in_this_batch`` holds the keys claimed for the journal being built, so a capture and its reversal
    handled together post together.

    Raises:
        RetriableError: the key, or the capture a reversal depends on, is held by another worker.
    """
    partition = partition_of(payment)
    claim = keys.claim(partition, payment.external_key)
    if claim.duplicate:
        return "duplicate"
    if not claim.acquired:
        raise RetriableError("KeyBusy", f"{payment.external_key} is being posted by another worker")
    if payment.status is not PaymentStatus.REVERSED:
        return claim
    sale_key = payment.external_key.removesuffix(REVERSAL_SUFFIX)
    if sale_key in in_this_batch:
        return claim
    sale = keys.get(partition, sale_key)
    if sale is not None and sale.status is KeyStatus.DONE:
        if not str(sale.result_ref).startswith(VOID):
            return claim
        keys.complete(claim, f"{VOID} the capture was voided")
        return "nothing_to_reverse"
    sale_claim = keys.claim(partition, sale_key)
    if not sale_claim.acquired:
        keys.fail(claim, "waiting for the capture being posted")
        if sale_claim.duplicate:
            return claim_to_post(keys, ledger, payment, in_this_batch)
        raise RetriableError("KeyBusy", f"the capture {sale_key} is being posted; its reversal waits")
    if sale_claim.attempts > 1:
        # An earlier attempt at the capture may have landed with its answer lost: only the ERP knows.
        try:
            landed = ledger.find([sale_key]).get(sale_key)
        except RetriableError:
            keys.fail(sale_claim, "its reversal could not ask the ERP")
            keys.fail(claim, "could not ask the ERP whether the capture landed")
            raise
        if landed is not None:
            keys.complete(sale_claim, landed)
            return claim
    keys.complete(sale_claim, f"{VOID} reversed before its capture arrived")
    keys.complete(claim, f"{VOID} reversed before its capture arrived")
    return "reversed_before_capture"
