from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from shared.canonical.envelope import Envelope
from shared.messaging.envelope import to_message


def envelope(**overrides: object) -> Envelope:
    fields: dict[str, object] = {"type": "payment.captured", "source": "heartland.gp", "subject": "TRN_1",
                                 "idempotency_key": "gp:TRN_1:CAPTURED", "data": {"id": "TRN_1"}}
    fields.update(overrides)
    return Envelope(**fields)  # type: ignore[arg-type]


def test_round_trips_through_json_with_every_field() -> None:
    original = envelope(attempt=2, time=datetime(2026, 11, 26, 12, tzinfo=timezone(timedelta(hours=-5))))
    again = Envelope.from_body(original.model_dump_json().encode())
    assert again == original
    assert again.time == datetime(2026, 11, 26, 17, tzinfo=UTC)
    assert set(original.model_dump()) == {"id", "type", "source", "subject", "time", "idempotency_key",
                                          "correlation_id", "attempt", "data"}


@pytest.mark.parametrize(
    ("field", "value"),
    [("type", "Payment"), ("idempotency_key", ""), ("idempotency_key", "k" * 129), ("attempt", -1),
     ("time", datetime(2026, 1, 1)), ("source", "")],
)
def test_invalid_fields_are_named(field: str, value: object) -> None:
    with pytest.raises(ValidationError) as caught:
        envelope(**{field: value})
    assert caught.value.errors()[0]["loc"] == (field,)


def test_unknown_fields_are_refused() -> None:
    with pytest.raises(ValidationError):
        envelope(extra="x")


def test_message_id_is_the_idempotency_key_for_duplicate_detection() -> None:
    item = envelope()
    message = to_message(item, session_id="MER_1")
    assert message.message_id == "gp:TRN_1:CAPTURED"
    assert message.session_id == "MER_1"
    assert message.application_properties["correlation_id"] == item.correlation_id
    assert message.application_properties["type"] == "payment.captured"
    assert Envelope.from_body(message.body) == item
