"""What hl365 recorded for each order it charged (or saw declined), in ``CrossReference``: the one
answer to "was this order paid", whatever the ERP can hold."""

from __future__ import annotations

from shared.canonical.orders import Order
from shared.flows import orders
from shared.heartland.gp_models import Transaction
from shared.ports import Ports
from shared.storage import tables
from shared.storage.entities import Entity
from shared.storage.keys import safe_key


def _result_partition(order: Order) -> str:
    return f"order-{order.erp}-{order.company}"


def order_result(ports: Ports, order: Order) -> Entity | None:
    """What hl365 recorded for the order: ``Status`` (APPROVED, AUTHORISED, DECLINED), ``TransactionId``…"""
    return ports.tables.table(tables.CROSS_REFERENCE).get(_result_partition(order), safe_key(order.number))


def remember_result(ports: Ports, order: Order, transaction: Transaction, status: str) -> None:
    method = transaction.payment_method
    ports.tables.table(tables.CROSS_REFERENCE).upsert(Entity(_result_partition(order), safe_key(order.number), {
        "Order": order.number, "Key": order.external_key, "Customer": order.customer,
        "TransactionId": transaction.id, "Status": status, "GatewayStatus": transaction.status.value,
        "Result": (method.result if method else None) or "", "Message": (method.message if method else None) or "",
        "Amount": format(transaction.amount.amount, "f"), "Currency": transaction.currency, "At": orders.utcnow()}))
