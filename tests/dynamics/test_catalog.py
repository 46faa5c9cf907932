"""The ERP catalogue adapters over the real clients and the simulators: what each ERP's fields become."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import httpx
import pytest

from sandbox.host import run_in_background, stop_background
from sandbox.simulators.bc import BusinessCentral
from sandbox.simulators.bc import create as create_bc
from sandbox.simulators.fo import DEFAULT_TENANT, FinanceOperations, simulator
from sandbox.simulators.fo import create as create_fo
from shared.canonical.products import OnHand, Product, StockPlace, Warehouse
from shared.dynamics.bc import SCOPE, BusinessCentralClient
from shared.dynamics.catalog import BcCatalog, FoCatalog
from shared.dynamics.fo import FinanceOperationsClient
from shared.errors import FatalError


def credentials(base: str, scope: str) -> dict[str, str]:
    form = {"grant_type": "client_credentials", "client_id": "hl365-local-client",
            "client_secret": "hl365-local-secret", "scope": scope}
    token = httpx.post(f"{base}/{DEFAULT_TENANT}/oauth2/v2.0/token", data=form, timeout=5).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def fo() -> Iterator[tuple[FinanceOperations, FoCatalog]]:
    app = create_fo(seed=2, event_interval=None, page_size=2)
    server, thread, port = run_in_background(app)
    base = f"http://127.0.0.1:{port}"
    headers = credentials(base, f"{base}/.default")
    with FinanceOperationsClient(base, credentials=lambda _: headers, legal_entity="USMF") as client:
        yield simulator(app), FoCatalog(client)
    stop_background(server, thread)


@pytest.fixture
def bc() -> Iterator[tuple[BusinessCentral, BcCatalog]]:
    app = create_bc(seed=2, max_page_size=2)
    sim = app.simulated
    assert isinstance(sim, BusinessCentral)
    server, thread, port = run_in_background(app)
    base = f"http://127.0.0.1:{port}"
    headers = credentials(base, SCOPE)
    client = BusinessCentralClient.connect(base, tenant=DEFAULT_TENANT, credentials=lambda _: headers)
    yield sim, BcCatalog(client)
    client.close()
    stop_background(server, thread)
    sim.close()


def test_fo_products_read_every_field_the_pos_needs(fo: tuple[FinanceOperations, FoCatalog]) -> None:
    sim, catalog = fo
    sim.add_product("S0001", price=Decimal("75.00"), ProductType="Service", ProductName="", SearchName="Install")
    sim.add_barcode("D0001", "036000291452", default=False)
    sim.add_barcode("D0001", "012345678905", default=False)
    sim.add_barcode("T0001", "070847811169", default=False)  # T0001's default scanned barcode still wins
    sim.update_product("T0002", IsPOSRegistrationBlocked="Yes")
    products = {p.item_number: p for p in catalog.products()}
    assert products["T0001"] == Product("T0001", "Speaker cable 10", Decimal("20.00"), Decimal("8.50"), True,
                                        "042100005264", True)
    assert products["T0002"].active is False
    assert products["D0001"].barcode == "012345678905"  # no default: the first, in a stable order
    assert (products["S0001"].description, products["S0001"].stocked) == ("Install", False)
    assert all(isinstance(p.price, Decimal) and isinstance(p.cost, Decimal) for p in products.values())


def test_fo_on_hand_sums_the_rows_of_a_products_dimensions(fo: tuple[FinanceOperations, FoCatalog]) -> None:
    sim, catalog = fo
    sim.add_on_hand("T0001", "11", Decimal("5"), ProductColorId="Red", AvailableOnHandQuantity=Decimal(3))
    sim.add_on_hand("T0001", "12", Decimal("7"))
    rows = {r.item_number: r for r in catalog.on_hand(Warehouse("11", "1"))}
    assert rows["T0001"] == OnHand("T0001", Decimal(105), Decimal(103))
    assert catalog.available("T0001", StockPlace("MAIN", Warehouse("12", "1"))) == Decimal(7)
    assert catalog.available("NOPE", StockPlace("MAIN", Warehouse("11", "1"))) == 0
    with pytest.raises(FatalError, match="names no fo warehouse"):
        catalog.available("T0001", StockPlace("MAIN"))


def test_bc_items_become_products_and_their_inventory_the_mapped_locations(bc: tuple[BusinessCentral, BcCatalog]
                                                                          ) -> None:
    sim, catalog = bc
    sim.add_item("SVC-1", "Assembly", unit_price=Decimal("49.999"), type="Service")
    desk = sim.records("items", number="1896-S")[0]
    sim.update("items", desk["id"], {"blocked": True, "gtin": ""})
    sim.set_inventory("1900-S", Decimal("3.5"))
    products = {p.item_number: p for p in catalog.products()}
    assert products["1896-S"] == Product("1896-S", "ATHENS Desk", Decimal("1000.80"), Decimal("780.70"), False, None,
                                         True)
    assert products["SVC-1"].price == Decimal("49.999") and products["SVC-1"].stocked is False
    stock = {r.item_number: r.quantity for r in catalog.on_hand(Warehouse("MAIN"))}
    assert stock == {"1896-S": Decimal(100), "1900-S": Decimal("3.5"), "1906-S": Decimal(100),
                     "1908-S": Decimal(100)}
    assert catalog.available("1900-s", StockPlace("MAIN", Warehouse("MAIN"))) == Decimal("3.5")
