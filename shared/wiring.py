"""The only module that builds adapters from settings: once, on first use (never at import time).

``Services`` is the process's ``shared.ports.Ports``: flows receive it as that, and see only the ports.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from shared.errors import FatalError
from shared.mapping.loader import load as load_mapping
from shared.mapping.schema import MappingConfig
from shared.ops import deadletters, telemetry
from shared.ops.alerts import LogNotifier, Notifier, Notifiers, WebhookNotifier
from shared.ports import (
    CustomerSource,
    ErpCustomerFields,
    Gateway,
    JournalLedger,
    LoyaltyBalances,
    MessageSender,
    OrderSource,
    OrderSubscriptions,
    PaymentLedger,
    PayrollEmployees,
    PosCatalog,
    PosCustomers,
    ProductCatalog,
    SettlementSource,
    StockJournal,
    TableStore,
    TicketSource,
    WorkerSource,
)
from shared.settings import Settings, get_settings
from shared.storage import audit, idempotency, tables
from shared.storage.table_ledger import TableJournals, TableLedger
from shared.workflow.rules import Rules
from shared.workflow.rules import load as load_rules

BC_WEBHOOK_PATH = "/api/webhooks/bc"
"""Where Business Central notifications reach hl365 (the ``bc_webhook`` route)."""

if TYPE_CHECKING:
    from shared.customers.profiles import CustomerBook
    from shared.dynamics.bc import BusinessCentralClient
    from shared.dynamics.credentials import EntraAuth
    from shared.dynamics.dataverse import DataverseClient
    from shared.dynamics.fo import FinanceOperationsClient
    from shared.heartland.gp import GpApiClient
    from shared.heartland.retail import RetailClient


@dataclass
class Services:
    """The adapters a flow needs, chosen by ``HL365_STORAGE``, ``HL365_BUS`` and ``D365_TARGET``."""

    settings: Settings
    _files: dict[str, tuple[int | None, Any]] = field(default_factory=dict, init=False, repr=False)
    _files_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    @property
    def stores_local(self) -> bool:
        return self.settings.storage == "sqlite" and self.settings.bus == "sqlite"

    @cached_property
    def tables(self) -> TableStore:
        if self.settings.storage == "azure":
            from shared.storage.azure_tables import AzureTableStore

            if self.settings.storage_connection is not None:
                return AzureTableStore.from_connection_string(self.settings.storage_connection.get_secret_value())
            from azure.identity import DefaultAzureCredential

            return AzureTableStore(endpoint=str(self.settings.table_service_uri), credential=DefaultAzureCredential())
        from shared.storage.sqlite import SqliteTableStore

        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        return SqliteTableStore(self.settings.data_dir / "tables.sqlite")

    @cached_property
    def bus(self) -> MessageSender:
        if self.settings.bus == "servicebus":
            from shared.messaging.servicebus import ServiceBusQueueSender

            connection = self.settings.servicebus_connection
            return ServiceBusQueueSender.from_connection(
                connection_string=connection.get_secret_value() if connection else None,
                fully_qualified_namespace=self.settings.servicebus_namespace,
            )
        from shared.messaging.embedded import EmbeddedBus

        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        return EmbeddedBus(self.settings.data_dir / "bus.sqlite", speedup=self.settings.embedded_bus_speedup)

    @cached_property
    def keys(self) -> idempotency.IdempotencyKeys:
        lease = timedelta(seconds=self.settings.idempotency_lease_seconds)
        # Renewed three times a lease, so a claim survives two missed beats (a storage hiccup, a busy CPU).
        return idempotency.IdempotencyKeys(self.tables.table(tables.IDEMPOTENCY_KEYS), lease=lease,
                                           renew_every=lease / 3)

    @cached_property
    def audit(self) -> audit.AuditTrail:
        key = self.settings.audit_key.get_secret_value().encode()
        return audit.AuditTrail(self.tables.table(tables.AUDIT_LOG), key=key)

    @cached_property
    def dead_letters(self) -> deadletters.DeadLetters:
        return deadletters.DeadLetters(self.tables.table(tables.DEAD_LETTERS))

    @cached_property
    def alerts(self) -> Notifier:
        notifiers: list[Notifier] = [LogNotifier()]
        if self.settings.alert_webhook_url:
            notifiers.append(WebhookNotifier(self.settings.alert_webhook_url))
        return Notifiers(notifiers)

    @cached_property
    def ledger(self) -> PaymentLedger:
        """Where real-time payments land (the customer ledger), chosen by ``D365_TARGET``."""
        target = self.settings.d365_target
        if target == "fo":
            from shared.dynamics.customer_payments import FoCustomerPayments

            return FoCustomerPayments(self.fo, lambda: self.mapping)
        if target == "bc":
            from shared.dynamics.customer_payments import BcCustomerPayments

            return BcCustomerPayments(self.bc, lambda: self.mapping, routes=lambda: self.rules.journals)
        return TableLedger(self.tables.table(tables.POSTINGS))

    @property
    def mapping(self) -> MappingConfig:
        """Read again whenever the file changes, so a fixed mapping serves the next message (a replay)
        without restarting the workers."""
        mapping: MappingConfig = self._current("mapping", self.settings.mapping_file, load_mapping)
        return mapping

    def _current(self, name: str, path: Path, load: Callable[[Path], Any]) -> Any:
        """``load(path)``, again only when the file has changed since it was last loaded."""
        stamp = path.stat().st_mtime_ns if path.exists() else None
        with self._files_lock:
            cached = self._files.get(name)
            if cached is None or stamp != cached[0]:
                cached = self._files[name] = (stamp, load(path))
            return cached[1]

    @property
    def rules(self) -> Rules:
        """Read again whenever the file changes, as the mapping is."""
        path = self.settings.rules_file
        if path is None:
            return Rules()
        rules: Rules = self._current("rules", path, load_rules)
        return rules

    @cached_property
    def gp(self) -> GpApiClient:
        from shared.heartland.gp import GpApiClient

        return GpApiClient.from_settings(self.settings, timeout=self._timeout)

    @cached_property
    def retail(self) -> RetailClient:
        from shared.heartland.retail import RetailClient

        return RetailClient(self.settings.require("retail_api_url"), self.settings.require("retail_api_token"))

    @property
    def _timeout(self) -> httpx.Timeout:
        """How long a call to Heartland or Dynamics may take before its outcome counts as uncertain."""
        return httpx.Timeout(self.settings.http_timeout_seconds, connect=min(5.0, self.settings.http_timeout_seconds))

    def _entra(self, scope: str) -> EntraAuth:
        """Entra tokens for ``scope`` from the credential ``D365_CREDENTIAL`` picks (``dynamics/credentials.py``)."""
        from shared.dynamics.credentials import EntraAuth, credential_factory

        return EntraAuth(credential_factory(self.settings), scope)

    @property
    def _d365_trust(self) -> str | bool:
        """``D365_CA_BUNDLE`` (the sandbox's certificate authority), else the system's authorities."""
        bundle = self.settings.d365_ca_bundle
        return str(bundle) if bundle is not None else True

    @cached_property
    def fo(self) -> FinanceOperationsClient:
        from shared.dynamics.fo import FinanceOperationsClient

        url = str(self.settings.require("d365_fo_url")).rstrip("/")
        return FinanceOperationsClient(url, credentials=self._entra(f"{url}/.default"),
                                       legal_entity=self.settings.require("d365_legal_entity"), timeout=self._timeout,
                                       verify=self._d365_trust)

    @cached_property
    def bc(self) -> BusinessCentralClient:
        from shared.dynamics.bc import SCOPE, BusinessCentralClient

        return BusinessCentralClient.connect(str(self.settings.require("d365_bc_url")),
                                             tenant=self.settings.require("d365_tenant_id"),
                                             environment=self.settings.d365_bc_environment,
                                             credentials=self._entra(SCOPE),
                                             company=self.settings.d365_bc_company, timeout=self._timeout,
                                             verify=self._d365_trust)

    @cached_property
    def gateway(self) -> Gateway:
        return self.gp

    @cached_property
    def settlement_source(self) -> SettlementSource:
        from shared.heartland.sources import GpSettlement

        return GpSettlement(self.gp, timezone=self.settings.merchant_timezone)

    @cached_property
    def ticket_source(self) -> TicketSource:
        from shared.heartland.sources import RetailTickets

        return RetailTickets(self.retail, timezone=self.settings.merchant_timezone)

    def orders(self, erp: str) -> OrderSource:
        if erp == "fo":
            from shared.dynamics.orders import FoOrders

            return FoOrders(self.fo)
        if erp == "bc":
            from shared.dynamics.orders import BcOrders

            return BcOrders(self.bc, self.mapping.base_currency)
        raise FatalError("UnknownErp", f"{erp!r} is neither fo nor bc")

    def catalog(self, erp: str) -> ProductCatalog:
        if erp == "fo":
            from shared.dynamics.catalog import FoCatalog

            return FoCatalog(self.fo)
        if erp == "bc":
            from shared.dynamics.catalog import BcCatalog

            return BcCatalog(self.bc)
        raise FatalError("UnknownErp", f"{erp!r} is neither fo nor bc")

    def workers(self, erp: str) -> WorkerSource:
        from shared.dynamics.workers import BcWorkers, FoWorkers

        if erp == "fo":
            return FoWorkers(self.fo)
        if erp == "bc":
            return BcWorkers(self.bc)
        raise FatalError("UnknownErp", f"{erp!r} is neither fo nor bc")

    @cached_property
    def payroll_employees(self) -> PayrollEmployees:
        from shared.heartland.payroll import HeartlandPayrollClient

        s = self.settings
        return HeartlandPayrollClient(str(s.require("heartland_payroll_url")),
                                      username=str(s.require("heartland_payroll_username")),
                                      password=s.require("heartland_payroll_password"),
                                      api_key=s.require("heartland_payroll_api_key"),
                                      client_code=str(s.require("heartland_payroll_client_code")),
                                      timeout=self._timeout)

    def stock_journal(self, erp: str) -> StockJournal | None:
        rules = self.mapping.catalog.inventory.pos_sales if self.mapping.catalog else None
        if erp == "bc" or rules is None:
            return None
        if erp == "fo":
            from shared.dynamics.catalog import FoStockJournal

            return FoStockJournal(self.fo, journal_name=rules.fo_journal_name, offset_account=rules.fo_offset_account)
        raise FatalError("UnknownErp", f"{erp!r} is neither fo nor bc")

    @cached_property
    def pos_catalog(self) -> PosCatalog:
        from shared.heartland.catalog import RetailCatalog

        return RetailCatalog(self.retail)

    @cached_property
    def dataverse(self) -> DataverseClient:
        from shared.dynamics.dataverse import DataverseClient, scope_for

        url = str(self.settings.require("d365_dataverse_url")).rstrip("/")
        return DataverseClient.connect(url, credentials=self._entra(scope_for(url)), timeout=self._timeout,
                                       verify=self._d365_trust)

    def customer_sources(self, erp: str | None) -> dict[str, CustomerSource]:
        from shared.dynamics.customers import (
            BusinessCentralCustomers,
            DataverseCustomers,
            FinanceOperationsCustomers,
        )
        from shared.heartland.customers import RetailCustomers

        if erp not in ("fo", "bc", None):
            raise FatalError("UnknownErp", f"{erp!r} is neither fo nor bc")
        sources: dict[str, CustomerSource] = {}
        if self.settings.retail_api_url:
            sources["retail"] = RetailCustomers(self.retail)
        if erp is not None:
            sources[erp] = FinanceOperationsCustomers(self.fo) if erp == "fo" else BusinessCentralCustomers(self.bc)
        if self.settings.d365_dataverse_url:
            sources["dataverse-contacts"] = DataverseCustomers(self.dataverse, "contacts")
            sources["dataverse-accounts"] = DataverseCustomers(self.dataverse, "accounts")
        return sources

    @cached_property
    def pos_customers(self) -> PosCustomers:
        from shared.heartland.customers import RetailCustomers

        return RetailCustomers(self.retail)

    @cached_property
    def loyalty(self) -> LoyaltyBalances | None:
        if not self.settings.portico_url:
            return None
        from shared.heartland.portico import PorticoLoyalty

        return PorticoLoyalty.from_settings(self.settings, timeout=self._timeout)

    def erp_customer_fields(self, erp: str) -> ErpCustomerFields | None:
        if erp != "fo":
            return None
        from shared.dynamics.customers import FinanceOperationsCustomers

        return FinanceOperationsCustomers(self.fo)

    @cached_property
    def customers(self) -> CustomerBook:
        from shared.customers.profiles import CustomerBook

        return CustomerBook(self.tables, self.audit, rules=self.mapping.customers.matching,
                            survivorship=self.mapping.customers.survivorship)

    def order_subscriptions(self, clock: Callable[[], datetime]) -> OrderSubscriptions:
        from shared.dynamics.orders import BC_COLLECTION
        from shared.dynamics.subscriptions import SubscriptionKeeper

        url = str(self.settings.require("public_url")).rstrip("/") + BC_WEBHOOK_PATH
        state = str(self.settings.require("bc_webhook_client_state"))
        return SubscriptionKeeper(self.bc, self.tables.table(tables.CHECKPOINTS), notification_url=url,
                                  client_state=state, collection=BC_COLLECTION, clock=clock)

    @cached_property
    def journal_ledger(self) -> JournalLedger:
        """Where settlement journals land, chosen by ``D365_TARGET``."""
        target = self.settings.d365_target
        if target == "fo":
            from shared.dynamics.journals import FoJournals

            return FoJournals(self.fo, journal_name=self.mapping.journal.name,
                              legal_entity=self.settings.require("d365_legal_entity"))
        if target == "bc":
            from shared.dynamics.journals import BcJournals

            return BcJournals(self.bc, base_currency=self.mapping.base_currency)
        return TableJournals(self.tables.table(tables.POSTINGS))

    def close(self) -> None:
        if self.__dict__.get("loyalty") is not None:
            self.__dict__["loyalty"].close()
        for name in ("gp", "retail", "fo", "bc", "dataverse"):
            if name in self.__dict__:
                self.__dict__[name].close()
        for name in ("bus", "tables"):
            if name in self.__dict__:
                self.__dict__[name].close()


_lock = threading.Lock()
_services: Services | None = None


def services() -> Services:
    """The process-wide services, built from the settings the first time a function runs."""
    global _services
    if _services is None:
        with _lock:
            if _services is None:
                settings = get_settings()
                secret = settings.appinsights_connection_string
                telemetry.configure(secret.get_secret_value() if secret else None)
                _services = Services(settings)
    return _services


def reset() -> None:
    """Forget the services and settings, e.g. after a test changed the environment."""
    global _services
    with _lock:
        if _services is not None:
            _services.close()
        _services = None
        get_settings.cache_clear()
