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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from shared.canonical.money import ROUNDING, minor_units
from shared.canonical.products import FIELDS, Field, PosItem, Product, StockMovement, Value, Warehouse
from shared.canonical.settlement import business_day_window
from shared.errors import FatalError, PermanentApiError
from shared.flows.posting import post_once
from shared.mapping.schema import CatalogRules, Owner
from shared.ports import Ports, PosCatalog, ProductCatalog, StockJournal, StockLevels
from shared.storage.idempotency import IdempotencyKeys

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

    ``erp_qty`` is the ERP's on-hand less ``unbooked``, the POS sales it has not booked yet (today's): what it will
    hold once they are. ``adjusted`` says the difference went into this run's adjustment set; it does not when the
    POS is the stock master, the item is not in the POS, the ERP's quantity is not whole (the POS counts whole
    units), or the item sold while the run read it (``moving``: the next run looks again).
    """

    item_number: str
    location: str
    warehouse: str
    erp_qty: Decimal
    pos_qty: Decimal
    difference: Decimal
    adjusted: bool
    unbooked: Decimal = Decimal(0)
    moving: bool = False


@dataclass
class StockResult:
    stock_mismatches: list[StockMismatch] = field(default_factory=list)
    adjustment_sets: list[int] = field(default_factory=list)
    skipped_locations: dict[str, str] = field(default_factory=dict)
    """POS location → why it was not compared (not mapped to this ERP, not in the POS)."""


@dataclass
class SalesBooking:
    """One store's day of POS sales against what the ERP holds of it, as item number → quantity sold (returns
    negative). ``movement`` is what this run booked under ``external_key``; ``not_in_erp`` are sold POS items the
    ERP has no product for (by public_id, or ``#id`` for an item the POS made alone), left for a person; ``reason``
    says why nothing could be booked (Business Central)."""

    location: str
    business_date: date
    warehouse: str
    sold: dict[str, Decimal] = field(default_factory=dict)
    booked_before: dict[str, Decimal] = field(default_factory=dict)
    movement: dict[str, Decimal] = field(default_factory=dict)
    external_key: str | None = None
    document_id: str | None = None
    not_in_erp: dict[str, Decimal] = field(default_factory=dict)
    reason: str | None = None
    failed: bool = False
    """The ERP refused the movement (``reason`` has its words): the store's stock is not compared this run."""

    def summary(self) -> dict[str, Any]:
        return {"location": self.location, "date": self.business_date.isoformat(), "warehouse": self.warehouse,
                "sold": _quantities(self.sold), "booked_before": _quantities(self.booked_before),
                "booked_now": _quantities(self.movement), "journal": self.external_key,
                "document": self.document_id, "not_in_erp": _quantities(self.not_in_erp), "reason": self.reason,
                "failed": self.failed}


@dataclass
class CatalogResult:
    erp: str
    items: ItemsResult
    stock: StockResult
    sales: list[SalesBooking] = field(default_factory=list)

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
                                  "difference": str(m.difference), "adjusted": m.adjusted,
                                  "unbooked_sales": str(m.unbooked), "moving": m.moving}
                                 for m in self.stock.stock_mismatches],
            "skipped_locations": dict(self.stock.skipped_locations),
            "pos_sales": [booking.summary() for booking in self.sales],
        }


def _quantities(values: Mapping[str, Decimal]) -> dict[str, str]:
    return {key: str(value) for key, value in sorted(values.items())}


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


def sync_stock(erp: ProductCatalog, retail: PosCatalog, rules: CatalogRules, *,
               unbooked: Callable[[int], dict[str, Decimal]] | None = None,
               skip: Mapping[str, str] | None = None, hold: Mapping[str, set[str]] | None = None,
               numbers: Mapping[int, str] | None = None) -> StockResult:
    """ERP on-hand against Retail ``qty_on_hand`` per mapped location; see the module for the rules.

    ``unbooked(location_id)`` gives, per item number, the POS sales the ERP has not booked yet; the
    ERP's figure is taken less them. It is asked before and after the POS stock is read: an item whose figure
    changed in between sold meanwhile and is not adjusted this run. ``skip`` names locations (with why) not to
    compare, such as a store whose sales the ERP refused to book; ``hold`` names items per location whose
    difference is reported but not adjusted (sales listed for a person to book in the ERP). ``numbers`` (POS item
    id → item number, as ``_pos_numbers`` reads them) spares a second read of the POS's items.

    Raises:
        ApiError: a read or the adjustment failed (a re-run reads again and adjusts only what still differs).
    """
    result = StockResult()
    stocked = {p.item_number for p in erp.products() if p.stocked}
    numbers = _pos_numbers(retail) if numbers is None else numbers
    items = {number: item_id for item_id, number in numbers.items()}
    adjust = rules.inventory.master is Owner.ERP
    for location, rule in rules.inventory.locations.items():
        warehouse = rule.warehouse(erp.kind)
        if skip and location in skip:
            result.skipped_locations[location] = skip[location]
            continue
        if warehouse is None:
            result.skipped_locations[location] = f"names no {erp.kind} warehouse"
            continue
        location_id = retail.location_id(location)
        if location_id is None:
            result.skipped_locations[location] = "no POS location has this public_id"
            continue
        erp_qty = {row.item_number: row.quantity for row in erp.on_hand(warehouse) if row.item_number in stocked}
        pending = unbooked(location_id) if unbooked else {}
        pos_by_id = retail.stock(location_id)
        after = unbooked(location_id) if unbooked else {}
        pos_qty = {numbers[i]: q for i, q in pos_by_id.items() if i in numbers and numbers[i] in stocked}
        changes: dict[int, Decimal] = {}
        for number in sorted(set(erp_qty) | set(pos_qty) | (set(pending) & stocked)):
            waiting = pending.get(number, Decimal(0))
            ours, theirs = erp_qty.get(number, Decimal(0)) - waiting, pos_qty.get(number, Decimal(0))
            if ours == theirs:
                continue
            difference = ours - theirs
            item_id = items.get(number)
            moving = after.get(number, Decimal(0)) != waiting
            held = hold is not None and number in hold.get(location, set())
            adjusted = (adjust and item_id is not None and not moving and not held
                        and difference == difference.to_integral_value())
            result.stock_mismatches.append(StockMismatch(number, location, str(warehouse), ours, theirs, difference,
                                                         adjusted, waiting, moving))
            if adjusted and item_id is not None:
                changes[item_id] = difference
        if changes:
            note = f"hl365: stock brought to {erp.kind} warehouse {warehouse}"
            result.adjustment_sets.append(retail.adjust(location_id, changes,
                                                        reason_id=rules.inventory.adjustment_reason_id, note=note))
    log.info("catalog stock: %d mismatches, %d adjustment sets", len(result.stock_mismatches),
             len(result.adjustment_sets))
    return result


def _pos_numbers(retail: PosCatalog) -> dict[int, str]:
    """POS item id → the ERP item number it stands for. An item number two POS items claim is left out: which one
    holds the stock is not ours to guess."""
    items: dict[str, int] = {}
    claimed: set[str] = set()
    for item in retail.items():
        if item.public_id in items:
            claimed.add(item.public_id)
        elif item.public_id:
            items[item.public_id] = item.id
    return {item_id: number for number, item_id in items.items() if number not in claimed}


def sales_key_prefix(location: str, day: date) -> str:
    return f"POS-SALES-{location}-{day:%Y%m%d}-"


def book_pos_sales(journal: StockJournal | None, erp: ProductCatalog, retail: PosCatalog, rules: CatalogRules,
                   keys: IdempotencyKeys, days: Sequence[date], timezone: str) -> list[SalesBooking]:
    """Book each store's POS sales of each of ``days`` into the ERP's stock, exactly once in effect.

    Per store and day, the net quantity sold per item is compared with what the ERP already holds under that
    day's keys; only the difference is booked, as the next movement (``…-1``, ``…-2``: a ticket completed late or
    voided since). A run after a run books nothing. A movement found unposted (its post failed) is posted. With
    no ``journal`` (Business Central) the quantities are returned with the reason, for a person to book.

    Raises:
        ApiError, RetriableError: a read or a write failed; what was booked stays booked, a re-run books the rest.
    """
    products = {p.item_number: p for p in erp.products()}
    numbers = _pos_numbers(retail)
    bookings: list[SalesBooking] = []
    for location, rule in rules.inventory.locations.items():
        warehouse = rule.warehouse(erp.kind)
        location_id = retail.location_id(location)
        if warehouse is None or location_id is None:
            continue
        for day in days:
            start, end = business_day_window(day, timezone)
            booking = SalesBooking(location, day, str(warehouse))
            for item_id, quantity in retail.sold(location_id, start, end).items():
                number = numbers.get(item_id)
                product = products.get(number) if number else None
                if product is None:
                    booking.not_in_erp[number or f"#{item_id}"] = quantity
                elif product.stocked:
                    booking.sold[product.item_number] = booking.sold.get(product.item_number, Decimal(0)) + quantity
            bookings.append(booking)
            if journal is None:
                booking.reason = (f"{erp.kind} has no item journal in its API: book these quantities there")
                continue
            try:
                _book(journal, keys, booking, warehouse)
            except FatalError as error:  # this store-day's problem (an item the ERP refuses): the rest goes on
                booking.reason, booking.failed = f"not booked: {error.reason}: {error.description}"[:500], True
                log.warning("catalog pos sales %s %s: %s", location, day, booking.reason)
    booked = [b for b in bookings if b.movement]
    log.info("catalog pos sales: %d movements booked over %d store days", len(booked), len(bookings))
    return bookings


def _book(journal: StockJournal, keys: IdempotencyKeys, booking: SalesBooking, warehouse: Warehouse) -> None:
    prefix = sales_key_prefix(booking.location, booking.business_date)
    held = journal.booked(prefix)
    for movement in held:
        for number, quantity in movement.quantities.items():
            booking.booked_before[number] = booking.booked_before.get(number, Decimal(0)) - quantity
        if not movement.posted:
            post_once(_movement(movement.external_key, booking, warehouse, {}), auto_post=True, ledger=journal,
                      keys=keys)
    booking.booked_before = {n: q for n, q in booking.booked_before.items() if q}
    for number in sorted(set(booking.sold) | set(booking.booked_before)):
        change = booking.sold.get(number, Decimal(0)) - booking.booked_before.get(number, Decimal(0))
        if change:
            booking.movement[number] = change
    if not booking.movement:
        return
    suffixes = [m.external_key.removeprefix(prefix) for m in held]
    sequence = max((int(suffix) for suffix in suffixes if suffix.isdigit()), default=0) + 1
    new = _movement(f"{prefix}{sequence}", booking, warehouse, booking.movement)
    booking.external_key = new.external_key
    booking.document_id, _ = post_once(new, auto_post=True, ledger=journal, keys=keys)


def _movement(key: str, booking: SalesBooking, warehouse: Warehouse, sold: Mapping[str, Decimal]) -> StockMovement:
    """Sold quantities as a movement: a sale is an issue (negative), a return a receipt."""
    return StockMovement(key, booking.location, warehouse, booking.business_date,
                         tuple((number, -quantity) for number, quantity in sorted(sold.items())))


def available_stock(source: StockLevels, item_number: str, location: str, rules: CatalogRules) -> Decimal:
    """What ``source`` (the POS or an ERP) can promise of ``item_number`` at POS location ``location`` (its
    ``public_id``), the ERP's warehouse found through the mapping. An order line asking for more than this
    cannot be met from that store.

    Raises:
        UnmappedError: the location is not mapped (to this ERP's warehouse).
    """
    return source.available(item_number, rules.place(location, source.kind))


def run_catalog_sync(ports: Ports, erp: str, *, now: datetime | None = None) -> CatalogResult:
    """``hl365 catalog sync --erp fo|bc`` and the ``catalog_sync`` timer: the POS's sales of the last complete
    days booked into the ERP's stock (when the mapping asks), then items, then stock, where the ERP's figure is
    taken less the POS sales it has not booked yet: today's, and where the ERP's API takes none (Business
    Central), the items sold on the listed days are compared but not adjusted. ``now`` is the moment the run
    stands at (the demo's days).

    Raises:
        FatalError: ``CatalogNotMapped`` when the mapping has no ``catalog`` section; ``UnknownErp``.
        ConfigError: the ERP's or Retail's connection is not configured.
    """
    rules = ports.mapping.catalog
    if rules is None:
        raise FatalError("CatalogNotMapped", "the mapping has no catalog section: add catalog.owners (and "
                         "catalog.inventory) to the mapping file")
    catalog, retail = ports.catalog(erp), ports.pos_catalog
    timezone = ports.settings.merchant_timezone
    today = (now or datetime.now(UTC)).astimezone(ZoneInfo(timezone)).date()
    sales: list[SalesBooking] = []
    pos_sales = rules.inventory.pos_sales
    journal = ports.stock_journal(erp) if pos_sales is not None else None
    if pos_sales is not None:
        days = [today - timedelta(days=n) for n in range(pos_sales.days_back, 0, -1)]
        sales = book_pos_sales(journal, catalog, retail, rules, ports.keys, days, timezone)
    items = sync_items(catalog, retail, rules)
    # Today's sales are not booked yet. Where the ERP takes none (Business Central), the listed days' may or may not
    # be booked by now: their items are compared but never adjusted.
    start, end = business_day_window(today, timezone)
    listed: dict[str, set[str]] = {}
    for booking in sales:
        if booking.reason and not booking.failed:
            listed.setdefault(booking.location, set()).update(booking.sold)

    numbers = _pos_numbers(retail)  # after the items sync: the items it created are in

    def unbooked(location_id: int) -> dict[str, Decimal]:
        if pos_sales is None:
            return {}
        return {numbers[i]: q for i, q in retail.sold(location_id, start, end).items() if i in numbers}

    refused = {b.location: f"its POS sales of {b.business_date} are not booked ({b.reason})" for b in sales if b.failed}
    if journal is not None:  # a movement whose post failed, of any day: the ERP's figure lacks its sales
        for location in rules.inventory.locations:
            waiting = journal.unposted(f"POS-SALES-{location}-")
            if waiting and location not in refused:
                refused[location] = f"POS sales movements not posted in the ERP: {', '.join(waiting[:5])}"
    stock = sync_stock(catalog, retail, rules, unbooked=unbooked, skip=refused, hold=listed, numbers=numbers)
    result = CatalogResult(erp, items, stock, sales)
    ports.audit.record(step="catalog.sync", event_id=f"catalog-{erp}-{today:%Y%m%d}", correlation_id=f"catalog-{erp}",
                       outcome="synced", detail={
                           "items_created": items.created, "items_updated": items.updated,
                           "prices_changed": items.prices_changed, "conflicts": len(items.conflicts),
                           "stock_mismatches": len(stock.stock_mismatches), "adjustment_sets": stock.adjustment_sets,
                           "pos_sales_booked": [b.external_key for b in sales if b.external_key],
                           "pos_sales_to_book": [f"{b.location} {b.business_date}" for b in sales
                                                 if b.reason and b.sold]})
    return result


def run_scheduled_sync(ports: Ports) -> CatalogResult | None:
    """The ``catalog_sync`` timer: the ERP ``D365_TARGET`` names, when it names one and the mapping has a
    ``catalog`` section (else nothing to do)."""
    target = ports.settings.d365_target
    if target not in ("fo", "bc") or ports.mapping.catalog is None:
        log.info("catalog sync: nothing to do (D365_TARGET %s, catalog %s)", target,
                 "mapped" if ports.mapping.catalog else "not mapped")
        return None
    return run_catalog_sync(ports, target)
