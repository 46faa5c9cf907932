"""The Business Central simulator as tests and the demo drive it: its options, its seed data, and a
Python-side API to seed records, move the clock and read the ground truth.
"""

from __future__ import annotations

from collections import deque
from dataclasses import asdict, dataclass, fields
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sandbox.simulators.base import Clock
from sandbox.simulators.bc.api import RESOURCE, HttpApi, api_root
from sandbox.simulators.bc.books import Books
from sandbox.simulators.bc.errors import BcError
from sandbox.simulators.bc.schema import SETS
from sandbox.simulators.bc.store import Company, Record, Store, iso
from sandbox.simulators.bc.webhooks import Webhooks
from sandbox.simulators.entra import Directory

DEFAULT_TENANT = "00000000-0000-0000-0000-000000000365"


@dataclass(frozen=True)
class Options:
    """Every knob of the simulator; the defaults are Business Central online's documented values.

    Durations are seconds (``float``) or ``timedelta``. Tests shorten ``notification_delay`` (30 s in BC),
    ``notification_retry_interval`` and ``token_lifetime``.
    """

    tenant: str = DEFAULT_TENANT
    environment: str = "production"
    client_id: str = "hl365-local-client"
    client_secret: str = "hl365-local-secret"  # noqa: S105 - the sandbox's documented local secret
    token_lifetime: float = 3599.0
    max_page_size: int = 20_000
    max_batch_operations: int = 100
    requests_per_minute: int | None = None
    notification_delay: float = 30.0
    collection_threshold: int = 1000
    handshake_timeout: float = 5.0
    notification_timeout: float = 10.0
    notification_retry_interval: float = 60.0
    notification_retry_period: timedelta = timedelta(hours=36)
    subscription_lifetime: timedelta = timedelta(days=3)
    max_subscriptions: int = 200
    post_payment_journals_via_journals: bool = True
    """``journals({customerPaymentJournalId})/Microsoft.NAV.post`` posts a customer-payment batch (unverified in BC)."""
    demo_data: bool = True
    company_name: str = "CRONUS USA, Inc."
    start: datetime | None = None

    def __post_init__(self) -> None:
        for name in ("notification_retry_period", "subscription_lifetime"):
            value = getattr(self, name)
            if not isinstance(value, timedelta):
                object.__setattr__(self, name, timedelta(seconds=float(value)))

    @classmethod
    def known(cls) -> set[str]:
        return {f.name for f in fields(cls)}


DEMO_ACCOUNTS = [
    ("1000", "BALANCE SHEET", "Assets", "Heading", False),
    ("10100", "Checking account", "Assets", "Posting", True),
    ("10200", "Savings account", "Assets", "Posting", True),
    ("13100", "Accounts Receivable", "Assets", "Posting", False),
    ("2910", "Card clearing", "Assets", "Posting", True),
    ("2920", "Gift card liability", "Liabilities", "Posting", True),
    ("22500", "Sales Tax Payable", "Liabilities", "Posting", True),
    ("22600", "Tips Payable", "Liabilities", "Posting", True),
    ("23100", "Payroll Liabilities", "Liabilities", "Posting", True),
    ("40100", "Sales, Retail", "Income", "Posting", True),
    ("40300", "Discounts Granted", "Income", "Posting", True),
    ("40400", "Sales Returns", "Income", "Posting", True),
    ("60100", "Salaries", "Expense", "Posting", True),
    ("60200", "Benefits", "Expense", "Posting", True),
    ("60300", "Payroll Taxes", "Expense", "Posting", True),
    ("8620", "Card fees", "Expense", "Posting", True),
]
DEMO_CUSTOMERS = [("10000", "Adatum Corporation"), ("20000", "Trey Research"), ("30000", "School of Fine Art"),
                  ("40000", "Alpine Ski House"), ("50000", "Relecloud")]
DEMO_ITEMS = [("1896-S", "ATHENS Desk", "1000.80", "780.70", "012345678905"),
              ("1900-S", "PARIS Guest Chair, black", "192.80", "150.40", "036000291452"),
              ("1906-S", "ATHENS Mobile Pedestal", "281.40", "219.50", ""),
              ("1908-S", "LONDON Swivel Chair, blue", "190.10", "148.30", "")]
DEMO_PAYMENT_METHODS = [("CASH", "Cash"), ("CHECK", "Check"), ("CARD", "Card payment"), ("GIFTCARD", "Gift card")]


class BusinessCentral(HttpApi):
    """The simulated Business Central environment (the ``Simulated`` part of a ``SimulatorApp``)."""

    name = "bc"

    def __init__(self, options: Options | None = None, *, seed: int = 0) -> None:
        self.options = options or Options()
        self.seed = seed
        self.store = Books(seed=seed, clock=Clock(self.options.start))
        self.webhooks = Webhooks(self.store, self.options)
        self.directory = Directory(self.options.tenant, resources=lambda _base: [RESOURCE],
                                   clock=lambda: self.store.clock.now().timestamp(),
                                   token_lifetime=self.options.token_lifetime)
        self.directory.register(self.options.client_id, secret=self.options.client_secret)
        self._calls: deque[float] = deque()
        if self.options.demo_data:
            self.add_company(self.options.company_name, demo_data=True)

    # -- Python-side API: identity and time --------------------------------------------------------------------

    def fault_answer(self, status: int, retry_after: float) -> tuple[dict[str, Any], dict[str, str]]:
        """Business Central's error body; ``Retry-After`` comes with 429, 502 and 503, not with 504."""
        codes = {429: ("Application_TooManyRequests", "The request was throttled: too many requests. Try again "
                       "later."),
                 502: ("BadGateway", "The service is temporarily unavailable. Try again later."),
                 503: ("Unavailable", "The request waited too long in the queue. Try again later."),
                 504: ("RequestTimeout", "The operation did not complete within the time allowed.")}
        code, message = codes.get(status, ("InternalServerError", "An unexpected error occurred."))
        headers = {"Retry-After": str(max(1, round(retry_after)))} if status in (429, 502, 503) else {}
        return {"error": {"code": code, "message": message}}, headers

    @property
    def company_id(self) -> str:
        """The first company's id (the demo company unless ``demo_data=False``)."""
        if not self.store.companies:
            raise LookupError("the simulator has no company; call add_company first")
        return next(iter(self.store.companies))

    def api_root(self, base_url: str) -> str:
        """The API root for a server at ``base_url``: ``{base}/v2.0/{tenant}/{environment}/api/v2.0``."""
        return api_root(base_url, self.options.tenant, self.options.environment)

    @property
    def tokens_issued(self) -> int:
        return self.directory.tokens_issued

    def now(self) -> datetime:
        return self.store.clock.now()

    def advance(self, delta: timedelta | float) -> None:
        """Move the simulated clock: tokens and subscriptions expire by it."""
        self.store.clock.advance(delta if isinstance(delta, timedelta) else timedelta(seconds=delta))
        self.webhooks.purge_expired()

    def flush_notifications(self) -> None:
        """Send every pending notification now, without waiting for the debounce window."""
        self.webhooks.tick(force=True)

    def close(self) -> None:
        self.webhooks.close()

    # -- Python-side API: seeding ------------------------------------------------------------------------------

    def _company(self, company_id: str | None) -> Company:
        return self.store.company(company_id)

    def _apply(self, action: Any) -> Any:
        with self.store.lock, self.store.atomic():
            result = action()
        self.webhooks.publish(self.store.take_changes())
        return result

    def _create(self, set_name: str, body: dict[str, Any], company_id: str | None, **internal: Any) -> Record:
        company = self._company(company_id)

        def act() -> Record:
            record = self.store.create(company, SETS[set_name], body)
            if internal:
                record.update(internal)
            return record

        return dict(self._apply(act))

    def add_company(self, name: str, *, display_name: str | None = None, demo_data: bool = False) -> str:
        """A new company (and, with ``demo_data``, a CRONUS-like chart, customers, items and journals)."""
        with self.store.lock:
            company = Company(self.store.new_id(), name, display_name or name, self.store.now())
            self.store.companies[company.id] = company
        if demo_data:
            self._demo(company.id)
        return company.id

    def add_account(self, number: str, display_name: str, *, category: str = "Expense", account_type: str = "Posting",
                    direct_posting: bool = True, blocked: bool = False, company_id: str | None = None) -> Record:
        company = self._company(company_id)

        def act() -> Record:
            if self.store.find(company, "accounts", number=number.upper()):
                raise ValueError(f"G/L account {number} exists already")
            record = {**self.store.defaults(SETS["accounts"]), "id": self.store.new_id(), "number": number.upper(),
                      "displayName": display_name, "category": category, "accountType": account_type,
                      "directPosting": direct_posting, "blocked": blocked}
            return self.store.insert(company, "accounts", record)

        return dict(self._apply(act))

    def add_bank_account(self, number: str, display_name: str, *, gl_account: str = "10100",
                         company_id: str | None = None) -> Record:
        company = self._company(company_id)

        def act() -> Record:
            record = {**self.store.defaults(SETS["bankAccounts"]), "id": self.store.new_id(),
                      "number": number.upper(), "displayName": display_name, "_glAccount": gl_account}
            return self.store.insert(company, "bankAccounts", record)

        return dict(self._apply(act))

    def add_customer(self, number: str, display_name: str, *, receivables_account: str = "13100",
                     company_id: str | None = None, **fields: Any) -> Record:
        return self._create("customers", {"number": number, "displayName": display_name, **fields}, company_id,
                            _receivables=receivables_account)

    def add_item(self, number: str, display_name: str, *, unit_price: Decimal = Decimal(0),
                 inventory: Decimal = Decimal(0), sales_account: str = "40100", company_id: str | None = None,
                 **fields: Any) -> Record:
        """An item (``type`` Inventory unless given, as BC initialises it) with ``inventory`` in stock."""
        return self._create("items", {"number": number, "displayName": display_name, "unitPrice": unit_price,
                                      "type": "Inventory", **fields}, company_id, inventory=inventory,
                            _sales=sales_account)

    def set_inventory(self, number: str, quantity: Decimal, *, company_id: str | None = None) -> Record:
        """An item's stock now, as posting item journals would leave it. ``inventory`` is a FlowField (a sum of
        item ledger entries), so the item's ETag and ``lastModifiedDateTime`` stay as they are."""
        company = self._company(company_id)

        def act() -> Record:
            item = self.store.find(company, "items", number=number.upper())
            if item is None:
                raise ValueError(f"no item {number}")
            return self.store.modify(company, "items", item, {"inventory": Decimal(quantity)}, touch=False)

        return self.store.render(SETS["items"], self._apply(act))

    def add_employee(self, number: str, given_name: str, surname: str, *, employment_date: date | str,
                     company_id: str | None = None, **fields: Any) -> Record:
        """An employee as an HR user enters one (``status`` Active unless given); ``fields`` are API property names
        (``middleName``, ``addressLine1``, ``birthDate``…), validated as a request body is. ``displayName`` is
        "given name surname", as the API page computes it."""
        company = self._company(company_id)
        entity_set = SETS["employees"]

        def act() -> Record:
            values, _ = self.store.coerce(entity_set, _dates({"number": number, "givenName": given_name,
                                                              "surname": surname, "employmentDate": employment_date,
                                                              "status": "Active", **fields}))
            if self.store.find(company, "employees", number=values["number"]) is not None:
                raise ValueError(f"employee {values['number']} exists already")
            record = {**self.store.defaults(entity_set), **values, "id": self.store.new_id()}
            record["displayName"] = _display_name(record)
            return self.store.insert(company, "employees", record)

        return self.store.render(entity_set, self._apply(act))

    def update_employee(self, number: str, *, company_id: str | None = None, **changes: Any) -> Record:
        """Change an employee as an HR user would: a new ETag and ``lastModifiedDateTime``, webhook subscribers
        notified. ``changes`` are API property names (``addressLine1``, ``status``, ``birthDate``…)."""
        company = self._company(company_id)
        entity_set = SETS["employees"]

        def act() -> Record:
            record = self._employee(company, number)
            values, _ = self.store.coerce(entity_set, _dates(changes))
            moved = values.get("number", record["number"])
            if moved != record["number"] and self.store.find(company, "employees", number=moved) is not None:
                raise ValueError(f"employee {moved} exists already")
            values["displayName"] = _display_name({**record, **values})
            return self.store.modify(company, "employees", record, values)

        return self.store.render(entity_set, self._apply(act))

    def terminate_employee(self, number: str, on: date | str, *, company_id: str | None = None) -> Record:
        """Terminate an employee on ``on``: ``status`` Terminated and ``terminationDate``, one change."""
        return self.update_employee(number, company_id=company_id, status="Terminated", terminationDate=on)

    def _employee(self, company: Company, number: str) -> Record:
        record = self.store.find(company, "employees", number=number.upper())
        if record is None:
            raise ValueError(f"no employee {number}")
        return record

    def add_payment_method(self, code: str, display_name: str, *, company_id: str | None = None) -> Record:
        return self._create("paymentMethods", {"code": code, "displayName": display_name}, company_id)

    def add_journal(self, code: str, display_name: str = "", *, customer_payments: bool = False,
                    balancing_account: str | None = None, company_id: str | None = None) -> Record:
        """A general journal batch, or a customer-payment batch; ``balancing_account`` is a G/L or bank number."""
        company = self._company(company_id)
        body: dict[str, Any] = {"code": code, "displayName": display_name}
        if balancing_account:
            account = (self.store.find(company, "accounts", number=balancing_account.upper())
                       or self.store.find(company, "bankAccounts", number=balancing_account.upper()))
            if account is None:
                raise ValueError(f"no G/L or bank account {balancing_account}")
            body["balancingAccountId"] = account["id"]
        return self._create("customerPaymentJournals" if customer_payments else "journals", body, company_id)

    def add_sales_order(self, customer_number: str, lines: list[dict[str, Any]], *, company_id: str | None = None,
                        **fields: Any) -> Record:
        """A draft sales order; ``lines`` use the API's fields (``lineObjectNumber``, ``quantity``, ``unitPrice``)."""
        return self._create("salesOrders", {"customerNumber": customer_number, **fields, "salesOrderLines": lines},
                            company_id)

    def add_sales_invoice(self, customer_number: str, lines: list[dict[str, Any]], *, post: bool = True,
                          company_id: str | None = None, **fields: Any) -> Record:
        """A sales invoice, posted (status Open, remainingAmount = total) unless ``post=False``."""
        company = self._company(company_id)

        def act() -> Record:
            invoice = self.store.create(company, SETS["salesInvoices"],
                                        {"customerNumber": customer_number, **fields, "salesInvoiceLines": lines})
            if post:
                self.store.post_invoice(company, invoice)
            return invoice

        return dict(self._apply(act))

    def update(self, entity_set: str, entity_id: str, changes: dict[str, Any], *,
               company_id: str | None = None) -> Record:
        """Change a record as a BC user would (bumps the ETag, notifies subscribers)."""
        company = self._company(company_id)
        return dict(self._apply(lambda: self.store.update(company, SETS[entity_set],
                                                          self.store.lookup(company, entity_set, entity_id), changes)))

    def _demo(self, company_id: str) -> None:
        for number, name, category, kind, direct in DEMO_ACCOUNTS:
            self.add_account(number, name, category=category, account_type=kind, direct_posting=direct,
                             company_id=company_id)
        self.add_bank_account("CHECKING", "Checking account", gl_account="10100", company_id=company_id)
        self.add_bank_account("SAVINGS", "Savings account", gl_account="10200", company_id=company_id)
        for number, name in DEMO_CUSTOMERS:
            self.add_customer(number, name, company_id=company_id)
        for number, name, price, cost, gtin in DEMO_ITEMS:
            self.add_item(number, name, unit_price=Decimal(price), inventory=Decimal(100), company_id=company_id,
                          unitCost=Decimal(cost), gtin=gtin, baseUnitOfMeasureCode="PCS")
        for code, name in DEMO_PAYMENT_METHODS:
            self.add_payment_method(code, name, company_id=company_id)
        self.add_journal("DEFAULT", "Default Journal Batch", company_id=company_id)
        self.add_journal("PAYMENTS", "Customer payments", customer_payments=True, balancing_account="CHECKING",
                         company_id=company_id)

    # -- Python-side API: reading ------------------------------------------------------------------------------

    def records(self, entity_set: str, *, company_id: str | None = None, **match: Any) -> list[Record]:
        """Rendered records of one set (Decimal amounts), optionally only those whose fields equal ``match``."""
        company = self._company(company_id)
        with self.store.lock:
            rows = [r for r in company.table(entity_set).values() if all(r.get(k) == v for k, v in match.items())]
            return [self.store.render(SETS[entity_set], r) for r in rows]

    def gl_entries(self, *, document_number: str | None = None, company_id: str | None = None) -> list[Record]:
        match = {} if document_number is None else {"documentNumber": document_number}
        return sorted(self.records("generalLedgerEntries", company_id=company_id, **match),
                      key=lambda e: e["entryNumber"])

    def journal_lines(self, journal_code: str, *, company_id: str | None = None) -> list[Record]:
        return sorted(self.records("journalLines", company_id=company_id, journalDisplayName=journal_code.upper()),
                      key=lambda line: line["lineNumber"])

    def account_balance(self, number: str, *, company_id: str | None = None) -> Decimal:
        """The net change of a G/L account (debits minus credits of every entry posted to it)."""
        return sum((e["debitAmount"] - e["creditAmount"] for e in self.gl_entries(company_id=company_id)
                    if e["accountNumber"] == number.upper()), Decimal(0))

    @property
    def subscriptions(self) -> list[Record]:
        self.webhooks.purge_expired()
        with self.store.lock:
            return [s.render() for s in self.webhooks.subscriptions.values()]

    @property
    def notifications(self) -> list[Record]:
        """Every notification request built so far, with its delivery status and attempts."""
        with self.store.lock:
            return [dict(n) for n in self.webhooks.notifications]

    # -- Simulated protocol ------------------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """JSON ground truth: every company's records, posted journals, subscriptions and notifications.

        ``journals``, ``generalLedgerEntries``, ``customerPayments`` and ``postedJournals`` repeat the
        records that matter most, across companies, for readers that do not want to walk the tables.
        """
        with self.store.lock:
            dump = self.store.dump()
            journals = []
            for company in self.store.companies.values():
                for set_name, line_set in (("journals", "journalLines"),
                                           ("customerPaymentJournals", "customerPayments")):
                    for journal in company.table(set_name).values():
                        lines = self.store.children(company, line_set, "journalId", journal["id"])
                        journals.append({**Store.jsonable(self.store.render(SETS[set_name], journal)),
                                         "companyId": company.id, "template": journal["_template"],
                                         "lines": [Store.jsonable(self.store.render(SETS[line_set], r))
                                                   for r in lines]})
            flat = {name: [Store.jsonable({**self.store.render(SETS[name], r), "companyId": c.id})
                           for c in self.store.companies.values() for r in c.table(name).values()]
                    for name in ("generalLedgerEntries", "customerPayments", "salesInvoices")}
            return {"now": iso(self.now()), "tenant": self.options.tenant, "environment": self.options.environment,
                    **dump, **self.webhooks.dump(), "tokensIssued": self.tokens_issued, "journals": journals,
                    "postedJournals": dump["posted"], **flat,
                    "options": Store.jsonable({k: str(v) if isinstance(v, timedelta | datetime) else v
                                               for k, v in asdict(self.options).items()})}

    def restore(self, state: dict[str, Any]) -> None:
        self.store.load(state)
        self.webhooks.load(state)


def _dates(values: dict[str, Any]) -> dict[str, Any]:
    """Python dates as the API's ``Edm.Date`` text."""
    return {k: v.isoformat() if isinstance(v, date) and not isinstance(v, datetime) else v for k, v in values.items()}


def _display_name(record: Record) -> str:
    return f"{record.get('givenName') or ''} {record.get('surname') or ''}"


def make(seed: int = 0, **options: Any) -> BusinessCentral:
    unknown = set(options) - Options.known()
    if unknown:
        raise TypeError(f"unknown Business Central simulator option(s): {', '.join(sorted(unknown))}")
    return BusinessCentral(Options(**options), seed=seed)


__all__ = ["BcError", "BusinessCentral", "Options", "make"]
