"""The F&O simulator's catalogue entities over HTTP: released products, their barcodes and warehouse on-hand."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from sandbox.host import run_in_background, stop_background
from sandbox.simulators.fo import DEFAULT_TENANT, FinanceOperations, create, simulator
from shared.dynamics.fo_batch import loads

CROSS = {"cross-company": "true"}


@pytest.fixture
def fo() -> Iterator[tuple[FinanceOperations, httpx.Client]]:
    app = create(seed=5, event_interval=None, page_size=2)
    server, thread, port = run_in_background(app)
    base = f"http://127.0.0.1:{port}"
    form = {"grant_type": "client_credentials", "client_id": "hl365-local-client",
            "client_secret": "hl365-local-secret", "scope": f"{base}/.default"}
    token = httpx.post(f"{base}/{DEFAULT_TENANT}/oauth2/v2.0/token", data=form, timeout=5).json()["access_token"]
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=5) as http:
        yield simulator(app), http
    stop_background(server, thread)


def read_all(http: httpx.Client, path: str, params: dict[str, str]) -> tuple[list[dict[str, Any]], int]:
    rows: list[dict[str, Any]] = []
    pages, url = 0, path
    query: dict[str, str] | None = {**CROSS, **params}
    while url:
        page = loads(http.get(url, params=query).content)
        rows += page["value"]
        pages, url, query = pages + 1, page.get("@odata.nextLink"), None
    return rows, pages


def test_released_products_page_filter_and_select(fo: tuple[FinanceOperations, httpx.Client]) -> None:
    sim, http = fo
    sim.add_product("S0001", "Installation service", price=Decimal("75.00"), ProductType="Service")
    rows, pages = read_all(http, "/data/ReleasedProductsV2", {
        "$filter": "dataAreaId eq 'usmf'", "$select": "ItemNumber,ProductName,SalesPrice,UnitCost,"
                                                      "IsPOSRegistrationBlocked,ProductType"})
    assert pages == 2
    assert [(r["ItemNumber"], r["ProductName"], r["SalesPrice"], r["UnitCost"]) for r in rows] == [
        ("T0001", "Speaker cable 10", Decimal("20.00"), Decimal("8.50")),
        ("T0002", "Projector television", Decimal("1100.00"), Decimal("640.00")),
        ("D0001", "MidRangeSpeaker", Decimal("450.00"), Decimal("212.00")),
        ("S0001", "Installation service", Decimal("75.00"), Decimal("0"))]
    assert set(rows[0]) == {"@odata.etag", "ItemNumber", "ProductName", "SalesPrice", "UnitCost",
                            "IsPOSRegistrationBlocked", "ProductType"}
    sim.update_product("T0002", IsPOSRegistrationBlocked="Yes")
    blocked, _ = read_all(http, "/data/ReleasedProductsV2", {
        "$filter": "IsPOSRegistrationBlocked eq Microsoft.Dynamics.DataEntities.NoYes'Yes'"})
    assert [r["ItemNumber"] for r in blocked] == ["T0002"]


def test_barcodes_are_their_own_entity_keyed_by_product_and_barcode(fo: tuple[FinanceOperations, httpx.Client]
                                                                    ) -> None:
    _, http = fo
    rows, _ = read_all(http, "/data/ProductNumberIdentifiedBarcodes", {"$filter": "ProductNumber eq 'T0001'"})
    assert [(r["Barcode"], r["IsDefaultScannedBarcode"]) for r in rows] == [("042100005264", "Yes")]
    key = ("dataAreaId='usmf',ProductNumber='T0001',ProductQuantityUnitSymbol='ea',BarcodeSetupId='UPC',"
           "Barcode='042100005264'")
    assert http.get(f"/data/ProductNumberIdentifiedBarcodes({key})", params=CROSS).status_code == 200
    again = http.post("/data/ProductNumberIdentifiedBarcodes", json={
        "dataAreaId": "usmf", "ProductNumber": "T0001", "ProductQuantityUnitSymbol": "ea",
        "BarcodeSetupId": "UPC", "Barcode": "042100005264"})
    assert again.status_code == 500 and "The record already exists" in again.text


def test_on_hand_is_read_only_and_follows_the_simulated_count(fo: tuple[FinanceOperations, httpx.Client]) -> None:
    sim, http = fo
    flt = "InventorySiteId eq '1' and InventoryWarehouseId eq '11' and ItemNumber eq 'T0001'"
    [row], _ = read_all(http, "/data/WarehousesOnHandV2", {"$filter": flt})
    assert (row["OnHandQuantity"], row["AvailableOnHandQuantity"], row["ProductName"]) == (
        Decimal(100), Decimal(100), "Speaker cable 10")
    sim.set_on_hand("T0001", "11", Decimal("37.5"))
    [row], _ = read_all(http, "/data/WarehousesOnHandV2", {"$filter": flt})
    assert row["OnHandQuantity"] == Decimal("37.5")
    refused = http.post("/data/WarehousesOnHandV2", json={"dataAreaId": "usmf", "ItemNumber": "T0001",
                                                           "InventorySiteId": "1", "InventoryWarehouseId": "12"})
    assert refused.status_code == 405


def test_faults_reach_the_catalogue_entities(fo: tuple[FinanceOperations, httpx.Client]) -> None:
    sim, http = fo
    app_faults = http.put("/_sim/faults", json={"rules": [{"route": "GET /data/ReleasedProductsV2", "kind": "throttle",
                                                           "rate": 1.0, "retry_after": 7}]})
    assert app_faults.status_code == 200
    throttled = http.get("/data/ReleasedProductsV2", params=CROSS)
    assert throttled.status_code == 429 and throttled.headers["retry-after"] == "7"
    assert throttled.json()["error"]["message"].startswith("Number of requests exceeded")
    assert sim.rows("ReleasedProductsV2")


def test_a_posted_movement_journal_moves_on_hand_and_then_refuses_changes(
        fo: tuple[FinanceOperations, httpx.Client]) -> None:
    sim, http = fo
    header = http.post("/data/InventoryMovementJournalHeaders",
                       json={"dataAreaId": "usmf", "JournalNameId": "imov", "Description": "POS-SALES-MAIN-20261206-1"})
    assert header.status_code == 201, header.text
    number = header.json()["JournalNumber"]
    assert header.json()["JournalNameId"] == "IMov" and header.json()["IsPosted"] == "No"
    line = {"dataAreaId": "usmf", "JournalNumber": number, "ItemNumber": "T0001", "InventorySiteId": "1",
            "InventoryWarehouseId": "11", "InventoryQuantity": -3}
    assert http.post("/data/InventoryMovementJournalEntries", json=line).status_code == 201
    returned = {**line, "ItemNumber": "D0001", "InventoryQuantity": 2, "InventoryWarehouseId": "12"}
    assert http.post("/data/InventoryMovementJournalEntries", json=returned).status_code == 201
    key = f"InventoryMovementJournalHeaders(dataAreaId='usmf',JournalNumber='{number}')"
    assert http.post(f"/data/{key}/Microsoft.Dynamics.DataEntities.Post").status_code == 204
    on_hand = {(r["ItemNumber"], r["InventoryWarehouseId"]): r["OnHandQuantity"]
               for r in sim.rows("WarehousesOnHandV2")}
    assert on_hand[("T0001", "11")] == Decimal(97) and on_hand[("D0001", "12")] == Decimal(2)
    assert http.get(f"/data/{key}").json()["IsPosted"] == "Yes"
    again = http.post(f"/data/{key}/Microsoft.Dynamics.DataEntities.Post")
    assert again.status_code == 500 and "is posted" in again.json()["error"]["innererror"]["message"]
    late = http.post("/data/InventoryMovementJournalEntries", json={**line, "ItemNumber": "D0001"})
    assert late.status_code == 500 and "is posted and cannot be changed" in late.text
    assert on_hand[("T0001", "11")] == Decimal(97)


def test_movement_journals_refuse_unknown_names_items_and_empty_posts(fo: tuple[FinanceOperations, httpx.Client]
                                                                      ) -> None:
    _, http = fo
    wrong = http.post("/data/InventoryMovementJournalHeaders", json={"dataAreaId": "usmf", "JournalNameId": "GenJrn"})
    assert wrong.status_code == 500 and "Inventory journal names" in wrong.text
    number = http.post("/data/InventoryMovementJournalHeaders",
                       json={"dataAreaId": "usmf", "JournalNameId": "IMov"}).json()["JournalNumber"]
    unknown = http.post("/data/InventoryMovementJournalEntries", json={
        "dataAreaId": "usmf", "JournalNumber": number, "ItemNumber": "NOPE", "InventorySiteId": "1",
        "InventoryWarehouseId": "11", "InventoryQuantity": 1})
    assert unknown.status_code == 500 and "'NOPE' in field 'Item number'" in unknown.text
    empty = http.post(f"/data/InventoryMovementJournalHeaders(dataAreaId='usmf',JournalNumber='{number}')/"
                      "Microsoft.Dynamics.DataEntities.Post")
    assert empty.status_code == 500 and "has no lines" in empty.text
