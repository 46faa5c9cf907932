"""Payment queues: transform and post in micro-batches; each a single core call."""

from __future__ import annotations

import azure.functions as func

from shared import wiring
from shared.flows import anomalies, payments, pipeline

bp = func.Blueprint()


@bp.service_bus_queue_trigger(arg_name="msgs", queue_name=payments.TRANSFORM_QUEUE, connection="ServiceBusConnection",
                               cardinality=func.Cardinality.MANY)
def payments_transform(msgs: list[func.ServiceBusMessage]) -> None:
    """A micro-batch: one send to the post queue and one audit append for all of it."""
    deliveries = [pipeline.Delivery(str(msg.message_id), msg.get_body()) for msg in msgs]
    pipeline.handle_batch(wiring.services(), payments.TRANSFORM_QUEUE, deliveries, payments.transform_payments)


@bp.service_bus_queue_trigger(arg_name="msgs", queue_name=payments.POST_QUEUE, connection="ServiceBusConnection",
                               cardinality=func.Cardinality.MANY)
def payments_post(msgs: list[func.ServiceBusMessage]) -> None:
    """A micro-batch (host.json ``maxMessageBatchSize`` / ``maxBatchWaitTime``) becomes one ERP journal."""
    deliveries = [pipeline.Delivery(str(msg.message_id), msg.get_body()) for msg in msgs]
    pipeline.handle_batch(wiring.services(), payments.POST_QUEUE, deliveries, payments.post_payments)


@bp.timer_trigger(arg_name="timer", schedule="0 */10 * * * *", run_on_startup=False, use_monitor=True)
def payments_poll(timer: func.TimerRequest) -> None:  # noqa: ARG001
    """The fallback for GP notifications that never arrived."""
    payments.poll_gp(wiring.services())


@bp.timer_trigger(arg_name="timer", schedule="%HL365_ANOMALY_SCHEDULE%", run_on_startup=False, use_monitor=True)
def anomaly_watch(timer: func.TimerRequest) -> None:  # noqa: ARG001
    """The anomaly detector over the last day of payments; new flags are stored and alerted once."""
    anomalies.watch(wiring.services())
