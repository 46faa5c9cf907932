"""GP API notifications (the ``status_url`` body) parsed and normalised to a canonical Payment: amounts in
minor units become exact Decimals at the currency's precision, bad bodies are refused naming each field,
and the idempotency key tells a capture from its reversal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from shared.canonical.payments import PaymentKind, PaymentStatus
from shared.heartland.notifications import parse_transaction, to_payment


def notification(**changes: Any) -> dict[str, Any]:
    """A notification as the GP simulator sends it to a ``status_url`` (trimmed to what hl365 reads, plus
    a few fields GP sends that hl365 keeps without interpreting)."""
    body: dict[str, Any] = {
        "id": "TRN_Ab12Cd34Ef56",
        "time_created": "2025-03-01T15:02:05.235Z",
        "type": "SALE",
        "status": "CAPTURED",
        "channel": "CNP",
        "amount": "1400",
        "currency": "USD",
        "country": "US",
        "merchant_id": "MER_7e3b",
        "reference": "S-ORD000123",
        "batch_id": "BAT_845123",
        "payment_method": {"id": "PMT_d365customer", "result": "00", "entry_mode": "ECOM",
                           "card": {"brand": "VISA", "masked_number_last4": "XXXXXXXXXXXX4242",
                                    "authcode": "123456", "brand_reference": "MQ7HKZ2Y0ER9T"}},
    }
    body.update(changes)
    return body


@pytest.mark.parametrize("status", list(PaymentStatus))
def test_every_gp_status_parses_and_normalises_to_the_same_status(status: PaymentStatus) -> None:
    transaction = parse_transaction(notification(status=status.value))
    payment = to_payment(transaction)
    assert payment.status is status and transaction.status is status
    assert payment.kind is PaymentKind.SALE
    assert payment.moves_money == (status in (PaymentStatus.CAPTURED, PaymentStatus.BATCHED, PaymentStatus.FUNDED,
                                              PaymentStatus.REVERSED))


def test_a_captured_sale_keeps_what_the_ledger_needs() -> None:
    payment = to_payment(parse_transaction(notification()))
    assert payment.transaction_id == "TRN_Ab12Cd34Ef56" and payment.merchant_id == "MER_7e3b"
    assert payment.amount.amount == Decimal("14.00") and type(payment.amount.amount) is Decimal
    assert payment.amount.currency == "USD"
    assert payment.received.amount == Decimal("14.00")
    assert (payment.reference, payment.batch_id) == ("S-ORD000123", "BAT_845123")
    assert (payment.card_brand, payment.card_last4, payment.auth_code) == ("VISA", "4242", "123456")
    assert payment.occurred_at == datetime(2025, 3, 1, 15, 2, 5, 235000, tzinfo=UTC)
    assert payment.external_key == "HPY-TRN_Ab12Cd34Ef56"


def test_a_refund_is_money_going_back() -> None:
    payment = to_payment(parse_transaction(notification(id="TRN_refund1", type="REFUND", amount="525")))
    assert payment.kind is PaymentKind.REFUND
    assert payment.amount.amount == Decimal("5.25")
    assert payment.received.amount == Decimal("-5.25"), "a refund must reduce what the customer paid"
    assert payment.external_key == "HPY-TRN_refund1"


def test_a_reversed_sale_is_posted_as_its_reverse_entry_under_its_own_key() -> None:
    capture = to_payment(parse_transaction(notification()))
    reversal = to_payment(parse_transaction(notification(status="REVERSED")))
    assert reversal.received.amount == -capture.received.amount == Decimal("-14.00")
    assert reversal.external_key == "HPY-TRN_Ab12Cd34Ef56-REV" != capture.external_key


@pytest.mark.parametrize(("currency", "minor", "expected"), [
    ("USD", "1400", Decimal("14.00")),
    ("USD", "1", Decimal("0.01")),
    ("USD", "0", Decimal("0.00")),
    ("EUR", "999999999999999", Decimal("9999999999999.99")),
    ("JPY", "1400", Decimal("1400")),
    ("KRW", "52000", Decimal("52000")),
    ("BHD", "1400", Decimal("1.400")),
    ("KWD", "5", Decimal("0.005")),
    ("gbp", "12345", Decimal("123.45")),
])
def test_minor_units_become_exact_decimals_at_the_currencys_precision(currency: str, minor: str,
                                                                      expected: Decimal) -> None:
    payment = to_payment(parse_transaction(notification(amount=minor, currency=currency)))
    assert type(payment.amount.amount) is Decimal
    assert payment.amount.amount == expected
    # the exponent too: 14.00 USD is not 14 USD, and 1400 JPY has no cents
    assert payment.amount.amount.as_tuple().exponent == expected.as_tuple().exponent
    assert payment.amount.currency == currency.upper()
    assert payment.amount.to_minor() == int(minor)


@pytest.mark.parametrize(("change", "field", "problem"), [
    ({"id": None}, "id", "valid string"),
    ({"id": ""}, "id", "at least 1 character"),
    ({"time_created": "2025-03-01T15:02:05"}, "time_created", "timezone"),
    ({"time_created": "yesterday"}, "time_created", "datetime"),
    ({"type": "VOID"}, "type", "'SALE' or 'REFUND'"),
    ({"status": "SETTLED"}, "status", "'CAPTURED'"),
    ({"amount": "14.00"}, "amount", "pattern"),
    ({"amount": 1400}, "amount", "valid string"),
    ({"amount": "1" * 16}, "amount", "pattern"),
    ({"currency": "US"}, "currency", "at least 3 characters"),
    ({"currency": "USDX"}, "currency", "at most 3 characters"),
    ({"currency": "ZZZ"}, "currency", "'ZZZ' is not an ISO 4217 currency code"),
])
def test_an_invalid_field_is_refused_naming_the_field(change: dict[str, Any], field: str, problem: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_transaction(notification(**change))
    message = str(caught.value)
    assert message.startswith(f"{field}: "), message
    assert problem in message
    assert ";" not in message, "only the bad field is named"


def test_every_missing_field_is_named_at_once() -> None:
    body = notification()
    for name in ("id", "amount", "currency"):
        del body[name]
    with pytest.raises(ValueError) as caught:
        parse_transaction(body)
    problems = str(caught.value).split("; ")
    assert problems == ["id: Field required", "amount: Field required", "currency: Field required"]


@pytest.mark.parametrize("payload", [None, [], "TRN_1", 1400])
def test_a_body_that_is_not_an_object_is_refused_as_the_body(payload: object) -> None:
    with pytest.raises(ValueError, match=r"^body: Input should be a valid dictionary"):
        parse_transaction(payload)


def test_a_nested_invalid_field_is_named_by_its_path() -> None:
    with pytest.raises(ValueError, match=r"^payment_method\.card\.brand: Input should be a valid string"):
        parse_transaction(notification(payment_method={"card": {"brand": 7}}))


def test_the_idempotency_key_and_partition_are_stable_for_the_same_event() -> None:
    first = parse_transaction(notification())
    again = parse_transaction(notification(batch_id="BAT_other", channel="CP"))  # redelivered, other details
    assert first.idempotency_key == again.idempotency_key == "gp:TRN_Ab12Cd34Ef56:CAPTURED"
    assert first.partition == again.partition == "gp-MER_7e3b-20250301"


def test_a_reversal_a_capture_and_another_transaction_have_distinct_keys() -> None:
    capture = parse_transaction(notification())
    reversal = parse_transaction(notification(status="REVERSED"))
    batched = parse_transaction(notification(status="BATCHED"))
    other = parse_transaction(notification(id="TRN_Zz98Yy76Xx54"))
    keys = {capture.idempotency_key, reversal.idempotency_key, batched.idempotency_key, other.idempotency_key}
    assert len(keys) == 4
    assert reversal.idempotency_key == "gp:TRN_Ab12Cd34Ef56:REVERSED"
    # one transaction's events share a partition, so they are found together
    assert capture.partition == reversal.partition == batched.partition


def test_the_partition_is_the_day_the_transaction_was_created() -> None:
    late = parse_transaction(notification(time_created="2025-03-01T23:59:59.999Z"))
    next_day = parse_transaction(notification(time_created="2025-03-02T00:00:00.000Z"))
    assert (late.partition, next_day.partition) == ("gp-MER_7e3b-20250301", "gp-MER_7e3b-20250302")
    offset = parse_transaction(notification(time_created="2025-03-01T20:00:00-06:00"))
    assert offset.time_created == datetime(2025, 3, 1, 20, tzinfo=timezone(timedelta(hours=-6)))


def test_a_notification_without_a_merchant_or_card_still_normalises() -> None:
    body = notification(merchant_id=None, payment_method=None, reference=None, batch_id=None)
    transaction = parse_transaction(body)
    payment = to_payment(transaction)
    assert payment.merchant_id == "unknown" and transaction.partition == "gp-unknown-20250301"
    assert (payment.card_brand, payment.card_last4, payment.auth_code, payment.reference) == (None, None, None, None)


@pytest.mark.parametrize(("masked", "last4"), [
    ("XXXXXXXXXXXX4242", "4242"), ("4242", "4242"), ("************0005", "0005"),
    ("XXXXXXXXXXXXXXXX", None), ("42", None), ("", None), (None, None),
])
def test_only_four_real_digits_are_kept_as_the_card_ending(masked: str | None, last4: str | None) -> None:
    body = notification(payment_method={"card": {"brand": "MASTERCARD", "masked_number_last4": masked}})
    payment = to_payment(parse_transaction(body))
    assert payment.card_last4 == last4 and payment.card_brand == "MASTERCARD"


def test_fields_gp_adds_are_kept_but_not_interpreted() -> None:
    transaction = parse_transaction(notification(action={"id": "ACT_1", "result_code": "SUCCESS"}))
    assert transaction.model_extra is not None and transaction.model_extra["channel"] == "CNP"
    assert transaction.model_extra["action"] == {"id": "ACT_1", "result_code": "SUCCESS"}
    assert to_payment(transaction) == to_payment(parse_transaction(notification()))
