"""Transform: read a changed order again, validate it, and queue it for charging (or fan a BC collection out)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from decimal import Decimal
from itertools import islice

from shared.canonical.envelope import Envelope
from shared.canonical.orders import Order
from shared.canonical.products import StockPlace
from shared.errors import FatalError
from shared.flows.orders import CHARGE_QUEUE, SOURCE_BC, TRANSFORM_QUEUE, audit, order_source
from shared.flows.orders.results import order_result
from shared.flows.orders.tokens import no_token, payment_token
from shared.flows.pipeline import envelope_of
from shared.messaging.envelope import to_message
from shared.messaging.messages import OutgoingMessage
from shared.ops.alerts import Alert
from shared.ports import OrderSource, Ports
from shared.storage.entities import Entity

SEND_CHUNK = 100


def transform_order(ports: Ports, body: bytes) -> None:
    """Read the order again, validate it, and queue it for charging (or fan a BC collection out)."""
    envelope = envelope_of(body)
    data = envelope.data
    source = order_source(ports, str(data.get("erp")))
    company = str(data.get("company") or "").lower()
    if company != source.company:
        raise FatalError("OtherCompany", f"{source.erp} company {company!r} is not the one hl365 is connected to "
                         f"({source.company}); point the event or subscription at that company, or this one's "
                         "settings (D365_LEGAL_ENTITY / D365_BC_COMPANY) at it")
    if envelope.type == "order.requery":
        _requery(ports, envelope, source)
        return
    reference = str(data.get("order") or "")
    order = source.read(reference)
    if order is None:
        audit(ports, envelope, "transform.order", "order_not_found", order=reference, company=company)
        return
    done = order_result(ports, order)
    if done is not None:
        _already_paid(ports, envelope, order, done)
        return
    if payment_token(ports, order.erp, order.company, order.customer) is None:
        raise no_token(order)
    short = shortages(ports, order)
    if short:
        raise FatalError("InsufficientStock", f"{order.erp} order {order.number} cannot be met, so it is not "
                         f"charged: {'; '.join(short)}. Receive or move stock, then replay this dead letter")
    charge = envelope.model_copy(update={"type": "order.validated", "subject": order.number, "attempt": 0,
                                         "idempotency_key": order.external_key, "data": order.model_dump(mode="json")})
    # One message per source event: the charge step's claim, not the bus, keeps it to one charge per order,
    # and a re-sent order after a fixed dead letter is not dropped by duplicate detection.
    source_hash = hashlib.sha256(envelope.idempotency_key.encode()).hexdigest()[:16]
    ports.bus.send(CHARGE_QUEUE, [to_message(charge, message_id=f"{order.external_key}:{source_hash}")])
    audit(ports, envelope, "transform.order", "validated", order=order.number, customer=order.customer,
          amount=str(order.amount), lines=order.lines)


def shortages(ports: Ports, order: Order) -> list[str]:
    """The order's items the ERP cannot promise where they ship from, in words; empty when all can be met.

    Only places the mapping's ``catalog.inventory.locations`` names are checked (a line from a warehouse hl365
    does not know is the ERP's own business). Quantities of one item from one place are added up first."""
    rules = ports.mapping.catalog
    if rules is None or not order.items:
        return []
    places = {}
    for location, rule in rules.inventory.locations.items():
        warehouse = rule.warehouse(order.erp)
        if warehouse is not None:
            places[str(warehouse).casefold() if order.erp == "fo" else None] = StockPlace(location, warehouse)
    needed: dict[tuple[str, StockPlace], Decimal] = {}
    for item in order.items:
        place = places.get(item.warehouse.casefold() if order.erp == "fo" and item.warehouse else None)
        if place is not None:
            needed[(item.item_number, place)] = needed.get((item.item_number, place), Decimal(0)) + item.quantity
    if not needed:
        return []
    catalog = ports.catalog(order.erp)
    out = []
    for (item_number, place), quantity in sorted(needed.items(), key=lambda kv: kv[0][0]):
        available = catalog.available(item_number, place)
        if available < quantity:
            out.append(f"item {item_number} needs {quantity} at {place.warehouse}, {available} available")
    return out


def _already_paid(ports: Ports, envelope: Envelope, order: Order, done: Entity) -> None:
    """A changed order that was charged (or declined) already is not charged again; a changed total is
    a person's decision (refund, second charge), so it is alerted."""
    charged = f"{done.get('Amount')} {done.get('Currency')}"
    audit(ports, envelope, "transform.order", "already_charged", order=order.number, status=done.get("Status"),
          transaction=done.get("TransactionId"), charged=charged, total=str(order.amount))
    if done.get("Status") != "DECLINED" and charged != f"{format(order.amount.amount, 'f')} {order.amount.currency}":
        ports.alerts.notify(Alert(
            "order_changed_after_payment",
            f"{order.erp} order {order.number} now totals {order.amount} but {charged} was charged "
            f"({done.get('TransactionId')}); hl365 charges an order once, so settle the difference by hand",
            {"order": order.number, "transaction": str(done.get("TransactionId")), "charged": charged,
             "total": str(order.amount)}))


def _requery(ports: Ports, envelope: Envelope, source: OrderSource) -> None:
    """A BC ``collection`` notification: list the orders its ``$filter`` names and fan each out."""
    flt = str(envelope.data.get("filter") or "")
    if not flt:
        raise FatalError("InvalidNotification", "a collection re-query needs a $filter")
    company = source.company
    changed = source.changed(flt)

    def pointers() -> Iterator[OutgoingMessage]:
        for order_id, modified in changed:
            key = f"bc:{company}:{order_id}:{modified}"
            pointer = Envelope(correlation_id=envelope.correlation_id, type="order.changed", source=SOURCE_BC,
                               subject=order_id, idempotency_key=key[:128],
                               data={"erp": "bc", "company": company, "order": order_id, "change": "collection"})
            yield to_message(pointer)

    sent = 0
    messages = pointers()
    while chunk := list(islice(messages, SEND_CHUNK)):
        ports.bus.send(TRANSFORM_QUEUE, chunk)
        sent += len(chunk)
    audit(ports, envelope, "transform.order", "requeried", filter=flt, orders=sent)
