"""The Heartland Retail simulator over real loopback HTTP: auth, the envelope and paging, writes, faults and
inventory."""

from __future__ import annotations

import json

import httpx
import pytest

from sandbox.simulators.retail import DEFAULT_TOKEN, Line
from tests.sandbox.simulators.retail.client import AUTH, Running

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
