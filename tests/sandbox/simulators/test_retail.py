"""The Heartland Retail simulator over real loopback HTTP: the conventions a client relies on."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from sandbox.host import run_in_background, stop_background
from sandbox.simulators import create as create_named
from sandbox.simulators.base import SimulatorApp
from sandbox.simulators.retail import DEFAULT_TOKEN, Line, RetailSimulator, Tender, create
from shared.security.pan import find_pans

CST = timezone(timedelta(hours=-6))
Query = list[tuple[str, str | int | float | bool | None]]
AUTH = {"Authorization": f"Bearer {DEFAULT_TOKEN}"}


@dataclass
class Running:
    sim: RetailSimulator
    api: httpx.Client
    root: str


class Swappable:
    """One loopback server for the module, a fresh simulator per test: starting uvicorn per test is slow."""

    app: SimulatorApp | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        assert self.app is not None
        await self.app(scope, receive, send)


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[Swappable, str]]:
    swappable = Swappable()
    server, thread, port = run_in_background(swappable)
    yield swappable, f"http://127.0.0.1:{port}"
    stop_background(server, thread)


@pytest.fixture
def running(server: tuple[Swappable, str], request: pytest.FixtureRequest) -> Iterator[Running]:
    options: dict[str, Any] = getattr(request, "param", {})
    swappable, root = server
    swappable.app = create(seed=5, **options)
    sim = swappable.app.simulated
    assert isinstance(sim, RetailSimulator)
    with httpx.Client(base_url=f"{root}/api", headers=AUTH, timeout=5) as api:
        yield Running(sim, api, root)


def ids(answer: httpx.Response) -> list[int]:
    assert answer.status_code == 200, answer.text
    return [row["id"] for row in answer.json()["results"]]


def catalogue(sim: RetailSimulator) -> dict[str, int]:
    """Four items whose prices sort differently as text and as numbers ("9.50" > "10.00" as text)."""
    made = {
        "mug": sim.add_item("Mug", price="9.50", department="Housewares", custom={"color": "Blue"}),
        "tee": sim.add_item("Tee shirt", price="10.00", department="Apparel", custom={"color": "Red"}),
        "cap": sim.add_item("Cap", price="25.00", department="Apparel", custom={"color": "Blue"}),
        "pen": sim.add_item("Pen", price="2.25", department="Stationery", active=False),
    }
    return {name: record["id"] for name, record in made.items()}


# --- auth --------------------------------------------------------------------------------------------


def test_only_the_configured_bearer_token_gets_in(running: Running) -> None:
    url = f"{running.root}/api/customers"
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {DEFAULT_TOKEN}"},
                    {"Authorization": DEFAULT_TOKEN}):
        refused = httpx.post(url, headers=headers, json={"first_name": "Ana"})
        assert refused.status_code == 401, headers
        assert "token" in refused.json()["message"]
    assert running.sim.state()["customers"] == []
    assert httpx.get(f"{running.root}/api/nowhere").status_code == 401
    assert httpx.get(url, headers=AUTH).status_code == 200
    assert httpx.get(f"{running.root}/_sim/state").status_code == 200


@pytest.mark.parametrize("running", [{"token": "s3cret"}], indirect=True)
def test_the_accepted_token_is_configurable(running: Running) -> None:
    assert running.api.get("customers").status_code == 401
    assert running.api.get("customers", headers={"Authorization": "Bearer s3cret"}).status_code == 200


# --- envelope and paging ---------------------------------------------------------------------------------


@pytest.mark.parametrize("running", [{"defaults": False, "max_per_page": 30}], indirect=True)
def test_envelope_and_paging_maths(running: Running) -> None:
    for n in range(45):
        running.sim.add_customer(f"First{n}", f"Last{n}")
    pages = [running.api.get("customers", params={"page": p}).json() for p in (1, 2, 3, 4)]
    assert [(len(p["results"]), p["total"], p["pages"]) for p in pages] == [(20, 45, 3), (20, 45, 3), (5, 45, 3),
                                                                            (0, 45, 3)]
    seen = [row["id"] for p in pages for row in p["results"]]
    assert len(seen) == len(set(seen)) == 45 and seen == sorted(seen)
    counted = running.api.get("customers", params={"page": 1, "per_page": 1}).json()
    assert (counted["total"], counted["pages"], len(counted["results"])) == (45, 45, 1)
    assert running.api.get("customers", params={"per_page": 7}).json()["pages"] == 7
    clamped = running.api.get("customers", params={"per_page": 100}).json()
    assert (len(clamped["results"]), clamped["pages"]) == (30, 2)
    for bad in ({"per_page": 0}, {"page": 0}, {"page": "two"}):
        refused = running.api.get("customers", params=bad)
        assert refused.status_code == 422 and set(refused.json()["errors"]) <= {"page", "per_page"}
    empty = running.api.get("customers", params={"_filter": json.dumps({"last_name": "Nobody"})}).json()
    assert empty == {"results": [], "total": 0, "pages": 0}


# --- _filter -------------------------------------------------------------------------------------------


FORMS: dict[str, Query] = {
    "json object": [("_filter", json.dumps({"department": "Apparel", "price": {"$gt": 10}}))],
    "json array": [("_filter", json.dumps([{"department": "Apparel"}, {"price": {"$gt": 10}}]))],
    "array form": [("_filter[]", json.dumps({"department": "Apparel"})),
                   ("_filter[]", json.dumps({"price": {"$gt": 10}}))],
    "bracket form": [("_filter[department]", "Apparel"), ("_filter[price][$gt]", "10")],
}


@pytest.mark.parametrize("running", [{"defaults": False}], indirect=True)
@pytest.mark.parametrize("form", FORMS)
def test_every_filter_form_means_the_same(running: Running, form: str) -> None:
    made = catalogue(running.sim)
    assert ids(running.api.get("items", params=FORMS[form])) == [made["cap"]]


OPERATORS: dict[str, tuple[Any, set[str]]] = {
    "implicit $eq": ({"department": "Apparel"}, {"tee", "cap"}),
    "$eq": ({"department": {"$eq": "Apparel"}}, {"tee", "cap"}),
    "$neq": ({"department": {"$neq": "Apparel"}}, {"mug", "pen"}),
    "$gt money compares as a number": ({"price": {"$gt": "9.50"}}, {"tee", "cap"}),
    "$gte": ({"price": {"$gte": "10.00"}}, {"tee", "cap"}),
    "$lt money compares as a number": ({"price": {"$lt": 10}}, {"mug", "pen"}),
    "$lte": ({"price": {"$lte": 9.5}}, {"mug", "pen"}),
    "$gt and $lt together": ({"price": {"$gt": 5, "$lt": 20}}, {"mug", "tee"}),
    "$in": ({"description": {"$in": ["Mug", "Cap", "Nothing"]}}, {"mug", "cap"}),
    "$nin": ({"description": {"$nin": ["Mug", "Cap"]}}, {"tee", "pen"}),
    "$like": ({"description": {"$like": "%shirt"}}, {"tee"}),
    "$like is case-insensitive, _ is one char": ({"description": {"$like": "c_P"}}, {"cap"}),
    "custom@field": ({"custom@color": "Blue"}, {"mug", "cap"}),
    "custom@field with an operator": ({"custom@color": {"$neq": "Blue"}}, {"tee", "pen"}),
    "boolean": ({"active": False}, {"pen"}),
}


@pytest.mark.parametrize("running", [{"defaults": False}], indirect=True)
@pytest.mark.parametrize("case", OPERATORS)
def test_each_operator(running: Running, case: str) -> None:
    made = catalogue(running.sim)
    clause, expected = OPERATORS[case]
    found = ids(running.api.get("items", params={"_filter": json.dumps(clause)}))
    assert set(found) == {made[name] for name in expected}


@pytest.mark.parametrize("running", [{"defaults": False}], indirect=True)
def test_bracket_form_takes_lists_and_booleans(running: Running) -> None:
    made = catalogue(running.sim)
    params: Query = [("_filter[description][$in][]", "Mug"), ("_filter[description][$in][]", "Pen"),
              ("_filter[active]", "true")]
    assert ids(running.api.get("items", params=params)) == [made["mug"]]


@pytest.mark.parametrize("running", [{"defaults": False}], indirect=True)
def test_malformed_filters_are_refused_not_ignored(running: Running) -> None:
    catalogue(running.sim)
    for params in ({"_filter": "{not json"}, {"_filter": json.dumps({"price": {"$between": [1, 2]}})},
                   {"_filter": "[1, 2]"}):
        refused = running.api.get("items", params=params)
        assert refused.status_code == 422, params
        assert "_filter" in refused.json()["errors"]


def test_time_filters_compare_instants_across_offsets(running: Running) -> None:
    sim = running.sim
    mug = [Line(item_id=1001)]
    early = sim.add_ticket(location_id=1, lines=mug, completed_at=datetime(2025, 3, 1, 23, 30, tzinfo=CST))
    late = sim.add_ticket(location_id=1, lines=mug, completed_at=datetime(2025, 3, 2, 0, 30, tzinfo=CST))
    # 2025-03-02T05:45Z is 23:45 CST on the 1st: only the early ticket is before it.
    before = {"completed_at": {"$lt": "2025-03-02T05:45:00Z"}}
    assert ids(running.api.get("sales/tickets", params={"_filter": json.dumps(before)})) == [early["id"]]
    on_the_second = {"completed_at": {"$gte": "2025-03-02T00:00:00-06:00"}}
    assert ids(running.api.get("sales/tickets", params={"_filter": json.dumps(on_the_second)})) == [late["id"]]


# --- sort, _only, _include -----------------------------------------------------------------------------


@pytest.mark.parametrize("running", [{"defaults": False}], indirect=True)
def test_sort_by_one_and_several_fields(running: Running) -> None:
    made = catalogue(running.sim)
    by_price = ids(running.api.get("items", params={"sort[]": "price,desc"}))
    assert by_price == [made["cap"], made["tee"], made["mug"], made["pen"]]
    by_department_then_price = ids(running.api.get("items", params=[("sort[]", "department"),
                                                                     ("sort[]", "price,desc")]))
    assert by_department_then_price == [made["cap"], made["tee"], made["mug"], made["pen"]]
    assert running.api.get("items", params={"sort[]": "price,sideways"}).status_code == 422


@pytest.mark.parametrize("running", [{"defaults": False}], indirect=True)
def test_only_returns_the_named_fields(running: Running) -> None:
    catalogue(running.sim)
    rows = running.api.get("items", params=[("_only[]", "id"), ("_only[]", "public_id")]).json()["results"]
    assert rows and all(set(row) == {"id", "public_id"} for row in rows)


def test_include_embeds_the_sibling_object_next_to_its_key(running: Running) -> None:
    sim = running.sim
    ana = sim.add_customer("Ana", "Ruiz", email="ana@example.com")
    ticket = sim.add_ticket(location_id=1, customer_id=ana["id"], lines=[Line(item_id=1001, qty=2)],
                            payments=[Tender.card("25.74", brand="VISA", last4="5262")])
    plain = running.api.get(f"sales/tickets/{ticket['id']}").json()
    assert plain["customer_id"] == ana["id"] and "customer" not in plain and "lines" not in plain
    every: Query = [("_include[]", name) for name in ("customer", "location", "lines", "payments")]
    full = running.api.get(f"sales/tickets/{ticket['id']}", params=every)
    body = full.json()
    assert body["customer"]["email"] == "ana@example.com" and body["location"]["id"] == 1
    assert [line["qty"] for line in body["lines"]] == [2]
    assert body["payments"][0]["card_last4"] == "5262"
    listed = running.api.get("sales/tickets", params={"_include[]": "customer"}).json()["results"]
    assert listed[0]["customer"]["id"] == ana["id"]


# --- writes ------------------------------------------------------------------------------------------


def test_post_answers_201_with_an_absolute_location_and_an_empty_body(running: Running) -> None:
    created = running.api.post("customers", json={"first_name": "Ana", "last_name": "Ruiz", "email": "ana@example.com"})
    assert created.status_code == 201 and created.content == b""
    location = created.headers["location"]
    assert location.startswith(f"{running.root}/api/customers/")
    fetched = httpx.get(location, headers=AUTH).json()
    assert fetched["email"] == "ana@example.com" and location.endswith(f"/{fetched['id']}")


@pytest.mark.parametrize("running", [{"public_url": "https://acme.retail.heartland.us/api/"}], indirect=True)
def test_location_can_name_the_public_host(running: Running) -> None:
    created = running.api.post("customers", json={"last_name": "Ruiz"})
    assert created.headers["location"].startswith("https://acme.retail.heartland.us/api/customers/")


def test_a_ticket_without_station_or_location_is_422_with_field_errors(running: Running) -> None:
    refused = running.api.post("sales/tickets", json={"customer_id": None})
    assert refused.status_code == 422
    body = refused.json()
    assert isinstance(body["message"], str) and body["message"]
    assert set(body["errors"]) == {"station_id", "location_id"}
    assert all(isinstance(problems, list) and problems for problems in body["errors"].values())
    elsewhere = running.api.post("sales/tickets", json={"location_id": 1, "station_id": 999})
    assert elsewhere.status_code == 422 and "station_id" in elsewhere.json()["errors"]
    assert running.sim.state()["tickets"] == []


@pytest.mark.parametrize("running", [{"error_body": lambda message, errors: {"error": {"text": message,
                                                                                       "fields": sorted(errors)}}}],
                         indirect=True)
def test_the_error_shape_is_configurable(running: Running) -> None:
    refused = running.api.post("sales/tickets", json={})
    assert refused.status_code == 422
    assert refused.json()["error"]["fields"] == ["location_id", "station_id"] and refused.json()["error"]["text"]


def test_a_ticket_rung_up_over_http_completes_only_when_paid(running: Running) -> None:
    api = running.api
    location = api.post("sales/tickets", json={"source_location_id": 1, "station_id": 101}).headers["location"]
    ticket_path = location.split("/api/", 1)[1]
    line = api.post(f"{ticket_path}/lines", json={"item_id": 1002, "qty": 2, "discounts": [{"name": "Promo",
                                                                                              "amount": "3.98"}]})
    assert line.status_code == 201 and "/lines/" in line.headers["location"]
    ticket = api.get(ticket_path).json()
    # 2 x 19.99 = 39.98, less 3.98 = 36.00; State 6.25 % = 2.25, City 1 % = 0.36.
    assert (ticket["subtotal"], ticket["discount_total"], ticket["tax_total"], ticket["total"]) == \
        ("39.98", "3.98", "2.61", "38.61")
    unpaid = api.put(ticket_path, json={"status": "complete"})
    assert unpaid.status_code == 422 and "balance" in unpaid.json()["errors"]["status"][0]
    paid = api.post(f"{ticket_path}/payments", json={"payment_type_id": 2, "amount": "38.61", "tip": "5.00",
                                                     "card_brand": "visa", "card_last4": "4242", "auth_code": "A1B2C3",
                                                     "gateway_transaction_id": "TRN_abcdefGHJKLM"})
    assert paid.status_code == 201
    done = api.put(ticket_path, json={"status": "complete"}).json()
    assert done["status"] == "complete" and done["balance"] == "0.00" and done["tip_total"] == "5.00"
    assert done["completed_at"] is not None
    assert api.post(f"{ticket_path}/lines", json={"item_id": 1001}).status_code == 422
    voided = api.put(ticket_path, json={"status": "voided"}).json()
    assert voided["status"] == "voided" and voided["voided_at"] is not None
    assert api.put(ticket_path, json={"status": "complete"}).status_code == 422
    assert api.put(ticket_path, json={"status": "lost"}).status_code == 422


def test_put_merges_only_the_named_fields(running: Running) -> None:
    customer = running.sim.add_customer("Ana", "Ruiz", email="ana@example.com", custom={"tier": "gold", "store": "1"})
    path = f"customers/{customer['id']}"
    answer = running.api.put(path, json={"email": "ana.ruiz@example.com", "custom": {"tier": "platinum"}, "id": 1})
    assert answer.status_code == 200
    after = running.api.get(path).json()
    assert after["id"] == customer["id"] and after["first_name"] == "Ana" and after["last_name"] == "Ruiz"
    assert after["email"] == "ana.ruiz@example.com"
    assert after["custom"] == {"tier": "platinum", "store": "1"}
    assert running.api.put(path, json={"email": "not-an-address"}).status_code == 422


def test_a_card_number_in_a_request_is_refused_and_not_stored(running: Running) -> None:
    ticket = running.api.post("sales/tickets", json={"location_id": 1, "station_id": 101}).headers["location"]
    path = ticket.split("/api/", 1)[1]
    running.api.post(f"{path}/lines", json={"item_id": 1001})
    refused = running.api.post(f"{path}/payments", json={"payment_type_id": 2, "amount": "12.87", "card_brand": "VISA",
                                                         "card_last4": "4111 1111 1111 1111"})
    assert refused.status_code == 422
    assert "4111" not in json.dumps(running.sim.state())
    long_last4 = running.api.post(f"{path}/payments", json={"payment_type_id": 2, "amount": "12.87",
                                                            "card_brand": "VISA", "card_last4": "11111"})
    assert long_last4.status_code == 422 and "card_last4" in long_last4.json()["errors"]


def test_unknown_ids_and_paths_are_404(running: Running) -> None:
    for path in ("customers/424242", "customers/abc", "sales/tickets/1", "items/0", "sales/tickets/88001/lines",
                 "nowhere", "sales/orders/5"):
        answer = running.api.get(path)
        assert answer.status_code == 404, path
        assert "message" in answer.json()
    assert running.api.put("customers/424242", json={"email": "a@b.c"}).status_code == 404


# --- faults -------------------------------------------------------------------------------------------


def test_throttling_through_sim_faults_answers_429_with_retry_after(running: Running) -> None:
    plan = {"rules": [{"route": "POST /api/customers", "kind": "throttle", "rate": 1.0, "retry_after": 4}]}
    assert httpx.put(f"{running.root}/_sim/faults", json=plan).status_code == 200
    throttled = running.api.post("customers", json={"last_name": "Ruiz"})
    assert throttled.status_code == 429 and throttled.headers["retry-after"] == "4"
    assert running.sim.state()["customers"] == []
    assert running.api.get("customers").status_code == 200
    httpx.delete(f"{running.root}/_sim/faults")
    assert running.api.post("customers", json={"last_name": "Ruiz"}).status_code == 201


# --- inventory ----------------------------------------------------------------------------------------


def test_inventory_values_group_and_include(running: Running) -> None:
    sim = running.sim
    second = sim.add_location("Riverside")
    sim.set_inventory(1001, 1, on_hand=12, committed=2, unit_cost="7.25")
    sim.set_inventory(1001, second["id"], on_hand=8, unit_cost="7.25")
    sim.set_inventory(1002, 1, on_hand=0, unit_cost="9.00")
    rows = running.api.get("inventory/values", params=[("group[]", "item_id"), ("group[]", "location_id"),
                                                       ("_include[]", "item")]).json()
    assert rows["total"] == 3
    first = rows["results"][0]
    assert first == {"item_id": 1001, "location_id": 1, "qty_on_hand": 12, "qty_committed": 2, "qty_available": 10,
                     "unit_cost": "7.25", "item": first["item"]}
    assert first["item"]["description"] == "Coffee mug"
    by_item = running.api.get("inventory/values", params={"group[]": "item_id"}).json()["results"]
    assert [(r["item_id"], r["qty_on_hand"], "location_id" in r) for r in by_item] == [(1001, 20, False),
                                                                                       (1002, 0, False)]
    stocked = running.api.get("inventory/values", params={"exclude_empty_locations": "true"}).json()
    assert stocked["total"] == 2
    sim.add_ticket(location_id=1, lines=[Line(item_id=1001, qty=3)])
    after = running.api.get("inventory/values", params={"_filter": json.dumps({"item_id": 1001, "location_id": 1})})
    assert after.json()["results"][0]["qty_on_hand"] == 9
    assert running.api.get("inventory/values", params={"group[]": "colour"}).status_code == 422


# --- the scenario API and ground truth -------------------------------------------------------------------


def test_add_ticket_records_what_settlement_needs(running: Running) -> None:
    sim = running.sim
    sale = sim.add_ticket(
        location_id=1,
        lines=[Line(item_id=1002, qty=3, discounts={"Promo": "5.97"}), Line.gift_card("50.00", "0042")],
        payments=[Tender.gift_card("10.00", "7788"),
                  Tender.card("97.92", brand="MASTERCARD", last4="5454", tip="4.00", transaction_id="TRN_fixedIDxyzab",
                              reference="HR-TICKET-SALE1", auth_code="OK1234")],
        completed_at=datetime(2025, 3, 1, 15, 2, 11, tzinfo=CST))
    item_line, gift_line = sale["lines"]
    assert (item_line["department"], item_line["extended_price"], item_line["discount_total"],
            item_line["net_amount"]) == ("Apparel", "59.97", "5.97", "54.00")
    assert {t["name"]: t["amount"] for t in item_line["taxes"]} == {"State": "3.38", "City": "0.54"}
    assert (gift_line["type"], gift_line["net_amount"], gift_line["taxes"]) == ("GiftCardLine", "50.00", [])
    assert sale["total"] == "107.92" and sale["completed_at"] == "2025-03-01T15:02:11-06:00"
    refund = sim.add_ticket(location_id=1, lines=[Line(item_id=1001, qty=-1)],
                            payments=[Tender.card("-12.87", brand="VISA", last4="4242")])
    assert refund["total"] == "-12.87" and refund["lines"][0]["net_amount"] == "-12.00"
    card = refund["payments"][0]
    assert card["gateway_transaction_id"].startswith("TRN_")
    assert card["gateway_reference"] == f"HR-TICKET-{refund['id']}"
    with pytest.raises(ValueError, match="balance"):
        sim.add_ticket(location_id=1, lines=[Line(item_id=1001)], payments=[Tender.cash("1.00")])
    day = sim.totals(date(2025, 3, 1))
    assert day["tickets"] == 1 and day["gift_cards_sold"] == "50.00" and day["tips"] == "4.00"
    assert day["tenders"] == {"Credit Card": "97.92", "Gift Card": "10.00"}
    assert day["card_brands"] == {"MASTERCARD": "101.92"}


def test_a_business_day_is_consistent_and_free_of_card_numbers(running: Running) -> None:
    sim = running.sim
    created = sim.seed_business_day(date(2025, 3, 1), tickets=300, seed=11)
    assert len(created) == 300
    state = sim.state()
    kinds = {p["type"] for t in state["tickets"] for p in t["payments"]}
    assert kinds == {"CashPayment", "CreditCardPayment", "GiftCardPayment"}
    assert any(Decimal(t["total"]) < 0 for t in state["tickets"]), "no refund in the day"
    assert any(line["type"] == "GiftCardLine" for t in state["tickets"] for line in t["lines"])
    assert any(Decimal(t["tip_total"]) > 0 for t in state["tickets"])
    for ticket in state["tickets"]:
        lines, payments = ticket["lines"], ticket["payments"]
        net = sum(Decimal(line["net_amount"]) + Decimal(line["tax_total"]) for line in lines)
        assert Decimal(ticket["total"]) == net
        assert Decimal(ticket["balance"]) == 0 == Decimal(ticket["total"]) - sum(Decimal(p["amount"]) for p in payments)
    complete = [t for t in state["tickets"] if t["status"] == "complete"]
    day = state["totals_by_day"]["2025-03-01"]
    assert day["tickets"] == len(complete)
    assert Decimal(day["total"]) == sum(Decimal(t["total"]) for t in complete)
    assert Decimal(day["total"]) == sum(Decimal(v) for v in day["tenders"].values())
    assert list(find_pans(json.dumps(state))) == []
    again = RetailSimulator(seed=5)
    again.seed_business_day(date(2025, 3, 1), tickets=300, seed=11)
    assert again.state()["tickets"] == state["tickets"]


def test_state_survives_a_snapshot_and_restore(tmp_path: Path) -> None:
    snapshot = tmp_path / "retail.json"
    first = create(seed=1, snapshot=snapshot)
    seeded = first.simulated
    assert isinstance(seeded, RetailSimulator)
    seeded.seed_business_day(date(2025, 3, 1), tickets=20)
    server, thread, port = run_in_background(first)
    try:
        assert httpx.post(f"http://127.0.0.1:{port}/_sim/snapshot").status_code == 200
    finally:
        stop_background(server, thread)
    second = create_named("retail", snapshot=snapshot)
    assert second.ground_truth() == first.ground_truth()
    restored: Any = second.simulated
    ticket = restored.add_ticket(location_id=1, lines=[Line(item_id=1001)])
    assert ticket["id"] == max(t["id"] for t in first.ground_truth()["tickets"]) + 1


def test_naive_times_are_refused_by_the_scenario_api() -> None:
    sim = RetailSimulator()
    with pytest.raises(ValueError, match="time zone"):
        sim.add_ticket(location_id=1, lines=[Line(item_id=1001)], completed_at=datetime(2025, 3, 1, 12))
    assert sim.state()["tickets"] == []
    assert sim.add_ticket(location_id=1, lines=[Line(item_id=1001)],
                          completed_at=datetime(2025, 3, 1, 12, tzinfo=UTC))["status"] == "complete"
