"""One way to run a queue handler, and what happens to a message that fails.

* A ``FatalError`` (validation, a 4xx, an unmapped name) parks the message in DeadLetters at once
  with the reason and the target's error text, alerts, and settles it.
* A ``RetriableError`` (throttling, 5xx, a lease held elsewhere), once the HTTP client's own
  in-process retries are spent, reschedules the message with a growing delay and the attempt
  counted in its envelope; past ``MAX_ATTEMPTS`` it is parked with ``RetriesExhausted``.
* Anything else propagates, so the trigger abandons the message and the bus redelivers it up to its
  max delivery count, after which the dead-letter sweep moves it into DeadLetters.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import orjson

from shared.canonical.envelope import Envelope
from shared.errors import FatalError, IntegrationError, RetriableError
from shared.messaging.envelope import to_message
from shared.ops import telemetry
from shared.ops.alerts import Alert
from shared.ports import Ports

log = logging.getLogger("hl365.pipeline")

Handler = Callable[[Ports, bytes], object]


@dataclass(frozen=True)
class Delivery:
    """One message of a micro-batch, as a batch trigger hands it over."""

    message_id: str
    body: bytes


BatchHandler = Callable[[Ports, Sequence[Delivery]], Mapping[str, IntegrationError]]

MAX_ATTEMPTS = 8
FIRST_DELAY = timedelta(seconds=30)
MAX_DELAY = timedelta(hours=1)


def retry_delay(attempt: int, jitter: Callable[[float], float] = lambda s: random.uniform(s / 2, s)) -> timedelta:
    """30 s, 1 min, 2 min … capped at an hour, jittered so a throttled target is not hit in step."""
    seconds = min(FIRST_DELAY.total_seconds() * 2 ** (attempt - 1), MAX_DELAY.total_seconds())
    return timedelta(seconds=jitter(seconds))


def envelope_of(body: bytes) -> Envelope:
    """A queue message's envelope; a body that is not one is parked at once."""
    try:
        return Envelope.from_body(body)
    except ValueError as exc:
        raise FatalError("InvalidEnvelope", str(exc)) from None


def handle(ports: Ports, queue: str, message_id: str, body: bytes, handler: Handler) -> None:
    """Run ``handler`` on one message; see the module's docstring for what failures do."""
    with telemetry.correlated(correlation_of(body)):
        try:
            handler(ports, body)
        except FatalError as error:
            park(ports, queue, message_id, body, error.reason, error.description)
        except RetriableError as error:
            reschedule(ports, queue, message_id, body, error)


def correlation_of(body: bytes) -> str | None:
    """The envelope's correlation id, so every log line of the message's handling carries it."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    value = document.get("correlation_id") if isinstance(document, dict) else None
    return str(value) if value else None


def handle_batch(ports: Ports, queue: str, deliveries: Sequence[Delivery], handler: BatchHandler) -> None:
    """Run ``handler`` on a micro-batch; it returns, by message id, the errors of the messages that failed,
    and each of those is parked or rescheduled alone while the rest of the batch completes."""
    try:
        failures = dict(handler(ports, deliveries))
    except (FatalError, RetriableError) as error:
        failures = {delivery.message_id: error for delivery in deliveries}
    for delivery in deliveries:
        failure = failures.get(delivery.message_id)
        if failure is None:
            continue
        with telemetry.correlated(correlation_of(delivery.body)):
            if isinstance(failure, FatalError):
                park(ports, queue, delivery.message_id, delivery.body, failure.reason, failure.description)
            elif isinstance(failure, RetriableError):
                reschedule(ports, queue, delivery.message_id, delivery.body, failure)


def park(ports: Ports, queue: str, message_id: str, body: bytes, reason: str, description: str) -> None:
    telemetry.count("dead_lettered", flow=queue)
    ports.dead_letters.park(queue=queue, body=body, message_id=message_id, reason=reason, description=description)
    ports.alerts.notify(Alert("dead_lettered", f"{queue} message {message_id}: {reason}",
                              {"queue": queue, "message_id": message_id, "description": description}))
    log.error("dead-lettered %s from %s: %s: %s", message_id, queue, reason, description)


def reschedule(ports: Ports, queue: str, message_id: str, body: bytes, error: RetriableError) -> None:
    try:
        envelope = Envelope.from_body(body)
    except ValueError:
        park(ports, queue, message_id, body, "InvalidEnvelope", f"could not be retried: {error}")
        return
    attempt = envelope.attempt + 1
    if attempt > MAX_ATTEMPTS:
        park(ports, queue, message_id, body, "RetriesExhausted", f"{MAX_ATTEMPTS} attempts; last: {error}")
        return
    telemetry.count("retried", flow=queue)
    due = datetime.now(UTC) + retry_delay(attempt)
    retry = envelope.model_copy(update={"attempt": attempt})
    ports.bus.send(queue, [to_message(retry, message_id=f"{envelope.idempotency_key}:attempt:{attempt}",
                                         scheduled_enqueue_time=due)])
    log.warning("%s from %s rescheduled for %s (attempt %d): %s", message_id, queue, due.isoformat(), attempt, error)


def sweep(ports: Ports, queues: tuple[str, ...]) -> int:
    """Move the bus's own dead-lettered messages (poison, max delivery count) into DeadLetters."""
    moved = 0
    for queue in queues:
        moved += ports.bus.sweep_dead_letters(queue, lambda message, q=queue: park(  # type: ignore[misc]
            ports, q, message.message_id, message.body, message.dead_letter_reason or "DeadLettered",
            message.dead_letter_description or ""))
    return moved
