"""``RetailSimulator``: the Retail account's options, its Python-side scenario API (locations, payment types,
items, customers, stock and tickets rung up as the POS would) and its ground truth."""

from __future__ import annotations

import copy
import random
import threading
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta, tzinfo
from decimal import Decimal
from typing import Any, Literal

from sandbox.scenario import pos
from sandbox.scenario.pos import CENTRAL, Line, Tender
from sandbox.simulators.ids import random_id
from sandbox.simulators.retail.adjustments import DEFAULT_REASONS
from sandbox.simulators.retail.api import MAX_PER_PAGE, HttpApi
from sandbox.simulators.retail.errors import ErrorBody, Invalid, NotFound, default_error_body
from sandbox.simulators.retail.reports import Reports
from sandbox.simulators.retail.store import COLLECTIONS, FIRST_IDS, PAYMENT_TYPES, Record
from sandbox.simulators.retail.values import iso, parse_amount

DEFAULT_TOKEN = "hl365-local-retail-token"  # noqa: S105 (the local default)
_KIND_TYPES = {"cash": "CashPayment", "card": "CreditCardPayment", "gift_card": "GiftCardPayment",
               "custom": "CustomPayment"}
_DEFAULT_PAYMENT_TYPES = (("Cash", "CashPayment"), ("Credit Card", "CreditCardPayment"),
                          ("Gift Card", "GiftCardPayment"))


class RetailSimulator(HttpApi, Reports):
    """Heartland Retail's ``/api``: customers, items, locations, payment types, tickets, inventory and its
    adjustment sets.

    An item's barcode lives in its ``custom`` object under ``barcode`` (``custom@barcode`` in a ``_filter``):
    the reference names no barcode field, and custom fields are how an account adds one.

    Args:
        token: the only bearer token accepted; anything else is a 401.
        currency: the account's currency; money is written with its minor units.
        max_per_page: larger ``per_page`` values are clamped to it.
        public_url: the API root written into ``Location`` headers (default: the request's own host + ``/api``).
        error_body: builds every error body from a message and field errors.
        validation_status: the status of a refused write (422).
        clock: "now" for created and updated times.
        defaults: start with a location (two stations), a few items and the default payment types.
        seed: seeds the day generator.
    """

    name = "retail"

    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        currency: str = "USD",
        max_per_page: int = MAX_PER_PAGE,
        public_url: str | None = None,
        error_body: ErrorBody = default_error_body,
        validation_status: int = 422,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        defaults: bool = True,
        seed: int = 0,
    ) -> None:
        self.token = token
        self.currency = currency
        self.max_per_page = max_per_page
        self.public_url = public_url.rstrip("/") if public_url else None
        self.error_body = error_body
        self.validation_status = validation_status
        self.clock = clock
        self.seed = seed
        self._lock = threading.RLock()
        self._data = {name: {} for name in COLLECTIONS}
        self._next = dict(FIRST_IDS)
        self._inventory = {}
        for name, kind in _DEFAULT_PAYMENT_TYPES:
            self.add_payment_type(name, type=kind)
        for reason in DEFAULT_REASONS:
            self.add_adjustment_reason(reason)
        if defaults:
            self.add_location("Main Street", public_id="MAIN", tax_rates={"State": "0.0625", "City": "0.0100"})
            for description, price, department in (("Coffee mug", "12.00", "Housewares"),
                                                   ("T-shirt", "19.99", "Apparel"),
                                                   ("Notebook", "4.50", "Stationery")):
                self.add_item(description, price=price, department=department)

    # --- Python-side scenario API -----------------------------------------------------------------

    def add_location(self, name: str, *, public_id: str | None = None,
                     tax_rates: Mapping[str, Decimal | str] | None = None, stations: int = 2) -> Record:
        """A store; ``tax_rates`` are its tax components (name → rate), applied to every taxable line."""
        with self._lock:
            location_id = self._take_id("locations")
            first_station = location_id * 100 + 1
            record: Record = {
                "id": location_id, "public_id": public_id or f"L{location_id:02d}", "name": name,
                "station_ids": list(range(first_station, first_station + stations)),
                "tax_rates": [{"name": k, "rate": str(Decimal(str(v)))} for k, v in (tax_rates or {}).items()],
                "custom": {},
            }
            self._data["locations"][location_id] = record
            return copy.deepcopy(record)

    def add_payment_type(self, name: str, *, type: str = "CustomPayment", active: bool = True) -> Record:
        """A tender the stores accept; ``type`` is one of ``PAYMENT_TYPES``."""
        if type not in PAYMENT_TYPES:
            raise ValueError(f"payment type kind {type!r} is not one of {', '.join(PAYMENT_TYPES)}")
        with self._lock:
            payment_type_id = self._take_id("payment_types")
            record: Record = {"id": payment_type_id, "name": name, "type": type, "active": active, "custom": {}}
            self._data["payment_types"][payment_type_id] = record
            return copy.deepcopy(record)

    def add_adjustment_reason(self, name: str) -> Record:
        """A reason an adjustment set may name (``reason_id``)."""
        with self._lock:
            reason_id = self._take_id("adjustment_reasons")
            record: Record = {"id": reason_id, "name": name, "active": True}
            self._data["adjustment_reasons"][reason_id] = record
            return copy.deepcopy(record)

    def item_by_public_id(self, public_id: str) -> Record | None:
        """The item whose ``public_id`` (SKU) is ``public_id``, as the account holds it, or None."""
        with self._lock:
            found = next((i for i in self._data["items"].values() if i["public_id"] == public_id), None)
            return copy.deepcopy(found)

    def update_item(self, item_id: int, **changes: Any) -> Record:
        """Change an item as a person at the POS would (a ``PUT``'s partial merge, ``updated_at`` moved)."""
        with self._lock:
            record = self._get("items", item_id)
            self._update("items", record, changes)
            return copy.deepcopy(record)

    def on_hand(self, item_id: int, location_id: int) -> int | None:
        """``qty_on_hand`` of one item at one location, or None when the location never held it."""
        with self._lock:
            row = self._inventory.get((item_id, location_id))
            return None if row is None else int(row["qty_on_hand"])

    def add_item(self, description: str, *, price: Decimal | str, cost: Decimal | str | None = None,
                 department: str = "General", public_id: str | None = None, taxable: bool = True,
                 active: bool = True, custom: Mapping[str, Any] | None = None) -> Record:
        """A catalogue item; ``department`` is copied onto every line that sells it."""
        with self._lock:
            return self._create_item({"description": description, "price": str(price),
                                      "cost": None if cost is None else str(cost), "department": department,
                                      "public_id": public_id, "taxable": taxable, "active": active,
                                      "custom": dict(custom or {})})

    def add_customer(self, first_name: str, last_name: str, *, email: str | None = None, phone: str | None = None,
                     custom: Mapping[str, Any] | None = None) -> Record:
        """A customer, as the POS would hold one."""
        with self._lock:
            return self._create_customer({"first_name": first_name, "last_name": last_name, "email": email,
                                          "phone": phone, "custom": dict(custom or {})})

    def set_inventory(self, item_id: int, location_id: int, *, on_hand: int, committed: int = 0,
                      unit_cost: Decimal | str | None = None) -> Record:
        """Stock of one item at one location; sales and returns seeded later move ``qty_on_hand``."""
        with self._lock:
            item = self._get("items", item_id)
            self._get("locations", location_id)
            cost = unit_cost if unit_cost is not None else (item.get("cost") or item["price"])
            row: Record = {"item_id": item_id, "location_id": location_id, "qty_on_hand": on_hand,
                           "qty_committed": committed, "unit_cost": self._money(parse_amount(cost, "unit_cost"))}
            self._inventory[(item_id, location_id)] = row
            return dict(row)

    def add_ticket(
        self,
        *,
        location_id: int,
        lines: Sequence[Line],
        payments: Sequence[Tender] | None = None,
        station_id: int | None = None,
        customer_id: int | None = None,
        completed_at: datetime | None = None,
        status: Literal["pending", "complete", "voided"] = "complete",
        public_id: str | None = None,
        custom: Mapping[str, Any] | None = None,
        allow_unbalanced: bool = False,
    ) -> Record:
        """A ticket as the POS would have rung it up; returns it with its lines and payments.

        ``payments=None`` pays the total in cash. A complete ticket must be paid exactly unless
        ``allow_unbalanced`` (to plant a discrepancy); ``completed_at`` defaults to the clock.

        Raises:
            ValueError: an unknown location, station, customer or item, or an unpaid balance.
        """
        with self._lock:
            ticket: Record | None = None
            try:
                location = self._get("locations", location_id)
                station = station_id if station_id is not None else location["station_ids"][0]
                moment = completed_at or self.clock()
                ticket = self._new_ticket({"location_id": location_id, "station_id": station,
                                           "customer_id": customer_id, "public_id": public_id,
                                           "custom": dict(custom or {})},
                                          created_at=moment - timedelta(minutes=3))
                for line in lines:
                    self._add_line(ticket, self._line_body(line), taxes=line.taxes)
                if payments is None:
                    payments = [Tender.cash(Decimal(ticket["total"]))] if Decimal(ticket["total"]) else []
                for tender in payments:
                    self._add_payment(ticket, self._tender_body(ticket, tender))
                if status in ("complete", "voided"):
                    self._set_status(ticket, "complete", moment, force=allow_unbalanced)
                if status == "voided":
                    self._set_status(ticket, "voided", moment)
                ticket["updated_at"] = iso(moment)
            except (Invalid, NotFound, ValueError) as exc:
                if ticket is not None:
                    self._data["tickets"].pop(ticket["id"], None)
                raise ValueError(f"not found: {exc}" if isinstance(exc, NotFound) else str(exc)) from None
            return copy.deepcopy(ticket)

    def _line_body(self, line: Line) -> Record:
        discounts = [{"name": k, "amount": str(v)} for k, v in line.discounts.items()]
        body: Record = {"qty": line.qty, "discounts": discounts}
        if line.gift_card_last4 is not None:
            body.update(type="GiftCardLine", gift_card_last4=line.gift_card_last4, unit_price=str(line.unit_price))
        else:
            body["item_id"] = line.item_id
            if line.unit_price is not None:
                body["unit_price"] = str(line.unit_price)
        if line.description is not None:
            body["description"] = line.description
        return body

    def _tender_body(self, ticket: Record, tender: Tender) -> Record:
        type_name = _KIND_TYPES[tender.kind]
        payment_type_id = tender.payment_type_id or next(
            (p["id"] for p in self._data["payment_types"].values() if p["type"] == type_name), None)
        if payment_type_id is None:
            raise Invalid({"payment_type_id": [f"no payment type of kind {type_name}"]})
        body: Record = {"payment_type_id": payment_type_id, "amount": str(tender.amount), "tip": str(tender.tip)}
        if tender.kind == "card":
            rng = random.Random(f"{self.seed}:{ticket['id']}:{len(ticket['payments'])}")
            body.update(card_brand=tender.brand, card_last4=tender.last4,
                        auth_code=tender.auth_code or f"{rng.randrange(1_000_000):06d}",
                        gateway_transaction_id=tender.transaction_id or random_id(rng, "TRN_"),
                        gateway_reference=tender.reference or f"HR-TICKET-{ticket['public_id']}")
        elif tender.kind == "gift_card":
            body["gift_card_last4"] = tender.last4
        return body

    def seed_business_day(self, day: date, *, tickets: int = 200, seed: int | None = None, tz: tzinfo = CENTRAL,
                          refund_rate: float = 0.03, gift_card_rate: float = 0.04, tip_rate: float = 0.25,
                          void_rate: float = 0.01) -> list[Record]:
        """A seeded, realistic day: card, cash and split tenders, tips, discounts, gift cards sold and
        redeemed, returns refunded to the card, a few voids. Creates two locations, items and
        customers if the account has none. Returns the tickets created, in time order.
        """
        with self._lock:
            return pos.seed_business_day(self, day, tickets=tickets, seed=seed, tz=tz, refund_rate=refund_rate,
                                         gift_card_rate=gift_card_rate, tip_rate=tip_rate, void_rate=void_rate)

    def price(self, location_id: int, lines: Sequence[Line]) -> Decimal:
        """What ``lines`` would total at ``location_id``, rung up on a scratch ticket that is never kept."""
        with self._lock:
            scratch = self._blank_ticket(0, {"location_id": location_id}, datetime.now(UTC))
            for line in lines:
                self._add_line(scratch, self._line_body(line), taxes=line.taxes, scratch=True)
            return Decimal(scratch["total"])

    # --- Ground truth -----------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """Everything the account holds, plus per-day totals of complete tickets (business day = the
        ticket's local date), so a test or the demo can check what a pipeline computed."""
        with self._lock:
            by_day: dict[str, list[Record]] = defaultdict(list)
            for ticket in self._data["tickets"].values():
                if ticket["status"] == "complete":
                    by_day[ticket["completed_at"][:10]].append(ticket)
            document: dict[str, Any] = {"currency": self.currency, "next_ids": dict(self._next)}
            for name in COLLECTIONS:
                document[name] = copy.deepcopy(list(self._data[name].values()))
            document["inventory"] = [dict(row) for row in self._inventory.values()]
            document["totals_by_day"] = {d: self._summarise(ts) for d, ts in sorted(by_day.items())}
            return document

    def restore(self, state: dict[str, Any]) -> None:
        with self._lock:
            self.currency = state.get("currency", self.currency)
            self._data = {name: {int(r["id"]): copy.deepcopy(r) for r in state.get(name, [])} for name in COLLECTIONS}
            self._next = {**FIRST_IDS, **{k: int(v) for k, v in state.get("next_ids", {}).items()}}
            self._inventory = {(int(r["item_id"]), int(r["location_id"])): dict(r) for r in state.get("inventory", [])}

    def fault_answer(self, status: int, retry_after: float) -> tuple[dict[str, Any], dict[str, str]]:
        """Retail's error body, ``{"message", "errors"}``; a 429 carries ``Retry-After``."""
        message = "Too many requests" if status == 429 else "Service unavailable"
        headers = {"Retry-After": str(max(1, round(retry_after)))} if status == 429 else {}
        return {"message": message, "errors": {}}, headers
