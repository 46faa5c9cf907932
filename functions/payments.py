"""Payment queues: transform and post, each a single core call."""

from __future__ import annotations

import azure.functions as func

from shared import wiring
from shared.flows import payments, pipeline

bp = func.Blueprint()


@bp.service_bus_queue_trigger(arg_name="msg", queue_name=payments.TRANSFORM_QUEUE, connection="ServiceBusConnection")
def payments_transform(msg: func.ServiceBusMessage) -> None:
    pipeline.handle(wiring.services(), payments.TRANSFORM_QUEUE, str(msg.message_id), msg.get_body(),
                    payments.transform_payment)


@bp.service_bus_queue_trigger(arg_name="msg", queue_name=payments.POST_QUEUE, connection="ServiceBusConnection")
def payments_post(msg: func.ServiceBusMessage) -> None:
    pipeline.handle(wiring.services(), payments.POST_QUEUE, str(msg.message_id), msg.get_body(),
                    payments.post_payment)
