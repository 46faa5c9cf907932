"""The Heartland Retail client against the simulator over real loopback HTTP."""

from __future__ import annotations

import inspect
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import httpx
import pytest

from sandbox.host import run_in_background, stop_background
from sandbox.simulators.base import FaultRule, SimulatorApp
from sandbox.simulators.retail import DEFAULT_TOKEN, Line, RetailSimulator, Tender, create
from shared.canonical.money import Money
from shared.errors import PermanentApiError, TransientApiError
from shared.heartland.retail import RetailClient
from shared.httpclient import RetryPolicy

CST = timezone(timedelta(hours=-6))
DAY = date(2025, 3, 1)
DAY_START = datetime(2025, 3, 1, tzinfo=CST)
DAY_END = DAY_START + timedelta(days=1)
TICKETS = 2_500


class Clock:
    """The simulator's "now", moved by the tests so watermarks are exact."""

    def __init__(self) -> None:
        self.now = datetime(2025, 3, 2, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Account:
    app: SimulatorApp
    sim: RetailSimulator
    url: str
    clock: Clock
    day_ids: set[int]


@pytest.fixture(scope="module")
def account() -> Iterator[Account]:
    """A day of 2,500 tickets, plus one just before and one just after it (which must not be read)."""
    clock = Clock()
    app = create(seed=3, clock=clock)
    sim = app.simulated
    assert isinstance(sim, RetailSimulator)
    day = sim.seed_business_day(DAY, tickets=TICKETS, seed=3)
    sim.add_ticket(location_id=1, lines=[Line(item_id=1001)], completed_at=DAY_START - timedelta(seconds=1))
    sim.add_ticket(location_id=1, lines=[Line(item_id=1001)], completed_at=DAY_END)
    server, thread, port = run_in_background(app)
    yield Account(app, sim, f"http://127.0.0.1:{port}/api", clock, {t["id"] for t in day})
    stop_background(server, thread)


@pytest.fixture
def sim_account(account: Account) -> Iterator[Account]:
    account.app.faults.rules = []
    yield account
    account.app.faults.rules = []


def client(account: Account, token: str = DEFAULT_TOKEN, **options: Any) -> RetailClient:
    return RetailClient(account.url, token, **options)


def test_a_day_streams_page_by_page_each_ticket_once(sim_account: Account) -> None:
    api = client(sim_account)
    served_before = sim_account.app.requests["GET /api/sales/tickets"]
    tickets = api.iter_tickets(completed_from=DAY_START, completed_to=DAY_END, per_page=100)
    streams = inspect.isgenerator(tickets)
    assert streams, "iter_tickets must be a generator"
    assert api.requests_sent == 0, "fetched before anyone asked"
    seen: list[int] = []
    for n, ticket in enumerate(tickets, start=1):
        seen.append(ticket.id)
        # Never a page ahead: after n tickets exactly ceil(n / 100) pages have been fetched.
        assert api.requests_sent == -(-n // 100), f"after {n} tickets {api.requests_sent} pages were fetched"
    assert len(seen) == TICKETS == len(set(seen))
    assert set(seen) == sim_account.day_ids
    assert sim_account.app.requests["GET /api/sales/tickets"] - served_before == 25


def test_a_location_narrows_the_day(sim_account: Account) -> None:
    truth = {t["id"] for t in sim_account.sim.records("tickets") if t["id"] in sim_account.day_ids
             and t["location_id"] == 2}
    found = list(client(sim_account).iter_tickets(completed_from=DAY_START, completed_to=DAY_END, location_id=2,
                                                  per_page=500))
    assert {t.id for t in found} == truth and 0 < len(truth) < TICKETS
    assert all(t.location_id == 2 for t in found)


def test_throttling_and_errors_are_retried_and_nothing_is_lost_or_doubled(sim_account: Account) -> None:
    sim_account.app.faults.seed = 8
    sim_account.app.faults.rules = [FaultRule("GET /api/sales/tickets", "throttle", 0.3, retry_after=2),
                                    FaultRule("GET /api/sales/tickets", "error", 0.2, status=503)]
    sleeps: list[float] = []
    api = client(sim_account, retry=RetryPolicy(max_attempts=8, jitter=lambda d: d), sleep=sleeps.append)
    seen = [t.id for t in api.iter_tickets(completed_from=DAY_START, completed_to=DAY_END, per_page=100)]
    injected = sim_account.app.faults.injected
    assert injected["throttle"] > 0 and injected["error"] > 0
    assert len(seen) == TICKETS and set(seen) == sim_account.day_ids
    assert len(sleeps) == injected["throttle"] + injected["error"] == api.requests_sent - 25
    assert sum(1 for s in sleeps if s >= 2.0) >= injected["throttle"], "Retry-After was not honoured"


def test_retries_run_out_with_a_transient_error(sim_account: Account) -> None:
    sim_account.app.faults.rules = [FaultRule("GET /api/locations", "error", 1.0, status=503)]
    sleeps: list[float] = []
    api = client(sim_account, retry=RetryPolicy(max_attempts=3, jitter=lambda d: d), sleep=sleeps.append)
    with pytest.raises(TransientApiError) as caught:
        list(api.iter_locations())
    assert caught.value.status == 503 and caught.value.source == "retail"
    assert sleeps == [0.5, 1.0]


def test_a_refused_token_fails_at_once_and_says_what_to_fix(sim_account: Account) -> None:
    api = client(sim_account, token="not-the-real-token")
    with pytest.raises(PermanentApiError) as caught:
        list(api.iter_locations())
    error = caught.value
    assert error.status == 401 and error.source == "retail"
    assert "API token" in error.description and "RETAIL_API_TOKEN" in error.description
    assert "not-the-real-token" not in str(error)
    assert api.requests_sent == 1


def _no_floats(value: Any, where: str = "ticket") -> None:
    assert not isinstance(value, float), f"{where} is a float"
    if isinstance(value, dict):
        for key, inner in value.items():
            _no_floats(inner, f"{where}.{key}")
    elif isinstance(value, list):
        for n, inner in enumerate(value):
            _no_floats(inner, f"{where}[{n}]")


def test_money_arrives_as_exact_decimals(sim_account: Account) -> None:
    at = datetime(2025, 4, 1, 12, 0, tzinfo=CST)
    made = sim_account.sim.add_ticket(
        location_id=1, completed_at=at,
        lines=[Line(item_id=1002, qty=3, discounts={"Promo": "5.97"}), Line.gift_card("50.00", "0042")],
        payments=[Tender.gift_card("10.00", "7788"),
                  Tender.card("97.92", brand="MASTERCARD", last4="5454", tip="4.00", auth_code="OK1234",
                              transaction_id="TRN_fixedIDxyzab", reference="HR-TICKET-SALE1")])
    (ticket,) = client(sim_account).iter_tickets(completed_from=at, completed_to=at + timedelta(seconds=1))
    assert ticket.completed_at == at
    assert ticket.id == made["id"]
    assert isinstance(ticket.total, Money) and type(ticket.total.amount) is Decimal
    assert ticket.total == Money.of("107.92", "USD")
    item, gift = ticket.lines
    assert (item.extended_price.amount, item.discount_total.amount, item.net_amount.amount) == \
        (Decimal("59.97"), Decimal("5.97"), Decimal("54.00"))
    assert {t.name: t.amount.amount for t in item.taxes} == {"State": Decimal("3.38"), "City": Decimal("0.54")}
    assert item.department == "Apparel" and gift.is_gift_card and gift.gift_card_last4 == "0042"
    assert sum((line.net_amount.amount + line.tax_total.amount for line in ticket.lines), Decimal(0)) == \
        ticket.total.amount
    card = next(p for p in ticket.payments if p.is_card)
    assert card.amount == Money.of("97.92", "USD") and card.tip == Money.of("4.00", "USD")
    assert (card.card_brand, card.card_last4, card.auth_code, card.gateway_transaction_id, card.gateway_reference) == \
        ("MASTERCARD", "5454", "OK1234", "TRN_fixedIDxyzab", "HR-TICKET-SALE1")
    _no_floats(ticket.model_dump())


def _mock(body: dict[str, Any]) -> RetailClient:
    raw = json.dumps(body).encode()
    return RetailClient("http://retail.test/api", "t", transport=httpx.MockTransport(
        lambda _request: httpx.Response(200, content=raw, headers={"content-type": "application/json"})))


def test_json_number_amounts_are_parsed_without_float_rounding() -> None:
    row = {"id": 1, "status": "complete", "total": 0.1, "subtotal": 54.10, "tax_total": 1234567890123.45}
    (ticket,) = _mock({"results": [row], "total": 1, "pages": 1}).iter_tickets(
        completed_from=DAY_START, completed_to=DAY_END)
    assert ticket.total.amount == Decimal("0.10")
    assert ticket.subtotal is not None and ticket.subtotal.amount == Decimal("54.10")
    assert ticket.tax_total is not None and ticket.tax_total.amount == Decimal("1234567890123.45")


def test_a_card_number_from_the_api_is_refused_without_being_repeated() -> None:
    row = {"id": 7, "status": "complete", "total": "1.00",
           "payments": [{"id": 1, "payment_type_id": 2, "type": "CreditCardPayment", "amount": "1.00",
                         "card_last4": "4111111111111111"}]}
    with pytest.raises(PermanentApiError) as caught:
        list(_mock({"results": [row], "total": 1, "pages": 1}).iter_tickets(completed_from=DAY_START,
                                                                            completed_to=DAY_END))
    assert "card_last4" in caught.value.description
    assert "4111111111111111" not in str(caught.value) and "411111" not in str(caught.value)


def test_customers_are_created_updated_and_pulled_by_watermark(sim_account: Account) -> None:
    api = client(sim_account)
    sim_account.clock.now = datetime(2025, 3, 3, 10, 0, tzinfo=UTC)
    new_id = api.create_customer(first_name="Ana", last_name="Ruiz", email="ana@example.com",
                                 custom={"tier": "gold"})
    assert isinstance(new_id, int)
    stored = next(c for c in sim_account.sim.records("customers") if c["id"] == new_id)
    assert (stored["first_name"], stored["email"], stored["custom"]) == ("Ana", "ana@example.com", {"tier": "gold"})
    sim_account.clock.now = datetime(2025, 3, 4, 10, 0, tzinfo=UTC)
    api.update_customer(new_id, email="ana.ruiz@example.com", custom={"loyalty": "L-1"})
    after = api.get_customer(new_id)
    assert after.first_name == "Ana" and after.email == "ana.ruiz@example.com"
    assert after.custom == {"tier": "gold", "loyalty": "L-1"}
    changed = list(api.iter_customers(updated_since=datetime(2025, 3, 4, 4, 0, tzinfo=CST)))
    assert [c.id for c in changed] == [new_id]
    assert len(list(api.iter_customers(per_page=7))) == len(sim_account.sim.records("customers"))


def test_a_refused_write_is_permanent_and_names_the_fields(sim_account: Account) -> None:
    api = client(sim_account)
    before = len(sim_account.sim.records("customers"))
    with pytest.raises(PermanentApiError) as caught:
        api.create_customer(email="not-an-address")
    assert caught.value.status == 422
    assert "last_name" in caught.value.description and "email" in caught.value.description
    assert len(sim_account.sim.records("customers")) == before
    assert api.requests_sent == 1


def test_an_unknown_ticket_is_a_permanent_404(sim_account: Account) -> None:
    with pytest.raises(PermanentApiError) as caught:
        client(sim_account).get_ticket(1)
    assert caught.value.status == 404 and "sales/tickets/1" in caught.value.description


def test_get_ticket_returns_lines_and_payments(sim_account: Account) -> None:
    some = min(sim_account.day_ids)
    ticket = client(sim_account).get_ticket(some)
    truth = sim_account.sim.ticket(some)
    assert ticket.total.amount == Decimal(truth["total"])
    assert [line.id for line in ticket.lines] == [line["id"] for line in truth["lines"]]
    assert [p.amount.amount for p in ticket.payments] == [Decimal(p["amount"]) for p in truth["payments"]]


def test_catalogue_places_tenders_and_stock(sim_account: Account) -> None:
    api = client(sim_account)
    sim = sim_account.sim
    items = list(api.iter_items(per_page=5))
    assert [i.id for i in items] == [i["id"] for i in sim.records("items")]
    assert all(isinstance(i.price, Money) for i in items)
    assert [p.name for p in api.iter_payment_types()] == ["Cash", "Credit Card", "Gift Card"]
    assert [loc.id for loc in api.iter_locations()] == [loc["id"] for loc in sim.records("locations")]
    rows = list(api.inventory_values(group=("item_id",), include_item=True, per_page=4))
    stock = sim.records("inventory")
    assert len(rows) == len({r["item_id"] for r in stock})
    first = rows[0]
    assert first.location_id is None and first.item is not None and first.item.id == first.item_id
    assert first.qty_on_hand == sum(r["qty_on_hand"] for r in stock if r["item_id"] == first.item_id)
    assert isinstance(first.qty_on_hand, Decimal) and isinstance(first.unit_cost, Money)
    at_one = list(api.inventory_values(location_id=1, item_ids=[1001, 1002]))
    assert {(r.item_id, r.location_id) for r in at_one} == {(1001, 1), (1002, 1)}


def test_arguments_are_checked_before_any_request(sim_account: Account) -> None:
    api = client(sim_account)
    with pytest.raises(ValueError, match="time zone"):
        api.iter_tickets(completed_from=datetime(2025, 3, 1), completed_to=DAY_END)
    with pytest.raises(ValueError, match="not after"):
        api.iter_tickets(completed_from=DAY_END, completed_to=DAY_START)
    with pytest.raises(ValueError, match="token"):
        RetailClient(sim_account.url, "")
    assert api.requests_sent == 0
