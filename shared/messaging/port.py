"""The bus port: sending is the product's only need in Azure; receiving belongs to the embedded bus,
which reproduces Service Bus peek-lock semantics for the local host and the tests."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

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


class MessageSender(Protocol):
    """Puts messages on named queues."""

    def send(self, queue: str, messages: Sequence[OutgoingMessage]) -> None:
        """Send; a message whose id was seen within the duplicate-detection window is dropped silently."""
        ...

    def close(self) -> None: ...
