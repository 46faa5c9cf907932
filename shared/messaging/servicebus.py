"""Service Bus adapter of the bus port: the thin sender the product uses in Azure.

Receiving is the Functions host's job in Azure (peek-lock triggers), so this adapter sends, and
only reads the dead-letter sub-queues, for the sweep that moves poison messages into DeadLetters.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from azure.servicebus import (
    ServiceBusClient,
    ServiceBusMessage,
    ServiceBusMessageBatch,
    ServiceBusReceiveMode,
    ServiceBusSubQueue,
)
from azure.servicebus.exceptions import MessageSizeExceededError

from shared.messaging.errors import MessageTooLarge
from shared.messaging.messages import OutgoingMessage, ReceivedMessage, validate_message


class _Closeable(Protocol):
    def close(self) -> None: ...


class QueueSenderLike(Protocol):
    """The part of ``azure.servicebus.ServiceBusSender`` this adapter relies on."""

    def create_message_batch(self) -> ServiceBusMessageBatch: ...

    def send_messages(self, message: ServiceBusMessageBatch) -> None: ...

    def schedule_messages(self, messages: ServiceBusMessage, schedule_time_utc: datetime) -> object: ...

    def close(self) -> None: ...


class QueueReceiverLike(Protocol):
    """The part of ``azure.servicebus.ServiceBusReceiver`` the dead-letter sweep relies on."""

    def receive_messages(self, max_message_count: int | None = 1, max_wait_time: float | None = None) -> Any: ...

    def complete_message(self, message: Any) -> None: ...

    def abandon_message(self, message: Any) -> None: ...

    def close(self) -> None: ...


class ServiceBusClientLike(Protocol):
    """The part of ``azure.servicebus.ServiceBusClient`` this adapter relies on."""

    def get_queue_sender(self, queue_name: str) -> QueueSenderLike: ...

    def get_queue_receiver(self, queue_name: str, *, sub_queue: Any = None, max_wait_time: float | None = None,
                           receive_mode: Any = ...) -> QueueReceiverLike: ...

    def close(self) -> None: ...


class ServiceBusQueueSender:
    """Sends port messages to Service Bus queues, batching up to the link's size limit.

    Args:
        client: A ``ServiceBusClient``; injected so the owner controls credentials and lifetime.
    """

    def __init__(self, client: ServiceBusClientLike) -> None:
        self._client = client
        self._senders: dict[str, QueueSenderLike] = {}
        self._lock = threading.Lock()
        self._owned: list[_Closeable] = []

    @classmethod
    def from_connection(
        cls,
        *,
        connection_string: str | None = None,
        fully_qualified_namespace: str | None = None,
    ) -> ServiceBusQueueSender:
        """Build from app settings: a connection string locally, managed identity in Azure.

        A connection string wins when both are given; empty strings count as absent because unset
        app settings often arrive as ``""``.

        Raises:
            ValueError: Neither a connection string nor a namespace was given.
        """
        if connection_string:
            return cls(ServiceBusClient.from_connection_string(connection_string))
        if fully_qualified_namespace:
            from azure.identity import DefaultAzureCredential

            credential = DefaultAzureCredential()
            adapter = cls(ServiceBusClient(fully_qualified_namespace, credential))
            adapter._owned.append(credential)
            return adapter
        raise ValueError(
            "Service Bus needs a connection string or a fully qualified namespace "
            "(ServiceBusConnection__fullyQualifiedNamespace, e.g. 'hl365.servicebus.windows.net')"
        )

    def _sender(self, queue: str) -> QueueSenderLike:
        with self._lock:
            sender = self._senders.get(queue)
            if sender is None:
                sender = self._client.get_queue_sender(queue_name=queue)
                self._senders[queue] = sender
            return sender

    def send(self, queue: str, messages: Sequence[OutgoingMessage]) -> None:
        """Send immediate messages in as few batches as fit, then schedule the delayed ones.

        Every message is validated before the first network call, so a bad message sends nothing.

        Raises:
            MessageTooLarge: One message alone does not fit in a batch.
            ValueError: An id is empty or too long, or a schedule time is naive.
        """
        if not queue:
            raise ValueError("queue name must not be empty")
        immediate: list[ServiceBusMessage] = []
        scheduled: list[tuple[ServiceBusMessage, datetime]] = []
        for message in messages:
            converted = to_service_bus_message(message)
            if message.scheduled_enqueue_time is None:
                immediate.append(converted)
            else:
                scheduled.append((converted, message.scheduled_enqueue_time.astimezone(UTC)))
        if not immediate and not scheduled:
            return
        sender = self._sender(queue)
        if immediate:
            _send_batched(sender, immediate)
        for converted, when in scheduled:
            sender.schedule_messages(converted, when)

    def sweep_dead_letters(self, queue: str, park: Callable[[ReceivedMessage], None], *,
                           max_messages: int = 100) -> int:
        """Take up to ``max_messages`` from ``queue``'s dead-letter sub-queue, park each, complete it."""
        receiver = self._client.get_queue_receiver(queue_name=queue, sub_queue=ServiceBusSubQueue.DEAD_LETTER,
                                                   max_wait_time=5, receive_mode=ServiceBusReceiveMode.PEEK_LOCK)
        moved = 0
        try:
            for message in receiver.receive_messages(max_message_count=max_messages, max_wait_time=5):
                try:
                    park(from_service_bus_message(message))
                except Exception:
                    receiver.abandon_message(message)
                    raise
                receiver.complete_message(message)
                moved += 1
        finally:
            receiver.close()
        return moved

    def close(self) -> None:
        """Close every cached sender, then the client and any credential this adapter created."""
        with self._lock:
            senders = list(self._senders.values())
            self._senders.clear()
        errors: list[Exception] = []
        for sender in senders:
            try:
                sender.close()
            except Exception as exc:
                errors.append(exc)
        owned, self._owned = self._owned, []
        for closeable in [self._client, *owned]:
            try:
                closeable.close()
            except Exception as exc:
                errors.append(exc)
        if errors:
            raise errors[0]


def to_service_bus_message(message: OutgoingMessage) -> ServiceBusMessage:
    """Map a port message to the SDK's message; ``MessageId`` is the duplicate-detection key.

    Raises:
        ValueError: An id is empty or too long, or a schedule time is naive.
    """
    validate_message(message)
    properties: dict[str | bytes, Any] | None = (
        {key: value for key, value in message.application_properties.items()}
        if message.application_properties
        else None
    )
    return ServiceBusMessage(
        message.body,
        message_id=message.message_id,
        session_id=message.session_id,
        application_properties=properties,
        content_type=message.content_type,
    )


def _send_batched(sender: QueueSenderLike, messages: Sequence[ServiceBusMessage]) -> None:
    batch = sender.create_message_batch()
    for message in messages:
        if _try_add(batch, message):
            continue
        if len(batch) == 0:
            raise _too_large(message, batch)
        sender.send_messages(batch)
        batch = sender.create_message_batch()
        if not _try_add(batch, message):
            raise _too_large(message, batch)
    if len(batch):
        sender.send_messages(batch)


def _try_add(batch: ServiceBusMessageBatch, message: ServiceBusMessage) -> bool:
    try:
        batch.add_message(message)
    except MessageSizeExceededError:
        return False
    return True


def _too_large(message: ServiceBusMessage, batch: ServiceBusMessageBatch) -> MessageTooLarge:
    return MessageTooLarge(
        f"message {message.message_id!r} does not fit in a batch of {batch.max_size_in_bytes} bytes"
    )


def from_service_bus_message(message: Any) -> ReceivedMessage:
    """The port's view of an SDK ``ServiceBusReceivedMessage`` (its body may arrive in sections)."""
    body = message.body
    data = body if isinstance(body, bytes) else b"".join(bytes(part) for part in body)
    properties = {(k.decode() if isinstance(k, bytes) else str(k)): (v.decode() if isinstance(v, bytes) else v)
                  for k, v in (message.application_properties or {}).items()}
    return ReceivedMessage(
        body=data,
        message_id=str(message.message_id),
        session_id=message.session_id,
        application_properties=properties,
        content_type=message.content_type or "",
        delivery_count=int(message.delivery_count or 0),
        enqueued_time=message.enqueued_time_utc or datetime.now(UTC),
        sequence_number=int(message.sequence_number or 0),
        lock_token=str(message.lock_token),
        locked_until=message.locked_until_utc or datetime.now(UTC),
        dead_letter_reason=message.dead_letter_reason,
        dead_letter_description=message.dead_letter_error_description,
    )
