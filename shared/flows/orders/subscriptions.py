"""Business Central's ``salesOrders`` subscription, kept alive by a timer; orders changed while it was lost
are read again."""

from __future__ import annotations

from datetime import UTC

from shared.canonical.envelope import Envelope
from shared.errors import IntegrationError
from shared.flows import orders
from shared.flows.orders import SOURCE_BC, TRANSFORM_QUEUE, order_source
from shared.messaging.envelope import to_message
from shared.ops.alerts import Alert
from shared.ports import Ports, SubscriptionState

BC_COLLECTION = "salesOrders"


def ensure_bc_subscription(ports: Ports) -> SubscriptionState | None:
    """Keep the ``salesOrders`` subscription alive (the timer and ``hl365 subscriptions ensure``).

    Does nothing unless ``D365_TARGET`` is ``bc``. A subscription BC dropped is recreated and the orders
    changed since it was last seen alive are re-read, so no order waits for a notification that never comes.

    Raises:
        ConfigError: ``HL365_PUBLIC_URL`` or ``BC_WEBHOOK_CLIENT_STATE`` is not set.
        IntegrationError: BC refused or failed (alerted).
    """
    if ports.settings.d365_target != "bc":
        return None
    keeper = ports.order_subscriptions(clock=lambda: orders.utcnow())
    url = keeper.notification_url
    try:
        result = keeper.ensure()
    except IntegrationError as error:
        ports.alerts.notify(Alert("bc_subscription_failed", f"the Business Central {BC_COLLECTION} subscription "
                                  f"for {url} could not be kept: {error.reason}: {error.description}",
                                  {"url": url}))
        raise
    ports.audit.record(step="subscription.bc", event_id=result.subscription_id,
                       correlation_id=result.subscription_id, outcome=result.action,
                       detail={"expires": result.expires.isoformat(), "url": url})
    if result.lost_since is not None:
        _catch_up(ports, result)
    return result


def _catch_up(ports: Ports, result: SubscriptionState) -> None:
    since = result.lost_since or orders.utcnow()
    stamp = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    company = order_source(ports, "bc").company
    envelope = Envelope(type="order.requery", source=SOURCE_BC, subject=f"{BC_COLLECTION} since {stamp}",
                        idempotency_key=f"bc:requery:{company}:{stamp}",
                        data={"erp": "bc", "company": company, "filter": f"lastModifiedDateTime gt {stamp}"})
    ports.bus.send(TRANSFORM_QUEUE, [to_message(envelope)])
    ports.alerts.notify(Alert("bc_subscription_recreated", f"Business Central had dropped the {BC_COLLECTION} "
                              f"subscription; a new one ({result.subscription_id}) was made and orders changed "
                              f"since {stamp} are read again", {"subscription": result.subscription_id}))
