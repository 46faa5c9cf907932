"""Orders (U4): a new or changed Dynamics sales order → a GP API charge (or authorisation) → the result
written back to Dynamics.

* Intake (``orders_intake``) puts a pointer to the order on ``orders-transform``.
* Transform reads the order again from the ERP, validates it (``orders_erp``), checks the customer has a
  stored payment token and puts the validated order on ``orders-charge``.
* Charge claims ``HLO-{company}-{order}`` and charges with it as ``x-gp-idempotency``, so neither a
  redelivered message nor a retry after a lost answer can charge twice. An approval goes to the payment
  post step (``payments-post``), which records the customer payment against the order under
  ``HPY-{transaction}`` and aligns the order status; the same key makes GP's own later notification of
  the transaction a no-op. A decline is written back, alerted and audited, and never retried.

The customer's card-on-file token is hl365's own data (Dynamics has no standard field for a gateway
token): ``CrossReference``, partition ``token-{erp}-{company}``, set with ``hl365 tokens set``.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from itertools import islice
from typing import Any

from shared.canonical.envelope import Envelope
from shared.canonical.payments import Payment, PaymentKind, PaymentStatus
from shared.dynamics.subscriptions import SubscriptionKeeper, SubscriptionState
from shared.errors import FatalError, IntegrationError, RetriableError
from shared.flows import payments
from shared.flows.answer import Answer
from shared.flows.orders_erp import BcOrders, Erp, FoOrders, Order, OrderSource
from shared.heartland.gp import DuplicateAction
from shared.heartland.gp_models import Transaction
from shared.messaging.envelope import to_message
from shared.messaging.port import OutgoingMessage
from shared.ops.alerts import Alert
from shared.security.pan import find_pans
from shared.settings import ConfigError
from shared.storage.idempotency import Claim, IdempotencyKeys, LeaseLost
from shared.storage.keys import safe_key
from shared.storage.port import Entity
from shared.wiring import Services

log = logging.getLogger("hl365.orders")

TRANSFORM_QUEUE = "orders-transform"
CHARGE_QUEUE = "orders-charge"
QUEUES = (TRANSFORM_QUEUE, CHARGE_QUEUE)
SOURCE_FO = "dynamics.fo"
SOURCE_BC = "dynamics.bc"
SOURCE_ORDERS = "hl365.orders"
CROSS_REFERENCE = "CrossReference"
CHECKPOINTS = "Checkpoints"
BC_COLLECTION = "salesOrders"
BC_WEBHOOK_PATH = "/api/webhooks/bc"
MAX_TOKEN_LENGTH = 128
SEND_CHUNK = 100


def utcnow() -> datetime:
    """Now; looked up at call time so a test can move it together with a simulator's clock."""
    return datetime.now(UTC)


def _envelope(body: bytes) -> Envelope:
    try:
        return Envelope.from_body(body)
    except ValueError as exc:
        raise FatalError("InvalidEnvelope", str(exc)) from None


def order_source(services: Services, erp: str) -> OrderSource:
    """The ERP an order lives in; a missing setting parks the message (replay it once configured)."""
    try:
        if erp == "fo":
            return FoOrders(services.fo)
        if erp == "bc":
            return BcOrders(services.bc, services.mapping.base_currency)
    except ConfigError as error:
        raise FatalError("NotConfigured", str(error)) from None
    raise FatalError("UnknownErp", f"{erp!r} is neither fo nor bc")


def _audit(services: Services, envelope: Envelope, step: str, outcome: str, **detail: object) -> None:
    services.audit.record(step=step, event_id=envelope.idempotency_key, correlation_id=envelope.correlation_id,
                          outcome=outcome, detail=detail)


# Payment tokens ------------------------------------------------------------------------------------------------


def _token_partition(erp: str, company: str) -> str:
    return f"token-{erp}-{company.lower()}"


def set_payment_token(services: Services, *, erp: Erp, company: str, customer: str, token: str) -> None:
    """Store a customer's card-on-file token (the gateway's ``PMT_…`` id, never a card number).

    Raises:
        ValueError: an empty or malformed token, or one that looks like a card number.
    """
    token = token.strip()
    if not token or len(token) > MAX_TOKEN_LENGTH or any(c.isspace() or not c.isprintable() for c in token):
        raise ValueError(f"a payment token is 1 to {MAX_TOKEN_LENGTH} printable characters without spaces")
    if next(find_pans(token), None) is not None or token.replace("-", "").replace(" ", "").isdigit():
        raise ValueError("that looks like a card number; store the gateway's payment-method token (PMT_…), "
                         "never the card number")
    if not customer.strip() or not company.strip():
        raise ValueError("customer and company are required")
    table = services.tables.table(CROSS_REFERENCE)
    table.upsert(Entity(_token_partition(erp, company), safe_key(customer.strip()),
                        {"Customer": customer.strip(), "Token": token, "UpdatedAt": utcnow()}))
    services.audit.record(step="tokens.set", event_id=f"{erp}:{company.lower()}:{customer.strip()}",
                          correlation_id=f"token-{erp}", outcome="stored",
                          detail={"customer": customer.strip(), "token": f"…{token[-4:]}"})


def payment_token(services: Services, erp: str, company: str, customer: str) -> str | None:
    row = services.tables.table(CROSS_REFERENCE).get(_token_partition(erp, company), safe_key(customer))
    return str(row["Token"]) if row is not None and row.get("Token") else None


def _no_token(order: Order) -> FatalError:
    return FatalError("NoPaymentToken", f"customer {order.customer} of {order.erp} {order.company} has no stored "
                      f"payment token, so order {order.number} ({order.amount}) was not charged; store one with "
                      f"`hl365 tokens set --erp {order.erp} --company {order.company} --customer {order.customer} "
                      "--token PMT_…` and replay this dead letter")


# Order results -------------------------------------------------------------------------------------------------


def _result_partition(order: Order) -> str:
    return f"order-{order.erp}-{order.company}"


def order_result(services: Services, order: Order) -> Entity | None:
    """What hl365 recorded for the order: ``Status`` (APPROVED, AUTHORISED, DECLINED), ``TransactionId``…"""
    return services.tables.table(CROSS_REFERENCE).get(_result_partition(order), safe_key(order.number))


def _remember_result(services: Services, order: Order, transaction: Transaction, status: str) -> None:
    method = transaction.payment_method
    services.tables.table(CROSS_REFERENCE).upsert(Entity(_result_partition(order), safe_key(order.number), {
        "Order": order.number, "Key": order.external_key, "Customer": order.customer,
        "TransactionId": transaction.id, "Status": status, "GatewayStatus": transaction.status.value,
        "Result": (method.result if method else None) or "", "Message": (method.message if method else None) or "",
        "Amount": format(transaction.amount.amount, "f"), "Currency": transaction.currency, "At": utcnow()}))


# Transform -----------------------------------------------------------------------------------------------------


def transform_order(services: Services, body: bytes) -> None:
    """Read the order again, validate it, and queue it for charging (or fan a BC collection out)."""
    envelope = _envelope(body)
    data = envelope.data
    source = order_source(services, str(data.get("erp")))
    company = str(data.get("company") or "").lower()
    if company != source.company:
        raise FatalError("OtherCompany", f"{source.erp} company {company!r} is not the one hl365 is connected to "
                         f"({source.company}); point the event or subscription at that company, or this one's "
                         "settings (D365_LEGAL_ENTITY / D365_BC_COMPANY) at it")
    if envelope.type == "order.requery":
        if source.erp != "bc":
            raise FatalError("InvalidMessage", "only Business Central collections are re-queried")
        _requery(services, envelope, company)
        return
    reference = str(data.get("order") or "")
    order = source.read(reference)
    if order is None:
        _audit(services, envelope, "transform.order", "order_not_found", order=reference, company=company)
        return
    done = order_result(services, order)
    if done is not None:
        _already_paid(services, envelope, order, done)
        return
    if payment_token(services, order.erp, order.company, order.customer) is None:
        raise _no_token(order)
    charge = envelope.model_copy(update={"type": "order.validated", "subject": order.number, "attempt": 0,
                                         "idempotency_key": order.external_key, "data": order.model_dump(mode="json")})
    # One message per source event: the charge step's claim, not the bus, keeps it to one charge per order,
    # and a re-sent order after a fixed dead letter is not dropped by duplicate detection.
    source_hash = hashlib.sha256(envelope.idempotency_key.encode()).hexdigest()[:16]
    services.bus.send(CHARGE_QUEUE, [to_message(charge, message_id=f"{order.external_key}:{source_hash}")])
    _audit(services, envelope, "transform.order", "validated", order=order.number, customer=order.customer,
           amount=str(order.amount), lines=order.lines)


def _already_paid(services: Services, envelope: Envelope, order: Order, done: Entity) -> None:
    """A changed order that was charged (or declined) already is not charged again; a changed total is
    a person's decision (refund, second charge), so it is alerted."""
    charged = f"{done.get('Amount')} {done.get('Currency')}"
    _audit(services, envelope, "transform.order", "already_charged", order=order.number, status=done.get("Status"),
           transaction=done.get("TransactionId"), charged=charged, total=str(order.amount))
    if done.get("Status") != "DECLINED" and charged != f"{format(order.amount.amount, 'f')} {order.amount.currency}":
        services.alerts.notify(Alert(
            "order_changed_after_payment",
            f"{order.erp} order {order.number} now totals {order.amount} but {charged} was charged "
            f"({done.get('TransactionId')}); hl365 charges an order once, so settle the difference by hand",
            {"order": order.number, "transaction": str(done.get("TransactionId")), "charged": charged,
             "total": str(order.amount)}))


def _requery(services: Services, envelope: Envelope, company: str) -> None:
    """A BC ``collection`` notification: list the orders its ``$filter`` names and fan each out."""
    flt = str(envelope.data.get("filter") or "")
    if not flt:
        raise FatalError("InvalidNotification", "a collection re-query needs a $filter")
    rows = services.bc.iter(BC_COLLECTION, flt, select=["id", "number", "lastModifiedDateTime"])

    def pointers() -> Iterator[OutgoingMessage]:
        for row in rows:
            order_id = str(row["id"]).lower()
            key = f"bc:{company}:{order_id}:{row.get('lastModifiedDateTime') or ''}"
            pointer = Envelope(correlation_id=envelope.correlation_id, type="order.changed", source=SOURCE_BC,
                               subject=order_id, idempotency_key=key[:128],
                               data={"erp": "bc", "company": company, "order": order_id, "change": "collection"})
            yield to_message(pointer)

    sent = 0
    messages = pointers()
    while chunk := list(islice(messages, SEND_CHUNK)):
        services.bus.send(TRANSFORM_QUEUE, chunk)
        sent += len(chunk)
    _audit(services, envelope, "transform.order", "requeried", filter=flt, orders=sent)


# Charge --------------------------------------------------------------------------------------------------------


def charge_order(services: Services, body: bytes) -> str:
    """Charge (or authorise) a validated order once and write the result back; returns the GP transaction id.

    The key is given back on any failure, so the next attempt (a retry, a replay) charges again with the
    same ``x-gp-idempotency`` key and GP answers with the original transaction instead of a second one.
    """
    envelope = _envelope(body)
    try:
        order = Order.model_validate(envelope.data)
    except ValueError as exc:
        raise FatalError("InvalidOrder", str(exc)) from None
    with services.keys.renewing() as keys:  # a slow gateway keeps the claim: only a dead worker's is taken over
        return _charge_once(services, keys, envelope, order)


def _charge_once(services: Services, keys: IdempotencyKeys, envelope: Envelope, order: Order) -> str:
    claim = keys.claim(f"charge-{order.erp}-{order.company}", order.external_key)
    if claim.duplicate:
        _audit(services, envelope, "charge.order", "already_charged", order=order.number,
               transaction=claim.result_ref)
        return claim.result_ref or ""
    if not claim.acquired:
        raise RetriableError("KeyBusy", f"{order.external_key} is being charged by another worker; the message "
                             "will be redelivered")
    try:
        transaction = _charge(services, order)
        if transaction.approved:
            _approved(services, envelope, order, transaction)
        else:
            _declined(services, envelope, order, transaction)
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


def _charge(services: Services, order: Order) -> Transaction:
    token = payment_token(services, order.erp, order.company, order.customer)
    if token is None:
        raise _no_token(order)
    try:
        gp = services.gp
    except ConfigError as error:
        raise FatalError("NotConfigured", str(error)) from None
    capture = services.settings.order_capture == "charge"
    try:
        return gp.charge(order.amount, reference=order.number, token=token, capture=capture,
                         idempotency_key=order.external_key)
    except DuplicateAction:
        # GP knew the key but did not say which transaction it made: the order number is its reference.
        found = [t for t in gp.find_transactions(reference=order.number) if t.type == "SALE"]
        if not found:
            raise
        return found[-1]


def _approved(services: Services, envelope: Envelope, order: Order, transaction: Transaction) -> None:
    """Record it, hand the payment to the post step (it matters most, so it goes first), then mark the order."""
    authorised = transaction.status is PaymentStatus.PREAUTHORIZED
    label = "AUTHORISED" if authorised else "APPROVED"
    _remember_result(services, order, transaction, label)
    method = transaction.payment_method
    card = method.card if method else None
    payment = Payment(
        transaction_id=transaction.id,
        merchant_id=transaction.merchant_id or services.settings.merchant_id or order.company,
        kind=PaymentKind.SALE, status=transaction.status, amount=transaction.amount, reference=order.number,
        batch_id=transaction.batch_id, card_brand=card.brand if card else None,
        card_last4=card.last4 if card else None, auth_code=(card.authcode or None) if card else None,
        occurred_at=transaction.time_created)
    posting = Envelope(correlation_id=envelope.correlation_id, type="payment.normalised", source=SOURCE_ORDERS,
                       subject=transaction.id, idempotency_key=payment.external_key,
                       data=payment.model_dump(mode="json"))
    services.bus.send(payments.POST_QUEUE, [to_message(posting)])
    written = order_source(services, order.erp).write_result(order, f"{label} {transaction.id}")
    _audit(services, envelope, "charge.order", label.lower(), order=order.number, transaction=transaction.id,
           amount=str(transaction.amount), replayed=transaction.replayed, written_back=written)


def _declined(services: Services, envelope: Envelope, order: Order, transaction: Transaction) -> None:
    """Recorded, alerted, written onto the order where the ERP has a field; never retried (a decline is an
    answer, not a failure: charging again would only be declined again, or worse, look like card testing)."""
    method = transaction.payment_method
    result = (method.result if method else None) or transaction.status.value
    message = (method.message if method else None) or ""
    _remember_result(services, order, transaction, "DECLINED")
    services.alerts.notify(Alert(
        "payment_declined", f"{order.erp} order {order.number} ({order.amount}, customer {order.customer}) was "
        f"declined: {result} {message}; it will not be charged again",
        {"order": order.number, "company": order.company, "customer": order.customer, "result": result,
         "message": message, "transaction": transaction.id}))
    written = order_source(services, order.erp).write_result(order, f"DECLINED {result} {message}".strip())
    _audit(services, envelope, "charge.order", "declined", order=order.number, transaction=transaction.id,
           result=result, message=message, amount=str(order.amount), written_back=written)


# Business Central subscriptions ------------------------------------------------------------------------------


def ensure_bc_subscription(services: Services) -> SubscriptionState | None:
    """Keep the ``salesOrders`` subscription alive (the timer and ``hl365 subscriptions ensure``).

    Does nothing unless ``D365_TARGET`` is ``bc``. A subscription BC dropped is recreated and the orders
    changed since it was last seen alive are re-read, so no order waits for a notification that never comes.

    Raises:
        ConfigError: ``HL365_PUBLIC_URL`` or ``BC_WEBHOOK_CLIENT_STATE`` is not set.
        IntegrationError: BC refused or failed (alerted).
    """
    if services.settings.d365_target != "bc":
        return None
    url = str(services.settings.require("public_url")).rstrip("/") + BC_WEBHOOK_PATH
    state = str(services.settings.require("bc_webhook_client_state"))
    try:
        keeper = SubscriptionKeeper(services.bc, services.tables.table(CHECKPOINTS), notification_url=url,
                                    client_state=state, collection=BC_COLLECTION, clock=lambda: utcnow())
        result = keeper.ensure()
    except IntegrationError as error:
        services.alerts.notify(Alert("bc_subscription_failed", f"the Business Central {BC_COLLECTION} subscription "
                                     f"for {url} could not be kept: {error.reason}: {error.description}",
                                     {"url": url}))
        raise
    services.audit.record(step="subscription.bc", event_id=result.subscription_id,
                          correlation_id=result.subscription_id, outcome=result.action,
                          detail={"expires": result.expires.isoformat(), "url": url})
    if result.lost_since is not None:
        _catch_up(services, result)
    return result


def _catch_up(services: Services, result: SubscriptionState) -> None:
    since = result.lost_since or utcnow()
    stamp = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    company = services.bc.company_id.lower()
    envelope = Envelope(type="order.requery", source=SOURCE_BC, subject=f"{BC_COLLECTION} since {stamp}",
                        idempotency_key=f"bc:requery:{company}:{stamp}",
                        data={"erp": "bc", "company": company, "filter": f"lastModifiedDateTime gt {stamp}"})
    services.bus.send(TRANSFORM_QUEUE, [to_message(envelope)])
    services.alerts.notify(Alert("bc_subscription_recreated", f"Business Central had dropped the {BC_COLLECTION} "
                                 f"subscription; a new one ({result.subscription_id}) was made and orders changed "
                                 f"since {stamp} are read again", {"subscription": result.subscription_id}))


def subscription_answer(services: Services) -> Answer:
    """``POST /api/admin/subscriptions``: run the keeper now and say what it did."""
    try:
        result = ensure_bc_subscription(services)
    except ConfigError as error:
        return Answer(409, f"not configured: {error}")
    except RetriableError as error:
        return Answer(503, f"Business Central is unavailable: {error}", headers={"Retry-After": "60"})
    except IntegrationError as error:
        return Answer(502, f"Business Central refused: {error.reason}: {error.description}")
    if result is None:
        return Answer(200, "D365_TARGET is not bc: no subscription is needed", {"action": "none"})
    return Answer(200, result.action, _describe(result))


def _describe(result: SubscriptionState) -> dict[str, Any]:
    return {"action": result.action, "subscription_id": result.subscription_id,
            "expires": result.expires.isoformat(), "notification_url": result.notification_url,
            "resource": result.resource,
            "lost_since": result.lost_since.isoformat() if result.lost_since else None}


__all__ = ["CHARGE_QUEUE", "CHECKPOINTS", "CROSS_REFERENCE", "QUEUES", "SOURCE_BC", "SOURCE_FO", "TRANSFORM_QUEUE",
           "charge_order", "ensure_bc_subscription", "order_result", "payment_token", "set_payment_token",
           "subscription_answer", "transform_order"]
