"""Every port the flows use, in one place: what a flow needs from the world, never how it is reached.

``shared.wiring`` builds an adapter for each from the settings (Azure and the ERPs in production, the
embedded stand-ins on one machine); a flow receives ``Ports`` and never imports a client or the wiring.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal, Protocol

from shared.canonical.customers import LoyaltyBalance, SourceRecord
from shared.canonical.journals import Journal
from shared.canonical.money import Money
from shared.canonical.orders import Erp, Order
from shared.canonical.payments import Payment
from shared.canonical.products import (
    BookedMovement,
    Field,
    OnHand,
    PosItem,
    Product,
    StockMovement,
    StockPlace,
    Value,
    Warehouse,
)
from shared.canonical.settlement import Deposit, SettledTransaction, Ticket
from shared.canonical.workers import Worker
from shared.errors import FatalError
from shared.heartland.gp_models import Transaction
from shared.heartland.payroll_models import PayrollEmployee
from shared.messaging.messages import OutgoingMessage, ReceivedMessage
from shared.storage.entities import Condition, Entity, Operation

if TYPE_CHECKING:  # the services every flow shares, built over the ports below
    from shared.customers.profiles import CustomerBook
    from shared.mapping.schema import MappingConfig
    from shared.ops.alerts import Notifier
    from shared.ops.deadletters import DeadLetters
    from shared.settings import Settings
    from shared.storage.audit import AuditTrail
    from shared.storage.idempotency import IdempotencyKeys
    from shared.workflow.rules import Rules

# Storage and bus -----------------------------------------------------------------------------------------------


class Table(Protocol):
    """A table. Every method is safe to call from several threads and processes at once."""

    name: str

    def get(self, partition_key: str, row_key: str) -> Entity | None:
        """The row, or None when absent."""
        ...

    def get_many(self, partition_key: str, row_keys: Sequence[str]) -> dict[str, Entity]:
        """The rows of one partition present among ``row_keys``, by RowKey, read in as few requests as the
        store allows."""
        ...

    def insert(self, entity: Entity) -> Entity:
        """Insert if absent (the atomic claim-once primitive).

        Raises:
            EntityExists: a row with the same keys is already stored.
        """
        ...

    def upsert(self, entity: Entity, *, etag: str | None = None) -> Entity:
        """Insert or replace. With ``etag``, replace only the row still carrying that ETag.

        Raises:
            PreconditionFailed: ``etag`` was given and the stored row's ETag differs.
            EntityNotFound: ``etag`` was given and the row no longer exists.
        """
        ...

    def delete(self, partition_key: str, row_key: str, *, etag: str | None = None) -> None:
        """Delete; a missing row is not an error unless ``etag`` was given.

        Raises:
            PreconditionFailed: ``etag`` was given and the stored row's ETag differs.
            EntityNotFound: ``etag`` was given and the row no longer exists.
        """
        ...

    def query(self, partition_key: str, where: Sequence[Condition] = ()) -> Iterator[Entity]:
        """Rows of one partition matching every condition, in RowKey order."""
        ...

    def submit(self, operations: Sequence[Operation]) -> list[Entity | None]:
        """Apply up to ``MAX_BATCH`` operations on one partition atomically: all or none.

        Returns one result per operation (the stored row, or None for a delete).

        Raises:
            ValueError: more than ``MAX_BATCH`` operations, mixed partitions or a row addressed twice.
            BatchError: an operation failed; nothing was applied. A delete of a missing row fails the
                batch (``EntityNotFound``): Table Storage cannot express delete-if-present in a transaction.
        """
        ...


class TableStore(Protocol):
    """Hands out tables by name, creating them on first use."""

    def table(self, name: str) -> Table: ...

    def together(self) -> AbstractContextManager[None]:
        """The calling thread's writes in the block are committed together at its end where the store can
        (one SQLite transaction); where it cannot (Azure), each is committed as it is made. Either way
        nothing is answered as durable before the block has ended."""
        ...

    def close(self) -> None: ...


class MessageSender(Protocol):
    """Puts messages on named queues, and takes back what the bus itself dead-lettered."""

    def send(self, queue: str, messages: Sequence[OutgoingMessage]) -> None:
        """Send; a message whose id was seen within the duplicate-detection window is dropped silently."""
        ...

    def sweep_dead_letters(self, queue: str, park: Callable[[ReceivedMessage], None], *,
                           max_messages: int = 100) -> int:
        """Hand each message of ``queue``'s dead-letter sub-queue to ``park``, then remove it.

        A message ``park`` raises on stays where it is for the next sweep. Returns how many moved.
        """
        ...

    def close(self) -> None: ...


# The ERP --------------------------------------------------------------------------------------------------------


class PaymentLedger(Protocol):
    """Where a canonical payment lands in the ERP (the customer ledger), found again by its external key."""

    def find(self, external_keys: Collection[str]) -> dict[str, str]:
        """The ERP's reference of each of ``external_keys`` that was posted; absent keys are left out.

        Asked after an uncertain outcome, before writing again: a few requests for a whole micro-batch, so a
        throttled ERP is asked little while it recovers.
        """
        ...

    def post(self, payments: Sequence[Payment]) -> Mapping[str, str | FatalError]:
        """Post the payments together, in one journal where the ERP has them, each under its external key.

        Returns, per external key, the ERP's reference, or the ``FatalError`` that refused that payment alone
        (an unknown order, an unmapped card brand); the others are posted.

        Raises:
            PermanentApiError: the ERP refused the journal as a whole; nothing was posted. Posting the
                payments one by one tells which of them the ERP refuses.
            RetriableError: throttled or unavailable (nothing was posted), or ``UncertainOutcome``.
        """
        ...


class JournalLedger(Protocol):
    """Where settlement journals land (F&O, Business Central, or the table ledger)."""

    max_lines: int
    """The most lines one journal may hold on this ERP; the mapping's line limit is capped by it."""

    def find_journal(self, external_key: str) -> str | None:
        """The ERP's document id of the journal carrying ``external_key``, or None."""
        ...

    def create_journal(self, journal: Journal) -> str:
        """Create header and lines atomically; returns the ERP's document id."""
        ...

    def post_journal(self, document_id: str) -> None: ...

    def exchange_rate(self, currency: str, base_currency: str, on: date) -> Decimal: ...


class OrderSource(Protocol):
    """Reads sales orders of one company of one ERP and writes the payment result back."""

    erp: Erp

    @property
    def company(self) -> str:
        """The company (F&O legal entity, BC company id) in lower case, as order keys carry it."""
        ...

    def read(self, reference: str) -> Order | None:
        """The validated order (None when it no longer exists).

        Raises:
            FatalError: the order cannot be charged (customer missing or on hold, no lines, bad total,
                currency); an ERP 4xx.
            RetriableError: the ERP was throttled or unavailable.
        """
        ...

    def write_result(self, order: Order, text: str) -> bool:
        """Write the payment result onto the order; False when the ERP has no field for it."""
        ...

    def changed(self, odata_filter: str) -> Iterator[tuple[str, str]]:
        """``(order id, last modified)`` of each order an OData ``$filter`` selects (a BC collection
        notification, a catch-up after a lost subscription).

        Raises:
            FatalError: the ERP has no such query (F&O notifies orders one by one).
        """
        ...


@dataclass(frozen=True)
class SubscriptionState:
    """What ``OrderSubscriptions.ensure`` did and the subscription as the ERP now holds it.

    ``lost_since`` is set when a subscription hl365 made had disappeared from the ERP: changes made
    after that moment may never have been notified.
    """

    action: Literal["created", "recreated", "renewed", "updated", "current"]
    subscription_id: str
    expires: datetime
    notification_url: str
    resource: str
    lost_since: datetime | None = None


class OrderSubscriptions(Protocol):
    """The ERP's webhook subscription to order changes, kept alive (Business Central's expire in 3 days)."""

    notification_url: str

    def ensure(self) -> SubscriptionState: ...


# Heartland ------------------------------------------------------------------------------------------------------


class Gateway(Protocol):
    """The card gateway (GP API): charges stored payment methods and lists transactions."""

    def charge(self, amount: Money, *, reference: str, token: str, capture: bool = True,
               idempotency_key: str) -> Transaction:
        """Charge (``capture``) or authorise a stored payment method once per ``idempotency_key``.

        Raises:
            DuplicateAction: the gateway saw the key before without saying which transaction it made.
        """
        ...

    def find_transactions(self, **filters: Any) -> list[Transaction]:
        """Every transaction matching the gateway's search filters (``reference=...``)."""
        ...

    def iter_transactions(self, **filters: Any) -> Iterator[Transaction]:
        """Transactions matching the filters (``from_time_created``, ``to_time_created``...), oldest first."""
        ...


class SettlementSource(Protocol):
    """The processor's view of the day (GP API settlement reports)."""

    def settled(self, business_date: date) -> Iterator[SettledTransaction]: ...

    def deposits(self, date_from: date, date_to: date) -> Iterator[Deposit]: ...


class TicketSource(Protocol):
    """The POS's view of the day (Heartland Retail tickets)."""

    def tickets(self, business_date: date) -> Iterator[Ticket]: ...


# Catalogue and stock (U6) --------------------------------------------------------------------------------------


class StockLevels(Protocol):
    """Stock one side can promise; ``kind`` (``pos``, ``fo``, ``bc``) says which name of a place it reads."""

    @property
    def kind(self) -> str: ...

    def available(self, item_number: str, place: StockPlace) -> Decimal:
        """On hand less reserved or committed, of one item at one place (0 where it holds none)."""
        ...


class ProductCatalog(StockLevels, Protocol):
    """An ERP's released products and their stock per warehouse (F&O or Business Central), read only."""

    def products(self) -> Iterator[Product]: ...

    def on_hand(self, warehouse: Warehouse) -> Iterator[OnHand]:
        """Stock of every item the warehouse holds (an item without a row holds none)."""
        ...


class PosCatalog(StockLevels, Protocol):
    """The POS's catalogue and its stock per location (Heartland Retail)."""

    @property
    def currency(self) -> str:
        """The account's currency: prices are kept to its minor units."""
        ...

    def items(self) -> Iterator[PosItem]: ...

    def create_item(self, product: Product) -> int:
        """Creates the item for ``product`` (``public_id`` = its item number); returns the new id."""
        ...

    def update_item(self, item_id: int, changes: Mapping[Field, Value]) -> None:
        """Changes only the named fields."""
        ...

    def location_id(self, public_id: str) -> int | None: ...

    def stock(self, location_id: int) -> dict[int, Decimal]:
        """``qty_on_hand`` per item id at one location (an item without a row holds none)."""
        ...

    def sold(self, location_id: int, start: datetime, end: datetime) -> dict[int, Decimal]:
        """Net quantity per item id the tickets completed in ``[start, end)`` took off the shelf (returns count
        back; voided tickets do not count)."""
        ...

    def adjust(self, location_id: int, changes: Mapping[int, Decimal], *, reason_id: int | None, note: str) -> int:
        """Moves stock at one location by ``changes`` (item id → signed whole quantity) in ONE adjustment set,
        applied at once; returns the set's id."""
        ...


class StockJournal(Protocol):
    """Where the POS's daily sales move an ERP's stock (F&O inventory movement journals; Business Central API v2.0
    has no item journal, so it has none). ``DocumentLedger`` of ``StockMovement``s, plus what was booked."""

    def booked(self, key_prefix: str) -> list[BookedMovement]:
        """Every movement whose key starts with ``key_prefix``, oldest first (an empty one is not listed)."""
        ...

    def unposted(self, key_prefix: str) -> list[str]:
        """The keys of movements of ``key_prefix`` the ERP holds but has not posted (whatever their day)."""
        ...

    def find_journal(self, external_key: str) -> str | None: ...

    def create_journal(self, journal: StockMovement) -> str: ...

    def post_journal(self, document_id: str) -> None: ...


class WorkerSource(Protocol):
    """An ERP's workers (F&O employees, Business Central ``employees``), read for payroll."""

    @property
    def kind(self) -> str: ...

    def changes(self, since: datetime | None) -> tuple[list[Worker], datetime | None]:
        """The workers changed since ``since`` (all of them when None, or where the ERP keeps no change time) and
        the checkpoint to ask from next time."""
        ...

    def get(self, number: str) -> Worker | None: ...


class PayrollEmployees(Protocol):
    """Heartland Payroll's employees of one client (its partner POS API)."""

    def employees(self) -> list[PayrollEmployee]: ...

    def add_employee(self, employee: PayrollEmployee) -> str:
        """Returns the new ``EmployeeId``."""
        ...

    def update_employee(self, employee: PayrollEmployee) -> PayrollEmployee: ...

    def terminate_employee(self, employee_id: str, termination_date: date, reason_id: int) -> PayrollEmployee: ...


# What a flow receives -------------------------------------------------------------------------------------------


# Customers --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CustomerChanges:
    """What a source changed since a checkpoint, and the checkpoint to ask from next time."""

    records: list[SourceRecord]
    checkpoint: str | None
    deleted: list[str] = field(default_factory=list)
    """Ids the source deleted: their records leave matching and survivorship; their links stay."""
    complete: str | None = None
    """The origin these records are all of (a full read, not changes): a record of that origin held before and
    missing now was deleted in the source."""


class CustomerSource(Protocol):
    """A system's customers: those changed since an opaque checkpoint (``None``: all of them)."""

    source: str
    """The kind of system: ``pos``, ``erp``, ``crm`` or ``loyalty``."""

    def changes(self, checkpoint: str | None) -> CustomerChanges: ...


class LoyaltyBalances(Protocol):
    def balances(self, alias: str) -> LoyaltyBalance | None:
        """The balances of the loyalty card registered under ``alias`` (a phone number); None when none is."""
        ...


class ErpCustomerFields(Protocol):
    def write(self, account: str, fields: Mapping[str, Decimal]) -> None:
        """Set fields of one ERP customer (the mapping names them)."""
        ...


class PosCustomers(Protocol):
    def get(self, customer_id: int) -> SourceRecord | None:
        """The POS customer as it is now; None when it no longer exists."""
        ...


class Ports(Protocol):
    """The ports of one process, built by ``shared.wiring`` from the settings; each is built on first use, so
    a flow that never charges a card runs without gateway settings.

    Reaching a port whose settings are missing raises ``ConfigError``.
    """

    @property
    def settings(self) -> Settings: ...

    @property
    def mapping(self) -> MappingConfig:
        """The mapping as the file says now: a fixed mapping serves the next message (a replay)."""
        ...

    @property
    def rules(self) -> Rules:
        """The workflow rules as ``HL365_RULES_FILE`` says now (none when it is not set).

        Raises:
            RulesError: the file has problems; events wait until it is fixed.
        """
        ...

    @property
    def tables(self) -> TableStore: ...

    @property
    def stores_local(self) -> bool:
        """Tables and bus are files on this machine (SQLite): a write takes microseconds and never waits on a
        network, so an event loop may make it itself."""
        ...

    @property
    def bus(self) -> MessageSender: ...

    @property
    def keys(self) -> IdempotencyKeys: ...

    @property
    def audit(self) -> AuditTrail: ...

    @property
    def dead_letters(self) -> DeadLetters: ...

    @property
    def alerts(self) -> Notifier: ...

    @property
    def ledger(self) -> PaymentLedger: ...

    @property
    def journal_ledger(self) -> JournalLedger: ...

    @property
    def gateway(self) -> Gateway: ...

    @property
    def settlement_source(self) -> SettlementSource: ...

    @property
    def ticket_source(self) -> TicketSource: ...

    def orders(self, erp: str) -> OrderSource:
        """The orders of ``erp`` (``fo`` or ``bc``).

        Raises:
            FatalError: ``erp`` is neither.
            ConfigError: its connection is not configured.
        """
        ...

    def catalog(self, erp: str) -> ProductCatalog:
        """The products and stock of ``erp`` (``fo`` or ``bc``).

        Raises:
            FatalError: ``erp`` is neither.
            ConfigError: its connection is not configured.
        """
        ...

    @property
    def pos_catalog(self) -> PosCatalog: ...

    def workers(self, erp: str) -> WorkerSource:
        """``erp``'s workers. Raises ``FatalError`` for an unknown ERP, ``ConfigError`` when it is not configured."""
        ...

    @property
    def payroll_employees(self) -> PayrollEmployees:
        """Heartland Payroll. Raises ``ConfigError`` when ``HEARTLAND_PAYROLL_*`` are not set."""
        ...

    def stock_journal(self, erp: str) -> StockJournal | None:
        """Where the POS's sales are booked into ``erp``'s stock; None where that ERP's API cannot take them."""
        ...

    def customer_sources(self, erp: str | None) -> dict[str, CustomerSource]:
        """Every configured system holding customers, by a name its checkpoint is kept under: the POS (when
        ``RETAIL_API_URL`` is set), the ERP ``erp`` (``fo``, ``bc``, or None for none), and the CRM's contacts
        and accounts when ``D365_DATAVERSE_URL`` is set."""
        ...

    @property
    def pos_customers(self) -> PosCustomers: ...

    @property
    def loyalty(self) -> LoyaltyBalances | None:
        """Portico's gift and loyalty cards, or None when ``PORTICO_URL`` is not set."""
        ...

    def erp_customer_fields(self, erp: str) -> ErpCustomerFields | None:
        """Where loyalty balances are written in ``erp``; None where its API has no field for them."""
        ...

    @property
    def customers(self) -> CustomerBook: ...

    def order_subscriptions(self, clock: Callable[[], datetime]) -> OrderSubscriptions:
        """The ERP's order-change subscription, addressed to this deployment's BC webhook.

        Raises:
            ConfigError: ``HL365_PUBLIC_URL`` or ``BC_WEBHOOK_CLIENT_STATE`` is not set.
        """
        ...
