"""Inventory adjustment sets: the POS's own way to correct stock at one location (reference/heartland.md §1.3:
``POST/GET /inventory/adjustment_sets``, ``…/{id}``, ``…/{id}/lines``; set ``location_id``, ``reason_id``;
lines ``item_id``, qty).

Decisions where the reference is silent ([3P] there), kept here so a client author can read them:

* A line's ``qty`` is the signed change (``-3`` takes three off the shelf), a whole number other than zero;
  ``unit_cost`` is optional (default: the item's cost, else its price).
* A set is ``pending`` until ``PUT {"status":"complete"}`` (Heartland's state-change convention); only then do
  its lines move ``qty_on_hand``, all at once, and ``completed_at`` is set. A complete set is final.
* ``POST`` may carry ``lines`` and ``"status":"complete"``: one request makes and applies the whole set, and a
  refused line leaves nothing behind.
* ``reason_id`` is optional; when given it must name one of ``/inventory/adjustment_reasons`` (read-only here).
"""

from __future__ import annotations

from typing import Any

from sandbox.simulators.retail.errors import Invalid, NotFound
from sandbox.simulators.retail.store import Record, Store
from sandbox.simulators.retail.values import as_int, iso, parse_amount, parse_quantity

ADJUSTMENT_STATUSES = ("pending", "complete")
DEFAULT_REASONS = ("Count correction", "Damaged", "Received")


class Adjustments(Store):
    """The rules of adjustment sets, over the records ``Store`` holds."""

    def _create_adjustment_set(self, body: Record) -> Record:
        errors: dict[str, list[str]] = {}
        location_id = as_int(body.get("location_id"))
        if body.get("location_id") is None:
            errors["location_id"] = ["can't be blank"]
        elif location_id not in self._data["locations"]:
            errors["location_id"] = ["does not exist"]
        reason_id = None if body.get("reason_id") is None else as_int(body["reason_id"])
        if reason_id is not None and reason_id not in self._data["adjustment_reasons"]:
            errors["reason_id"] = ["does not exist"]
        status = body.get("status", "pending")
        if status not in ADJUSTMENT_STATUSES:
            errors["status"] = [f"must be one of {', '.join(ADJUSTMENT_STATUSES)}"]
        if not isinstance(body.get("custom", {}), dict):
            errors["custom"] = ["must be an object"]
        if errors:
            raise Invalid(errors)
        now = iso(self.clock())
        record: Record = {"id": self._take_id("adjustment_sets"), "location_id": location_id, "reason_id": reason_id,
                          "status": "pending", "note": body.get("note"), "custom": dict(body.get("custom") or {}),
                          "created_at": now, "updated_at": now, "completed_at": None, "lines": []}
        self._data["adjustment_sets"][record["id"]] = record
        try:
            for line in body.get("lines") or []:
                self._add_adjustment_line(record, line)
            if status == "complete":
                self._complete_adjustment_set(record)
        except Invalid:
            del self._data["adjustment_sets"][record["id"]]
            raise
        return record

    def _add_adjustment_line(self, adjustment: Record, body: Any) -> Record:
        if not isinstance(body, dict):
            raise Invalid({"lines": ["must be objects"]})
        if adjustment["status"] != "pending":
            raise Invalid({"status": [f"is {adjustment['status']}; lines can be added to pending sets only"]})
        if body.get("item_id") is None:
            raise Invalid({"item_id": ["can't be blank"]})
        item = self._data["items"].get(as_int(body["item_id"]))
        if item is None:
            raise Invalid({"item_id": ["does not exist"]})
        qty = parse_quantity(body.get("qty", body.get("quantity")))
        cost = body.get("unit_cost") if body.get("unit_cost") is not None else (item.get("cost") or item["price"])
        line: Record = {"id": self._take_id("adjustment_lines"), "adjustment_set_id": adjustment["id"],
                        "item_id": item["id"], "qty": qty,
                        "unit_cost": self._money(parse_amount(cost, "unit_cost")),
                        "custom": dict(body.get("custom") or {})}
        adjustment["lines"].append(line)
        adjustment["updated_at"] = iso(self.clock())
        return line

    def _complete_adjustment_set(self, adjustment: Record) -> None:
        """Every line moves ``qty_on_hand`` at the set's location; a location without a row for the item gets one."""
        if adjustment["status"] == "complete":
            return
        if not adjustment["lines"]:
            raise Invalid({"lines": ["a set needs at least one line to be completed"]})
        location_id = adjustment["location_id"]
        for line in adjustment["lines"]:
            row = self._inventory.setdefault((line["item_id"], location_id), {
                "item_id": line["item_id"], "location_id": location_id, "qty_on_hand": 0, "qty_committed": 0,
                "unit_cost": line["unit_cost"]})
            row["qty_on_hand"] += line["qty"]
        now = iso(self.clock())
        adjustment.update(status="complete", completed_at=now, updated_at=now)

    def _update_adjustment_set(self, adjustment: Record, body: Record) -> None:
        """``PUT``: ``status`` completes a pending set; ``reason_id``, ``note`` and ``custom`` change while pending."""
        if "custom" in body and not isinstance(body["custom"], dict):
            raise Invalid({"custom": ["must be an object"]})
        changes = {k: v for k, v in body.items() if k not in ("id", "created_at", "updated_at")}
        status = changes.pop("status", None)
        if adjustment["status"] == "complete" and changes:
            raise Invalid({"status": ["is complete; a complete set cannot change"]})
        if "reason_id" in changes and changes["reason_id"] is not None:
            if as_int(changes["reason_id"]) not in self._data["adjustment_reasons"]:
                raise Invalid({"reason_id": ["does not exist"]})
            changes["reason_id"] = as_int(changes["reason_id"])
        for name in ("location_id", "lines", "completed_at"):
            changes.pop(name, None)
        custom = changes.pop("custom", None)
        adjustment.update({k: v for k, v in changes.items() if k in ("reason_id", "note")})
        if custom is not None:
            adjustment["custom"] = {**adjustment["custom"], **custom}
        adjustment["updated_at"] = iso(self.clock())
        if status is not None:
            if status not in ADJUSTMENT_STATUSES:
                raise Invalid({"status": [f"must be one of {', '.join(ADJUSTMENT_STATUSES)}"]})
            if status == "pending" and adjustment["status"] == "complete":
                raise Invalid({"status": ["cannot change from complete to pending"]})
            if status == "complete":
                self._complete_adjustment_set(adjustment)

    def _adjustment_set(self, record_id: Any) -> Record:
        found = self._data["adjustment_sets"].get(as_int(record_id))
        if found is None:
            raise NotFound(f"adjustment_sets {record_id}")
        return found
