"""What travels on the bus (the port itself is ``shared.ports.MessageSender``): sending is the product's only
need in Azure; receiving belongs to the embedded bus, which reproduces Service Bus peek-lock semantics."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

PropertyValue = str | int | float | bool


@dataclass(frozen=True)
class OutgoingMessage:
    """What a sender puts on a queue.

    ``message_id`` drives duplicate detection, ``session_id`` FIFO order, and
    ``scheduled_enqueue_time`` (timezone-aware) keeps the message invisible until then.
    """

    body: bytes
    message_id: str
    session_id: str | None = None
    application_properties: Mapping[str, PropertyValue] = field(default_factory=dict)
    scheduled_enqueue_time: datetime | None = None
    content_type: str = "application/json"


@dataclass(frozen=True)
class ReceivedMessage:
    """A peek-locked message; settle it with its ``lock_token`` before ``locked_until``."""

    body: bytes
    message_id: str
    session_id: str | None
    application_properties: Mapping[str, PropertyValue]
    content_type: str
    delivery_count: int
    enqueued_time: datetime
    sequence_number: int
    lock_token: str
    locked_until: datetime
    dead_letter_reason: str | None = None
    dead_letter_description: str | None = None


MAX_ID_LENGTH = 128
"""Service Bus caps MessageId and SessionId at 128 characters."""


def validate_message(message: OutgoingMessage) -> None:
    """What every adapter refuses before sending, as Service Bus would.

    Raises:
        ValueError: an id is empty or too long, or a schedule time is naive.
    """
    if not message.message_id:
        raise ValueError("message_id must not be empty")
    if len(message.message_id) > MAX_ID_LENGTH:
        raise ValueError(f"message_id is longer than {MAX_ID_LENGTH} characters: {len(message.message_id)}")
    if message.session_id is not None:
        if not message.session_id:
            raise ValueError("session_id must be None or non-empty")
        if len(message.session_id) > MAX_ID_LENGTH:
            raise ValueError(
                f"session_id is longer than {MAX_ID_LENGTH} characters: {len(message.session_id)}"
            )
    if message.scheduled_enqueue_time is not None and message.scheduled_enqueue_time.utcoffset() is None:
        raise ValueError("scheduled_enqueue_time must be timezone-aware")
