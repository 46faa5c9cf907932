"""Orders into Heartland payments (U4): the two webhooks, the two queues and the subscription timer,
each bound to one core call."""

from __future__ import annotations

import azure.functions as func

from functions.http import respond, respond_awaited
from shared import wiring
from shared.flows import admin, intake, orders, pipeline
from shared.flows.orders import charge, subscriptions, transform
from shared.flows.orders.intake import BC, FO

bp = func.Blueprint()


@bp.route(route="webhooks/fo", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
async def fo_webhook(req: func.HttpRequest) -> func.HttpResponse:
    """F&O's HTTPS business-event endpoint carries the Functions key in its URL (``?code=``)."""
    return await respond_awaited(lambda: intake.accept_together(wiring.services(), FO, req.get_body(), req.headers))


@bp.route(route="webhooks/bc", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
async def bc_webhook(req: func.HttpRequest) -> func.HttpResponse:
    """Business Central sends no Functions key: ``clientState`` authenticates notifications, and the
    ``validationToken`` handshake is answered with the token as plain text."""
    return await respond_awaited(lambda: intake.accept_together(wiring.services(), BC, req.get_body(), req.headers,
                                                                req.params))


@bp.service_bus_queue_trigger(arg_name="msg", queue_name=orders.TRANSFORM_QUEUE, connection="ServiceBusConnection")
def orders_transform(msg: func.ServiceBusMessage) -> None:
    pipeline.handle(wiring.services(), orders.TRANSFORM_QUEUE, str(msg.message_id), msg.get_body(),
                    transform.transform_order)


@bp.service_bus_queue_trigger(arg_name="msg", queue_name=orders.CHARGE_QUEUE, connection="ServiceBusConnection")
def orders_charge(msg: func.ServiceBusMessage) -> None:
    pipeline.handle(wiring.services(), orders.CHARGE_QUEUE, str(msg.message_id), msg.get_body(),
                    charge.charge_order)


@bp.timer_trigger(arg_name="timer", schedule="%HL365_BC_SUBSCRIPTION_SCHEDULE%", run_on_startup=False,
                  use_monitor=True)
def bc_subscriptions(timer: func.TimerRequest) -> None:  # noqa: ARG001
    """Renew (or recreate) the Business Central ``salesOrders`` subscription well before its 3-day expiry."""
    subscriptions.ensure_bc_subscription(wiring.services())


@bp.route(route="admin/subscriptions", methods=["POST"], auth_level=func.AuthLevel.ADMIN)
def bc_subscriptions_run(req: func.HttpRequest) -> func.HttpResponse:  # noqa: ARG001
    """``POST /api/admin/subscriptions``: the timer's work now, e.g. right after a deployment."""
    return respond(lambda: admin.keep_subscription(wiring.services()))
