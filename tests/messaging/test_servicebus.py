"""The Service Bus adapter is checked for what it hands the SDK: real ``ServiceBusMessage`` objects in
real ``ServiceBusMessageBatch`` batches, since no emulator can run here."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from azure.identity import DefaultAzureCredential
from azure.servicebus import ServiceBusClient, ServiceBusMessage, ServiceBusMessageBatch

from shared.messaging.errors import MessageTooLarge
from shared.messaging.messages import OutgoingMessage
from shared.messaging.servicebus import ServiceBusQueueSender

CONNECTION_STRING = (
    "Endpoint=sb://hl365-test.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=c2VjcmV0"
)


class RecordingSender:
    """Stands in for ``ServiceBusSender``; batches are the SDK's own, so their size rules apply."""

    def __init__(self, queue: str, max_batch_bytes: int) -> None:
        self.queue = queue
        self.max_batch_bytes = max_batch_bytes
        self.sent: list[list[ServiceBusMessage]] = []
        self.scheduled: list[tuple[ServiceBusMessage, datetime]] = []
        self.closed = False

    def create_message_batch(self, max_size_in_bytes: int | None = None) -> ServiceBusMessageBatch:
        return ServiceBusMessageBatch(max_size_in_bytes=max_size_in_bytes or self.max_batch_bytes)

    def send_messages(self, message: Any, *, timeout: float | None = None) -> None:
        assert isinstance(message, ServiceBusMessageBatch)
        self.sent.append(list(message._messages))

    def schedule_messages(self, messages: Any, schedule_time_utc: datetime, **kwargs: Any) -> list[int]:
        assert isinstance(messages, ServiceBusMessage)
        self.scheduled.append((messages, schedule_time_utc))
        return [len(self.scheduled)]

    def close(self) -> None:
        self.closed = True


class RecordingClient:
    """Stands in for ``ServiceBusClient``: hands out recording senders and remembers them."""

    def __init__(self, max_batch_bytes: int = 256 * 1024) -> None:
        self.max_batch_bytes = max_batch_bytes
        self.senders: list[RecordingSender] = []
        self.closed = False

    def get_queue_sender(self, queue_name: str, **kwargs: Any) -> RecordingSender:
        sender = RecordingSender(queue_name, self.max_batch_bytes)
        self.senders.append(sender)
        return sender

    def close(self) -> None:
        self.closed = True


def body_of(message: ServiceBusMessage) -> bytes:
    return b"".join(message.body)


def test_messages_are_sent_as_real_service_bus_messages() -> None:
    client = RecordingClient()
    adapter = ServiceBusQueueSender(client)

    adapter.send(
        "payments",
        [
            OutgoingMessage(
                body=b'{"amount": "12.50"}',
                message_id="heartland:m1:t1:captured",
                session_id="m1",
                application_properties={"type": "payment.captured", "attempt": 2, "retry": True},
                content_type="application/json",
            ),
            OutgoingMessage(body=b"plain", message_id="m2", content_type="text/plain"),
        ],
    )

    [sender] = client.senders
    assert sender.queue == "payments"
    assert sender.scheduled == []
    [batch] = sender.sent
    first, second = batch
    assert all(type(m) is ServiceBusMessage for m in batch)
    assert body_of(first) == b'{"amount": "12.50"}'
    assert first.message_id == "heartland:m1:t1:captured"
    assert first.session_id == "m1"
    assert first.application_properties == {"type": "payment.captured", "attempt": 2, "retry": True}
    assert first.content_type == "application/json"
    assert first.scheduled_enqueue_time_utc is None
    assert (body_of(second), second.message_id, second.session_id) == (b"plain", "m2", None)
    assert second.content_type == "text/plain"
    assert not second.application_properties


def test_a_full_batch_is_sent_and_a_new_one_started() -> None:
    client = RecordingClient(max_batch_bytes=1200)
    adapter = ServiceBusQueueSender(client)
    messages = [OutgoingMessage(body=b"x" * 300, message_id=f"m{i}") for i in range(10)]

    adapter.send("journals", messages)

    [sender] = client.senders
    assert len(sender.sent) > 1
    assert all(0 < len(batch) < 10 for batch in sender.sent)
    assert [m.message_id for batch in sender.sent for m in batch] == [f"m{i}" for i in range(10)]


def test_a_message_too_big_for_an_empty_batch_is_refused_before_anything_is_sent() -> None:
    client = RecordingClient(max_batch_bytes=1000)
    adapter = ServiceBusQueueSender(client)

    with pytest.raises(MessageTooLarge):
        adapter.send("journals", [OutgoingMessage(body=b"x" * 2000, message_id="big")])

    assert all(sender.sent == [] for sender in client.senders)


def test_scheduled_messages_go_to_schedule_messages_at_their_utc_time() -> None:
    client = RecordingClient()
    adapter = ServiceBusQueueSender(client)
    when = datetime(2030, 1, 2, 5, 30, tzinfo=timezone(timedelta(hours=2)))

    adapter.send(
        "retries",
        [
            OutgoingMessage(body=b"later", message_id="r1", session_id="m1", scheduled_enqueue_time=when),
            OutgoingMessage(body=b"now", message_id="n1"),
        ],
    )

    [sender] = client.senders
    assert [[m.message_id for m in batch] for batch in sender.sent] == [["n1"]]
    [(scheduled, at)] = sender.scheduled
    assert type(scheduled) is ServiceBusMessage
    assert (body_of(scheduled), scheduled.message_id, scheduled.session_id) == (b"later", "r1", "m1")
    assert at == datetime(2030, 1, 2, 3, 30, tzinfo=UTC)
    assert at.utcoffset() == timedelta(0)


def test_one_sender_per_queue_and_close_closes_everything() -> None:
    client = RecordingClient()
    adapter = ServiceBusQueueSender(client)

    adapter.send("a", [OutgoingMessage(body=b"1", message_id="1")])
    adapter.send("a", [OutgoingMessage(body=b"2", message_id="2")])
    adapter.send("b", [OutgoingMessage(body=b"3", message_id="3")])
    adapter.close()

    assert [sender.queue for sender in client.senders] == ["a", "b"]
    assert [len(sender.sent) for sender in client.senders] == [2, 1]
    assert all(sender.closed for sender in client.senders)
    assert client.closed


def test_empty_send_opens_no_sender() -> None:
    client = RecordingClient()
    ServiceBusQueueSender(client).send("a", [])
    assert client.senders == []


@pytest.mark.parametrize(
    ("field", "message"),
    [
        ("message_id", OutgoingMessage(body=b"", message_id="m" * 129)),
        ("session_id", OutgoingMessage(body=b"", message_id="m", session_id="s" * 129)),
    ],
)
def test_invalid_ids_are_refused_before_anything_is_sent(field: str, message: OutgoingMessage) -> None:
    client = RecordingClient()
    adapter = ServiceBusQueueSender(client)

    with pytest.raises(ValueError, match=field):
        adapter.send("a", [OutgoingMessage(body=b"ok", message_id="ok"), message])

    assert client.senders == []


def test_from_connection_string_builds_a_client_for_that_namespace() -> None:
    adapter = ServiceBusQueueSender.from_connection(connection_string=CONNECTION_STRING)
    try:
        client = adapter._client
        assert isinstance(client, ServiceBusClient)
        assert client.fully_qualified_namespace == "hl365-test.servicebus.windows.net"
    finally:
        adapter.close()


def test_from_namespace_uses_default_azure_credential() -> None:
    namespace = "hl365-prod.servicebus.windows.net"
    adapter = ServiceBusQueueSender.from_connection(fully_qualified_namespace=namespace)
    try:
        client = adapter._client
        assert isinstance(client, ServiceBusClient)
        assert client.fully_qualified_namespace == namespace
        assert isinstance(client._credential, DefaultAzureCredential)
    finally:
        adapter.close()


@pytest.mark.parametrize("blank", [None, ""])
def test_from_connection_without_either_setting_is_a_clear_error(blank: str | None) -> None:
    with pytest.raises(ValueError, match="connection string or a fully qualified namespace"):
        ServiceBusQueueSender.from_connection(connection_string=blank, fully_qualified_namespace=blank)
