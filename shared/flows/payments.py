"""Payments (U3): GP notification → intake (the ``GP`` source) → transform → post to the payment ledger.

Transform and post run from queues and are safe to run again on the same message (at-least-once
delivery, effect once); a poll stands in for notifications GP never delivered.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from shared.canonical.envelope import Envelope
from shared.canonical.payments import Payment, PaymentStatus
from shared.errors import FatalError, IntegrationError, RetriableError, UncertainOutcome
from shared.flows.intake import Event, Signature, Source, enqueue_once, one_object
from shared.flows.ordering import claim_to_post
from shared.flows.pipeline import Delivery, envelope_of, park
from shared.flows.workflow import Verdict, judge, remember, subject_to_rules, watched_until
from shared.heartland.gp_models import Transaction
from shared.heartland.notifications import GpTransaction, parse_transaction, to_payment
from shared.messaging.envelope import to_message
from shared.ops import telemetry
from shared.ports import Ports
from shared.storage import tables
from shared.storage.entities import Entity
from shared.storage.idempotency import Claim, IdempotencyKeys, KeyStatus, LeaseLost
from shared.workflow.rules import RulesError

log = logging.getLogger("hl365.payments")

TRANSFORM_QUEUE = "payments-transform"
POST_QUEUE = "payments-post"
QUEUES = (TRANSFORM_QUEUE, POST_QUEUE)
SOURCE_GP = "heartland.gp"
POLL_CHECKPOINT = ("gp-poll", "transactions")
POLL_OVERLAP = timedelta(minutes=10)
POLL_FIRST_WINDOW = timedelta(days=1)
HELD_FOR_REVIEW = "HeldForReview"
"""The dead-letter reason of a payment a workflow rule held; replaying it is the reviewer's release."""


def _gp_event(item: Mapping[str, Any]) -> Event:
    """A GP notification's key is its transaction's id and status (``shared.heartland.notifications``)."""
    data = dict(item)
    return _event(parse_transaction(data), data)


def _event(transaction: GpTransaction, data: dict[str, Any] | None = None) -> Event:
    """``data`` is the notification as sent, when there is one: it has just been validated, and the
    transform reads it again."""
    return Event(key=transaction.idempotency_key, partition=transaction.partition,
                 type=f"payment.{transaction.status.value.lower()}", subject=transaction.id,
                 data=transaction.model_dump(mode="json") if data is None else data,
                 audit={"amount": transaction.amount, "currency": transaction.currency})


GP = Source(name="gp", label="GP API transaction", envelope_source=SOURCE_GP, queue=TRANSFORM_QUEUE,
            authentication=Signature(header="X-GP-Signature", setting="gp_app_key"), items=one_object,
            read=_gp_event, metric="payments.intake")
"""GP API transaction notifications: signed with ``X-GP-Signature`` (GP cannot send a Functions key)."""


def poll_gp(ports: Ports, *, now: datetime | None = None) -> int:
    """The fallback for notifications GP never delivered: list what changed since the watermark in
    ``Checkpoints`` and enqueue it exactly as intake does; returns how many were new.

    The same keys as intake make a transaction already notified a no-op; the window overlaps the last
    one by ``POLL_OVERLAP`` so a transaction that becomes visible late is not skipped. A transaction
    listed as it is now (say REVERSED) posts by the ordering rule even if its earlier state was missed.
    """
    now = now or datetime.now(UTC)
    checkpoints = ports.tables.table(tables.CHECKPOINTS)
    stored = checkpoints.get(*POLL_CHECKPOINT)
    watermark = stored["Watermark"] if stored is not None else now - POLL_FIRST_WINDOW
    since = watermark - POLL_OVERLAP
    newest, enqueued = watermark, 0
    for listed in ports.gateway.iter_transactions(from_time_created=since.date(), to_time_created=now.date()):
        if listed.time_created < since:
            continue
        newest = max(newest, listed.time_created)
        transaction = parse_transaction(notification_of(listed))
        seen = ports.keys.get(transaction.partition, transaction.idempotency_key)
        if seen is not None and seen.status is KeyStatus.DONE:
            continue
        duplicate, _ = enqueue_once(ports, GP, _event(transaction))
        enqueued += not duplicate
    checkpoints.upsert(Entity(*POLL_CHECKPOINT, {"Watermark": newest, "PolledAt": now}))
    ports.audit.record(step="poll.gp", event_id=f"poll:{now.isoformat()}", correlation_id=f"poll:{now:%Y%m%d}",
                       outcome="polled", detail={"since": since.isoformat(), "enqueued": str(enqueued)})
    return enqueued


def payments_of_day(ports: Ports, day: date) -> list[tuple[Envelope, Payment]]:
    """The gateway's payments of the merchant's business ``day`` (in ``HL365_MERCHANT_TIMEZONE``), each as the
    transform would receive it (a dry run's input)."""
    zone = ZoneInfo(ports.settings.merchant_timezone)
    found = []
    for listed in ports.gateway.iter_transactions(from_time_created=day - timedelta(days=1),
                                                  to_time_created=day + timedelta(days=1)):
        if listed.time_created.astimezone(zone).date() != day:
            continue
        transaction = parse_transaction(notification_of(listed))
        found.append((_event(transaction).envelope(SOURCE_GP), to_payment(transaction)))
    return found


def notification_of(listed: Transaction) -> dict[str, object]:
    """A listed transaction in the shape GP notifies it (amount in minor units beside its currency)."""
    card = listed.payment_method.card if listed.payment_method else None
    return {
        "id": listed.id, "time_created": listed.time_created.isoformat(), "type": listed.type,
        "status": listed.status.value, "amount": str(listed.amount.to_minor()), "currency": listed.amount.currency,
        "merchant_id": listed.merchant_id, "reference": listed.reference, "batch_id": listed.batch_id,
        "payment_method": {"card": {"brand": card.brand, "masked_number_last4": card.masked_number_last4,
                                    "authcode": card.authcode}} if card else None,
    }


def _unset(payment: Payment) -> set[str]:
    """The rules' fields when no rule set them: left out, so a posting reads the same as one from before rules."""
    return {name for name in ("journal", "note") if getattr(payment, name) is None}


def _read(delivery: Delivery, payment: Callable[[dict[str, Any]], Payment]) -> tuple[Envelope, Payment] | FatalError:
    """A message's envelope and the payment in it; a message that holds none is parked with why."""
    try:
        envelope = envelope_of(delivery.body)
        return envelope, payment(envelope.data)
    except FatalError as error:
        return error
    except ValueError as exc:
        return FatalError("InvalidPayment", str(exc))


def transform_payments(ports: Ports, deliveries: Sequence[Delivery]) -> dict[str, IntegrationError]:
    """Normalise a micro-batch of accepted notifications to canonical payments and queue them for posting, in
    one send and one audit append; returns the messages that are not payments, each with why."""
    failures: dict[str, IntegrationError] = {}
    postings, records = [], []
    try:
        rules = ports.rules
    except RulesError as error:  # every payment waits, rescheduled, until a person fixes the file
        waiting = RetriableError("RulesInvalid", f"the workflow rules file has {len(error.problems)} problem(s), "
                                 f"first {error.problems[0]}; payments wait until it is fixed")
        return {delivery.message_id: waiting for delivery in deliveries}
    until = watched_until(ports) if rules.uses_flags else None
    for delivery in deliveries:
        read = _read(delivery, lambda data: to_payment(parse_transaction(data)))
        if isinstance(read, FatalError):
            failures[delivery.message_id] = read
            continue
        envelope, payment = read
        detail = {"external_key": payment.external_key}
        judged = None
        if rules.rules and subject_to_rules(ports, payment):
            judged = judge(ports, rules, envelope, payment, until)
            if judged.verdict is Verdict.WAIT:
                failures[delivery.message_id] = RetriableError("AwaitingAnomalyWatch", judged.why)
                continue
            payment = judged.payment
            if judged.decision.matched or judged.why:
                detail["rules"] = judged.decision.summary() or judged.why
        verdict = judged.verdict if judged is not None else Verdict.POST
        posting = envelope.model_copy(update={"type": "payment.normalised",
                                              "data": payment.model_dump(mode="json", exclude=_unset(payment))})
        if verdict is Verdict.POST:
            postings.append(to_message(posting))
        elif verdict is Verdict.HOLD:
            # Parked as the posting it would have been: a person's replay sends it straight to the post queue.
            park(ports, POST_QUEUE, delivery.message_id, to_message(posting).body, HELD_FOR_REVIEW,
                 judged.why if judged is not None else "")
        if judged is not None and verdict in (Verdict.HOLD, Verdict.SKIP):
            remember(ports, judged)
        outcome = {Verdict.POST: "normalised", Verdict.HOLD: "held_for_review", Verdict.SKIP: "skipped_by_rule",
                   Verdict.FOLLOW: "follows_earlier_rule_decision"}[verdict]
        records.append({"step": "transform.payment", "event_id": envelope.idempotency_key,
                        "correlation_id": envelope.correlation_id, "outcome": outcome, "detail": detail})
    if postings:
        # No session: the posting rules make the order of arrival irrelevant, so the post queue batches freely.
        ports.bus.send(POST_QUEUE, postings)
    if records:
        ports.audit.record_many(records)
    return failures


@dataclass
class _Pending:
    delivery: Delivery
    envelope: Envelope
    payment: Payment
    claim: Claim
    done: bool = False  # its line is in the ERP and its key is complete
    released: bool = False  # its key was given back (or held) for a later attempt


def post_payments(ports: Ports, deliveries: Sequence[Delivery]) -> dict[str, IntegrationError]:
    """Post a micro-batch of payments as one customer payment journal; returns the messages that failed.

    Each payment is posted once: its external key is claimed first, and after an uncertain earlier
    attempt the ERP is asked before anything is written. A payment the ERP refuses alone (an unknown
    order, an unmapped brand) fails alone; a journal the ERP refuses as a whole is posted again payment by
    payment, so only the culprit is dead-lettered, with the ERP's text. Which key is claimed, and whether a
    reversal posts, is the ordering rule's (``shared.flows.ordering``).
    """
    audits: list[dict[str, Any]] = []
    try:
        with ports.keys.renewing() as keys:  # a slow post keeps its claims: only a dead worker's are taken over
            return _post_batch(ports, keys, audits, deliveries)
    finally:  # one append per chain for the whole batch
        ports.audit.record_many(audits)


def _post_batch(ports: Ports, keys: IdempotencyKeys, audits: list[dict[str, Any]],
                deliveries: Sequence[Delivery]) -> dict[str, IntegrationError]:
    failures: dict[str, IntegrationError] = {}
    pending: list[_Pending] = []
    claimed: set[str] = set()  # the keys of ``pending``, for the ordering rule
    rules = ports.mapping.customer_payments
    to_claim: list[tuple[Delivery, Envelope, Payment]] = []
    for delivery in deliveries:
        read = _read(delivery, Payment.model_validate)
        if isinstance(read, FatalError):
            failures[delivery.message_id] = read
            continue
        envelope, payment = read
        if not payment.moves_money:
            _audit(audits, envelope, "nothing_to_post", status=payment.status.value,
                   transaction=payment.transaction_id)
            continue
        if not rules.names_order(payment.reference):
            _audit(audits, envelope, "settled_by_journal", transaction=payment.transaction_id,
                   reference=payment.reference or "")
            continue
        to_claim.append((delivery, envelope, payment))
    # The claims in one commit where the store can. A reversal's claim may have to ask the ERP whether its
    # capture landed, and no commit is held open across a call to the ERP: reversals are claimed after the
    # rest, so a capture and its reversal in one batch still post in one journal.
    reversals = [item for item in to_claim if item[2].status is PaymentStatus.REVERSED]
    with ports.tables.together():
        for delivery, envelope, payment in to_claim:
            if payment.status is not PaymentStatus.REVERSED:
                _claim(ports, keys, audits, failures, pending, claimed, delivery, envelope, payment)
    for delivery, envelope, payment in reversals:
        _claim(ports, keys, audits, failures, pending, claimed, delivery, envelope, payment)
    try:
        left = _found_after_uncertain_attempt(ports, keys, audits, pending)
        journals: dict[str | None, list[_Pending]] = {}
        for item in left:  # one journal per call, so a journal refused as a whole is retried alone
            journals.setdefault(item.payment.journal.upper() if item.payment.journal else None, []).append(item)
        for group in journals.values():
            failures.update(_post(ports, keys, audits, group))
    except RetriableError as error:  # the ERP could not be asked: whatever is not done is tried again later
        for item in pending:
            if item.done:
                continue
            if not item.released:
                _give_back(keys, item, f"{error.reason}: {error.description}")
            failures[item.delivery.message_id] = error
    return failures


def _claim(ports: Ports, keys: IdempotencyKeys, audits: list[dict[str, Any]], failures: dict[str, IntegrationError],
           pending: list[_Pending], claimed: set[str], delivery: Delivery, envelope: Envelope,
           payment: Payment) -> None:
    """Claim one payment's key under the ordering rule: to post (``pending``), or why not (an audit record,
    or a failure to retry)."""
    try:
        claim = claim_to_post(keys, ports.ledger, payment, claimed)
    except RetriableError as error:
        failures[delivery.message_id] = error
        return
    if isinstance(claim, str):
        _audit(audits, envelope, claim, external_key=payment.external_key)
        if claim == "duplicate":
            telemetry.count("duplicate", flow="payments.post")
        return
    pending.append(_Pending(delivery, envelope, payment, claim))
    claimed.add(payment.external_key)


def _found_after_uncertain_attempt(ports: Ports, keys: IdempotencyKeys, audits: list[dict[str, Any]],
                                   pending: list[_Pending]) -> list[_Pending]:
    """Ask the ERP, in one look-up for the batch, about keys an earlier attempt may have written (a crash, a
    lost answer)."""
    asked = [item.payment.external_key for item in pending if item.claim.attempts > 1]
    found = ports.ledger.find(asked) if asked else {}
    left = []
    for item in pending:
        document = found.get(item.payment.external_key)
        if document is None:
            left.append(item)
            continue
        _complete(keys, audits, item, document, "found_after_uncertain_attempt")
    return left


def _after_uncertain_outcome(ports: Ports, keys: IdempotencyKeys, audits: list[dict[str, Any]],
                             pending: list[_Pending],
                             error: UncertainOutcome) -> dict[str, IntegrationError]:
    """One look-up for the batch says which payments the lost write landed (all, none, or the parts sent
    before it was lost): those are completed. Nothing is written again now: a write that timed out may still
    land, so every other key, and every key when the look-up itself fails, is held a while longer, then given
    back with the attempt counted; the retry asks the ERP first."""
    try:
        found = ports.ledger.find([item.payment.external_key for item in pending])
    except RetriableError as lookup:
        log.warning("could not ask the ERP after a lost answer (%s); %d payments are held", lookup.reason,
                    len(pending))
        found = {}
    failures: dict[str, IntegrationError] = {}
    for item in pending:
        document = found.get(item.payment.external_key)
        if document is None:
            _give_back(keys, item, f"{error.reason}: {error.description}",
                       hold_for=ports.settings.http_timeout_seconds)
            failures[item.delivery.message_id] = error
        else:
            _complete(keys, audits, item, document, "found_after_uncertain_attempt")
    return failures


def _give_back(keys: IdempotencyKeys, item: _Pending, reason: str, *, hold_for: float | None = None) -> None:
    """Free the key for a later attempt. After an uncertain write it stays held ``hold_for`` seconds, as
    long again as the write was given, so nothing acts on the key (a reversal deciding to void its capture) before the
    ERP has applied a write that was merely slow."""
    item.released = True
    try:
        if hold_for is not None:
            keys.hold(item.claim, hold_for, reason[:1000])
        else:
            keys.fail(item.claim, reason[:1000])
    except LeaseLost:
        log.warning("lease on %s expired while posting; its successor asks the ERP", item.payment.external_key)


def _post(ports: Ports, keys: IdempotencyKeys, audits: list[dict[str, Any]],
          pending: list[_Pending]) -> dict[str, IntegrationError]:
    failures: dict[str, IntegrationError] = {}
    try:
        results = dict(ports.ledger.post([p.payment for p in pending]))
    except FatalError as error:
        if len(pending) == 1:
            results = {pending[0].payment.external_key: error}
        else:
            log.warning("the ERP refused a journal of %d payments (%s); posting them one by one", len(pending),
                        error.reason)
            results = {}
            for item in pending:
                failures.update(_post(ports, keys, audits, [item]))
            return failures
    except UncertainOutcome as error:
        return _after_uncertain_outcome(ports, keys, audits, pending, error)
    except RetriableError as error:
        for item in pending:
            _give_back(keys, item, f"{error.reason}: {error.description}")
            failures[item.delivery.message_id] = error
        return failures
    with ports.tables.together():  # the journal's keys and audit records in one commit where the store can
        for item in pending:
            result = results.get(item.payment.external_key)
            if isinstance(result, str):
                _complete(keys, audits, item, result, "posted")
                continue
            refusal = result if isinstance(result, FatalError) else FatalError(
                "NotPosted", f"the ledger gave no answer for {item.payment.external_key}")
            _give_back(keys, item, f"{refusal.reason}: {refusal.description}")
            failures[item.delivery.message_id] = refusal
    return failures


def _complete(keys: IdempotencyKeys, audits: list[dict[str, Any]], item: _Pending, document: str,
              outcome: str) -> None:
    item.done = True
    try:
        keys.complete(item.claim, document)
    except LeaseLost:
        log.warning("lease on %s expired while posting; the successor will find %s", item.payment.external_key,
                    document)
    _audit(audits, item.envelope, outcome, external_key=item.payment.external_key, document=document)
    telemetry.count("posted", flow="payments.post")


def _audit(audits: list[dict[str, Any]], envelope: Envelope, outcome: str, **detail: str) -> None:
    audits.append({"step": "post.payment", "event_id": envelope.idempotency_key,
                   "correlation_id": envelope.correlation_id, "outcome": outcome, "detail": detail})
