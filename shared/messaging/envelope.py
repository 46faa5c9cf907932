"""Envelopes on the wire: the one place that decides MessageId, SessionId and application properties."""

from __future__ import annotations

from datetime import datetime

from shared.canonical.envelope import Envelope
from shared.messaging.messages import OutgoingMessage


def to_message(envelope: Envelope, *, session_id: str | None = None, message_id: str | None = None,
               scheduled_enqueue_time: datetime | None = None) -> OutgoingMessage:
    """``MessageId`` is the idempotency key, so Service Bus duplicate detection drops a re-sent event.

    A retry or a replay passes its own ``message_id`` (the key plus the attempt), so duplicate
    detection lets it through while the envelope keeps the idempotency key the target is checked by.
    """
    return OutgoingMessage(
        body=envelope.model_dump_json().encode(),
        message_id=message_id or envelope.idempotency_key,
        session_id=session_id,
        scheduled_enqueue_time=scheduled_enqueue_time,
        application_properties={
            "type": envelope.type,
            "source": envelope.source,
            "correlation_id": envelope.correlation_id,
            "attempt": envelope.attempt,
        },
    )
