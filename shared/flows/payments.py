"""Payments (U3): GP notification → intake → transform → post to the payment ledger.

Intake answers fast and does no call to Heartland or Dynamics; transform and post run from queues
and are safe to run again on the same message (at-least-once delivery, effect once).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping

import orjson

from shared.canonical.envelope import Envelope
from shared.canonical.payments import Payment
from shared.errors import FatalError, RetriableError
from shared.flows.answer import Answer
from shared.heartland.notifications import GpTransaction, parse_transaction, to_payment
from shared.messaging.envelope import to_message
from shared.ops.alerts import Alert
from shared.security.pan import PanFinding, scan_json
from shared.security.signatures import verify_gp_signature
from shared.settings import ConfigError
from shared.storage.idempotency import KeyStatus, LeaseLost
from shared.wiring import Services

log = logging.getLogger("hl365.payments")

TRANSFORM_QUEUE = "payments-transform"
POST_QUEUE = "payments-post"
QUEUES = (TRANSFORM_QUEUE, POST_QUEUE)
SOURCE_GP = "heartland.gp"


def _content_type_ok(headers: Mapping[str, str]) -> bool:
    value = headers.get("content-type", "")
    return value.split(";", 1)[0].strip().lower() in ("application/json", "")


def accept_gp_notification(services: Services, body: bytes, headers: Mapping[str, str]) -> Answer:
    """Verify, scan, claim, audit, enqueue: the whole of intake for one GP API notification.

    ``headers`` must have lower-case names.
    """
    if len(body) > services.settings.max_webhook_bytes:
        return Answer(413, f"body of {len(body)} bytes exceeds {services.settings.max_webhook_bytes}")
    if not _content_type_ok(headers):
        return Answer(415, f"content type {headers.get('content-type')!r} is not application/json")
    try:
        app_key = services.settings.require("gp_app_key")
    except ConfigError as error:
        return Answer(503, f"intake is not configured: {error}", headers={"Retry-After": "300"})
    if not verify_gp_signature(body, headers.get("x-gp-signature"), app_key):
        return Answer(401, "X-GP-Signature is missing or does not match the body")
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        return Answer(400, f"body is not valid JSON: {exc}")
    if not isinstance(payload, dict):
        return Answer(400, "body must be a JSON object")
    findings = scan_json(body, payload)
    if findings:
        return _reject_card_data(services, payload, findings)
    try:
        transaction = parse_transaction(payload)
    except ValueError as exc:
        return Answer(422, f"not a GP API transaction: {exc}")
    return _enqueue(services, transaction)


def _reject_card_data(services: Services, payload: dict[str, object], findings: list[PanFinding]) -> Answer:
    where = ", ".join(f"{f.path} ({f.masked})" for f in findings)
    event_id = str(payload.get("id", "unknown"))
    services.audit.record(
        step="intake.gp", event_id=event_id, correlation_id=event_id, outcome="rejected_card_data",
        detail={"fields": where},
    )
    services.alerts.notify(Alert("card_data_rejected", f"GP notification {event_id} carried card data in {where}",
                                 {"event_id": event_id, "fields": where}))
    return Answer(422, f"card data is not accepted (found in {', '.join(f.path for f in findings)})")


def _enqueue(services: Services, transaction: GpTransaction) -> Answer:
    """Enqueue once: the key's ``MessageId`` makes the bus drop a concurrent twin, and the key is
    remembered only after the send, so a crash in between leaves the sender's retry free to enqueue.

    Ids derive from the key, so whichever twin wins, the answer names the message on the queue.
    """
    key = transaction.idempotency_key
    seen = services.keys.get(transaction.partition, key)
    if seen is not None and seen.status is KeyStatus.DONE:
        return _duplicate(services, key, seen.result_ref)
    correlation_id = uuid.uuid5(uuid.NAMESPACE_URL, f"hl365:{key}").hex
    envelope = Envelope(
        id=correlation_id,
        correlation_id=correlation_id,
        type=f"payment.{transaction.status.value.lower()}",
        source=SOURCE_GP,
        subject=transaction.id,
        idempotency_key=key,
        data=transaction.model_dump(mode="json"),
    )
    services.bus.send(TRANSFORM_QUEUE, [to_message(envelope)])
    remembered = services.keys.remember(transaction.partition, key, envelope.correlation_id)
    if not remembered.acquired:
        return _duplicate(services, key, remembered.result_ref)
    services.audit.record(step="intake.gp", event_id=key, correlation_id=envelope.correlation_id,
                          outcome="accepted", detail={"type": envelope.type, "amount": transaction.amount,
                                                      "currency": transaction.currency})
    log.info("accepted %s", key, extra={"correlation_id": envelope.correlation_id})
    return Answer(202, "accepted", {"duplicate": False, "correlation_id": envelope.correlation_id})


def _duplicate(services: Services, key: str, correlation_id: str | None) -> Answer:
    services.audit.record(step="intake.gp", event_id=key, correlation_id=correlation_id or key, outcome="duplicate")
    return Answer(202, "duplicate: already accepted", {"duplicate": True, "correlation_id": correlation_id})


def transform_payment(services: Services, body: bytes) -> None:
    """Normalise an accepted notification to the canonical payment and queue it for posting."""
    envelope = _envelope(body)
    try:
        payment = to_payment(parse_transaction(envelope.data))
    except ValueError as exc:
        raise FatalError("InvalidPayment", str(exc)) from None
    posting = envelope.model_copy(update={"type": "payment.normalised", "data": payment.model_dump(mode="json")})
    services.bus.send(POST_QUEUE, [to_message(posting, session_id=payment.merchant_id)])
    services.audit.record(step="transform.payment", event_id=envelope.idempotency_key,
                          correlation_id=envelope.correlation_id, outcome="normalised",
                          detail={"external_key": payment.external_key})


def post_payment(services: Services, body: bytes) -> str:
    """Post once: claim the external key; after an uncertain earlier attempt, look it up before writing."""
    envelope = _envelope(body)
    try:
        payment = Payment.model_validate(envelope.data)
    except ValueError as exc:
        raise FatalError("InvalidPayment", str(exc)) from None
    key = payment.external_key
    if not payment.moves_money:
        services.audit.record(step="post.payment", event_id=envelope.idempotency_key,
                              correlation_id=envelope.correlation_id, outcome="nothing_to_post",
                              detail={"status": payment.status.value, "transaction": payment.transaction_id})
        return ""
    claim = services.keys.claim(f"post-{payment.merchant_id}-{payment.occurred_at:%Y%m%d}", key)
    if claim.duplicate:
        return claim.result_ref or ""
    if not claim.acquired:
        raise RetriableError("KeyBusy", f"{key} is being posted by another worker; the message will be redelivered")
    document = services.ledger.find(key) if claim.attempts > 1 else None
    outcome = "found_after_uncertain_attempt" if document else "posted"
    if document is None:
        try:
            document = services.ledger.post(payment)
        except FatalError as error:
            services.keys.fail(claim, f"{error.reason}: {error.description}"[:1000])
            raise
    try:
        services.keys.complete(claim, document)
    except LeaseLost:
        log.warning("lease on %s expired while posting; the successor will find %s", key, document)
    services.audit.record(step="post.payment", event_id=envelope.idempotency_key,
                          correlation_id=envelope.correlation_id, outcome=outcome,
                          detail={"external_key": key, "document": document})
    return document


def _envelope(body: bytes) -> Envelope:
    try:
        return Envelope.from_body(body)
    except ValueError as exc:
        raise FatalError("InvalidEnvelope", str(exc)) from None
