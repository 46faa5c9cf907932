"""The catalogue sync end to end over loopback HTTP, for both ERPs: the real F&O, Business Central and Retail
clients against their simulators, the simulators' own state as the ground truth."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from sandbox.host import run_in_background, stop_background
from sandbox.simulators.base import FaultRule, SimulatorApp, serve
from sandbox.simulators.bc import BusinessCentral
from sandbox.simulators.bc import create as create_bc
from sandbox.simulators.fo import DEFAULT_TENANT, FinanceOperations
from sandbox.simulators.fo import create as create_fo
from sandbox.simulators.retail import DEFAULT_TOKEN, Line, RetailSimulator
from sandbox.simulators.retail import create as create_retail
from sandbox.simulators.tls import SandboxCA
from shared import wiring
from shared.dynamics.bc import SCOPE, BusinessCentralClient
from shared.dynamics.catalog import BcCatalog, FoCatalog, FoStockJournal
from shared.dynamics.fo import FinanceOperationsClient
from shared.errors import ApiError, FatalError
from shared.flows.catalog import (
    Conflict,
    ItemChange,
    SalesBooking,
    StockMismatch,
    available_stock,
    book_pos_sales,
    run_catalog_sync,
    run_scheduled_sync,
    sync_items,
    sync_stock,
)
from shared.heartland.catalog import RetailCatalog
from shared.heartland.retail import RetailClient
from shared.httpclient import RetryPolicy
from shared.mapping.loader import load
from shared.mapping.schema import CatalogRules, Owner, UnmappedError
from shared.storage.idempotency import IdempotencyKeys
from shared.storage.sqlite import SqliteTableStore
from tests.loopback import EntraToken, Swap, dynamics_environment

ROOT = Path(__file__).parents[2]
FAST = RetryPolicy(max_attempts=3, jitter=lambda _: 0.0)
ERPS = ["fo", "bc"]


def shipped_rules() -> CatalogRules:
    rules = load(ROOT / "mapping.yaml").catalog
    assert rules is not None
    return rules


@dataclass
class World:
    """One ERP simulator and one Retail simulator, the real clients and the adapters the flow receives."""

    erp: str
    erp_app: SimulatorApp
    retail_app: SimulatorApp
    catalog: FoCatalog | BcCatalog
    pos: RetailCatalog
    rules: CatalogRules
    warehouse: str
    retail_url: str
    journal: FoStockJournal | None
    keys: IdempotencyKeys

    @property
    def retail(self) -> RetailSimulator:
        sim = self.retail_app.simulated
        assert isinstance(sim, RetailSimulator)
        return sim

    def truth(self) -> dict[str, tuple[str, Decimal, Decimal, str | None]]:
        """Item number → (description, price, cost, barcode) as the ERP simulator holds them."""
        sim = self.erp_app.simulated
        if isinstance(sim, FinanceOperations):
            barcodes = {r["ProductNumber"]: r["Barcode"] for r in sim.rows("ProductNumberIdentifiedBarcodes")}
            return {r["ItemNumber"]: (r["ProductName"], r["SalesPrice"], r["UnitCost"], barcodes.get(r["ItemNumber"]))
                    for r in sim.rows("ReleasedProductsV2") if r["dataAreaId"] == "usmf"}
        assert isinstance(sim, BusinessCentral)
        return {r["number"]: (r["displayName"], r["unitPrice"], r["unitCost"], r["gtin"] or None)
                for r in sim.records("items")}

    def change_product(self, number: str, *, price: Decimal | None = None, description: str | None = None) -> None:
        sim = self.erp_app.simulated
        if isinstance(sim, FinanceOperations):
            changes: dict[str, Any] = {} if price is None else {"SalesPrice": price}
            sim.update_product(number, **changes, **({} if description is None else {"ProductName": description}))
            return
        assert isinstance(sim, BusinessCentral)
        item = sim.records("items", number=number)[0]
        sim.update("items", item["id"], {**({} if price is None else {"unitPrice": price}),
                                         **({} if description is None else {"displayName": description})})

    def set_erp_stock(self, number: str, quantity: Decimal) -> None:
        sim = self.erp_app.simulated
        if isinstance(sim, FinanceOperations):
            sim.set_on_hand(number, "11", quantity, site="1")
        else:
            assert isinstance(sim, BusinessCentral)
            sim.set_inventory(number, quantity)

    def pos_item(self, number: str) -> dict[str, Any]:
        found = self.retail.item_by_public_id(number)
        assert found is not None, number
        return found

    def pos_stock(self, number: str) -> int | None:
        return self.retail.on_hand(self.pos_item(number)["id"], 1)

    def retail_writes(self) -> int:
        return sum(n for route, n in self.retail_app.requests.items() if route.startswith(("POST ", "PUT ")))

    def erp_writes(self) -> int:
        return sum(n for route, n in self.erp_app.requests.items()
                   if route.startswith(("POST ", "PATCH ", "PUT ", "DELETE ")) and "oauth2" not in route)

    def sync(self, rules: CatalogRules | None = None) -> tuple[Any, Any]:
        return (sync_items(self.catalog, self.pos, rules or self.rules),
                sync_stock(self.catalog, self.pos, rules or self.rules))


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[tuple[Swap, int], tuple[Swap, int]]]:
    """Two loopback servers for the module (Retail, ERP); each test swaps fresh simulators in."""
    made = []
    for _ in range(2):
        swap = Swap()
        server, thread, port = run_in_background(swap)
        made.append((swap, port, server, thread))
    yield (made[0][0], made[0][1]), (made[1][0], made[1][1])
    for _, _, server, thread in made:
        stop_background(server, thread)


@pytest.fixture(params=ERPS)
def world(request: pytest.FixtureRequest, servers: tuple[tuple[Swap, int], tuple[Swap, int]],
          tmp_path: Path) -> Iterator[World]:
    erp: str = request.param
    (retail_swap, retail_port), (erp_swap, erp_port) = servers
    retail_swap.app = create_retail(seed=3)
    erp_swap.app = create_fo(seed=3, event_interval=None) if erp == "fo" else create_bc(seed=3)
    base = f"http://127.0.0.1:{erp_port}"
    retail_url = f"http://127.0.0.1:{retail_port}/api"
    retail_client = RetailClient(retail_url, DEFAULT_TOKEN, retry=FAST, sleep=lambda _: None)
    erp_client: FinanceOperationsClient | BusinessCentralClient
    if erp == "fo":
        erp_client = FinanceOperationsClient(base, credentials=EntraToken(base, DEFAULT_TENANT, f"{base}/.default"),
                                             legal_entity="USMF",
                                             retry=FAST, sleep=lambda _: None)
        catalog: FoCatalog | BcCatalog = FoCatalog(erp_client)
        journal: FoStockJournal | None = FoStockJournal(erp_client, journal_name="IMov", offset_account=None)
    else:
        journal = None
        erp_client = BusinessCentralClient.connect(base, tenant=DEFAULT_TENANT,
                                                   credentials=EntraToken(base, DEFAULT_TENANT, SCOPE),
                                                   retry=FAST, sleep=lambda _: None)
        catalog = BcCatalog(erp_client)
    keys = IdempotencyKeys(SqliteTableStore(tmp_path / "tables.sqlite").table("IdempotencyKeys"))
    yield World(erp, erp_swap.app, retail_swap.app, catalog, RetailCatalog(retail_client), shipped_rules(),
                "1/11" if erp == "fo" else "MAIN", retail_url, journal, keys)
    retail_client.close()
    erp_client.close()
    if isinstance(erp_swap.app.simulated, BusinessCentral):
        erp_swap.app.simulated.close()


def with_rules(rules: CatalogRules, **owners: str) -> CatalogRules:
    """The rules with some owners (or ``master``) changed, as a finance user would edit the file."""
    master = owners.pop("master", None)
    changed = rules.model_copy(update={"owners": rules.owners.model_copy(
        update={k: Owner(v) for k, v in owners.items()})})
    if master is not None:
        changed = changed.model_copy(update={"inventory": rules.inventory.model_copy(update={"master": Owner(master)})})
    return changed


# --- items --------------------------------------------------------------------------------------------------


def test_the_first_run_makes_the_pos_hold_the_erps_catalogue_and_stock(world: World) -> None:
    truth = world.truth()
    pos_only = {i["id"]: i for i in world.retail.state()["items"]}
    items, stock = world.sync()
    assert (items.created, items.updated, items.unchanged, items.conflicts) == (len(truth), 0, 0, [])
    for number, (description, price, cost, barcode) in truth.items():
        held = world.pos_item(number)
        assert held["description"] == description
        assert held["price"] == f"{price:.2f}" and held["cost"] == f"{cost:.2f}"
        assert held["custom"].get("barcode") == barcode and held["active"] is True
    after = {i["id"]: i for i in world.retail.state()["items"]}
    assert all(after[i] == item for i, item in pos_only.items()), "the POS's own items were touched"
    assert len(stock.adjustment_sets) == 1
    assert stock.stock_mismatches == [StockMismatch(n, "MAIN", world.warehouse, Decimal(100), Decimal(0),
                                                    Decimal(100), True) for n in sorted(truth)]
    assert all(world.pos_stock(number) == 100 for number in truth)
    [adjustment] = world.retail.state()["adjustment_sets"]
    assert adjustment["status"] == "complete" and adjustment["reason_id"] == world.rules.inventory.adjustment_reason_id


def test_a_second_run_writes_nothing(world: World) -> None:
    world.sync()
    before, writes = copy.deepcopy(world.retail.state()), world.retail_writes()
    items, stock = world.sync()
    assert (items.created, items.updated, items.prices_changed, items.unchanged) == (0, 0, 0, len(world.truth()))
    assert items.conflicts == [] and stock.stock_mismatches == [] and stock.adjustment_sets == []
    assert world.retail_writes() == writes
    after = world.retail.state()
    for part in ("items", "inventory", "adjustment_sets"):
        assert after[part] == before[part], part
    assert world.erp_writes() == 0, "the sync only reads the ERP"


def test_a_price_changed_in_the_erp_is_pushed_and_counted(world: World) -> None:
    world.sync()
    first, second, *rest = sorted(world.truth())
    old_price = Decimal(world.pos_item(first)["price"])
    world.change_product(first, price=Decimal("21.255"))
    world.change_product(second, description="Renamed in the ERP")
    items, _ = world.sync()
    assert (items.created, items.updated, items.prices_changed, items.unchanged) == (0, 2, 1, len(rest))
    assert world.pos_item(first)["price"] == "21.26"  # the POS holds cents: the ERP's price to its minor units
    assert world.pos_item(second)["description"] == "Renamed in the ERP"
    assert ItemChange(first, "price", old_price, Decimal("21.26")) in items.changes
    writes = world.retail_writes()
    again, _ = world.sync()
    assert (again.updated, again.prices_changed, world.retail_writes()) == (0, 0, writes)


def test_a_field_the_pos_owns_is_never_overwritten(world: World) -> None:
    world.sync()
    with_barcode = next(n for n, (_, _, _, barcode) in sorted(world.truth().items()) if barcode)
    other = next(n for n in sorted(world.truth()) if n != with_barcode)
    erp_barcode, erp_price = world.truth()[with_barcode][3], world.truth()[other][1]
    world.retail.update_item(world.pos_item(with_barcode)["id"], custom={"barcode": "999999999993"})
    world.retail.update_item(world.pos_item(other)["id"], price="1.00")
    items, _ = world.sync()
    assert world.pos_item(with_barcode)["custom"]["barcode"] == "999999999993"  # the POS owns barcodes
    assert world.pos_item(other)["price"] == f"{erp_price:.2f}"  # the ERP owns prices
    assert items.conflicts == [Conflict(with_barcode, "barcode", erp_barcode, "999999999993",
                                        "the POS owns this field; the ERP's value was not written")]
    assert (items.updated, items.prices_changed) == (1, 1)


def test_the_ownership_rule_decides_not_the_last_writer(world: World) -> None:
    """With prices owned by the POS, a price changed in the ERP after the POS's own is still not pushed."""
    rules = with_rules(world.rules, price="pos")
    world.sync(rules)
    number = sorted(world.truth())[0]
    world.retail.update_item(world.pos_item(number)["id"], price="15.00")
    world.change_product(number, price=Decimal("99.99"))
    writes = world.retail_writes()
    items, _ = world.sync(rules)
    assert world.pos_item(number)["price"] == "15.00"
    assert items.conflicts == [Conflict(number, "price", Decimal("99.99"), Decimal("15.00"),
                                        "the POS owns this field; the ERP's value was not written")]
    assert (items.updated, items.prices_changed, world.retail_writes()) == (0, 0, writes)


# --- stock --------------------------------------------------------------------------------------------------


def test_stock_mismatches_are_reported_with_their_numbers(world: World) -> None:
    world.sync()
    counted, sold = sorted(world.truth())[:2]
    world.set_erp_stock(counted, Decimal(37))
    world.retail.add_ticket(location_id=1, lines=[Line(item_id=world.pos_item(sold)["id"], qty=5)])
    found = [StockMismatch(counted, "MAIN", world.warehouse, Decimal(37), Decimal(100), Decimal(-63), False),
             StockMismatch(sold, "MAIN", world.warehouse, Decimal(100), Decimal(95), Decimal(5), False)]

    writes = world.retail_writes()
    reported = sync_stock(world.catalog, world.pos, with_rules(world.rules, master="pos"))
    assert reported.stock_mismatches == found and reported.adjustment_sets == []
    assert world.retail_writes() == writes and (world.pos_stock(counted), world.pos_stock(sold)) == (100, 95)

    adjusted = sync_stock(world.catalog, world.pos, world.rules)
    assert adjusted.stock_mismatches == [StockMismatch(**{**m.__dict__, "adjusted": True}) for m in found]
    assert (world.pos_stock(counted), world.pos_stock(sold)) == (37, 100)
    last = world.retail.state()["adjustment_sets"][-1]
    assert sorted((line["item_id"], line["qty"]) for line in last["lines"]) == sorted(
        [(world.pos_item(counted)["id"], -63), (world.pos_item(sold)["id"], 5)])
    assert sync_stock(world.catalog, world.pos, world.rules).stock_mismatches == []


def test_a_quantity_the_pos_cannot_count_is_reported_not_adjusted(world: World) -> None:
    world.sync()
    number = sorted(world.truth())[0]
    world.set_erp_stock(number, Decimal("2.5"))
    stock = sync_stock(world.catalog, world.pos, world.rules)
    assert stock.stock_mismatches == [StockMismatch(number, "MAIN", world.warehouse, Decimal("2.5"), Decimal(100),
                                                    Decimal("-97.5"), False)]
    assert stock.adjustment_sets == [] and world.pos_stock(number) == 100


def test_available_stock_from_either_side(world: World) -> None:
    world.sync()
    number = sorted(world.truth())[0]
    world.retail.set_inventory(world.pos_item(number)["id"], 1, on_hand=100, committed=4)
    world.set_erp_stock(number, Decimal(60))
    assert available_stock(world.pos, number, "MAIN", world.rules) == Decimal(96)
    assert available_stock(world.catalog, number, "MAIN", world.rules) == Decimal(60)
    assert available_stock(world.pos, "NO-SUCH-ITEM", "MAIN", world.rules) == 0
    with pytest.raises(UnmappedError, match="'WEST'"):
        available_stock(world.catalog, number, "WEST", world.rules)


def test_a_retry_after_a_throttled_adjustment_posts_it_once(world: World) -> None:
    """The simulators' faults reach the new routes: a 429 on the adjustment set is retried, applied once."""
    world.sync()
    number = sorted(world.truth())[0]
    world.set_erp_stock(number, Decimal(90))
    waits: list[float] = []

    def wait(seconds: float) -> None:
        waits.append(seconds)
        world.retail_app.faults.rules = []

    world.retail_app.faults.rules = [FaultRule("POST /api/inventory/adjustment_sets", "throttle", 1.0,
                                               retry_after=3)]
    with RetailClient(world.retail_url, DEFAULT_TOKEN, retry=FAST, sleep=wait) as client:
        stock = sync_stock(world.catalog, RetailCatalog(client), world.rules)
    assert waits == [3.0] and len(stock.adjustment_sets) == 1 and world.pos_stock(number) == 90
    assert world.retail_app.requests["POST /api/inventory/adjustment_sets"] == 3  # the first run's, the 429, the retry
    assert len(world.retail.state()["adjustment_sets"]) == 2


# --- the entry point ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("erp", ERPS)
def test_run_catalog_sync_builds_its_ports_from_the_settings(erp: str, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """``hl365 catalog sync --erp``'s call: the app settings name the simulators (the ERP over HTTPS, as in
    Azure) and the shipped mapping; the wiring builds the clients."""
    retail_app = create_retail(seed=4)
    erp_app = create_fo(seed=4, event_interval=None) if erp == "fo" else create_bc(seed=4)
    with SandboxCA() as tls:
        retail, dynamics = serve(retail_app), serve(erp_app, tls=tls)
        try:
            dynamics_environment(monkeypatch, erp_url=dynamics.url, ca_bundle=tls.ca_bundle,
                                 data_dir=tmp_path / "data", target="embedded",
                                 RETAIL_API_URL=f"{retail.url}/api", RETAIL_API_TOKEN=DEFAULT_TOKEN)
            first = run_catalog_sync(wiring.services(), erp).summary()
            second = run_catalog_sync(wiring.services(), erp).summary()
        finally:
            wiring.reset()
            retail.stop()
            dynamics.stop()
            if isinstance(erp_app.simulated, BusinessCentral):
                erp_app.simulated.close()
    products = 3 if erp == "fo" else 4
    assert (first["items_created"], first["items_updated"], len(first["adjustment_sets"])) == (products, 0, 1)
    assert {m["difference"] for m in first["stock_mismatches"]} == {"100"}
    assert (second["items_created"], second["items_updated"], second["unchanged"]) == (0, 0, products)
    assert second["stock_mismatches"] == [] and second["adjustment_sets"] == []


def test_run_catalog_sync_needs_a_catalog_section(tmp_path: Path) -> None:
    class Mapped:
        mapping = load(ROOT / "mapping.yaml").model_copy(update={"catalog": None})

    with pytest.raises(FatalError, match="no catalog section"):
        run_catalog_sync(Mapped(), "fo")  # type: ignore[arg-type]


def test_an_item_number_two_pos_items_claim_is_left_alone_and_reported(world: World) -> None:
    world.sync()
    number = sorted(world.truth())[0]
    synced = world.pos_item(number)["id"]
    world.retail.update_item(1001, public_id=number)  # a POS-only item relabelled by hand
    world.set_erp_stock(number, Decimal(10))
    writes = world.retail_writes()
    items, stock = world.sync()
    [conflict] = items.conflicts
    assert (conflict.item_number, conflict.field, conflict.pos_value) == (number, "public_id", f"1001, {synced}")
    [mismatch] = stock.stock_mismatches
    assert (mismatch.item_number, mismatch.adjusted) == (number, False)
    assert world.retail_writes() == writes and stock.adjustment_sets == []


def test_an_item_retail_refuses_is_reported_with_its_reason_and_the_rest_still_sync(world: World) -> None:
    """An item whose description carries a card number is refused by the Retail simulator: that item is a conflict
    with Retail's words; every other item is created, a 13-digit EAN barcode with it (a barcode is not a card
    number), and the stock still synced."""
    sim = world.erp_app.simulated
    if isinstance(sim, FinanceOperations):
        sim.add_product("EAN1", "Imported tea", price=Decimal("4.50"), barcode="5901234123457")
        sim.add_product("CARD1", "Gift 4111 1111 1111 1111", price=Decimal("25.00"))
    else:
        assert isinstance(sim, BusinessCentral)
        sim.add_item("EAN1", "Imported tea", unit_price=Decimal("4.50"), gtin="5901234123457")
        sim.add_item("CARD1", "Gift 4111 1111 1111 1111", unit_price=Decimal("25.00"))
    items, stock = world.sync()
    [refused] = [c for c in items.conflicts if c.item_number == "CARD1"]
    assert refused.field == "item" and "Heartland Retail refused to create it" in refused.reason
    assert "card number" in refused.reason and "4111 1111 1111 1111" not in refused.reason
    assert items.created == len(world.truth()) - 1 and world.retail.item_by_public_id("CARD1") is None
    assert world.pos_item("EAN1")["custom"].get("barcode") == "5901234123457"
    assert stock.adjustment_sets  # the run went on to the stock


# --- the POS's sales into the ERP's stock ----------------------------------------------------------------------

SOLD_ON = date(2026, 12, 5)
ZONE = "America/Chicago"


def ring_up(world: World, *lines: tuple[str, int], at: datetime | None = None, status: str = "complete") -> int:
    """A ticket at MAIN on ``SOLD_ON`` (afternoon in Chicago) selling ``(item number, quantity)`` lines."""
    moment = at or datetime(2026, 12, 5, 21, tzinfo=UTC)
    ticket = world.retail.add_ticket(location_id=1, completed_at=moment, status=status,  # type: ignore[arg-type]
                                     lines=[Line(item_id=world.pos_item(n)["id"], qty=q) for n, q in lines])
    return int(ticket["id"])


def erp_on_hand(world: World, number: str) -> Decimal:
    sim = world.erp_app.simulated
    assert isinstance(sim, FinanceOperations)
    return sum((r["OnHandQuantity"] for r in sim.rows("WarehousesOnHandV2")
                if (r["ItemNumber"], r["InventoryWarehouseId"]) == (number, "11")), Decimal(0))


def movements(world: World) -> list[dict[str, Any]]:
    sim = world.erp_app.simulated
    assert isinstance(sim, FinanceOperations)
    return sorted(sim.rows("InventoryMovementJournalHeaders"), key=lambda r: r["JournalNumber"])


def book(world: World, *days: date) -> list[SalesBooking]:
    return book_pos_sales(world.journal, world.catalog, world.pos, world.rules, world.keys, days or (SOLD_ON,), ZONE)


def test_a_days_pos_sales_reach_fo_stock_once_and_business_central_is_told_what_to_book(world: World) -> None:
    world.sync()
    first, second, *_ = sorted(world.truth())
    ring_up(world, (first, 3), (second, 2))
    ring_up(world, (second, -1))  # a return
    ring_up(world, (first, 5), status="voided")  # rung up and voided: its stock went back
    [booking] = book(world)
    assert booking.sold == {first: Decimal(3), second: Decimal(1)}
    if world.journal is None:
        assert booking.reason is not None and "no item journal" in booking.reason
        assert booking.movement == {} and world.erp_writes() == 0
        return
    assert booking.movement == booking.sold and booking.external_key == "POS-SALES-MAIN-20261205-1"
    [journal] = movements(world)
    assert (journal["Description"], journal["IsPosted"]) == ("POS-SALES-MAIN-20261205-1", "Yes")
    assert (erp_on_hand(world, first), erp_on_hand(world, second)) == (Decimal(97), Decimal(99))
    writes = world.erp_writes()
    [again] = book(world)
    assert again.movement == {} and again.booked_before == again.sold and world.erp_writes() == writes
    _, stock = world.sync()
    assert stock.stock_mismatches == [] and stock.adjustment_sets == [], "ERP and POS agree once the sales are booked"


@pytest.mark.parametrize("world", ["fo"], indirect=True)  # Business Central has no item journal
def test_a_late_ticket_and_a_later_void_are_booked_as_further_movements(world: World) -> None:
    world.sync()
    first, second, *_ = sorted(world.truth())
    voided_later = ring_up(world, (first, 4))
    book(world)
    ring_up(world, (second, 2), at=datetime(2026, 12, 6, 5, 30, tzinfo=UTC))  # 23:30 in Chicago, synced late
    with httpx.Client(base_url=world.retail_url, headers={"Authorization": f"Bearer {DEFAULT_TOKEN}"}) as http:
        assert http.put(f"/sales/tickets/{voided_later}", json={"status": "voided"}).status_code == 200
    [booking] = book(world)
    assert booking.external_key == "POS-SALES-MAIN-20261205-2"
    assert booking.movement == {first: Decimal(-4), second: Decimal(2)}
    assert [m["IsPosted"] for m in movements(world)] == ["Yes", "Yes"]
    assert (erp_on_hand(world, first), erp_on_hand(world, second)) == (Decimal(100), Decimal(98))
    assert book(world)[0].movement == {}


@pytest.mark.parametrize("world", ["fo"], indirect=True)  # Business Central has no item journal
def test_a_lost_answer_or_a_failed_post_while_booking_never_books_twice(world: World) -> None:
    world.sync()
    first, second, *_ = sorted(world.truth())
    ring_up(world, (first, 2))
    world.erp_app.faults.rules = [FaultRule("POST /data/$batch", "lost", 1.0)]  # the lines land, the answer is lost
    [booking] = book(world)
    [journal] = movements(world)
    assert booking.movement == {first: Decimal(2)} and journal["IsPosted"] == "Yes"
    assert erp_on_hand(world, first) == Decimal(98)
    ring_up(world, (second, 1))
    world.erp_app.faults.rules = [FaultRule("POST /data/InventoryMovementJournalHeaders(*)/*", "error", 1.0,
                                            status=500)]
    with pytest.raises(ApiError):
        book(world)
    world.erp_app.faults.rules = []
    assert [m["IsPosted"] for m in movements(world)] == ["Yes", "No"]
    [booking] = book(world)  # the unposted movement is found and posted, not booked again
    assert booking.movement == {} and booking.booked_before == {first: Decimal(2), second: Decimal(1)}
    assert [m["IsPosted"] for m in movements(world)] == ["Yes", "Yes"] and erp_on_hand(world, second) == Decimal(99)


def test_todays_unbooked_sales_are_not_undone_by_the_stock_sync(world: World) -> None:
    world.sync()
    first, second, *_ = sorted(world.truth())
    ring_up(world, (first, 2), at=datetime.now(UTC))
    number_of = {world.pos_item(first)["id"]: first}
    stock = sync_stock(world.catalog, world.pos, world.rules,
                       unbooked=lambda location_id: {number_of[i]: q for i, q in world.pos.sold(
                           location_id, datetime.now(UTC) - timedelta(hours=1), datetime.now(UTC)).items()})
    assert stock.stock_mismatches == [] and world.pos_stock(first) == 98, "the sale was put back on the shelf"
    calls = iter([{first: Decimal(2), second: Decimal(1)},
                  {first: Decimal(2), second: Decimal(2)}])  # one more sold while the run read the POS
    world.set_erp_stock(second, Decimal(50))
    stock = sync_stock(world.catalog, world.pos, world.rules, unbooked=lambda _: next(calls))
    [moving] = stock.stock_mismatches
    assert (moving.item_number, moving.moving, moving.adjusted, moving.unbooked) == (second, True, False, Decimal(1))
    assert stock.adjustment_sets == [] and world.pos_stock(second) == 100


@pytest.mark.parametrize("world", ["fo"], indirect=True)
def test_a_movement_the_erp_refuses_is_reported_and_that_stores_stock_is_left_alone(world: World) -> None:
    world.sync()
    first = sorted(world.truth())[0]
    ring_up(world, (first, 2))
    world.erp_app.faults.rules = [FaultRule("POST /data/$batch", "error", 1.0, status=400)]
    [booking] = book(world)
    world.erp_app.faults.rules = []
    assert booking.failed and booking.reason is not None and booking.reason.startswith("not booked:")
    assert erp_on_hand(world, first) == Decimal(100) and world.pos_stock(first) == 98
    stock = sync_stock(world.catalog, world.pos, world.rules, skip={"MAIN": booking.reason})
    assert stock.skipped_locations == {"MAIN": booking.reason} and stock.adjustment_sets == []
    assert world.pos_stock(first) == 98, "the unbooked sale was not put back on the shelf"
    [retried] = book(world)
    assert not retried.failed and retried.movement == {first: Decimal(2)} and erp_on_hand(world, first) == 98


def test_the_timer_does_nothing_without_an_erp_target_or_a_catalog_section() -> None:
    class Settings:
        d365_target = "embedded"

    class Unmapped:
        settings = Settings()
        mapping = load(ROOT / "mapping.yaml")

        def catalog(self, erp: str) -> None:
            raise AssertionError(f"the {erp} catalogue was reached")

    assert run_scheduled_sync(Unmapped()) is None  # type: ignore[arg-type]
    Unmapped.settings.d365_target = "fo"
    Unmapped.mapping = Unmapped.mapping.model_copy(update={"catalog": None})
    assert run_scheduled_sync(Unmapped()) is None  # type: ignore[arg-type]
