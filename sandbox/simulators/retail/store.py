"""The Retail account's records and the rules every write follows: customers, items, tickets with their lines
and payments (totals recomputed on every change, stock moved when a ticket completes or is voided), and the
partial merge a ``PUT`` applies."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sandbox.simulators.retail.errors import Invalid, NotFound
from sandbox.simulators.retail.values import as_int, iso, parse_amount, parse_last4, parse_quantity

TICKET_STATUSES = ("pending", "complete", "voided")
PAYMENT_TYPES = ("CashPayment", "CreditCardPayment", "GiftCardPayment", "CustomPayment")
CARD_BRANDS = ("VISA", "MASTERCARD", "AMEX", "DISCOVER")
COLLECTIONS = ("locations", "payment_types", "items", "customers", "tickets", "adjustment_reasons",
               "adjustment_sets")
FIRST_IDS = {"locations": 1, "payment_types": 1, "items": 1001, "customers": 5001, "tickets": 88001,
             "lines": 1, "payments": 1, "adjustment_reasons": 1, "adjustment_sets": 7001, "adjustment_lines": 1}
_TICKET_COMPUTED = frozenset({"id", "created_at", "updated_at", "completed_at", "voided_at", "subtotal",
                              "discount_total", "tax_total", "total", "tip_total", "amount_paid", "balance",
                              "lines", "payments"})
_READ_ONLY = frozenset({"id", "created_at", "updated_at"})

Record = dict[str, Any]


class Store:
    """The records and their rules; ``RetailSimulator`` builds the state in ``__init__``."""

    currency: str
    clock: Callable[[], datetime]
    _lock: threading.RLock
    _data: dict[str, dict[int, Record]]
    _next: dict[str, int]
    _inventory: dict[tuple[int, int], Record]

    def _take_id(self, kind: str) -> int:
        number = self._next[kind]
        self._next[kind] = number + 1
        return number

    def _money(self, value: Decimal) -> str:
        return f"{value:.2f}"

    def _get(self, kind: str, record_id: Any) -> Record:
        try:
            number = int(record_id)
        except (TypeError, ValueError):
            raise NotFound(f"{kind} {record_id}") from None
        found = self._data[kind].get(number)
        if found is None:
            raise NotFound(f"{kind} {record_id}")
        return found

    def _stamp(self, record: Record) -> None:
        now = iso(self.clock())
        record.setdefault("created_at", now)
        record["updated_at"] = now

    def _create_customer(self, body: Record) -> Record:
        errors: dict[str, list[str]] = {}
        if not (body.get("first_name") or body.get("last_name")):
            errors["last_name"] = ["can't be blank when first_name is blank"]
        if body.get("email") is not None and "@" not in str(body["email"]):
            errors["email"] = ["is not an email address"]
        if not isinstance(body.get("custom", {}), dict):
            errors["custom"] = ["must be an object"]
        if errors:
            raise Invalid(errors)
        customer_id = self._take_id("customers")
        record: Record = {"id": customer_id, "public_id": str(body.get("public_id") or customer_id),
                          "first_name": body.get("first_name"), "last_name": body.get("last_name"),
                          "email": body.get("email"), "phone": body.get("phone"), "active": True, "custom": {}}
        record.update({k: v for k, v in body.items() if k not in _READ_ONLY})
        record.update(public_id=str(body.get("public_id") or customer_id), custom=dict(body.get("custom") or {}))
        self._stamp(record)
        self._data["customers"][customer_id] = record
        return record

    def _create_item(self, body: Record) -> Record:
        errors: dict[str, list[str]] = {}
        if not body.get("description"):
            errors["description"] = ["can't be blank"]
        public_id = body.get("public_id")
        if public_id and any(i["public_id"] == public_id for i in self._data["items"].values()):
            errors["public_id"] = ["has already been taken"]
        prices: dict[str, str | None] = {}
        for name in ("price", "cost"):
            try:
                value = body.get(name, "0" if name == "price" else None)
                prices[name] = None if value is None else self._money(parse_amount(value, name))
            except Invalid as exc:
                errors.update(exc.errors)
        if errors:
            raise Invalid(errors)
        item_id = self._take_id("items")
        record: Record = {"id": item_id, "public_id": public_id or f"SKU-{item_id}", "description": None,
                          "long_description": None, "department": "General", "taxable": True, "active": True,
                          "grid_id": None, "primary_vendor_id": None}
        record.update({k: v for k, v in body.items() if k not in _READ_ONLY})
        record.update(prices, public_id=public_id or f"SKU-{item_id}", custom=dict(body.get("custom") or {}))
        self._stamp(record)
        self._data["items"][item_id] = record
        return record

    def _blank_ticket(self, ticket_id: int, body: Record, created_at: datetime) -> Record:
        return {"id": ticket_id, "public_id": str(body.get("public_id") or ticket_id), "status": "pending",
                "customer_id": body.get("customer_id"), "location_id": body.get("location_id"),
                "station_id": body.get("station_id"), "subtotal": "0.00", "discount_total": "0.00",
                "tax_total": "0.00", "total": "0.00", "tip_total": "0.00", "amount_paid": "0.00", "balance": "0.00",
                "created_at": iso(created_at), "updated_at": iso(created_at), "completed_at": None,
                "voided_at": None, "custom": dict(body.get("custom") or {}), "lines": [], "payments": []}

    def _new_ticket(self, body: Record, *, created_at: datetime | None = None) -> Record:
        """Validates as the POS does: a station and a location are required (iPaaS: "station Id and
        Inventory Source location Id are required when creating orders or tickets")."""
        body = dict(body)
        if body.get("location_id") is None and body.get("source_location_id") is not None:
            body["location_id"] = body["source_location_id"]
        errors: dict[str, list[str]] = {}
        location: Record | None = None
        if body.get("location_id") is None:
            errors["location_id"] = ["can't be blank"]
        else:
            location = self._data["locations"].get(as_int(body["location_id"]))
            if location is None:
                errors["location_id"] = ["does not exist"]
        if body.get("station_id") is None:
            errors["station_id"] = ["can't be blank"]
        elif location is not None and as_int(body["station_id"]) not in location["station_ids"]:
            errors["station_id"] = [f"is not a station of location {location['id']}"]
        if body.get("customer_id") is not None and as_int(body["customer_id"]) not in self._data["customers"]:
            errors["customer_id"] = ["does not exist"]
        if errors:
            raise Invalid(errors)
        ticket_id = self._take_id("tickets")
        body.update(location_id=as_int(body["location_id"]), station_id=as_int(body["station_id"]),
                    customer_id=None if body.get("customer_id") is None else as_int(body["customer_id"]))
        ticket = self._blank_ticket(ticket_id, body, created_at or self.clock())
        self._data["tickets"][ticket_id] = ticket
        return ticket

    def _create_ticket(self, body: Record) -> Record:
        ticket = self._new_ticket(body)
        try:
            for line in body.get("lines") or []:
                self._add_line(ticket, line)
            for payment in body.get("payments") or []:
                if not isinstance(payment, dict):
                    raise Invalid({"payments": ["must be objects"]})
                self._add_payment(ticket, payment)
        except Invalid:
            del self._data["tickets"][ticket["id"]]
            raise
        return ticket

    def _add_line(self, ticket: Record, body: Any, *, taxes: Mapping[str, Any] | None = None,
                  scratch: bool = False) -> Record:
        if not isinstance(body, dict):
            raise Invalid({"lines": ["must be objects"]})
        if ticket["status"] != "pending":
            raise Invalid({"status": [f"is {ticket['status']}; lines can be added to pending tickets only"]})
        qty = parse_quantity(body.get("qty", body.get("quantity", 1)))
        kind = body.get("type", "ItemLine")
        sign = Decimal(1) if qty > 0 else Decimal(-1)
        item: Record | None = None
        if kind == "GiftCardLine":
            last4 = parse_last4(body.get("gift_card_last4"), "gift_card_last4")
            if body.get("unit_price") is None:
                raise Invalid({"unit_price": ["can't be blank for a gift card"]})
            unit_price = parse_amount(body["unit_price"], "unit_price")
            department = "Gift Cards"
        elif kind == "ItemLine":
            last4 = None
            if body.get("item_id") is None:
                raise Invalid({"item_id": ["can't be blank"]})
            item = self._data["items"].get(as_int(body["item_id"]))
            if item is None:
                raise Invalid({"item_id": ["does not exist"]})
            unit_price = parse_amount(body.get("unit_price", item["price"]), "unit_price")
            department = item["department"]
        else:
            raise Invalid({"type": ["must be ItemLine or GiftCardLine"]})
        extended = (unit_price * qty).quantize(Decimal("0.01"), ROUND_HALF_UP)
        discounts = []
        for entry in body.get("discounts") or []:
            if kind == "GiftCardLine":
                raise Invalid({"discounts": ["a gift card cannot be discounted"]})
            amount = abs(parse_amount(entry.get("amount"), "discounts")) * sign
            discounts.append({"name": str(entry.get("name") or "Discount"), "amount": self._money(amount)})
        discount_total = sum((Decimal(d["amount"]) for d in discounts), Decimal(0))
        if abs(discount_total) > abs(extended):
            raise Invalid({"discounts": ["exceed the line amount"]})
        net = extended - discount_total
        location = self._data["locations"][ticket["location_id"]]
        tax_lines: list[Record] = []
        if kind == "ItemLine" and item is not None and item.get("taxable", True):
            if taxes is not None:
                tax_lines = [{"name": k, "rate": None, "amount": self._money(abs(parse_amount(v, "taxes")) * sign)}
                             for k, v in taxes.items()]
            else:
                for rate in location["tax_rates"]:
                    amount = (net * Decimal(rate["rate"])).quantize(Decimal("0.01"), ROUND_HALF_UP)
                    tax_lines.append({"name": rate["name"], "rate": rate["rate"], "amount": self._money(amount)})
        line: Record = {
            "id": 0 if scratch else self._take_id("lines"), "ticket_id": ticket["id"], "type": kind,
            "item_id": None if item is None else item["id"],
            "description": body.get("description") or (item["description"] if item else "Gift card"),
            "department": department, "qty": qty, "unit_price": self._money(unit_price),
            "extended_price": self._money(extended), "discounts": discounts,
            "discount_total": self._money(discount_total), "net_amount": self._money(net), "taxes": tax_lines,
            "tax_total": self._money(sum((Decimal(t["amount"]) for t in tax_lines), Decimal(0))),
            "gift_card_last4": last4, "custom": dict(body.get("custom") or {}),
        }
        ticket["lines"].append(line)
        self._recalculate(ticket)
        return line

    def _add_payment(self, ticket: Record, body: Record) -> Record:
        if ticket["status"] != "pending":
            raise Invalid({"status": [f"is {ticket['status']}; payments can be added to pending tickets only"]})
        payment_type = self._data["payment_types"].get(as_int(body.get("payment_type_id")))
        if payment_type is None:
            raise Invalid({"payment_type_id": ["does not exist" if body.get("payment_type_id") else "can't be blank"]})
        if body.get("amount") is None:
            raise Invalid({"amount": ["can't be blank"]})
        amount = parse_amount(body["amount"], "amount")
        tip = parse_amount(body.get("tip") or 0, "tip")
        kind = payment_type["type"]
        payment: Record = {"id": self._take_id("payments"), "ticket_id": ticket["id"],
                           "payment_type_id": payment_type["id"], "type": kind, "amount": self._money(amount),
                           "tip": self._money(tip), "card_brand": None, "card_last4": None, "auth_code": None,
                           "gateway_transaction_id": None, "gateway_reference": None, "gift_card_last4": None,
                           "custom": dict(body.get("custom") or {})}
        if kind == "CreditCardPayment":
            brand = str(body.get("card_brand") or "").upper()
            if brand not in CARD_BRANDS:
                raise Invalid({"card_brand": [f"must be one of {', '.join(CARD_BRANDS)}"]})
            payment.update(card_brand=brand, card_last4=parse_last4(body.get("card_last4"), "card_last4"),
                           auth_code=body.get("auth_code"), gateway_transaction_id=body.get("gateway_transaction_id"),
                           gateway_reference=body.get("gateway_reference"))
        elif kind == "GiftCardPayment":
            payment["gift_card_last4"] = parse_last4(body.get("gift_card_last4"), "gift_card_last4")
        ticket["payments"].append(payment)
        self._recalculate(ticket)
        return payment

    def _recalculate(self, ticket: Record) -> None:
        def total(rows: list[Record], key: str) -> Decimal:
            return sum((Decimal(r[key]) for r in rows), Decimal(0))

        lines, payments = ticket["lines"], ticket["payments"]
        grand = total(lines, "net_amount") + total(lines, "tax_total")
        paid = total(payments, "amount")
        ticket.update(subtotal=self._money(total(lines, "extended_price")),
                      discount_total=self._money(total(lines, "discount_total")),
                      tax_total=self._money(total(lines, "tax_total")), total=self._money(grand),
                      tip_total=self._money(total(payments, "tip")), amount_paid=self._money(paid),
                      balance=self._money(grand - paid))

    def _set_status(self, ticket: Record, status: Any, at: datetime, *, force: bool = False) -> None:
        if status not in TICKET_STATUSES:
            raise Invalid({"status": [f"must be one of {', '.join(TICKET_STATUSES)}"]})
        current = ticket["status"]
        if status == current:
            return
        if current == "voided" or (status == "pending" and current == "complete"):
            raise Invalid({"status": [f"cannot change from {current} to {status}"]})
        if status == "complete":
            if Decimal(ticket["balance"]) != 0 and not force:
                raise Invalid({"status": [f"cannot complete: balance {ticket['balance']} is not paid"]})
            ticket["completed_at"] = iso(at)
            self._move_stock(ticket, -1)
        if status == "voided":
            ticket["voided_at"] = iso(at)
            if current == "complete":
                self._move_stock(ticket, 1)
        ticket["status"] = status

    def _move_stock(self, ticket: Record, direction: int) -> None:
        """A completed sale takes its items off the shelf at its location (a return puts them back)."""
        for line in ticket["lines"]:
            row = self._inventory.get((line["item_id"], ticket["location_id"])) if line["item_id"] else None
            if row is not None:
                row["qty_on_hand"] += direction * line["qty"]

    def _update(self, kind: str, record: Record, body: Record) -> None:
        """A partial merge: named fields replace, ``custom`` merges key by key, computed fields are ignored."""
        if kind not in ("customers", "items", "tickets"):
            raise NotFound(f"{kind} {record['id']} cannot be updated")
        changes = {k: v for k, v in body.items() if k not in _READ_ONLY}
        if "custom" in changes and not isinstance(changes["custom"], dict):
            raise Invalid({"custom": ["must be an object"]})
        if kind == "tickets":
            changes = {k: v for k, v in changes.items() if k not in _TICKET_COMPUTED}
            customer_id = changes.get("customer_id")
            if customer_id is not None and as_int(customer_id) not in self._data["customers"]:
                raise Invalid({"customer_id": ["does not exist"]})
            if "status" in changes:
                self._set_status(record, changes.pop("status"), self.clock())
        if kind == "items":
            for name in ("price", "cost"):
                if changes.get(name) is not None:
                    changes[name] = self._money(parse_amount(changes[name], name))
        if kind == "customers" and changes.get("email") is not None and "@" not in str(changes["email"]):
            raise Invalid({"email": ["is not an email address"]})
        custom = changes.pop("custom", None)
        record.update(changes)
        if custom is not None:
            record["custom"] = {**record.get("custom", {}), **custom}
        record["updated_at"] = iso(self.clock())
