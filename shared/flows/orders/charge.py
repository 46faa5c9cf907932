"""Charge: one gateway charge (or authorisation) per order, its result written back, the payment handed to
the post step."""

from __future__ import annotations

import logging

from shared.canonical.envelope import Envelope
from shared.canonical.orders import Order
from shared.canonical.payments import Payment, PaymentKind, PaymentStatus
from shared.errors import DuplicateAction, FatalError, IntegrationError, RetriableError
from shared.flows import payments
from shared.flows.orders import SOURCE_ORDERS, audit, gateway, order_source
from shared.flows.orders.results import remember_result
from shared.flows.orders.tokens import no_token, payment_token
from shared.flows.pipeline import envelope_of
from shared.heartland.gp_models import Transaction
from shared.messaging.envelope import to_message
from shared.ops.alerts import Alert
from shared.ports import Ports
from shared.storage.idempotency import Claim, IdempotencyKeys, LeaseLost

log = logging.getLogger("hl365.orders")


def charge_order(ports: Ports, body: bytes) -> str:
    """Charge (or authorise) a validated order once and write the result back; returns the GP transaction id.

    The key is given back on any failure, so the next attempt (a retry, a replay) charges again with the
    same ``x-gp-idempotency`` key and GP answers with the original transaction instead of a second one.
    """
    envelope = envelope_of(body)
    try:
        order = Order.model_validate(envelope.data)
    except ValueError as exc:
        raise FatalError("InvalidOrder", str(exc)) from None
    with ports.keys.renewing() as keys:  # a slow gateway keeps the claim: only a dead worker's is taken over
        return _charge_once(ports, keys, envelope, order)


def _charge_once(ports: Ports, keys: IdempotencyKeys, envelope: Envelope, order: Order) -> str:
    claim = keys.claim(f"charge-{order.erp}-{order.company}", order.external_key)
    if claim.duplicate:
        audit(ports, envelope, "charge.order", "already_charged", order=order.number,
              transaction=claim.result_ref)
        return claim.result_ref or ""
    if not claim.acquired:
        raise RetriableError("KeyBusy", f"{order.external_key} is being charged by another worker; the message "
                             "will be redelivered")
    try:
        transaction = _charge(ports, order)
        if transaction.approved:
            _approved(ports, envelope, order, transaction)
        else:
            _declined(ports, envelope, order, transaction)
    except IntegrationError as error:
        _give_back(keys, claim, error)
        raise
    try:
        keys.complete(claim, transaction.id)
    except LeaseLost:
        log.warning("lease on %s expired while charging; the successor will get %s back from GP",
                    order.external_key, transaction.id)
    return transaction.id


def _give_back(keys: IdempotencyKeys, claim: Claim, error: IntegrationError) -> None:
    try:
        keys.fail(claim, f"{error.reason}: {error.description}"[:1000])
    except LeaseLost:
        log.warning("lease on %s expired before it could be given back", claim.key)


def _charge(ports: Ports, order: Order) -> Transaction:
    token = payment_token(ports, order.erp, order.company, order.customer)
    if token is None:
        raise no_token(order)
    gp = gateway(ports)
    capture = ports.settings.order_capture == "charge"
    try:
        return gp.charge(order.amount, reference=order.number, token=token, capture=capture,
                         idempotency_key=order.external_key)
    except DuplicateAction:
        # GP knew the key but did not say which transaction it made: the order number is its reference.
        found = [t for t in gp.find_transactions(reference=order.number) if t.type == "SALE"]
        if not found:
            raise
        return found[-1]


def _approved(ports: Ports, envelope: Envelope, order: Order, transaction: Transaction) -> None:
    """Record it, hand the payment to the post step (it matters most, so it goes first), then mark the order."""
    authorised = transaction.status is PaymentStatus.PREAUTHORIZED
    label = "AUTHORISED" if authorised else "APPROVED"
    remember_result(ports, order, transaction, label)
    method = transaction.payment_method
    card = method.card if method else None
    payment = Payment(
        transaction_id=transaction.id,
        merchant_id=transaction.merchant_id or ports.settings.merchant_id or order.company,
        kind=PaymentKind.SALE, status=transaction.status, amount=transaction.amount, reference=order.number,
        batch_id=transaction.batch_id, card_brand=card.brand if card else None,
        card_last4=card.last4 if card else None, auth_code=(card.authcode or None) if card else None,
        occurred_at=transaction.time_created)
    posting = Envelope(correlation_id=envelope.correlation_id, type="payment.normalised", source=SOURCE_ORDERS,
                       subject=transaction.id, idempotency_key=payment.external_key,
                       data=payment.model_dump(mode="json"))
    ports.bus.send(payments.POST_QUEUE, [to_message(posting)])
    written = order_source(ports, order.erp).write_result(order, f"{label} {transaction.id}")
    audit(ports, envelope, "charge.order", label.lower(), order=order.number, transaction=transaction.id,
          amount=str(transaction.amount), replayed=transaction.replayed, written_back=written)


def _declined(ports: Ports, envelope: Envelope, order: Order, transaction: Transaction) -> None:
    """Recorded, alerted, written onto the order where the ERP has a field; never retried (a decline is an
    answer, not a failure: charging again would only be declined again, or worse, look like card testing)."""
    method = transaction.payment_method
    result = (method.result if method else None) or transaction.status.value
    message = (method.message if method else None) or ""
    remember_result(ports, order, transaction, "DECLINED")
    ports.alerts.notify(Alert(
        "payment_declined", f"{order.erp} order {order.number} ({order.amount}, customer {order.customer}) was "
        f"declined: {result} {message}; it will not be charged again",
        {"order": order.number, "company": order.company, "customer": order.customer, "result": result,
         "message": message, "transaction": transaction.id}))
    written = order_source(ports, order.erp).write_result(order, f"DECLINED {result} {message}".strip())
    audit(ports, envelope, "charge.order", "declined", order=order.number, transaction=transaction.id,
          result=result, message=message, amount=str(order.amount), written_back=written)
