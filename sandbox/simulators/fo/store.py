"""The simulated F&O database: rows per entity set, number sequences and vouchers, and posting; the business
rules each write passes are ``rules.py``.

Every write runs inside a transaction with an undo log, so a ``$batch`` changeset is all-or-nothing
(reference §1.5). Number sequences are *not* rolled back, as F&O's non-continuous sequences are not:
a failed changeset leaves a gap in ``JournalBatchNumber``. Business-rule failures raise ``FoFailure``
with the HTTP 500 ``AxODataWriteException`` body and the Infolog text of reference §1.6.
"""

from __future__ import annotations

import base64
import random
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sandbox.simulators.fo.errors import FoFailure, action_failure, bad_request, not_found, write_failure
from sandbox.simulators.fo.model import (
    ENUMS,
    HEADER_SETS,
    INVENTORY_HEADERS,
    INVENTORY_LINES,
    LINE_SETS,
    NAMESPACE,
    SPECS,
    EntitySpec,
)
from sandbox.simulators.fo.rules import RULES, inventory_posted_text, posted_text
from sandbox.simulators.odata import ODataQueryError, coerce

Key = tuple[Any, ...]
Row = dict[str, Any]
EventSink = Callable[[str, str, dict[str, Any]], None]


def _fold(value: Any) -> Any:
    return value.casefold() if isinstance(value, str) else value


def _money(value: Decimal) -> str:
    return format(value.quantize(Decimal("0.01")), "f")


@dataclass
class Company:
    """A legal entity and its set-up that has no entity set of its own here."""

    currency: str
    journal_names: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # folded name → (name, type, series)
    customer_groups: set[str] = field(default_factory=set)
    bank_accounts: set[str] = field(default_factory=set)


class Store:
    """Rows of every simulated entity set plus the set-up they validate against.

    Thread-safe through ``lock`` (an ``RLock``): the HTTP handlers and the Python seeding API share it.
    """

    def __init__(self, *, companies: dict[str, str], default_company: str, seed: int = 0,
                 today: Callable[[], datetime] = lambda: datetime.now(UTC),
                 journal_number_format: str = "{n:05d}") -> None:
        self.lock = threading.RLock()
        self.default_company = default_company.lower()
        self.companies = {c.lower(): Company(currency=cur.upper()) for c, cur in companies.items()}
        self.currencies: set[str] = {"USD", "EUR", "GBP", "CAD", "MXN", "JPY", "AUD", "CHF", "CNY", "DKK"}
        self.currencies |= {c.currency for c in self.companies.values()}
        self.tables: dict[str, dict[Key, Row]] = {name: {} for name in SPECS}
        self.children: dict[tuple[str, Any, Any], dict[Key, None]] = {}
        self.sequences: dict[str, int] = {}
        self.journal_number_format = journal_number_format
        self.version = random.Random(seed).randrange(5_637_144_576, 5_637_999_999)
        self.today = today
        self.on_event: EventSink | None = None
        self._undo: list[tuple[str, Key, Row | None]] | None = None
        self._events: list[tuple[str, str, dict[str, Any]]] = []

    # -- transactions ----------------------------------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All writes inside either all apply or none do; business events go out only on commit."""
        with self.lock:
            if self._undo is not None:
                yield
                return
            self._undo, self._events = [], []
            try:
                yield
            except BaseException:
                for set_name, key, old in reversed(self._undo):
                    self._raw_put(set_name, key, old)
                self._undo, self._events = None, []
                raise
            events, self._undo, self._events = self._events, None, []
            if self.on_event is not None:
                for event in events:
                    self.on_event(*event)

    def emit(self, event_id: str, company: str, payload: dict[str, Any]) -> None:
        """Queue a business event; it is published when the surrounding transaction commits."""
        if self._undo is None:
            if self.on_event is not None:
                self.on_event(event_id, company, payload)
        else:
            self._events.append((event_id, company, payload))

    def _raw_put(self, set_name: str, key: Key, row: Row | None) -> None:
        table = self.tables[set_name]
        parent = self._parent_index(set_name, key)
        if row is None:
            table.pop(key, None)
            if parent is not None:
                self.children.get(parent, {}).pop(key, None)
        else:
            table[key] = row
            if parent is not None:
                self.children.setdefault(parent, {})[key] = None

    def _put(self, set_name: str, key: Key, row: Row | None) -> None:
        if self._undo is not None:
            self._undo.append((set_name, key, self.tables[set_name].get(key)))
        self._raw_put(set_name, key, row)

    @staticmethod
    def _parent_index(set_name: str, key: Key) -> tuple[str, Any, Any] | None:
        """Journal lines are indexed by (set, company, batch) so totals and posting need not scan every line."""
        return (set_name, key[0], key[1]) if set_name in LINE_SETS else None

    # -- reading ---------------------------------------------------------------------------------------------------
    @staticmethod
    def key_of(spec: EntitySpec, values: Mapping[str, Any]) -> Key:
        return tuple([v.casefold() if isinstance(v, str) else v for v in map(values.get, spec.keys)])

    def get(self, set_name: str, values: Mapping[str, Any]) -> Row | None:
        return self.tables[set_name].get(self.key_of(SPECS[set_name], values))

    def lines_of(self, header_set: str, company: str, batch: str) -> list[Row]:
        line_set = HEADER_SETS[header_set]
        keys = self.children.get((line_set, _fold(company), _fold(batch)), {})
        rows = [self.tables[line_set][k] for k in keys]
        return sorted(rows, key=lambda r: r["LineNumber"])

    def header_of(self, line_set: str, row: Row) -> Row | None:
        return self.get(LINE_SETS[line_set], row)

    @staticmethod
    def etag(row: Mapping[str, Any]) -> str:
        """A weak ETag shaped like F&O's (base64 of the row's RecVersion); it changes on every write."""
        return 'W/"' + base64.b64encode(f"'1,{row['_v']}'".encode()).decode() + '"'

    def _next_version(self) -> int:
        self.version += random.Random(self.version).randint(1, 9)
        return self.version

    # -- writing ---------------------------------------------------------------------------------------------------
    def create(self, set_name: str, body: dict[str, Any], *, trusted: bool = False) -> Row:
        """Insert one entity as OData's create does: InitValue, set properties, validate, number sequence, insert.

        ``trusted`` (the Python seeding API) may set read-only properties such as ``IsPosted``.
        """
        spec = SPECS[set_name]
        if not spec.writable and not trusted:
            raise FoFailure(405, f"The entity set '{set_name}' is read-only.")
        values = self.coerce_body(spec, body, trusted=trusted)
        with self.transaction():
            row: Row = dict(spec.initial_row)
            row.update(values)
            if spec.company:
                row["dataAreaId"] = self._company_of(spec, row)
            rule = RULES.get(set_name)
            if rule is not None:
                rule(self, set_name, row, None)
            if spec.sequence and not str(row.get(spec.sequence) or "").strip():
                row[spec.sequence] = self._next_number(spec, row)
            self._check_keys(spec, row)
            key = self.key_of(spec, row)
            if key in self.tables[set_name] or (set_name in HEADER_SETS and self._journal_exists(row)):
                labels = ", ".join(str(row[k]) for k in spec.keys if k != "dataAreaId")
                raise write_failure(spec, [f"Error: Cannot create a record in {spec.table}. "
                                           f"{', '.join(k for k in spec.keys if k != 'dataAreaId')}: {labels}. "
                                           "The record already exists"])
            row["_v"] = self._next_version()
            self._put(set_name, key, row)
            self._after_write(set_name, row)
            return row

    def update(self, set_name: str, values: dict[str, Any], changes: dict[str, Any], *, if_match: str | None = None,
               trusted: bool = False) -> Row:
        """PATCH: validate again with the changes applied; a key cannot change."""
        spec = SPECS[set_name]
        if not spec.writable and not trusted:
            raise FoFailure(405, f"The entity set '{set_name}' is read-only.")
        coerced = self.coerce_body(spec, changes, trusted=trusted)
        with self.transaction():
            old = self._existing(set_name, values, if_match)
            for name in spec.keys:
                if name in coerced and _fold(coerced[name]) != _fold(old[name]):
                    raise bad_request(f"The key property '{name}' cannot be changed.")
            row = {**old, **coerced}
            rule = RULES.get(set_name)
            if rule is not None:
                rule(self, set_name, row, old)
            row["_v"] = self._next_version()
            self._put(set_name, self.key_of(spec, row), row)
            self._after_write(set_name, row)
            return row

    def delete(self, set_name: str, values: dict[str, Any], *, if_match: str | None = None) -> None:
        spec = SPECS[set_name]
        if not spec.writable:
            raise FoFailure(405, f"The entity set '{set_name}' is read-only.")
        with self.transaction():
            old = self._existing(set_name, values, if_match)
            if set_name in HEADER_SETS:
                if old["IsPosted"] == "Yes":
                    raise write_failure(spec, [posted_text(old)], op="DeleteEntity")
                for line in self.lines_of(set_name, old["dataAreaId"], old["JournalBatchNumber"]):
                    self._put(HEADER_SETS[set_name], self.key_of(SPECS[HEADER_SETS[set_name]], line), None)
            if set_name == INVENTORY_HEADERS:
                if old["IsPosted"] == "Yes":
                    raise write_failure(spec, [inventory_posted_text(old)], op="DeleteEntity")
                for line in self.movement_lines(old["dataAreaId"], old["JournalNumber"]):
                    self._put(INVENTORY_LINES, self.key_of(SPECS[INVENTORY_LINES], line), None)
            if set_name in LINE_SETS:
                header = self.header_of(set_name, old)
                if header is not None and header["IsPosted"] == "Yes":
                    raise write_failure(spec, [posted_text(header)], op="DeleteEntity")
            self._put(set_name, self.key_of(spec, old), None)
            self._after_write(set_name, old)

    def _existing(self, set_name: str, values: dict[str, Any], if_match: str | None) -> Row:
        old = self.get(set_name, values)
        if old is None:
            raise not_found(set_name)
        if if_match and if_match.strip() != "*" and if_match.strip() != self.etag(old):
            raise FoFailure(412, "The etag value in the request header does not match with the current etag value "
                                 "of the object.")
        return old

    def coerce_body(self, spec: EntitySpec, body: dict[str, Any], *, trusted: bool = False) -> dict[str, Any]:
        """Typed values of a request body; unknown properties and wrong types are 400s, read-only ones ignored."""
        result: dict[str, Any] = {}
        properties, members, initial = spec.properties, spec.enum_members, spec.initial_row
        for name, value in body.items():
            if trusted and name.startswith("_"):
                result[name] = value  # hidden bookkeeping (posting time, voucher) from a snapshot or seed
                continue
            if "@" in name:
                continue  # instance annotations; @odata.bind is resolved by the service before this
            if name not in properties:
                raise bad_request(f"The property '{name}' does not exist on type '{NAMESPACE}.{spec.entity_type}'. "
                                  "Make sure to only use property names that are defined by the type.")
            if name in spec.read_only and not trusted:
                continue
            try:
                coerced = coerce(value, properties[name], name, members[name])
            except ODataQueryError as exc:
                raise bad_request(str(exc)) from exc
            result[name] = initial[name] if coerced is None else coerced
        return result

    def _company_of(self, spec: EntitySpec, row: Row) -> str:
        company = str(row.get("dataAreaId") or self.default_company).lower()
        if company not in self.companies:
            raise write_failure(spec, [f"Error: Company '{company}' does not exist"])
        return company

    def _check_keys(self, spec: EntitySpec, row: Row) -> None:
        missing = [k for k in spec.keys if row.get(k) in (None, "") and k != spec.sequence and k not in spec.blank_keys]
        if missing:
            raise write_failure(spec, [f"Warning: Field '{name}' must be filled in" for name in missing])

    def _next_number(self, spec: EntitySpec, row: Row) -> str:
        """The next free number; a number consumed by a rolled-back changeset stays consumed (a gap)."""
        company = str(row.get("dataAreaId", ""))
        name = spec.sequence or ""
        counter = f"{company}:{name}"
        while True:
            self.sequences[counter] = self.sequences.get(counter, 0) + 1
            n = self.sequences[counter]
            if name == "JournalBatchNumber":
                candidate = self.journal_number_format.format(n=n, company=company.upper())
            elif name == "CustomerAccount":
                candidate = f"{company[:2].upper()}-{n:03d}"
            elif name == "InventoryLotId":
                candidate = f"{company.upper()}-{n:06d}"
            else:
                candidate = f"{n:06d}"
            probe = {**row, name: candidate}
            if self.key_of(spec, probe) not in self.tables[spec.name] and not (
                    spec.name in HEADER_SETS and self._journal_exists(probe)):
                return candidate

    def voucher(self, header_set: str, header: Row, *, per_line: bool) -> str:
        """General journals use one voucher per journal; payment journals one per line (the journal name decides)."""
        company = self.companies[header["dataAreaId"]]
        series = company.journal_names.get(str(header["JournalName"]).casefold(), ("", "", "VCH"))[2]
        if header.get("_voucher") and not per_line:
            return str(header["_voucher"])
        counter = f"{header['dataAreaId']}:Voucher:{series}"
        self.sequences[counter] = self.sequences.get(counter, 0) + 1
        voucher = f"{series}{self.sequences[counter]:06d}"
        if not per_line:
            updated = {**header, "_voucher": voucher}
            self._put(header_set, self.key_of(SPECS[header_set], header), updated)
        return voucher

    def _journal_exists(self, row: Row) -> bool:
        """Both journal header entities sit on LedgerJournalTable, so a batch number is unique across them."""
        return any(self.get(name, row) is not None for name in HEADER_SETS)

    def _after_write(self, set_name: str, row: Row) -> None:
        if set_name == "LedgerJournalLines":
            header = self.header_of(set_name, row)
            if header is not None:
                debit = credit = Decimal(0)
                for line in self.lines_of("LedgerJournalHeaders", header["dataAreaId"], header["JournalBatchNumber"]):
                    debit += line["DebitAmount"]
                    credit += line["CreditAmount"]
                updated = {**header, "JournalTotalDebit": debit, "JournalTotalCredit": credit,
                           "_v": self._next_version()}
                self._put("LedgerJournalHeaders", self.key_of(SPECS["LedgerJournalHeaders"], updated), updated)

    # -- posting ---------------------------------------------------------------------------------------------------
    def post(self, header_set: str, values: dict[str, Any]) -> Row:
        """Post a journal: only a balanced one (debits = credits per currency, offset lines balance themselves)."""
        with self.transaction():
            header = self.get(header_set, values)
            if header is None:
                raise not_found(header_set)
            batch = header["JournalBatchNumber"]
            if header["IsPosted"] == "Yes":
                raise action_failure([f"Error: Journal batch number {batch} is already posted"])
            lines = self.lines_of(header_set, header["dataAreaId"], batch)
            if not lines:
                raise action_failure([f"Error: Journal batch number {batch} has no lines to post"])
            totals = self.balance(lines)
            unbalanced = [f"Error: The transactions in journal {batch} do not balance in currency {currency}: debit "
                          f"{_money(debit)}, credit {_money(credit)}, difference {_money(debit - credit)}"
                          for currency, (debit, credit) in totals.items() if debit != credit]
            if unbalanced:
                raise action_failure([*unbalanced, "Warning: Posting has been canceled"])
            posted = {**header, "IsPosted": "Yes", "_posted_at": self.today().strftime("%Y-%m-%dT%H:%M:%SZ"),
                      "_v": self._next_version()}
            self._put(header_set, self.key_of(SPECS[header_set], posted), posted)
            payload: dict[str, Any] = {"JournalBatchNumber": batch, "JournalName": header["JournalName"],
                                       "Description": header["Description"], "LineCount": len(lines)}
            if "IntegrationKey" in header:
                payload["IntegrationKey"] = header["IntegrationKey"]
            event = ("LedgerJournalPostedBusinessEvent" if header_set == "LedgerJournalHeaders"
                     else "CustomerPaymentJournalPostedBusinessEvent")
            self.emit(event, header["dataAreaId"], payload)
            return posted

    def movement_lines(self, company: str, journal: str) -> list[Row]:
        folded = _fold(journal)
        return sorted((r for r in self.tables[INVENTORY_LINES].values()
                       if r["dataAreaId"] == company and _fold(r["JournalNumber"]) == folded),
                      key=lambda r: r["LineNumber"])

    def post_movement(self, values: dict[str, Any]) -> Row:
        """Post an inventory movement journal: each line's quantity lands on the warehouse's on-hand (negative
        physical inventory allowed, as retail item model groups usually allow it)."""
        with self.transaction():
            header = self.get(INVENTORY_HEADERS, values)
            if header is None:
                raise not_found(INVENTORY_HEADERS)
            number, company = header["JournalNumber"], header["dataAreaId"]
            if header["IsPosted"] == "Yes":
                raise action_failure([inventory_posted_text(header)])
            lines = self.movement_lines(company, number)
            if not lines:
                raise action_failure([f"Error: Journal {number} has no lines to post"])
            for line in lines:
                key = {"dataAreaId": company, "ProductVersionId": "",
                       **{name: line[name] for name in ("ItemNumber", "InventorySiteId", "InventoryWarehouseId",
                                                        "ProductColorId", "ProductConfigurationId", "ProductSizeId",
                                                        "ProductStyleId")}}
                quantity = line["InventoryQuantity"]
                on_hand = self.get("WarehousesOnHandV2", key)
                if on_hand is None:
                    product = self.get("ReleasedProductsV2", {"dataAreaId": company, "ItemNumber": line["ItemNumber"]})
                    self.create("WarehousesOnHandV2", {**key, "OnHandQuantity": quantity,
                                                       "AvailableOnHandQuantity": quantity,
                                                       "TotalAvailableQuantity": quantity,
                                                       "ProductName": product["ProductName"] if product else ""},
                                trusted=True)
                    continue
                self.update("WarehousesOnHandV2", key, {
                    "OnHandQuantity": on_hand["OnHandQuantity"] + quantity,
                    "AvailableOnHandQuantity": on_hand["AvailableOnHandQuantity"] + quantity,
                    "TotalAvailableQuantity": on_hand["TotalAvailableQuantity"] + quantity}, trusted=True)
            posted = {**header, "IsPosted": "Yes", "PostedDateTime": self.today().strftime("%Y-%m-%dT%H:%M:%SZ"),
                      "_v": self._next_version()}
            self._put(INVENTORY_HEADERS, self.key_of(SPECS[INVENTORY_HEADERS], posted), posted)
            return posted

    @staticmethod
    def balance(lines: list[Row]) -> dict[str, tuple[Decimal, Decimal]]:
        """Debit and credit per currency; a line with an offset account adds the same amount to both sides."""
        totals: dict[str, tuple[Decimal, Decimal]] = {}
        for line in lines:
            debit, credit = totals.get(line["CurrencyCode"], (Decimal(0), Decimal(0)))
            amount_debit, amount_credit = line["DebitAmount"], line["CreditAmount"]
            if str(line["OffsetAccountDisplayValue"]).strip():
                amount_debit = amount_credit = amount_debit + amount_credit
            totals[line["CurrencyCode"]] = (debit + amount_debit, credit + amount_credit)
        return totals

    # -- ground truth ----------------------------------------------------------------------------------------------
    def dump(self) -> dict[str, Any]:
        """Everything ``restore`` needs, JSON-able (Decimal as text)."""
        return {
            "default_company": self.default_company,
            "companies": {name: {"currency": c.currency, "journal_names": [list(v) for v in c.journal_names.values()],
                                 "customer_groups": sorted(c.customer_groups),
                                 "bank_accounts": sorted(c.bank_accounts)}
                          for name, c in self.companies.items()},
            "currencies": sorted(self.currencies),
            "sequences": dict(self.sequences),
            "version": self.version,
            "entities": {name: [jsonable(row) for row in table.values()] for name, table in self.tables.items()},
        }

    def load(self, state: dict[str, Any]) -> None:
        with self.lock:
            self.default_company = state.get("default_company", self.default_company)
            self.companies = {}
            for name, data in state.get("companies", {}).items():
                company = Company(currency=data["currency"], customer_groups=set(data.get("customer_groups", [])),
                                  bank_accounts=set(data.get("bank_accounts", [])))
                for journal_name, journal_type, series in data.get("journal_names", []):
                    company.journal_names[journal_name.casefold()] = (journal_name, journal_type, series)
                self.companies[name] = company
            self.currencies = set(state.get("currencies", self.currencies))
            self.sequences = dict(state.get("sequences", {}))
            self.version = int(state.get("version", self.version))
            self.tables = {name: {} for name in SPECS}
            self.children = {}
            for name, rows in state.get("entities", {}).items():
                spec = SPECS[name]
                for data in rows:
                    row = {k: (Decimal(v) if spec.properties.get(k) == "Edm.Decimal" else v) for k, v in data.items()}
                    self._raw_put(name, self.key_of(spec, row), row)


def jsonable(row: Row) -> dict[str, Any]:
    """A row with ``Decimal`` as exact text, for ``/_sim/state`` and snapshots."""
    return {k: (format(v, "f") if isinstance(v, Decimal) else v) for k, v in row.items()}


__all__ = ["ENUMS", "Company", "Store", "jsonable"]
