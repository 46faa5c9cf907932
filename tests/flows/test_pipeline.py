"""What happens to a message that fails: parked, rescheduled with a growing delay, or swept."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shared.canonical.envelope import Envelope
from shared.errors import FatalError, RetriableError
from shared.flows import pipeline
from shared.messaging.embedded import EmbeddedBus, QueueOptions
from shared.messaging.envelope import to_message
from shared.settings import Settings
from shared.wiring import Services

QUEUE = "payments-post"


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    built = Services(Settings(HL365_DATA_DIR=str(tmp_path), HL365_SETTINGS_FILE=str(tmp_path / "none.json")))
    yield built
    built.close()


def envelope(attempt: int = 0) -> Envelope:
    return Envelope(type="payment.normalised", source="test", subject="TRN_1", idempotency_key="HPY-TRN_1",
                    attempt=attempt, data={"n": 1})


def fail_with(error: Exception) -> pipeline.Handler:
    def handler(services: Services, body: bytes) -> None:
        raise error

    return handler


def test_a_fatal_error_parks_the_message_with_reason_and_text(services: Services) -> None:
    original = envelope()
    body = to_message(original).body
    pipeline.handle(services, QUEUE, "m-1", body, fail_with(FatalError("CustomerOnHold", "Infolog: customer on hold")))
    [row] = list(services.dead_letters.list(days=1))
    assert (row["Queue"], row["Reason"], row["MessageId"]) == (QUEUE, "CustomerOnHold", "m-1")
    assert row["Description"] == "Infolog: customer on hold"
    assert Envelope.from_body(str(row["Body"])) == original


def test_a_transient_error_reschedules_with_the_attempt_counted(services: Services) -> None:
    before = datetime.now(UTC)
    pipeline.handle(services, QUEUE, "m-1", to_message(envelope()).body,
                    fail_with(RetriableError("Throttled", "429 from F&O")))
    bus = services.bus
    assert isinstance(bus, EmbeddedBus)
    assert bus.counts(QUEUE).scheduled == 1 and bus.counts(QUEUE).active == 0
    assert list(services.dead_letters.list(days=1)) == []
    later = EmbeddedBus(services.settings.data_dir / "bus.sqlite",
                        clock=lambda: (before + timedelta(seconds=31)).timestamp())
    [message] = later.receive(QUEUE)
    retried = Envelope.from_body(message.body)
    assert retried.attempt == 1 and retried.idempotency_key == "HPY-TRN_1"
    assert message.message_id == "HPY-TRN_1:attempt:1"
    later.close()


def test_delays_grow_and_are_capped() -> None:
    plain = [pipeline.retry_delay(n, jitter=lambda s: s).total_seconds() for n in range(1, 10)]
    assert plain[:4] == [30, 60, 120, 240] and plain[-1] == 3600
    assert 15 <= pipeline.retry_delay(1).total_seconds() <= 30


def test_retries_run_out_into_dead_letters(services: Services) -> None:
    body = to_message(envelope(attempt=pipeline.MAX_ATTEMPTS)).body
    pipeline.handle(services, QUEUE, "m-9", body, fail_with(RetriableError("Throttled", "still 429")))
    [row] = list(services.dead_letters.list(days=1))
    assert row["Reason"] == "RetriesExhausted" and "still 429" in str(row["Description"])


def test_the_sweep_moves_poison_messages_into_dead_letters(tmp_path: Path) -> None:
    settings = Settings(HL365_DATA_DIR=str(tmp_path), HL365_SETTINGS_FILE=str(tmp_path / "none.json"))
    services = Services(settings)
    bus = EmbeddedBus(tmp_path / "bus.sqlite", queues={QUEUE: QueueOptions(max_delivery_count=2)})
    services.__dict__["bus"] = bus
    bus.send(QUEUE, [to_message(envelope())])
    for _ in range(2):
        [message] = bus.receive(QUEUE)
        bus.abandon(message)
    assert bus.counts(QUEUE).dead_lettered == 1
    assert pipeline.sweep(services, (QUEUE,)) == 1
    [row] = list(services.dead_letters.list(days=1))
    assert (row["Reason"], row["MessageId"]) == ("MaxDeliveryCountExceeded", "HPY-TRN_1")
    assert bus.counts(QUEUE).dead_lettered == 0
    services.close()
