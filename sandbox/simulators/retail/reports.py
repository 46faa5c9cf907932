"""The Retail simulator's ground-truth reports: copies of a collection or a ticket, and the totals end-of-day
settlement should find for complete tickets."""

from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sandbox.simulators.retail.store import COLLECTIONS, Record, Store


class Reports(Store):
    """Read-only views of the store, mixed into the simulator."""

    def records(self, kind: str) -> list[Record]:
        """Copies of one collection (``tickets``, ``customers``, ``items``, ``locations``, ``payment_types``
        or ``inventory``), in id order: cheaper than ``state()`` when a check needs only one."""
        with self._lock:
            if kind == "inventory":
                return [dict(row) for _, row in sorted(self._inventory.items())]
            if kind not in self._data:
                raise KeyError(f"no collection {kind!r}; choose one of {', '.join(COLLECTIONS)}, inventory")
            return copy.deepcopy([self._data[kind][k] for k in sorted(self._data[kind])])

    def ticket(self, ticket_id: int) -> Record:
        """One ticket with its lines and payments, as ground truth."""
        with self._lock:
            return copy.deepcopy(self._get("tickets", ticket_id))

    def totals(self, day: date | None = None, location_id: int | None = None) -> dict[str, Any]:
        """What end-of-day settlement should find for complete tickets (of ``day``, in each ticket's own
        local time, and ``location_id`` when given), as decimal strings."""
        with self._lock:
            tickets = [t for t in self._data["tickets"].values() if t["status"] == "complete"
                       and (location_id is None or t["location_id"] == location_id)
                       and (day is None or datetime.fromisoformat(t["completed_at"]).date() == day)]
            return self._summarise(tickets)

    def _summarise(self, tickets: Iterable[Record]) -> dict[str, Any]:
        zero = Decimal(0)
        sums: dict[str, Decimal] = defaultdict(lambda: zero)
        tax: dict[str, Decimal] = defaultdict(lambda: zero)
        departments: dict[str, Decimal] = defaultdict(lambda: zero)
        tenders: dict[str, Decimal] = defaultdict(lambda: zero)
        brands: dict[str, Decimal] = defaultdict(lambda: zero)
        count = 0
        for ticket in tickets:
            count += 1
            sums["total"] += Decimal(ticket["total"])
            for line in ticket["lines"]:
                if line["type"] == "GiftCardLine":
                    sums["gift_cards_sold"] += Decimal(line["net_amount"])
                    continue
                net = Decimal(line["net_amount"])
                sums["revenue"] += net
                sums["discounts"] += Decimal(line["discount_total"])
                departments[line["department"]] += net
                if net < 0:
                    sums["returns"] += net
                for component in line["taxes"]:
                    tax[component["name"]] += Decimal(component["amount"])
            for payment in ticket["payments"]:
                amount, tip = Decimal(payment["amount"]), Decimal(payment["tip"])
                tenders[self._data["payment_types"][payment["payment_type_id"]]["name"]] += amount
                sums["tips"] += tip
                if payment["type"] == "CreditCardPayment":
                    brands[payment["card_brand"]] += amount + tip
                if payment["type"] == "GiftCardPayment":
                    sums["gift_card_redemptions"] += amount
        money = self._money
        result: dict[str, Any] = {"tickets": count}
        for key in ("revenue", "discounts", "returns", "gift_cards_sold", "gift_card_redemptions", "tips", "total"):
            result[key] = money(sums[key])
        result["tax"] = {k: money(v) for k, v in sorted(tax.items())}
        result["departments"] = {k: money(v) for k, v in sorted(departments.items())}
        result["tenders"] = {k: money(v) for k, v in sorted(tenders.items())}
        result["card_brands"] = {k: money(v) for k, v in sorted(brands.items())}
        return result
