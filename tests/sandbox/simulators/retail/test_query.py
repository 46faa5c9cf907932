"""The Retail API's collection conventions over HTTP: every ``_filter`` form and operator, ``sort[]``,
``_only[]`` and ``_include[]``."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest

from sandbox.simulators.retail import Line, Tender
from tests.sandbox.simulators.retail.client import CST, Query, Running, catalogue, ids

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
