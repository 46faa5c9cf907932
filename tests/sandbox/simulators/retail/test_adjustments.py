"""Inventory adjustment sets over HTTP: made, completed, refused, and their effect on ``qty_on_hand``."""

from __future__ import annotations

import json

import httpx

from tests.sandbox.simulators.retail.client import Running


def stock(running: Running, item_id: int, location_id: int = 1) -> int:
    rows = running.api.get("inventory/values", params={"_filter": json.dumps({"item_id": item_id,
                                                                               "location_id": location_id})})
    results = rows.json()["results"]
    return results[0]["qty_on_hand"] if results else 0


def test_a_set_posted_complete_moves_stock_at_once(running: Running) -> None:
    running.sim.set_inventory(1001, 1, on_hand=10)
    made = running.api.post("inventory/adjustment_sets", json={
        "location_id": 1, "reason_id": 1, "status": "complete", "note": "count",
        "lines": [{"item_id": 1001, "qty": -3}, {"item_id": 1002, "qty": 7}]})
    assert made.status_code == 201 and made.content == b""
    assert made.headers["location"].endswith("/api/inventory/adjustment_sets/7001")
    assert (stock(running, 1001), stock(running, 1002)) == (7, 7)
    shown = running.api.get("inventory/adjustment_sets/7001", params={"_include[]": "lines"}).json()
    assert shown["status"] == "complete" and shown["completed_at"] is not None and shown["reason_id"] == 1
    assert [(line["item_id"], line["qty"], line["unit_cost"]) for line in shown["lines"]] == [
        (1001, -3, "12.00"), (1002, 7, "19.99")]
    assert "lines" not in running.api.get("inventory/adjustment_sets/7001").json()
    listed = running.api.get("inventory/adjustment_sets", params={"_filter": json.dumps({"location_id": 1})}).json()
    assert listed["total"] == 1


def test_a_pending_set_moves_nothing_until_it_is_completed(running: Running) -> None:
    made = running.api.post("inventory/adjustment_sets", json={"location_id": 1})
    path = made.headers["location"].split("/api/")[1]
    line = running.api.post(f"{path}/lines", json={"item_id": 1003, "qty": 4})
    assert line.status_code == 201 and line.headers["location"].endswith(f"{path}/lines/1")
    assert stock(running, 1003) == 0
    assert running.api.put(path, json={"status": "complete"}).status_code == 200
    assert stock(running, 1003) == 4
    assert running.api.put(path, json={"status": "complete"}).status_code == 200  # completing again: no effect
    assert stock(running, 1003) == 4
    late = running.api.post(f"{path}/lines", json={"item_id": 1003, "qty": 1})
    assert late.status_code == 422 and "pending sets only" in late.json()["errors"]["status"][0]
    assert running.api.put(path, json={"status": "pending"}).status_code == 422


def test_a_refused_line_leaves_no_set_and_no_stock_moved(running: Running) -> None:
    running.sim.set_inventory(1001, 1, on_hand=10)
    for body, field in [({"location_id": 1, "status": "complete", "lines": [{"item_id": 1001, "qty": 2},
                                                                             {"item_id": 9999, "qty": 1}]}, "item_id"),
                        ({"location_id": 1, "lines": [{"item_id": 1001, "qty": 0}]}, "qty"),
                        ({"location_id": 1, "lines": [{"item_id": 1001, "qty": "1.5"}]}, "qty"),
                        ({"location_id": 42}, "location_id"), ({}, "location_id"),
                        ({"location_id": 1, "reason_id": 99}, "reason_id"),
                        ({"location_id": 1, "status": "complete"}, "lines")]:
        refused = running.api.post("inventory/adjustment_sets", json=body)
        assert refused.status_code == 422 and field in refused.json()["errors"], (body, refused.text)
    assert running.sim.state()["adjustment_sets"] == [] and stock(running, 1001) == 10


def test_reasons_are_listed_and_unknown_sets_are_404(running: Running) -> None:
    reasons = running.api.get("inventory/adjustment_reasons").json()
    assert [r["name"] for r in reasons["results"]] == ["Count correction", "Damaged", "Received"]
    assert running.api.get("inventory/adjustment_sets/1").status_code == 404
    assert running.api.post("inventory/adjustment_sets/1/lines", json={"item_id": 1001, "qty": 1}).status_code == 404


def test_faults_apply_to_adjustment_sets_as_to_every_route(running: Running) -> None:
    plan = {"rules": [{"route": "POST /api/inventory/adjustment_sets", "kind": "error", "rate": 1.0, "status": 503}]}
    assert httpx.put(f"{running.root}/_sim/faults", json=plan).status_code == 200
    failed = running.api.post("inventory/adjustment_sets", json={"location_id": 1, "status": "complete",
                                                                 "lines": [{"item_id": 1001, "qty": 5}]})
    assert failed.status_code == 503 and failed.json() == {"message": "Service unavailable", "errors": {}}
    assert running.sim.state()["adjustment_sets"] == [] and stock(running, 1001) == 0
    httpx.delete(f"{running.root}/_sim/faults")


def test_items_carry_a_barcode_in_custom_that_filters_find(running: Running) -> None:
    made = running.api.post("items", json={"description": "Cable", "public_id": "T0001", "price": "20.00",
                                           "custom": {"barcode": "042100005264"}})
    item_id = int(made.headers["location"].rsplit("/", 1)[1])
    found = running.api.get("items", params={"_filter": json.dumps({"custom@barcode": "042100005264"})}).json()
    assert [r["id"] for r in found["results"]] == [item_id]
    assert running.api.put(f"items/{item_id}", json={"price": "21.26", "custom": {"barcode": None}}).status_code == 200
    held = running.sim.item_by_public_id("T0001")
    assert held is not None and held["price"] == "21.26" and held["custom"] == {"barcode": None}


def test_adjustment_sets_survive_a_snapshot(running: Running) -> None:
    running.api.post("inventory/adjustment_sets", json={"location_id": 1, "status": "complete",
                                                        "lines": [{"item_id": 1001, "qty": 5}]})
    state = json.loads(json.dumps(running.sim.state()))
    running.sim.restore(state)
    assert running.sim.state()["adjustment_sets"] == state["adjustment_sets"]
    assert running.api.post("inventory/adjustment_sets", json={"location_id": 1}).headers["location"].endswith("/7002")
