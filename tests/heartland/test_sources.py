"""Heartland as the settlement flow's sources, against the GP and Retail simulators over loopback HTTP:
a merchant's business day of settled transactions, deposits and POS tickets comes back whole across
pages, cut at the merchant's local midnight, in the canonical signs the ledger books."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from sandbox.host import run_in_background, stop_background
from sandbox.simulators.base import SimulatorApp
from sandbox.simulators.gp import DEFAULT_APP_ID, DEFAULT_APP_KEY, GpSimulator
from sandbox.simulators.gp import create as create_gp
from sandbox.simulators.retail import CENTRAL, DEFAULT_TOKEN, Line, RetailSimulator, Tender
from sandbox.simulators.retail import create as create_retail
from shared.canonical.money import Money
from shared.canonical.payments import PaymentKind, PaymentStatus
from shared.canonical.settlement import LineKind, Ticket, business_day_window
from shared.heartland.gp import GpApiClient
from shared.heartland.retail import RetailClient
from shared.heartland.sources import GpSettlement, RetailTickets, vocabulary
from shared.httpclient import RetryPolicy

DAY = date(2025, 3, 1)  # Central Standard Time (UTC-6) all day
CHICAGO = ZoneInfo("America/Chicago")
SETTLED, REFUNDS, BATCHES = 230, 12, 3


def usd(amount: str) -> Money:
    return Money.of(amount, "USD")


# -- GP settlement -----------------------------------------------------------------------------------------------


@dataclass
class Gp:
    app: SimulatorApp
    sim: GpSimulator
    url: str
    day: dict[str, list[str]]
    edges: dict[str, str]

    def client(self, page_size: int = 100) -> GpApiClient:
        return GpApiClient(self.url, DEFAULT_APP_ID, DEFAULT_APP_KEY, page_size=page_size,
                           retry=RetryPolicy(max_attempts=2, jitter=lambda d: d), sleep=lambda _: None)

    def pages(self, path: str) -> int:
        return self.app.requests[f"GET /ucp/settlement/{path}"]


@pytest.fixture(scope="module")
def gp() -> Iterator[Gp]:
    """A funded day in Chicago, the days either side of it, and settled sales right at its local midnights."""
    app = create_gp(seed=8)
    sim = app.simulated
    assert isinstance(sim, GpSimulator)
    day = sim.seed_day(DAY, transactions=SETTLED, refunds=REFUNDS, batches=BATCHES, fund=True)
    sim.seed_day(DAY - timedelta(days=1), transactions=9, fund=True)
    sim.seed_day(DAY + timedelta(days=1), transactions=11, fund=True)
    local = datetime.combine(DAY, datetime.min.time(), CHICAGO)
    moments = {"first_local": local, "last_local": local + timedelta(days=1, milliseconds=-1),
               "day_before": local - timedelta(milliseconds=1), "day_after": local + timedelta(days=1),
               # 05:00 in Tokyo on DAY is 20:00 UTC the day before (and 14:00 the day before in Chicago)
               "tokyo_early": datetime.combine(DAY, datetime.min.time(), ZoneInfo("Asia/Tokyo")) + timedelta(hours=5)}
    edges: dict[str, str] = {}
    for name, at in moments.items():
        made = sim.add_transaction(1000 + len(edges), status="CAPTURED", brand="AMEX", time_created=at,
                                   batch_id="BAT_EDGES", reference=f"edge-{name}")
        edges[name] = made["id"]
    sim.close_batch("BAT_EDGES", at=local + timedelta(days=1, hours=7))
    sim.fund("BAT_EDGES", "0.03", DAY + timedelta(days=2))
    server, thread, port = run_in_background(app)
    yield Gp(app, sim, f"http://127.0.0.1:{port}/ucp", day, edges)
    stop_background(server, thread)


def test_a_settled_day_comes_back_whole_across_pages_each_transaction_once(gp: Gp) -> None:
    client = gp.client(page_size=25)
    before = gp.pages("transactions")
    with client:
        settled = list(GpSettlement(client, timezone="America/Chicago", page_size=25).settled(DAY))
    ids = [t.id for t in settled]
    expected = {*gp.day["transaction_ids"], gp.edges["first_local"], gp.edges["last_local"]}
    assert len(ids) == len(set(ids)), "a transaction came back twice"
    assert set(ids) == expected, "a settled transaction is missing, or one of another day got in"
    # GP filters by UTC date: the two UTC dates the local day touches are read, page by page, to their end
    on_the_two_utc_dates = SETTLED + REFUNDS + 11 + 4  # the day, the next day's sales, four edge sales
    assert gp.pages("transactions") - before == math.ceil(on_the_two_utc_dates / 25)
    assert {t.batch_id for t in settled} == {*gp.day["batch_ids"], "BAT_EDGES"}
    assert {t.status for t in settled} == {PaymentStatus.FUNDED}
    assert [t.time_created for t in settled] == sorted(t.time_created for t in settled), "oldest first"


def test_settled_amounts_are_exact_decimals_with_refunds_negative(gp: Gp) -> None:
    with gp.client() as client:
        settled = [t for t in GpSettlement(client, timezone="UTC").settled(DAY) if t.batch_id in gp.day["batch_ids"]]
    refunds = [t for t in settled if t.kind is PaymentKind.REFUND]
    sales = [t for t in settled if t.kind is PaymentKind.SALE]
    assert len(refunds) == REFUNDS and len(sales) == SETTLED
    assert all(t.amount.amount < 0 for t in refunds) and all(t.amount.amount > 0 for t in sales)
    assert all(type(t.amount.amount) is Decimal and t.amount.currency == "USD" for t in settled)
    for t in settled:
        truth = gp.sim.transaction(t.id)
        assert abs(t.amount.to_minor()) == int(truth["amount"]), t.id
        assert t.brand == vocabulary(truth["payment_method"]["card"]["brand"])
        assert t.reference == truth["reference"] and t.time_created.tzinfo is not None


def test_deposits_net_the_settled_transactions_of_their_batches_less_positive_fees(gp: Gp) -> None:
    with gp.client() as client:
        source = GpSettlement(client, timezone="UTC", page_size=1)
        settled = list(source.settled(DAY))
        before = gp.pages("deposits")
        deposits = list(source.deposits(DAY + timedelta(days=1), DAY + timedelta(days=1)))
    assert sorted(d.id for d in deposits) == sorted(gp.day["deposit_ids"])
    assert gp.pages("deposits") - before >= BATCHES, "one deposit per page: every page was read"
    by_deposit: dict[str, Money] = defaultdict(lambda: usd("0"))
    for t in settled:
        by_deposit[str(t.deposit_id)] += t.amount
    for deposit in deposits:
        assert deposit.deposit_date == DAY + timedelta(days=1) and deposit.status == "FUNDED"
        assert deposit.fees.amount > 0, "fees are a positive cost in canonical form"
        assert deposit.amount == by_deposit[deposit.id] - deposit.fees, deposit.id
        assert type(deposit.amount.amount) is Decimal


def test_the_day_is_cut_at_the_merchants_local_midnight(gp: Gp) -> None:
    with gp.client() as client:
        chicago = {t.id for t in GpSettlement(client, timezone="America/Chicago").settled(DAY)}
        utc = {t.id for t in GpSettlement(client, timezone="UTC").settled(DAY)}
    edges = gp.edges
    assert {edges["first_local"], edges["last_local"]} <= chicago, "a sale in the local day was left out"
    assert edges["day_before"] not in chicago and edges["day_after"] not in chicago, "a neighbour's sale got in"
    assert set(gp.day["transaction_ids"]) <= chicago
    assert len(chicago) == SETTLED + REFUNDS + 2
    # 23:59 in Chicago is the next morning in UTC: a UTC merchant's day holds other sales
    assert edges["last_local"] not in utc and edges["day_before"] in utc


def test_a_merchant_east_of_utc_gets_the_early_hours_of_its_day(gp: Gp) -> None:
    with gp.client() as client:
        found = {t.id for t in GpSettlement(client, timezone="Asia/Tokyo").settled(DAY)}
    assert gp.edges["first_local"] in found, "06:00 UTC on DAY is 15:00 in Tokyo"
    assert gp.edges["tokyo_early"] in found, "a sale at 05:00 local time was left out of the merchant's day"


# -- Retail tickets ----------------------------------------------------------------------------------------------


@dataclass
class Retail:
    app: SimulatorApp
    sim: RetailSimulator
    url: str
    day: list[dict]
    house_account: int

    def client(self) -> RetailClient:
        return RetailClient(self.url, DEFAULT_TOKEN, retry=RetryPolicy(max_attempts=2, jitter=lambda d: d),
                            sleep=lambda _: None)


DST_DAY = date(2025, 3, 9)  # Chicago springs forward: the local day has 23 hours
EDGE_DAY = date(2025, 3, 4)


@pytest.fixture(scope="module")
def retail() -> Iterator[Retail]:
    app = create_retail(seed=4)
    sim = app.simulated
    assert isinstance(sim, RetailSimulator)
    day = sim.seed_business_day(DAY, tickets=260, seed=4, tz=CENTRAL)
    sim.seed_business_day(DAY + timedelta(days=1), tickets=15, seed=5, tz=CENTRAL)
    house = sim.add_payment_type("House Account")["id"]
    server, thread, port = run_in_background(app)
    yield Retail(app, sim, f"http://127.0.0.1:{port}/api", day, house)
    stop_background(server, thread)


def _tickets(retail: Retail, day: date, per_page: int = 100, timezone: str = "America/Chicago") -> list[Ticket]:
    client = retail.client()
    try:
        return list(RetailTickets(client, timezone=timezone, per_page=per_page).tickets(day))
    finally:
        client.close()


def test_a_days_complete_tickets_come_back_whole_across_pages(retail: Retail) -> None:
    before = retail.app.requests["GET /api/sales/tickets"]
    tickets = _tickets(retail, DAY, per_page=30)
    complete = {str(t["id"]) for t in retail.day if t["status"] == "complete"}
    voided = {str(t["id"]) for t in retail.day if t["status"] == "voided"}
    assert voided, "the seeded day has voided tickets"
    ids = [t.id for t in tickets]
    assert len(ids) == len(set(ids)) and set(ids) == complete, "a complete ticket is missing, or a void got in"
    assert retail.app.requests["GET /api/sales/tickets"] - before == math.ceil(len(retail.day) / 30)
    for ticket in tickets:
        assert ticket.completed_at.astimezone(CHICAGO).date() == DAY


def test_the_days_tickets_add_up_to_what_the_pos_reports(retail: Retail) -> None:
    tickets = _tickets(retail, DAY, per_page=1000)
    truth = retail.sim.totals(DAY)
    assert len(tickets) == truth["tickets"]
    revenue, discounts, gift_cards = Decimal(0), Decimal(0), Decimal(0)
    tax: defaultdict[str, Decimal] = defaultdict(Decimal)
    departments: defaultdict[str, Decimal] = defaultdict(Decimal)
    tenders: defaultdict[str, Decimal] = defaultdict(Decimal)
    tips = Decimal(0)
    for ticket in tickets:
        paid = Decimal(0)
        owed = Decimal(0)
        for line in ticket.lines:
            sign = -1 if line.kind is LineKind.RETURN else 1
            assert line.amount.amount >= 0, "canonical line amounts are magnitudes; the kind gives the sign"
            discount = line.discount.amount if line.discount else Decimal(0)
            net = sign * (line.amount.amount - discount)
            owed += net + sum((sign * t.amount for t in line.taxes.values()), Decimal(0))
            if line.kind is LineKind.GIFT_CARD_SALE:
                gift_cards += net
                continue
            revenue += net
            discounts += sign * discount
            departments[line.department] += net
            for name, amount in line.taxes.items():
                tax[name] += sign * amount.amount
        for payment in ticket.payments:
            paid += payment.amount.amount
            tenders[payment.payment_type] += payment.amount.amount
            tips += payment.tip.amount if payment.tip else Decimal(0)
        assert paid == owed, f"ticket {ticket.id} does not balance: paid {paid}, owed {owed}"
    assert revenue == Decimal(truth["revenue"]) and discounts == Decimal(truth["discounts"])
    assert gift_cards == Decimal(truth["gift_cards_sold"]) and tips == Decimal(truth["tips"])
    assert dict(tax) == {vocabulary(k): Decimal(v) for k, v in truth["tax"].items()}
    assert dict(departments) == {vocabulary(k): Decimal(v) for k, v in truth["departments"].items()}
    assert tenders["CASH"] == Decimal(truth["tenders"].get("Cash", "0"))
    assert tenders["GIFT_CARD"] == Decimal(truth["tenders"].get("Gift Card", "0"))
    cards = {k: v for k, v in tenders.items() if k not in ("CASH", "GIFT_CARD")}
    assert sum(cards.values()) == Decimal(truth["tenders"]["Credit Card"])
    assert set(cards) == {vocabulary(b) for b in truth["card_brands"]}


def test_the_ticket_day_is_cut_at_the_merchants_local_midnight(retail: Retail) -> None:
    start, end = business_day_window(EDGE_DAY, "America/Chicago")
    made = {}
    for name, at in {"first": start, "last": end - timedelta(seconds=1), "before": start - timedelta(seconds=1),
                     "after": end}.items():
        made[name] = str(retail.sim.add_ticket(location_id=1, lines=[Line(item_id=1001)], completed_at=at)["id"])
    ids = {t.id for t in _tickets(retail, EDGE_DAY)}
    assert ids == {made["first"], made["last"]}
    in_utc = {t.id for t in _tickets(retail, EDGE_DAY, timezone="UTC")}
    assert made["last"] not in in_utc and made["before"] in in_utc, "the UTC day is another window"


def test_a_daylight_saving_day_has_23_hours_and_loses_no_ticket(retail: Retail) -> None:
    start, end = business_day_window(DST_DAY, "America/Chicago")
    assert end.astimezone(UTC) - start.astimezone(UTC) == timedelta(hours=23)
    late = datetime(2025, 3, 9, 23, 30, tzinfo=CHICAGO)  # CDT, UTC-5: 04:30 UTC on the 10th
    early = datetime(2025, 3, 9, 1, 30, tzinfo=CHICAGO)  # CST, UTC-6
    next_day = datetime(2025, 3, 10, 0, 0, tzinfo=CHICAGO)
    made = {name: str(retail.sim.add_ticket(location_id=1, lines=[Line(item_id=1002)], completed_at=at)["id"])
            for name, at in {"late": late, "early": early, "next": next_day}.items()}
    assert {t.id for t in _tickets(retail, DST_DAY)} == {made["late"], made["early"]}


def test_tenders_are_named_in_the_mappings_vocabulary(retail: Retail) -> None:
    at = datetime(2025, 3, 6, 12, tzinfo=CENTRAL)
    ticket = retail.sim.add_ticket(
        location_id=1, completed_at=at,
        lines=[Line(item_id=1002, qty=2), Line.gift_card("25.00", "0042")],
        payments=[Tender.gift_card("5.00", "7788"), Tender("custom", "10.00", payment_type_id=retail.house_account),
                  Tender.card("52.88", brand="AMEX", last4="1005", tip="3.00",
                              transaction_id="TRN_ticketcard01", reference="HR-TICKET-X", auth_code="A1B2C3")])
    refund = retail.sim.add_ticket(location_id=1, completed_at=at + timedelta(minutes=5),
                                   lines=[Line(item_id=1002, qty=-1)], payments=[Tender.card("-21.44", brand="VISA")])
    before = retail.app.requests["GET /api/payment_types"]
    tickets = {t.id: t for t in _tickets(retail, at.date())}
    assert retail.app.requests["GET /api/payment_types"] - before == 1, "custom tenders are named with one lookup"
    sale = tickets[str(ticket["id"])]
    assert [p.payment_type for p in sale.payments] == ["GIFT_CARD", "HOUSE_ACCOUNT", "AMEX"]
    card = sale.payments[2]
    assert card.amount == usd("52.88") and card.tip == usd("3.00")
    assert (card.gateway_transaction_id, card.reference, card.auth_code) == ("TRN_ticketcard01", "HR-TICKET-X",
                                                                              "A1B2C3")
    assert [(line.kind, line.department) for line in sale.lines] == [(LineKind.SALE, "APPAREL"),
                                                                     (LineKind.GIFT_CARD_SALE, "GIFT_CARDS")]
    assert sale.lines[0].amount == usd("39.98") and set(sale.lines[0].taxes) == {"STATE", "CITY"}
    assert sale.payments[0].tip is None, "a zero tip is no tip"
    returned = tickets[str(refund["id"])]
    [line] = returned.lines
    assert line.kind is LineKind.RETURN and line.amount == usd("19.99")
    assert all(amount.amount > 0 for amount in line.taxes.values())
    assert returned.payments[0].amount == usd("-21.44") and returned.payments[0].payment_type == "VISA"


def test_the_window_is_the_merchants_local_day() -> None:
    start, end = business_day_window(DAY, "America/Chicago")
    assert start == datetime(2025, 3, 1, 6, tzinfo=UTC) and end == datetime(2025, 3, 2, 6, tzinfo=UTC)
    assert business_day_window(DAY, "UTC") == (datetime(2025, 3, 1, tzinfo=UTC), datetime(2025, 3, 2, tzinfo=UTC))
    assert vocabulary("Credit  Card") == "CREDIT_CARD" and vocabulary("Gift Cards") == "GIFT_CARDS"
