"""Customers: Retail's customer webhooks, the queue that stages them, the sync timer; each one core call."""

from __future__ import annotations

import azure.functions as func

from functions.http import respond_awaited
from shared import wiring
from shared.flows import customers, intake, pipeline

bp = func.Blueprint()


@bp.route(route="webhooks/retail/{kind}", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
async def retail_webhook(req: func.HttpRequest) -> func.HttpResponse:
    """``customer_created`` and ``customer_updated``; the Functions key is in the URL registered with Retail."""
    kind = req.route_params.get("kind", "")
    return await respond_awaited(lambda: intake.accept_together(wiring.services(), customers.retail_source(kind),
                                                                req.get_body(), req.headers))


@bp.service_bus_queue_trigger(arg_name="msg", queue_name=customers.QUEUE, connection="ServiceBusConnection")
def customers_stage(msg: func.ServiceBusMessage) -> None:
    pipeline.handle(wiring.services(), customers.QUEUE, str(msg.message_id), msg.get_body(), customers.stage_customer)


@bp.timer_trigger(arg_name="timer", schedule="%HL365_CUSTOMERS_SCHEDULE%", run_on_startup=False, use_monitor=True)
def customers_sync(timer: func.TimerRequest) -> None:  # noqa: ARG001
    """Pull every customer source, match, link: webhooks staged since the last run included."""
    customers.run_scheduled_sync(wiring.services())
