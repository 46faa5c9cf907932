"""The Portico loyalty client against the Portico simulator over real loopback HTTP."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal

import httpx
import pytest

from sandbox.simulators.base import FaultRule, SimulatorApp
from sandbox.simulators.portico import DEFAULT_LEGACY, DEFAULT_SECRET_API_KEY, PATH, PorticoSimulator, create
from shared.canonical.customers import LoyaltyBalance
from shared.canonical.money import Money
from shared.errors import PermanentApiError, TransientApiError
from shared.heartland.portico import PorticoDeclined, PorticoLoyalty
from shared.httpclient import RetryPolicy
from shared.security.pan import find_pans
from tests.loopback import Swap

PHONE = "5551234567"
ROUTE = f"POST {PATH}"


@dataclass
class Harness:
    app: SimulatorApp
    sim: PorticoSimulator
    client: PorticoLoyalty
    base_url: str
    sleeps: list[float] = field(default_factory=list)


@pytest.fixture
def portico(served: tuple[Swap, int]) -> Iterator[Harness]:
    swap, port = served
    app = create(seed=11)
    sim = app.simulated
    assert isinstance(sim, PorticoSimulator)
    swap.app = app
    sim.issue_card(balance="25.00", points="120", aliases=[PHONE])
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        """Backoff is recorded, not slept; the fault plan is lifted so the retry gets through."""
        sleeps.append(seconds)
        app.faults.rules = []

    base_url = f"http://127.0.0.1:{port}"
    client = PorticoLoyalty(base_url, DEFAULT_SECRET_API_KEY, sleep=sleep, timeout=httpx.Timeout(5.0),
                            retry=RetryPolicy(max_attempts=3, jitter=lambda d: d))
    try:
        yield Harness(app, sim, client, base_url, sleeps)
    finally:
        client.close()


def test_the_balance_behind_an_alias_is_dollars_as_money_and_points_as_decimal(portico: Harness) -> None:
    found = portico.client.balances(PHONE)
    assert found == LoyaltyBalance(gift=Money.of("25.00", "USD"), points=Decimal(120))
    assert isinstance(found.gift.amount, Decimal) and found.gift.currency == "USD"
    assert portico.app.requests[ROUTE] == 1


def test_an_alias_no_card_carries_is_none(portico: Harness) -> None:
    assert portico.client.balances("5550000000") is None


def test_the_legacy_credentials_work_and_a_bad_key_is_a_permanent_error_naming_the_setting(portico: Harness) -> None:
    legacy = PorticoLoyalty(portico.base_url, site_id=DEFAULT_LEGACY["SiteId"],
                            license_id=DEFAULT_LEGACY["LicenseId"], device_id=DEFAULT_LEGACY["DeviceId"],
                            username=DEFAULT_LEGACY["UserName"], password=DEFAULT_LEGACY["Password"])
    with legacy:
        assert legacy.balances(PHONE) is not None
    with PorticoLoyalty(portico.base_url, "skapi_cert_wrong") as wrong, pytest.raises(PermanentApiError) as refused:
        wrong.balances(PHONE)
    assert refused.value.reason == "PorticoAuthentication" and "PORTICO_SECRET_API_KEY" in refused.value.description
    assert wrong.requests_sent == 1, "bad credentials are not retried"
    with pytest.raises(ValueError, match="not both"):
        PorticoLoyalty(portico.base_url, "key", site_id="1")


def test_a_transient_503_is_retried_and_then_answered(portico: Harness) -> None:
    portico.app.faults.rules = [FaultRule(ROUTE, "error", 1.0, status=503, retry_after=2)]
    found = portico.client.balances(PHONE)
    assert found is not None and found.points == Decimal(120)
    assert portico.app.requests[ROUTE] == 2 and portico.sleeps == [2.0], "Retry-After honoured once"


def test_a_gateway_that_stays_down_is_a_transient_error_after_the_retry_budget(portico: Harness) -> None:
    slept: list[float] = []
    portico.app.faults.rules = [FaultRule(ROUTE, "error", 1.0, status=500)]
    with PorticoLoyalty(portico.base_url, DEFAULT_SECRET_API_KEY, sleep=slept.append,
                        retry=RetryPolicy(max_attempts=3, jitter=lambda d: d)) as client, \
            pytest.raises(TransientApiError) as down:
        client.balances(PHONE)
    assert portico.app.requests[ROUTE] == 3 and len(slept) == 2 and "soap:Server" in down.value.description


def test_enroll_and_add_value_in_dollars_and_points(portico: Harness) -> None:
    card = portico.client.enroll("5557654321")
    assert re.fullmatch(r"\*{15}\d{4}", card.masked_number)
    assert portico.client.add_value("5557654321", Money.of("12.50", "USD")) == LoyaltyBalance(
        Money.of("12.50", "USD"), Decimal(0))
    assert portico.client.add_value("5557654321", Decimal(40)).points == Decimal(40)
    with pytest.raises(PorticoDeclined) as taken:
        portico.client.enroll("5557654321")
    assert taken.value.code == "6"
    with pytest.raises(ValueError, match="USD"):
        portico.client.add_value(PHONE, Money.of("1.00", "EUR"))


def test_no_card_number_reaches_the_logs_or_an_answer(portico: Harness, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    card = portico.client.enroll("5559871234")
    portico.client.add_value("5559871234", Money.of("5.00", "USD"))
    portico.client.balances("5559871234")
    portico.client.balances("5550000000")
    portico.app.faults.rules = [FaultRule(ROUTE, "error", 1.0, status=503)]
    portico.client.balances(PHONE)
    number = next(c["number"] for c in portico.sim.state()["cards"].values() if "5559871234" in c["aliases"])
    assert caplog.records, "the client logs what it does"
    assert number not in caplog.text and list(find_pans(caplog.text)) == []
    assert number not in repr(card) and card.masked_number.endswith(number[-4:])
    for alias in ("5559871234", "5550000000", PHONE):
        assert alias not in caplog.text, "aliases are phone numbers: logged by their last four at most"
