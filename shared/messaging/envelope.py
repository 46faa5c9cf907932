"""Envelopes on the wire: the one place that decides MessageId, SessionId and application properties."""

from __future__ import annotations

from shared.canonical.envelope import Envelope
from shared.messaging.port import OutgoingMessage


def to_message(envelope: Envelope, *, session_id: str | None = None) -> OutgoingMessage:
    """``MessageId`` is the idempotency key, so Service Bus duplicate detection drops a re-sent event."""
    return OutgoingMessage(
        body=envelope.model_dump_json().encode(),
        message_id=envelope.idempotency_key,
        session_id=session_id,
        application_properties={
            "type": envelope.type,
            "source": envelope.source,
            "correlation_id": envelope.correlation_id,
            "attempt": envelope.attempt,
        },
    )
