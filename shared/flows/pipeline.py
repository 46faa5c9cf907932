"""One way to run a queue handler: fatal errors are dead-lettered, anything else lets the bus redeliver."""

from __future__ import annotations

import logging
from collections.abc import Callable

from shared.errors import FatalError
from shared.ops.alerts import Alert
from shared.wiring import Services

log = logging.getLogger("hl365.pipeline")

Handler = Callable[[Services, bytes], object]


def handle(services: Services, queue: str, message_id: str, body: bytes, handler: Handler) -> None:
    """Run ``handler``; a FatalError parks the message in DeadLetters, alerts, and settles it.

    Any other exception propagates so the trigger abandons the message and the bus redelivers it,
    up to its max delivery count.
    """
    try:
        handler(services, body)
    except FatalError as error:
        services.dead_letters.park(queue=queue, body=body, message_id=message_id, reason=error.reason,
                                   description=error.description)
        services.alerts.notify(Alert("dead_lettered", f"{queue} message {message_id}: {error.reason}",
                                     {"queue": queue, "message_id": message_id, "description": error.description}))
        log.error("dead-lettered %s from %s: %s", message_id, queue, error)
