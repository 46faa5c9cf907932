"""Customers' card-on-file tokens: hl365's own data (Dynamics has no standard field for a gateway token),
in ``CrossReference``, partition ``token-{erp}-{company}``, set with ``hl365 tokens set``."""

from __future__ import annotations

from shared.canonical.orders import Erp, Order
from shared.errors import FatalError
from shared.flows import orders
from shared.ports import Ports
from shared.security.pan import find_pans
from shared.storage import tables
from shared.storage.entities import Entity
from shared.storage.keys import safe_key

MAX_TOKEN_LENGTH = 128


def _token_partition(erp: str, company: str) -> str:
    return f"token-{erp}-{company.lower()}"


def set_payment_token(ports: Ports, *, erp: Erp, company: str, customer: str, token: str) -> None:
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
    table = ports.tables.table(tables.CROSS_REFERENCE)
    table.upsert(Entity(_token_partition(erp, company), safe_key(customer.strip()),
                        {"Customer": customer.strip(), "Token": token, "UpdatedAt": orders.utcnow()}))
    ports.audit.record(step="tokens.set", event_id=f"{erp}:{company.lower()}:{customer.strip()}",
                       correlation_id=f"token-{erp}", outcome="stored",
                       detail={"customer": customer.strip(), "token": f"…{token[-4:]}"})


def payment_token(ports: Ports, erp: str, company: str, customer: str) -> str | None:
    row = ports.tables.table(tables.CROSS_REFERENCE).get(_token_partition(erp, company), safe_key(customer))
    return str(row["Token"]) if row is not None and row.get("Token") else None


def no_token(order: Order) -> FatalError:
    return FatalError("NoPaymentToken", f"customer {order.customer} of {order.erp} {order.company} has no stored "
                      f"payment token, so order {order.number} ({order.amount}) was not charged; store one with "
                      f"`hl365 tokens set --erp {order.erp} --company {order.company} --customer {order.customer} "
                      "--token PMT_…` and replay this dead letter")
