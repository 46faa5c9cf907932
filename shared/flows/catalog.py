"""Products, prices and stock in step between the ERP (F&O or Business Central) and Heartland Retail (U6).

* ``sync_items``: every ERP product is a Retail item whose ``public_id`` is its item number. A missing item is
  created with every field from the ERP (the POS has no value of its own yet); an existing one gets, in one
  ``PUT``, only the fields the ERP owns whose values differ. A field the POS owns is never written from the ERP;
  where the ERP differs it is reported as a conflict for the ERP's people to settle (writing it back cleanly
  is not possible in both ERPs: an F&O barcode is a key of its own entity, and ``ProductName`` belongs to the
  shared product). Values are compared normalised (text stripped, money to the POS currency's minor units, an
  empty barcode as none), so a run after a run writes nothing.
* ``sync_stock``: per POS location mapped to the ERP's warehouse, the ERP's on-hand against Retail's
  ``qty_on_hand``. With the ERP as stock master, one adjustment set per location brings the POS to the ERP's
  figure; the sets are computed from fresh reads, so a run after a run (or after a lost answer) posts only what
  still differs. Every difference found is returned as ``stock_mismatches``.
* ``available_stock``: what one side can promise of an item at a POS location (for order validation).

The flow receives the ports it needs (``ProductCatalog``, ``PosCatalog``) and the mapping's ``CatalogRules``; it
never knows which ERP it talks to.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from shared.canonical.money import ROUNDING, minor_units
from shared.canonical.products import FIELDS, Field, PosItem, Product, Value
from shared.errors import FatalError, PermanentApiError
from shared.mapping.schema import CatalogRules, Owner
from shared.ports import Ports, PosCatalog, ProductCatalog, StockLevels

log = logging.getLogger("hl365.catalog")


@dataclass(frozen=True)
class Conflict:
    """A difference the sync did not write: a field the POS owns, or an item number two POS items claim."""

    item_number: str
    field: str
    erp_value: Value
    pos_value: Value
    reason: str


@dataclass(frozen=True)
class ItemChange:
    item_number: str
    field: Field
    old: Value
    new: Value


@dataclass
class ItemsResult:
    """What ``sync_items`` did; ``prices_changed`` counts updated items whose price was among the changes."""

    created: int = 0
    updated: int = 0
    prices_changed: int = 0
    unchanged: int = 0
    conflicts: list[Conflict] = field(default_factory=list)
    changes: list[ItemChange] = field(default_factory=list)

    @property
    def writes(self) -> int:
        return self.created + self.updated


@dataclass(frozen=True)
class StockMismatch:
    """ERP and POS disagree on one item at one place; ``difference`` = ERP - POS, what an adjustment adds.

    ``adjusted`` says the difference went into this run's adjustment set; it does not when the POS is the stock
    master, the item is not in the POS, or the ERP's quantity is not whole (the POS counts whole units).
    """

    item_number: str
    location: str
    warehouse: str
    erp_qty: Decimal
    pos_qty: Decimal
    difference: Decimal
    adjusted: bool


@dataclass
class StockResult:
    stock_mismatches: list[StockMismatch] = field(default_factory=list)
    adjustment_sets: list[int] = field(default_factory=list)
    skipped_locations: dict[str, str] = field(default_factory=dict)
    """POS location → why it was not compared (not mapped to this ERP, not in the POS)."""


@dataclass
class CatalogResult:
    erp: str
    items: ItemsResult
    stock: StockResult

    def summary(self) -> dict[str, Any]:
        """Counts and mismatches as JSON-able values (decimal strings), for the CLI and the logs."""
        return {
            "erp": self.erp, "items_created": self.items.created, "items_updated": self.items.updated,
            "prices_changed": self.items.prices_changed, "unchanged": self.items.unchanged,
            "conflicts": [{"item_number": c.item_number, "field": c.field, "erp_value": _text(c.erp_value),
                           "pos_value": _text(c.pos_value), "reason": c.reason} for c in self.items.conflicts],
            "adjustment_sets": list(self.stock.adjustment_sets),
            "stock_mismatches": [{"item_number": m.item_number, "location": m.location, "warehouse": m.warehouse,
                                  "erp_qty": str(m.erp_qty), "pos_qty": str(m.pos_qty),
                                  "difference": str(m.difference), "adjusted": m.adjusted}
                                 for m in self.stock.stock_mismatches],
            "skipped_locations": dict(self.stock.skipped_locations),
        }


def _text(value: Value) -> str | bool | None:
    return str(value) if isinstance(value, Decimal) else value


class _Normal:
    """One form of every value both sides can hold, so equal means equal whichever side wrote it."""

    def __init__(self, currency: str) -> None:
        self.quantum = Decimal(1).scaleb(-minor_units(currency))

    def money(self, value: Decimal | None) -> Decimal | None:
        return None if value is None else value.quantize(self.quantum, rounding=ROUNDING)

    def product(self, product: Product) -> Product:
        price = self.money(product.price)
        return replace(product, description=product.description.strip() or product.item_number,
                       price=Decimal(0) if price is None else price, cost=self.money(product.cost),
                       barcode=(product.barcode or "").strip() or None)

    def item(self, item: PosItem) -> PosItem:
        return replace(item, description=item.description.strip(), price=self.money(item.price),
                       cost=self.money(item.cost), barcode=(item.barcode or "").strip() or None)


def sync_items(erp: ProductCatalog, retail: PosCatalog, rules: CatalogRules) -> ItemsResult:
    """ERP products → Retail items, by ``public_id`` = item number; see the module for the rules.

    An item Retail refuses (a 422) is reported as a conflict with Retail's reason and the others go on.

    Raises:
        ApiError: a read failed, or a write failed for a reason that is not the item's (what was written before
            stays written; a re-run completes it).
    """
    normal = _Normal(retail.currency)
    result = ItemsResult()
    by_public_id: dict[str, list[PosItem]] = defaultdict(list)
    for item in retail.items():
        if item.public_id:
            by_public_id[item.public_id].append(normal.item(item))
    for found in erp.products():
        product = normal.product(found)
        held = by_public_id.get(product.item_number, [])
        if len(held) > 1:
            result.conflicts.append(Conflict(product.item_number, "public_id", product.item_number,
                                             ", ".join(str(i.id) for i in held),
                                             f"{len(held)} POS items carry this item number; none was changed"))
            continue
        if not held:
            try:
                retail.create_item(product)
            except PermanentApiError as error:  # this item only: Retail refused it, say why and go on
                _item_refusal(error)
                result.conflicts.append(Conflict(product.item_number, "item", product.description, None,
                                                 f"Heartland Retail refused to create it: {error.description}"))
                continue
            result.created += 1
            continue
        item = held[0]
        changes: dict[Field, Value] = {}
        for name in FIELDS:
            wanted, have = product.value(name), item.value(name)
            if wanted == have:
                continue
            if rules.owner(name) is Owner.ERP:
                changes[name] = wanted
                result.changes.append(ItemChange(product.item_number, name, have, wanted))
            else:
                result.conflicts.append(Conflict(product.item_number, name, wanted, have,
                                                 "the POS owns this field; the ERP's value was not written"))
        if not changes:
            result.unchanged += 1
            continue
        try:
            retail.update_item(item.id, changes)
        except PermanentApiError as error:
            _item_refusal(error)
            result.conflicts.append(Conflict(product.item_number, ", ".join(changes), None, None,
                                             f"Heartland Retail refused the change: {error.description}"))
            continue
        result.updated += 1
        if "price" in changes:
            result.prices_changed += 1
    log.info("catalog items: %d created, %d updated (%d prices), %d unchanged, %d conflicts", result.created,
             result.updated, result.prices_changed, result.unchanged, len(result.conflicts))
    return result


def _item_refusal(error: PermanentApiError) -> None:
    """Re-raise what is not about the item (a bad token is every item's problem, and stops the run)."""
    if error.status not in (400, 404, 409, 422):
        raise error


def sync_stock(erp: ProductCatalog, retail: PosCatalog, rules: CatalogRules) -> StockResult:
    """ERP on-hand against Retail ``qty_on_hand`` per mapped location; see the module for the rules.

    Raises:
        ApiError: a read or the adjustment failed (a re-run reads again and adjusts only what still differs).
    """
    result = StockResult()
    stocked = {p.item_number for p in erp.products() if p.stocked}
    items: dict[str, int] = {}
    claimed: set[str] = set()
    for item in retail.items():
        if item.public_id in items:
            claimed.add(item.public_id)
        elif item.public_id:
            items[item.public_id] = item.id
    for public_id in claimed:  # two POS items for one ERP item: which one holds the stock is not ours to guess
        del items[public_id]
    numbers = {item_id: number for number, item_id in items.items()}
    adjust = rules.inventory.master is Owner.ERP
    for location, rule in rules.inventory.locations.items():
        warehouse = rule.warehouse(erp.kind)
        if warehouse is None:
            result.skipped_locations[location] = f"names no {erp.kind} warehouse"
            continue
        location_id = retail.location_id(location)
        if location_id is None:
            result.skipped_locations[location] = "no POS location has this public_id"
            continue
        erp_qty = {row.item_number: row.quantity for row in erp.on_hand(warehouse) if row.item_number in stocked}
        pos_by_id = retail.stock(location_id)
        pos_qty = {numbers[i]: q for i, q in pos_by_id.items() if i in numbers and numbers[i] in stocked}
        changes: dict[int, Decimal] = {}
        for number in sorted(set(erp_qty) | set(pos_qty)):
            ours, theirs = erp_qty.get(number, Decimal(0)), pos_qty.get(number, Decimal(0))
            if ours == theirs:
                continue
            difference = ours - theirs
            item_id = items.get(number)
            adjusted = adjust and item_id is not None and difference == difference.to_integral_value()
            result.stock_mismatches.append(StockMismatch(number, location, str(warehouse), ours, theirs, difference,
                                                         adjusted))
            if adjusted and item_id is not None:
                changes[item_id] = difference
        if changes:
            note = f"hl365: stock brought to {erp.kind} warehouse {warehouse}"
            result.adjustment_sets.append(retail.adjust(location_id, changes,
                                                        reason_id=rules.inventory.adjustment_reason_id, note=note))
    log.info("catalog stock: %d mismatches, %d adjustment sets", len(result.stock_mismatches),
             len(result.adjustment_sets))
    return result


def available_stock(source: StockLevels, item_number: str, location: str, rules: CatalogRules) -> Decimal:
    """What ``source`` (the POS or an ERP) can promise of ``item_number`` at POS location ``location`` (its
    ``public_id``), the ERP's warehouse found through the mapping. An order line asking for more than this
    cannot be met from that store.

    Raises:
        UnmappedError: the location is not mapped (to this ERP's warehouse).
    """
    return source.available(item_number, rules.place(location, source.kind))


def run_catalog_sync(ports: Ports, erp: str) -> CatalogResult:
    """``hl365 catalog sync --erp fo|bc``: items, then stock, with the mapping's ``catalog`` rules.

    Raises:
        FatalError: ``CatalogNotMapped`` when the mapping has no ``catalog`` section; ``UnknownErp``.
        ConfigError: the ERP's or Retail's connection is not configured.
    """
    rules = ports.mapping.catalog
    if rules is None:
        raise FatalError("CatalogNotMapped", "the mapping has no catalog section: add catalog.owners (and "
                         "catalog.inventory) to the mapping file")
    catalog, retail = ports.catalog(erp), ports.pos_catalog
    items = sync_items(catalog, retail, rules)
    stock = sync_stock(catalog, retail, rules)
    return CatalogResult(erp, items, stock)
