"""The Heartland Retail (POS) simulator: the ``/api`` REST conventions of reference/heartland.md §1,
plus a Python-side scenario API that seeds a business day and reports its ground truth.

Wire decisions where the reference is silent (tagged [?] there), kept in one place so a client
author can read them:

* **Money** is a JSON *string* with exactly the currency's minor units (``"54.10"``, ``"-12.00"``);
  quantities are JSON integers. Filters compare money numerically, so ``{"total":{"$gt":50}}`` works.
* **Tickets** carry their totals (``subtotal``, ``discount_total``, ``tax_total``, ``total``,
  ``tip_total``, ``amount_paid``, ``balance``) and, with ``_include[]=lines`` / ``_include[]=payments``,
  their lines and payments embedded, so end-of-day settlement reads a day in ``pages`` requests.
  Statuses: ``pending`` → ``complete`` (only when fully paid; sets ``completed_at``) → ``voided``.
* **Lines**: ``type`` ``ItemLine`` or ``GiftCardLine`` (a gift card sold: a liability, never taxed);
  ``department`` is copied from the item at sale time; ``extended_price = qty * unit_price``,
  ``net_amount = extended_price - discount_total`` (the revenue), ``taxes`` one entry per tax component.
  Returns are lines with a negative ``qty``; all their amounts are negative.
* **Payments**: ``type`` ``CreditCardPayment`` | ``CashPayment`` | ``GiftCardPayment`` | ``CustomPayment``;
  ``amount`` is what the payment applies to the ticket (negative for a refund), ``tip`` is charged on
  top of it. Card payments carry only ``card_brand``, ``card_last4``, ``auth_code``,
  ``gateway_transaction_id`` and ``gateway_reference``; any request carrying a card number is refused.
* **Errors** use ``{"message": …, "errors": {field: […]}}`` (configurable through ``error_body``);
  ``per_page`` above ``max_per_page`` is clamped, below 1 is a 422; ``_include[]`` of an unknown
  relation is ignored; ``$like`` is SQL ``LIKE`` (``%``, ``_``), case-insensitive.

The modules: ``errors``, ``values`` (money, quantities, times), ``query`` (``_filter``, ``sort[]``, paging),
``store`` (the records and the rules of every write), ``adjustments`` (inventory adjustment sets: a line's
``qty`` is the signed change, applied when the set is ``complete``; an item's barcode is ``custom.barcode``),
``reports`` (ground-truth views and totals), ``api``
(``/api`` over HTTP) and ``simulator`` (``RetailSimulator``: options, the scenario API, ground truth). Tickets
are rung up from ``sandbox.scenario.pos``'s ``Line`` and ``Tender``; its seeded business day is there too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sandbox.scenario.pos import CENTRAL, Line, Tender
from sandbox.simulators.base import SimulatorApp
from sandbox.simulators.retail.errors import Invalid, NotFound, default_error_body
from sandbox.simulators.retail.simulator import DEFAULT_TOKEN, RetailSimulator


def create(seed: int = 0, snapshot: Path | None = None, **options: Any) -> SimulatorApp:
    """The Heartland Retail simulator as an ASGI app; ``options`` go to ``RetailSimulator``."""
    return SimulatorApp(RetailSimulator(seed=seed, **options), seed=seed, snapshot=snapshot)


__all__ = ["CENTRAL", "DEFAULT_TOKEN", "Invalid", "Line", "NotFound", "RetailSimulator", "Tender", "create",
           "default_error_body"]
