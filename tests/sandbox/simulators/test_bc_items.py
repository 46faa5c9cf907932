"""The Business Central simulator's items over HTTP: the catalogue fields, ETags, and ``inventory`` as a FlowField."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import httpx
import pytest

from sandbox.host import run_in_background, stop_background
from sandbox.simulators.bc import BusinessCentral, create
from shared.dynamics.bc import SCOPE, dumps, loads


@pytest.fixture
def bc() -> Iterator[tuple[BusinessCentral, httpx.Client, str]]:
    app = create(seed=5, max_page_size=3)
    sim = app.simulated
    assert isinstance(sim, BusinessCentral)
    server, thread, port = run_in_background(app)
    base = f"http://127.0.0.1:{port}"
    form = {"grant_type": "client_credentials", "client_id": "hl365-local-client",
            "client_secret": "hl365-local-secret", "scope": SCOPE}
    token = httpx.post(f"{base}/{sim.options.tenant}/oauth2/v2.0/token", data=form, timeout=5).json()["access_token"]
    with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=5) as http:
        yield sim, http, f"{sim.api_root(base)}/companies({sim.company_id})/items"
    stop_background(server, thread)
    sim.close()


def test_items_carry_the_catalogue_fields_and_page(bc: tuple[BusinessCentral, httpx.Client, str]) -> None:
    _, http, items = bc
    first = loads(http.get(items, params={"$select": "number,displayName,type,blocked,gtin,inventory,unitPrice,"
                                                     "unitCost,baseUnitOfMeasureCode,lastModifiedDateTime"}).content)
    assert len(first["value"]) == 3 and "$skiptoken" in first["@odata.nextLink"]
    desk = first["value"][0]
    assert (desk["number"], desk["displayName"], desk["type"], desk["blocked"], desk["gtin"], desk["inventory"],
            desk["unitPrice"], desk["unitCost"], desk["baseUnitOfMeasureCode"]) == (
        "1896-S", "ATHENS Desk", "Inventory", False, "012345678905", Decimal(100), Decimal("1000.80"),
        Decimal("780.70"), "PCS")
    assert desk["@odata.etag"].startswith('W/"')
    rest = loads(http.get(first["@odata.nextLink"]).content)["value"]
    assert [r["number"] for r in rest] == ["1908-S"]


def test_inventory_moves_without_touching_the_etag_and_cannot_be_written(
        bc: tuple[BusinessCentral, httpx.Client, str]) -> None:
    sim, http, items = bc
    [before] = loads(http.get(items, params={"$filter": "number eq '1900-S'"}).content)["value"]
    sim.set_inventory("1900-S", Decimal(12))
    [after] = loads(http.get(items, params={"$filter": "number eq '1900-S'"}).content)["value"]
    assert after["inventory"] == Decimal(12)
    assert (after["@odata.etag"], after["lastModifiedDateTime"]) == (before["@odata.etag"],
                                                                     before["lastModifiedDateTime"])
    refused = http.patch(f"{items}({after['id']})", json={"inventory": 5}, headers={"If-Match": after["@odata.etag"]})
    assert refused.status_code == 400 and "read-only" in refused.text
    changed = http.patch(f"{items}({after['id']})", content=dumps({"unitPrice": Decimal("199.50")}),
                         headers={"If-Match": "*", "Content-Type": "application/json"})
    assert changed.status_code == 200 and loads(changed.content)["@odata.etag"] != before["@odata.etag"]
