"""Heartland Retail's catalogue and stock as ``shared.ports.PosCatalog``: items read into ``PosItem``, changes
written as partial ``PUT``s, stock read from ``/inventory/values`` and moved by adjustment sets.

An item's barcode is kept in its custom field ``barcode`` (``custom@barcode`` in a filter): the Retail reference
names no barcode field, and custom fields are how an account adds one.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from shared.canonical.products import Field, PosItem, Product, StockPlace, Value
from shared.heartland.retail import RetailClient
from shared.heartland.retail_models import Item

BARCODE_FIELD = "barcode"
"""The custom field that holds an item's barcode."""


def _barcode(item: Item) -> str | None:
    text = str(item.custom.get(BARCODE_FIELD) or "").strip()
    return text or None


class RetailCatalog:
    """One Heartland Retail account's items and stock."""

    kind = "pos"

    def __init__(self, client: RetailClient, *, per_page: int = 500) -> None:
        self._client = client
        self._per_page = per_page
        self._locations: dict[str, int] | None = None

    @property
    def currency(self) -> str:
        return self._client.currency

    def items(self) -> Iterator[PosItem]:
        for item in self._client.iter_items(per_page=self._per_page):
            yield self._item(item)

    @staticmethod
    def _item(item: Item) -> PosItem:
        return PosItem(id=item.id, public_id=item.public_id, description=(item.description or "").strip(),
                       price=None if item.price is None else item.price.amount,
                       cost=None if item.cost is None else item.cost.amount, active=item.active,
                       barcode=_barcode(item))

    def create_item(self, product: Product) -> int:
        custom = {BARCODE_FIELD: product.barcode} if product.barcode else None
        return self._client.create_item(description=product.description, public_id=product.item_number,
                                        price=product.price, cost=product.cost, active=product.active, custom=custom)

    def update_item(self, item_id: int, changes: Mapping[Field, Value]) -> None:
        body: dict[str, Any] = {}
        for field, value in changes.items():
            if field == "barcode":
                body["custom"] = {BARCODE_FIELD: value}
            else:
                body[field] = value
        self._client.update_item(item_id, **body)

    def location_id(self, public_id: str) -> int | None:
        if self._locations is None:
            self._locations = {str(loc.public_id): loc.id for loc in self._client.iter_locations()
                               if loc.public_id is not None}
        return self._locations.get(public_id)

    def stock(self, location_id: int) -> dict[int, Decimal]:
        return {int(row.item_id): row.qty_on_hand for row in self._client.inventory_values(location_id=location_id)
                if row.item_id is not None}

    def sold(self, location_id: int, start: datetime, end: datetime) -> dict[int, Decimal]:
        """Net quantity per item id that completed tickets of ``[start, end)`` took off the shelf at one location
        (a return counts back; a ticket voided since is not counted, as its stock went back)."""
        sold: dict[int, Decimal] = defaultdict(Decimal)
        for ticket in self._client.iter_ticket_rows(completed_from=start, completed_to=end, location_id=location_id,
                                                    per_page=self._per_page):
            if ticket.status != "complete":
                continue
            for line in ticket.lines:
                if line.item_id is not None and line.type == "ItemLine":
                    sold[line.item_id] += line.qty
        return {item_id: qty for item_id, qty in sold.items() if qty}

    def adjust(self, location_id: int, changes: Mapping[int, Decimal], *, reason_id: int | None, note: str) -> int:
        return self._client.create_adjustment_set(location_id, sorted(changes.items()), reason_id=reason_id,
                                                  note=note)

    def available(self, item_number: str, place: StockPlace) -> Decimal:
        location_id = self.location_id(place.location)
        item = next(self._client.iter_items(public_ids=[item_number], per_page=2), None)
        if location_id is None or item is None:
            return Decimal(0)
        rows = self._client.inventory_values(location_id=location_id, item_ids=[item.id])
        return sum((r.qty_available if r.qty_available is not None else r.qty_on_hand for r in rows), Decimal(0))
