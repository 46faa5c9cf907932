"""The Retail client's catalogue and stock calls, and the POS catalogue adapter, against the simulator."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest

from sandbox.host import run_in_background, stop_background
from sandbox.simulators.base import FaultRule, SimulatorApp
from sandbox.simulators.retail import DEFAULT_TOKEN, RetailSimulator, create
from shared.canonical.money import Money
from shared.canonical.products import PosItem, Product, StockPlace
from shared.errors import PermanentApiError, TransientApiError
from shared.heartland.catalog import RetailCatalog
from shared.heartland.retail import RetailClient
from shared.httpclient import RetryPolicy


@pytest.fixture
def retail() -> Iterator[tuple[SimulatorApp, RetailSimulator, RetailClient]]:
    app = create(seed=9)
    sim = app.simulated
    assert isinstance(sim, RetailSimulator)
    server, thread, port = run_in_background(app)
    with RetailClient(f"http://127.0.0.1:{port}/api", DEFAULT_TOKEN, retry=RetryPolicy(max_attempts=2,
                                                                                       jitter=lambda _: 0.0),
                      sleep=lambda _: None) as client:
        yield app, sim, client
    stop_background(server, thread)


def test_items_are_created_read_and_changed_with_money_exact(retail: tuple[SimulatorApp, RetailSimulator,
                                                                            RetailClient]) -> None:
    _, sim, client = retail
    item_id = client.create_item(description="Speaker cable 10", public_id="T0001", price=Decimal("20.00"),
                                 cost=Money.of("8.50", "USD"), custom={"barcode": "042100005264"})
    item = client.get_item(item_id)
    assert (item.public_id, item.price, item.cost, item.custom) == (
        "T0001", Money.of("20.00", "USD"), Money.of("8.50", "USD"), {"barcode": "042100005264"})
    client.update_item(item_id, price=Decimal("21.26"), active=False)
    assert [(i.id, i.price, i.active) for i in client.iter_items(public_ids=["T0001", "NONE"])] == [
        (item_id, Money.of("21.26", "USD"), False)]
    with pytest.raises(PermanentApiError, match="public_id has already been taken"):
        client.create_item(description="Again", public_id="T0001")
    with pytest.raises(ValueError, match="at least one field"):
        client.update_item(item_id)
    assert sim.item_by_public_id("T0001") is not None


def test_an_adjustment_set_is_one_request_and_moves_stock(retail: tuple[SimulatorApp, RetailSimulator,
                                                                         RetailClient]) -> None:
    app, sim, client = retail
    sim.set_inventory(1001, 1, on_hand=10)
    set_id = client.create_adjustment_set(1, [(1001, Decimal(-4)), (1002, 6)], reason_id=1, note="count")
    assert app.requests["POST /api/inventory/adjustment_sets"] == 1
    made = client.get_adjustment_set(set_id)
    assert (made.status, made.reason_id, [(line.item_id, line.qty) for line in made.lines]) == (
        "complete", 1, [(1001, Decimal(-4)), (1002, Decimal(6))])
    assert [s.id for s in client.iter_adjustment_sets(location_id=1)] == [set_id]
    assert (sim.on_hand(1001, 1), sim.on_hand(1002, 1)) == (6, 6)
    pending = client.create_adjustment_set(1, [(1003, 2)], complete=False)
    assert sim.on_hand(1003, 1) is None
    client.complete_adjustment_set(pending)
    assert sim.on_hand(1003, 1) == 2
    for bad in ([], [(1001, Decimal("0.5"))], [(1001, 0)]):
        with pytest.raises(ValueError):
            client.create_adjustment_set(1, bad)


def test_a_throttled_write_is_retried_and_a_lasting_outage_is_transient(
        retail: tuple[SimulatorApp, RetailSimulator, RetailClient]) -> None:
    app, sim, client = retail
    app.faults.rules = [FaultRule("PUT /api/items/*", "error", 1.0, status=503)]
    with pytest.raises(TransientApiError):
        client.update_item(1001, price=Decimal("1.00"))
    assert app.requests["PUT /api/items/1001"] == 2 and sim.item_by_public_id("SKU-1001") is not None
    held = sim.item_by_public_id("SKU-1001")
    assert held is not None and held["price"] == "12.00"


def test_the_pos_catalogue_adapter(retail: tuple[SimulatorApp, RetailSimulator, RetailClient]) -> None:
    _, sim, client = retail
    pos = RetailCatalog(client, per_page=2)
    new = pos.create_item(Product("T0001", "Speaker cable 10", Decimal("20.00"), None, True, "042100005264"))
    pos.update_item(new, {"barcode": None, "price": Decimal("19.00"), "description": "Cable"})
    items = {i.public_id: i for i in pos.items()}
    assert len(items) == 4
    assert items["T0001"] == PosItem(new, "T0001", "Cable", Decimal("19.00"), None, True, None)
    assert pos.location_id("MAIN") == 1 and pos.location_id("NOWHERE") is None
    pos.adjust(1, {new: Decimal(8)}, reason_id=None, note="first count")
    sim.set_inventory(1001, 1, on_hand=5, committed=2)
    assert pos.stock(1) == {new: Decimal(8), 1001: Decimal(5)}
    assert pos.available("SKU-1001", StockPlace("MAIN")) == Decimal(3)
    assert pos.available("T0001", StockPlace("NOWHERE")) == 0
    assert pos.currency == "USD"
