from decimal import Decimal

import pytest
from pydantic import ValidationError

from shared.canonical.money import Money, minor_units


@pytest.mark.parametrize(("currency", "units"), [("USD", 2), ("JPY", 0), ("BHD", 3), ("EUR", 2), ("KWD", 3)])
def test_minor_units_follow_iso_4217(currency: str, units: int) -> None:
    assert minor_units(currency) == units


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [("10.005", "USD", "10.00"), ("10.015", "USD", "10.02"), ("1.5", "JPY", "2"), ("2.5", "JPY", "2"),
     ("2.0005", "BHD", "2.000"), ("2.0015", "BHD", "2.002"), ("7", "USD", "7.00")],
)
def test_amounts_round_half_even_to_minor_units(amount: str, currency: str, expected: str) -> None:
    money = Money.of(amount, currency)
    assert str(money.amount) == expected
    assert isinstance(money.amount, Decimal)


def test_float_is_refused_with_the_field_named() -> None:
    with pytest.raises(ValidationError) as caught:
        Money(amount=0.1, currency="USD")  # type: ignore[arg-type]
    error = caught.value.errors()[0]
    assert error["loc"] == ("amount",)
    assert "float" in error["msg"]


@pytest.mark.parametrize("code", ["XXY", "US", "usdd", 840, ""])
def test_unknown_currency_is_refused_with_the_field_named(code: object) -> None:
    with pytest.raises(ValidationError) as caught:
        Money(amount="1", currency=code)  # type: ignore[arg-type]
    assert caught.value.errors()[0]["loc"] == ("currency",)


@pytest.mark.parametrize("amount", ["NaN", "Infinity", "abc", True])
def test_non_amounts_are_refused(amount: object) -> None:
    with pytest.raises(ValidationError) as caught:
        Money(amount=amount, currency="USD")  # type: ignore[arg-type]
    assert caught.value.errors()[0]["loc"] == ("amount",)


def test_lower_case_code_is_normalised() -> None:
    assert Money.of("1", "usd").currency == "USD"


def test_minor_unit_strings_as_the_gp_api_sends_them() -> None:
    assert Money.from_minor("1400", "USD") == Money.of("14.00", "USD")
    assert Money.from_minor("-1000", "USD") == Money.of("-10.00", "USD")
    assert Money.from_minor("1400", "JPY") == Money.of("1400", "JPY")
    assert Money.from_minor("1400", "BHD") == Money.of("1.400", "BHD")
    assert Money.of("54.10", "USD").to_minor() == 5410
    with pytest.raises(ValueError, match="minor units"):
        Money.from_minor("14.00", "USD")


def test_arithmetic_keeps_currency_and_refuses_mixing() -> None:
    assert Money.of("1.10", "USD") + Money.of("2.25", "USD") == Money.of("3.35", "USD")
    assert Money.of("1.10", "USD") - Money.of("2.25", "USD") == Money.of("-1.15", "USD")
    assert -Money.of("1", "JPY") == Money.of("-1", "JPY")
    with pytest.raises(ValueError, match="USD with EUR"):
        Money.of("1", "USD") + Money.of("1", "EUR")


def test_money_is_immutable_and_serialises_amount_as_string() -> None:
    money = Money.of("12.30", "USD")
    with pytest.raises(ValidationError):
        money.amount = Decimal(1)  # type: ignore[misc]
    assert money.model_dump(mode="json") == {"amount": "12.30", "currency": "USD"}
    assert Money.model_validate_json(money.model_dump_json()) == money
