"""Orders (U4): a new or changed Dynamics sales order → a GP API charge (or authorisation) → the result
written back to Dynamics.

* Intake (``orders.intake``: the ``FO`` and ``BC`` sources) puts a pointer to the order on ``orders-transform``.
* Transform reads the order again from the ERP, validates it (``shared.dynamics.orders``), checks the customer has a
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

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

from shared.canonical.envelope import Envelope
from shared.errors import ConfigError, FatalError
from shared.ports import Gateway, OrderSource, Ports

P = TypeVar("P")

TRANSFORM_QUEUE = "orders-transform"
CHARGE_QUEUE = "orders-charge"
QUEUES = (TRANSFORM_QUEUE, CHARGE_QUEUE)
SOURCE_FO = "dynamics.fo"
SOURCE_BC = "dynamics.bc"
SOURCE_ORDERS = "hl365.orders"


def utcnow() -> datetime:
    """Now; looked up at call time so a test can move it together with a simulator's clock."""
    return datetime.now(UTC)


def order_source(ports: Ports, erp: str) -> OrderSource:
    """The ERP an order lives in; a missing setting parks the message (replay it once configured)."""
    return configured(lambda: ports.orders(erp))


def gateway(ports: Ports) -> Gateway:
    """The card gateway; a missing setting parks the message (replay it once configured)."""
    return configured(lambda: ports.gateway)


def configured(port: Callable[[], P]) -> P:
    try:
        return port()
    except ConfigError as error:
        raise FatalError("NotConfigured", error.description) from None


def audit(ports: Ports, envelope: Envelope, step: str, outcome: str, **detail: object) -> None:
    ports.audit.record(step=step, event_id=envelope.idempotency_key, correlation_id=envelope.correlation_id,
                       outcome=outcome, detail=detail)
