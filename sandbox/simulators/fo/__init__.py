"""A Dynamics 365 Finance & Operations simulator (reference/dynamics.md §1, §4.1, §4.2).

Served on one loopback port:

* ``POST /{tenant}/oauth2/v2.0/token``: Entra client credentials. The scope must be
  ``{the URL the caller reached}/.default`` (or ``{resource}/.default``), else 400 AADSTS500011.
* ``/data``: OData v4 for LedgerJournalHeaders, LedgerJournalLines, CustomerPaymentJournalHeaders,
  CustomerPaymentJournalLines, CustomersV3, SalesOrderHeadersV2, SalesOrderLines, ReleasedProductsV2,
  WarehousesOnHandV2, InventoryMovementJournalHeaders, InventoryMovementJournalEntries, ExchangeRates,
  CustomerPaymentMethods, MainAccounts, Workers, EmployeesV2, PersonIdentificationNumbers (the HR sets, shared
  across legal entities; ``Workers`` and ``EmployeesV2`` read-only here, see ``model.py``); ``$metadata``;
  ``$batch``.
* Posting (the simulator's choice; F&O has no standard post action, reference §1.10):
  ``POST /data/LedgerJournalHeaders(dataAreaId='usmf',JournalBatchNumber='00001')/Microsoft.Dynamics.DataEntities.Post``
  (and the same on CustomerPaymentJournalHeaders) → 204, or 500 with the Infolog when the journal is
  unbalanced, empty or already posted. ``$metadata`` declares the bound action. The same action on
  ``InventoryMovementJournalHeaders(dataAreaId=…,JournalNumber=…)`` posts an inventory movement journal: each
  line's ``InventoryQuantity`` (negative issues) lands on ``WarehousesOnHandV2``; negative on-hand is allowed.

Decisions where the reference is silent:

* External keys: ``LedgerJournalHeaders.IntegrationKey`` (a real field of LedgerJournalHeaderEntity)
  carries a journal's key; ``CustomerPaymentJournalLines.PaymentReference`` carries a payment's. Both
  filter with ``$filter`` (case-insensitively, as F&O's SQL collation compares).
* Entity extension: ``SalesOrderHeadersV2.HL365PaymentStatus`` (a string, empty by default), the field
  an ISV adds to SalesOrderHeaderV2Entity for hl365 to write an order's payment result into; likewise
  ``CustomersV3.HL365GiftBalance`` and ``HL365LoyaltyPoints`` (decimals) for a customer's loyalty balances.
* Navigation ``JournalLines`` (header → lines) and ``JournalHeader`` (line → header) let a changeset
  create lines under a header whose number is not known yet: ``POST $1/JournalLines`` or
  ``"JournalHeader@odata.bind": "$1"``.
* Number sequences: JournalBatchNumber ``00001`` (shared by both journal header sets, like
  LedgerJournalTable), SalesOrderNumber ``000001``, InventoryLotId ``USMF-000001``, CustomerAccount
  ``US-006``; blank LineNumber → next integer; blank Voucher → one per general journal, one per
  payment line. Numbers consumed by a failed changeset are not reused (a gap).
* Balance rule for posting: per currency, debits = credits; a line with an offset account balances
  itself.
* A stale ``If-Match`` → 412; no ``If-Match`` is accepted. Read-only properties in a body are ignored.
* 401 bodies are OData-shaped JSON with the reason (expired token, unknown token, unregistered app).
* Business events (``events.py``): ``LedgerJournalPostedBusinessEvent`` and
  ``CustomerPaymentJournalPostedBusinessEvent`` on posting, ``SalesOrderConfirmedBusinessEvent`` when a
  seeded order is confirmed; these IDs are the simulator's, not verified against F&O's catalog. The
  envelope carries ``BusinessEventLegalEntity`` (reference) and ``LegalEntity``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sandbox.simulators.base import SimulatorApp
from sandbox.simulators.fo.service import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_TENANT,
    FinanceOperations,
)


def create(seed: int = 0, snapshot: Path | None = None, **options: Any) -> SimulatorApp:
    """The F&O simulator as an ASGI app; ``options`` are ``FinanceOperations``'s keyword arguments."""
    return SimulatorApp(FinanceOperations(seed=seed, **options), seed=seed, snapshot=snapshot)


def simulator(app: SimulatorApp) -> FinanceOperations:
    """The Python-side API of an app made by ``create``."""
    simulated = app.simulated
    if not isinstance(simulated, FinanceOperations):
        raise TypeError(f"{type(simulated).__name__} is not the F&O simulator")
    return simulated


__all__ = ["DEFAULT_CLIENT_ID", "DEFAULT_CLIENT_SECRET", "DEFAULT_TENANT", "FinanceOperations", "create", "simulator"]
