"""The ERPs' products and stock as ``shared.ports.ProductCatalog``: F&O released products and warehouse on-hand,
Business Central items, each read into the canonical ``Product`` and ``OnHand`` (``Decimal`` throughout).

Where the two ERPs keep a field:

=============  =================================================  ===========================================
field          F&O                                                Business Central
=============  =================================================  ===========================================
description    ``ProductName`` (else ``SearchName``)               ``displayName``
price          ``SalesPrice``                                     ``unitPrice``
cost           ``UnitCost``                                       ``unitCost``
active         not ``IsPOSRegistrationBlocked``                   not ``blocked``
barcode        ``ProductNumberIdentifiedBarcodes.Barcode``        ``gtin``
               (the default scanned one, else the first)
stocked        ``ProductType`` = ``Item``                         ``type`` = ``Inventory``
stock          ``WarehousesOnHandV2`` of the site and warehouse   ``inventory``
=============  =================================================  ===========================================

Business Central API v2.0 has no per-location inventory: ``inventory`` is the item's stock over all its
locations. The mapping lets exactly one POS location name a ``bc_location`` (``InventoryRules``), and that figure
is read as the stock of that location; the location code itself is not sent to Business Central.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, time
from decimal import Decimal
from typing import Any

from shared.canonical.products import BookedMovement, OnHand, Product, StockMovement, StockPlace, Warehouse
from shared.dynamics.bc import BusinessCentralClient, literal
from shared.dynamics.fo import FinanceOperationsClient, Journal
from shared.errors import FatalError


def _decimal(value: Any) -> Decimal:
    if isinstance(value, float):
        raise TypeError(f"{value!r} arrived as a float; the client parses numbers as Decimal")
    return Decimal(0) if value is None else Decimal(value)


def _barcode(value: Any) -> str | None:
    text = str(value or "").strip()
    return text or None


def _warehouse(place: StockPlace, kind: str) -> Warehouse:
    if place.warehouse is None:
        raise FatalError("UnmappedLocation", f"POS location {place.location!r} names no {kind} warehouse")
    return place.warehouse


class FoCatalog:
    """Released products and on-hand stock of one F&O legal entity."""

    kind = "fo"

    def __init__(self, client: FinanceOperationsClient) -> None:
        self._client = client

    def products(self) -> Iterator[Product]:
        barcodes = self._barcodes()
        for row in self._client.released_products():
            number = str(row["ItemNumber"])
            description = str(row.get("ProductName") or row.get("SearchName") or "").strip() or number
            yield Product(item_number=number, description=description, price=_decimal(row.get("SalesPrice")),
                          cost=_decimal(row.get("UnitCost")), active=row.get("IsPOSRegistrationBlocked") != "Yes",
                          barcode=barcodes.get(str(row.get("ProductNumber") or number).casefold()),
                          stocked=row.get("ProductType", "Item") == "Item")

    def _barcodes(self) -> dict[str, str]:
        """Product number (case-folded, as F&O compares) → its default scanned barcode, else its first."""
        found: dict[str, tuple[bool, str]] = {}
        for row in self._client.product_barcodes():
            barcode = _barcode(row.get("Barcode"))
            if barcode is None:
                continue
            key, default = str(row["ProductNumber"]).casefold(), row.get("IsDefaultScannedBarcode") == "Yes"
            held = found.get(key)
            if held is None or (default and not held[0]) or (default == held[0] and barcode < held[1]):
                found[key] = (default, barcode)
        return {key: barcode for key, (_, barcode) in found.items()}

    def on_hand(self, warehouse: Warehouse) -> Iterator[OnHand]:
        """One figure per item: the rows of its product-dimension combinations summed."""
        totals: dict[str, tuple[Decimal, Decimal]] = {}
        for row in self._client.warehouse_on_hand(warehouse.site or "", warehouse.code):
            number = str(row["ItemNumber"])
            quantity, available = totals.get(number, (Decimal(0), Decimal(0)))
            totals[number] = (quantity + _decimal(row.get("OnHandQuantity")),
                              available + _decimal(row.get("AvailableOnHandQuantity")))
        for number, (quantity, available) in sorted(totals.items()):
            yield OnHand(number, quantity, available)

    def available(self, item_number: str, place: StockPlace) -> Decimal:
        warehouse = _warehouse(place, self.kind)
        rows = self._client.warehouse_on_hand(warehouse.site or "", warehouse.code, item_number=item_number)
        return sum((_decimal(r.get("AvailableOnHandQuantity")) for r in rows), Decimal(0))


class BcCatalog:
    """Items of one Business Central company; their ``inventory`` stands for the one mapped location."""

    kind = "bc"

    def __init__(self, client: BusinessCentralClient) -> None:
        self._client = client

    def products(self) -> Iterator[Product]:
        for item in self._client.items():
            yield self._product(item)

    @staticmethod
    def _product(item: dict[str, Any]) -> Product:
        number = str(item["number"])
        return Product(item_number=number, description=str(item.get("displayName") or "").strip() or number,
                       price=_decimal(item.get("unitPrice")), cost=_decimal(item.get("unitCost")),
                       active=not item.get("blocked", False), barcode=_barcode(item.get("gtin")),
                       stocked=item.get("type") == "Inventory")

    def on_hand(self, warehouse: Warehouse) -> Iterator[OnHand]:  # noqa: ARG002 - one figure per item, see module
        for item in self._client.items("type eq 'Inventory'"):
            quantity = _decimal(item.get("inventory"))
            yield OnHand(str(item["number"]), quantity, quantity)

    def available(self, item_number: str, place: StockPlace) -> Decimal:
        _warehouse(place, self.kind)
        found = next(self._client.items(f"number eq {literal(item_number.upper())}"), None)
        return Decimal(0) if found is None else _decimal(found.get("inventory"))


class FoStockJournal:
    """``StockJournal`` on F&O inventory movement journals (``InventoryMovementJournalHeaders`` and
    ``InventoryMovementJournalEntries``): one journal per movement, its key in the header's ``Description`` (the
    entity has no integration key field), posted through the header's ``Post`` action.

    The lines' key holds the journal number, so header and lines are two requests: a header whose lines never
    arrived (a failure between the two) is found empty by the next attempt and gets them; it is never listed as
    booked.
    """

    kind = "fo"

    def __init__(self, client: FinanceOperationsClient, *, journal_name: str, offset_account: str | None) -> None:
        self._client = client
        self._journal_name = journal_name
        self._offset_account = offset_account

    def booked(self, key_prefix: str) -> list[BookedMovement]:
        return [_booked(journal) for journal in self._client.movement_journals(f"{key_prefix}*") if journal.lines]

    def unposted(self, key_prefix: str) -> list[str]:
        return [str(j.header.get("Description") or j.batch_number)
                for j in self._client.movement_journals(f"{key_prefix}*", unposted_only=True) if j.lines]

    def find_journal(self, external_key: str) -> str | None:
        found = [j for j in self._client.movement_journals(external_key) if j.lines]
        return found[0].batch_number if found else None

    def create_journal(self, journal: StockMovement) -> str:
        empty = [j for j in self._client.movement_journals(journal.external_key) if not j.lines]
        number = empty[0].batch_number if empty else self._client.create_movement_journal(
            {"JournalNameId": self._journal_name, "Description": journal.external_key})
        date_text = datetime.combine(journal.business_date, time(12)).isoformat() + "Z"
        lines = []
        for item_number, quantity in journal.quantities:
            line: dict[str, Any] = {"ItemNumber": item_number, "InventorySiteId": journal.warehouse.site or "",
                                    "InventoryWarehouseId": journal.warehouse.code, "InventoryQuantity": quantity,
                                    "TransactionDate": date_text}
            if self._offset_account:
                line["OffsetMainAccountIdDisplayValue"] = self._offset_account
            lines.append(line)
        self._client.add_movement_lines(number, lines)
        return number

    def post_journal(self, document_id: str) -> None:
        self._client.post_movement_journal(document_id)


def _booked(journal: Journal) -> BookedMovement:
    quantities: dict[str, Decimal] = {}
    for line in journal.lines:
        number = str(line["ItemNumber"])
        quantities[number] = quantities.get(number, Decimal(0)) + _decimal(line.get("InventoryQuantity"))
    return BookedMovement(str(journal.header.get("Description") or ""), journal.batch_number, journal.posted,
                          quantities)


__all__ = ["BcCatalog", "FoCatalog", "FoStockJournal"]
