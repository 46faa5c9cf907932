"""Products and stock as both sides describe them (U6): one record shape for F&O, Business Central and the POS,
so the catalogue sync compares like with like. Money and quantities are ``Decimal``, never float."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Literal

Field = Literal["description", "price", "cost", "active", "barcode"]
FIELDS: tuple[Field, ...] = ("description", "price", "cost", "active", "barcode")
"""The fields the sync keeps in step; the mapping says which side owns each."""

Value = str | Decimal | bool | None


@dataclass(frozen=True)
class Product:
    """An ERP's released product (F&O) or item (Business Central).

    ``item_number`` is the ERP's key, which the POS holds as the item's ``public_id``; ``stocked`` is False for
    a service, whose stock neither side counts.
    """

    item_number: str
    description: str
    price: Decimal
    cost: Decimal | None
    active: bool
    barcode: str | None
    stocked: bool = True

    def value(self, field: Field) -> Value:
        result: Value = getattr(self, field)
        return result


@dataclass(frozen=True)
class PosItem:
    """A POS catalogue item; ``public_id`` is the ERP item number it stands for (None when the POS made it alone)."""

    id: int
    public_id: str | None
    description: str
    price: Decimal | None
    cost: Decimal | None
    active: bool
    barcode: str | None

    def value(self, field: Field) -> Value:
        result: Value = getattr(self, field)
        return result


@dataclass(frozen=True)
class Warehouse:
    """Where an ERP counts stock: an F&O site and warehouse, or a Business Central location (``site`` None)."""

    code: str
    site: str | None = None

    def __str__(self) -> str:
        return self.code if self.site is None else f"{self.site}/{self.code}"


@dataclass(frozen=True)
class StockPlace:
    """One store as both sides name it: the POS location's ``public_id`` and, for an ERP, its warehouse."""

    location: str
    warehouse: Warehouse | None = None


@dataclass(frozen=True)
class OnHand:
    """Stock of one item at one place. ``available`` is what may still be promised (on hand less reserved)."""

    item_number: str
    quantity: Decimal
    available: Decimal


@dataclass(frozen=True)
class StockMovement:
    """What the POS's sales of one day took out of one ERP warehouse, not yet booked there: item number → signed
    quantity (negative an issue, positive a return). ``external_key`` is ``POS-SALES-{location}-{yyyymmdd}-{n}``:
    the n-th movement booked for that store and day (a later one books what changed since: a late or voided
    ticket)."""

    external_key: str
    location: str
    warehouse: Warehouse
    business_date: date
    quantities: tuple[tuple[str, Decimal], ...]

    @property
    def claim_partition(self) -> str:
        return f"stock-{self.location}-{self.business_date:%Y%m%d}"


@dataclass(frozen=True)
class BookedMovement:
    """A movement the ERP holds under one of hl365's keys, posted or not."""

    external_key: str
    document_id: str
    posted: bool
    quantities: dict[str, Decimal]
