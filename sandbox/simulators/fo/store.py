"""The simulated F&O database: rows per entity set, number sequences, business rules and posting.

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

from sandbox.simulators.fo.model import (
    ENUMS,
    HEADER_SETS,
    JOURNAL_TYPES,
    LINE_SETS,
    NAMESPACE,
    SPECS,
    WRITE_EXCEPTION,
    EntitySpec,
)
from sandbox.simulators.odata_filter import ODataQueryError, coerce

Key = tuple[Any, ...]
Row = dict[str, Any]
EventSink = Callable[[str, str, dict[str, Any]], None]

SHARED_CHART = "Shared"
ACCOUNT_STRUCTURE = ("MainAccount", "BusinessUnit", "Department", "CostCenter")
_STACK = ("   at Microsoft.Dynamics.Platform.Integration.Services.OData.Update.UpdateProcessor.{op}_Save("
          "ChangeOperationContext context)\r\n   at Microsoft.Dynamics.Platform.Integration.Services.OData.Update."
          "ChangeInterceptor.{op}()")


class FoFailure(Exception):
    """An OData error answer: HTTP ``status`` with ``{"error": {"code", "message", "innererror"?}}``."""

    def __init__(self, status: int, message: str, *, inner: dict[str, str] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(inner["message"] if inner else message)
        self.status = status
        self.message = message
        self.inner = inner
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": "", "message": self.message}
        if self.inner is not None:
            error["innererror"] = self.inner
        return {"error": error}


def write_failure(spec: EntitySpec, messages: list[str], *, op: str = "CreateEntity") -> FoFailure:
    """The 500 F&O answers when validateField/validateWrite/insert fails: the Infolog in ``innererror``."""
    text = f"Write failed for table row of type '{spec.entity}'. Infolog: " + "; ".join(messages) + "."
    return FoFailure(500, "An error has occurred.", inner={"message": text, "type": WRITE_EXCEPTION,
                                                            "stacktrace": _STACK.format(op=op)})


def action_failure(messages: list[str]) -> FoFailure:
    """The 500 of an X++ action that threw: the Infolog is all a caller gets."""
    return FoFailure(500, "An error has occurred.", inner={
        "message": "Infolog: " + "; ".join(messages) + ".", "type": "Microsoft.Dynamics.Ax.Xpp.ErrorException",
        "stacktrace": "   at Dynamics.AX.Application.LedgerJournalPost.run()"})


def bad_request(message: str) -> FoFailure:
    return FoFailure(400, message)


def not_found(what: str) -> FoFailure:
    return FoFailure(404, f"Resource not found for the segment '{what}'.")


def split_segments(value: str) -> list[str]:
    """A display value's segments: ``-`` separates them, ``\\-`` is a hyphen inside one (``US\\-027``)."""
    segments, current, index = [], [], 0
    while index < len(value):
        char = value[index]
        if char == "\\" and index + 1 < len(value):
            current.append(value[index + 1])
            index += 2
            continue
        if char == "-":
            segments.append("".join(current))
            current = []
        else:
            current.append(char)
        index += 1
    segments.append("".join(current))
    return segments


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
        self._rules: dict[str, Callable[[str, Row, Row | None], None]] = {
            "LedgerJournalHeaders": self._header_rules, "CustomerPaymentJournalHeaders": self._header_rules,
            "LedgerJournalLines": self._line_rules, "CustomerPaymentJournalLines": self._line_rules,
            "CustomersV3": self._customer_rules, "SalesOrderHeadersV2": self._order_rules,
            "SalesOrderLines": self._order_line_rules, "ExchangeRates": self._rate_rules,
        }

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
        return tuple(_fold(values.get(k)) for k in spec.keys)

    def get(self, set_name: str, values: Mapping[str, Any]) -> Row | None:
        return self.tables[set_name].get(self.key_of(SPECS[set_name], values))

    def lines_of(self, header_set: str, company: str, batch: str) -> list[Row]:
        line_set = HEADER_SETS[header_set]
        keys = self.children.get((line_set, _fold(company), _fold(batch)), {})
        rows = [self.tables[line_set][k] for k in keys]
        return sorted(rows, key=lambda r: r["LineNumber"])

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
            row: Row = {name: spec.default(name) for name in spec.properties}
            row.update(values)
            if spec.company:
                row["dataAreaId"] = self._company_of(spec, row)
            rule = self._rules.get(set_name)
            if rule is not None:
                rule(set_name, row, None)
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
            rule = self._rules.get(set_name)
            if rule is not None:
                rule(set_name, row, old)
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
                    raise write_failure(spec, [self._posted_text(old)], op="DeleteEntity")
                for line in self.lines_of(set_name, old["dataAreaId"], old["JournalBatchNumber"]):
                    self._put(HEADER_SETS[set_name], self.key_of(SPECS[HEADER_SETS[set_name]], line), None)
            if set_name in LINE_SETS:
                header = self._header_of(set_name, old)
                if header is not None and header["IsPosted"] == "Yes":
                    raise write_failure(spec, [self._posted_text(header)], op="DeleteEntity")
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
        for name, value in body.items():
            if trusted and name.startswith("_"):
                result[name] = value  # hidden bookkeeping (posting time, voucher) from a snapshot or seed
                continue
            if "@" in name:
                continue  # instance annotations; @odata.bind is resolved by the service before this
            if name not in spec.properties:
                raise bad_request(f"The property '{name}' does not exist on type '{NAMESPACE}.{spec.entity_type}'. "
                                  "Make sure to only use property names that are defined by the type.")
            if name in spec.read_only and not trusted:
                continue
            try:
                coerced = coerce(value, spec.properties[name], name, spec.members(name))
            except ODataQueryError as exc:
                raise bad_request(str(exc)) from exc
            result[name] = spec.default(name) if coerced is None else coerced
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

    def _journal_exists(self, row: Row) -> bool:
        """Both journal header entities sit on LedgerJournalTable, so a batch number is unique across them."""
        return any(self.get(name, row) is not None for name in HEADER_SETS)

    def _after_write(self, set_name: str, row: Row) -> None:
        if set_name == "LedgerJournalLines":
            header = self._header_of(set_name, row)
            if header is not None:
                debit = credit = Decimal(0)
                for line in self.lines_of("LedgerJournalHeaders", header["dataAreaId"], header["JournalBatchNumber"]):
                    debit += line["DebitAmount"]
                    credit += line["CreditAmount"]
                updated = {**header, "JournalTotalDebit": debit, "JournalTotalCredit": credit,
                           "_v": self._next_version()}
                self._put("LedgerJournalHeaders", self.key_of(SPECS["LedgerJournalHeaders"], updated), updated)

    # -- business rules --------------------------------------------------------------------------------------------
    def _header_of(self, line_set: str, row: Row) -> Row | None:
        return self.get(LINE_SETS[line_set], row)

    @staticmethod
    def _posted_text(header: Row) -> str:
        return f"Error: Journal batch number {header['JournalBatchNumber']} is posted and cannot be changed"

    def _header_rules(self, set_name: str, row: Row, old: Row | None) -> None:
        spec = SPECS[set_name]
        if old is not None and old["IsPosted"] == "Yes":
            raise write_failure(spec, [self._posted_text(old)], op="UpdateEntity")
        company = self.companies[row["dataAreaId"]]
        name = str(row.get("JournalName") or "")
        if not name:
            raise write_failure(spec, ["Warning: Field 'Name' must be filled in",
                                       f"Warning: validateWrite failed on data source '{spec.entity}'"])
        found = company.journal_names.get(name.casefold())
        if found is None or found[1] != JOURNAL_TYPES[set_name]:
            raise write_failure(spec, [f"Warning: The value '{name}' in field 'Name' is not found in the related "
                                       "table 'Journal names'",
                                       f"Warning: validateField failed on field '{spec.entity}.JournalName'"])
        row["JournalName"] = found[0]
        if "AccountingCurrency" in row:
            row["AccountingCurrency"] = company.currency
        if old is None and not row.get("Description"):
            row["Description"] = found[0]
        if old is None:
            row.setdefault("_voucher", "")

    def _line_rules(self, set_name: str, row: Row, old: Row | None) -> None:
        payment = set_name == "CustomerPaymentJournalLines"
        spec = SPECS[set_name]
        op = "CreateEntity" if old is None else "UpdateEntity"
        header = self._header_of(set_name, row)
        if header is None:
            raise write_failure(spec, [f"Warning: The value '{row.get('JournalBatchNumber')}' in field 'Journal batch "
                                       "number' is not found in the related table 'Journal table'",
                                       f"Warning: validateField failed on field '{spec.entity}.JournalBatchNumber'"],
                                op=op)
        if header["IsPosted"] == "Yes":
            raise write_failure(spec, [self._posted_text(header)], op=op)
        row["JournalBatchNumber"] = header["JournalBatchNumber"]
        company = row["dataAreaId"]
        if not row.get("LineNumber"):
            existing = self.lines_of(LINE_SETS[set_name], company, header["JournalBatchNumber"])
            row["LineNumber"] = max((r["LineNumber"] for r in existing), default=Decimal(0)) + 1
        date_field = "TransactionDate" if payment else "TransDate"
        if row[date_field] == spec.default(date_field):
            row[date_field] = self.today().strftime("%Y-%m-%dT12:00:00Z")
        problems: list[str] = []
        if row["DebitAmount"] and row["CreditAmount"]:
            problems.append(f"Error: Line {row['LineNumber']} has both a debit amount and a credit amount; enter the "
                            "amount on one side only")
        if payment:
            self._payment_defaults(row, problems)
        problems += self._resolve(company if not row.get("Company") else str(row["Company"]).lower(),
                                  row["AccountType"], str(row["AccountDisplayValue"]), "Account", spec)
        if str(row["OffsetAccountDisplayValue"]).strip():
            offset_company = str(row.get("OffsetCompany") or company).lower()
            problems += self._resolve(offset_company, row["OffsetAccountType"], str(row["OffsetAccountDisplayValue"]),
                                      "Offset account", spec)
        if not row["CurrencyCode"]:
            row["CurrencyCode"] = self.companies[company].currency
        if str(row["CurrencyCode"]).upper() not in self.currencies:
            problems.append(f"Warning: The value '{row['CurrencyCode']}' in field 'Currency' is not found in the "
                            "related table 'Currencies'")
        else:
            row["CurrencyCode"] = str(row["CurrencyCode"]).upper()
        if problems:
            raise write_failure(spec, problems, op=op)
        if not row["Voucher"]:
            row["Voucher"] = self._voucher(LINE_SETS[set_name], header, per_line=payment)

    def _payment_defaults(self, row: Row, problems: list[str]) -> None:
        company = row["dataAreaId"]
        method_name = str(row.get("PaymentMethodName") or "")
        if method_name:
            method = self.get("CustomerPaymentMethods", {"dataAreaId": company, "Name": method_name})
            if method is None:
                problems.append(f"Warning: The value '{method_name}' in field 'Method of payment' is not found in the "
                                "related table 'Methods of payment - customers'")
            elif not str(row["OffsetAccountDisplayValue"]).strip():
                row["OffsetAccountType"] = method["AccountType"]
                row["OffsetAccountDisplayValue"] = method["PaymentAccountDisplayValue"]
        if row["AccountType"] == "Cust":
            customer = self.get("CustomersV3", {"dataAreaId": company,
                                                "CustomerAccount": split_segments(str(row["AccountDisplayValue"]))[0]})
            if customer is not None:
                row["CustomerName"] = customer["OrganizationName"] or " ".join(
                    p for p in (customer["PersonFirstName"], customer["PersonLastName"]) if p)
                if not row["CurrencyCode"]:
                    row["CurrencyCode"] = customer["SalesCurrencyCode"]

    def _resolve(self, company: str, account_type: str, value: str, label: str, spec: EntitySpec) -> list[str]:
        """Check a display value as F&O's DimensionDynamicAccount does; returns Infolog lines, empty if valid."""
        field_name = "AccountDisplayValue" if label == "Account" else "OffsetAccountDisplayValue"
        invalid = f"Warning: validateField failed on field '{spec.entity}.{field_name}'"
        if not value.strip():
            return [f"Warning: Field '{label}' must be filled in", invalid]
        if company not in self.companies:
            return [f"Error: Company '{company}' does not exist"]
        segments = split_segments(value)
        if account_type == "Ledger":
            main = segments[0]
            if len(segments) > len(ACCOUNT_STRUCTURE):
                return [f"Error: The number of segments in '{value}' exceeds the account structure "
                        f"{'-'.join(ACCOUNT_STRUCTURE)}", invalid]
            account = self.get("MainAccounts", {"ChartOfAccounts": SHARED_CHART, "MainAccountId": main})
            if account is None:
                return [f"Warning: Value '{main}' for dimension 'MainAccount' does not exist", invalid]
            if account["IsSuspended"] == "Yes":
                return [f"Error: Main account {main} is suspended", invalid]
            if account["DoNotAllowManualEntry"] == "Yes":
                return [f"Error: Main account {main} does not allow manual entry", invalid]
            return []
        if account_type in ("Cust", "Bank") and len(segments) > 1:
            return [f"Warning: The value '{segments[0]}' in field '{label}' is not found in the related table "
                    f"'{'Customers' if account_type == 'Cust' else 'Bank accounts'}' (the display value '{value}' has "
                    f"{len(segments)} segments; a hyphen inside an account number is written '\\-')", invalid]
        if account_type == "Cust":
            if self.get("CustomersV3", {"dataAreaId": company, "CustomerAccount": segments[0]}) is None:
                return [f"Warning: The value '{segments[0]}' in field '{label}' is not found in the related table "
                        "'Customers'", invalid]
        elif account_type == "Bank" and segments[0].casefold() not in {
                b.casefold() for b in self.companies[company].bank_accounts}:
            return [f"Warning: The value '{segments[0]}' in field '{label}' is not found in the related table "
                    "'Bank accounts'", invalid]
        return []

    def _voucher(self, header_set: str, header: Row, *, per_line: bool) -> str:
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

    def _customer_rules(self, set_name: str, row: Row, old: Row | None) -> None:
        spec = SPECS[set_name]
        company = self.companies[row["dataAreaId"]]
        group = str(row.get("CustomerGroupId") or "")
        problems = []
        if not group:
            problems.append("Warning: Field 'Customer group' must be filled in")
        elif group.casefold() not in {g.casefold() for g in company.customer_groups}:
            problems += [f"Warning: The value '{group}' in field 'Customer group' is not found in the related table "
                         "'Customer groups'", f"Warning: validateField failed on field '{spec.entity}.CustomerGroupId'"]
        if not row["SalesCurrencyCode"]:
            row["SalesCurrencyCode"] = company.currency
        if str(row["SalesCurrencyCode"]).upper() not in self.currencies:
            problems.append(f"Warning: The value '{row['SalesCurrencyCode']}' in field 'Currency' is not found in the "
                            "related table 'Currencies'")
        if problems:
            raise write_failure(spec, problems, op="CreateEntity" if old is None else "UpdateEntity")
        if old is None and not row["PartyNumber"]:
            self.sequences["PartyNumber"] = self.sequences.get("PartyNumber", 0) + 1
            row["PartyNumber"] = f"{self.sequences['PartyNumber']:09d}"

    def _order_rules(self, set_name: str, row: Row, old: Row | None) -> None:
        spec = SPECS[set_name]
        account = str(row.get("OrderingCustomerAccountNumber") or "")
        customer = self.get("CustomersV3", {"dataAreaId": row["dataAreaId"], "CustomerAccount": account})
        if customer is None:
            raise write_failure(spec, [f"Warning: The value '{account}' in field 'Customer account' is not found in "
                                       "the related table 'Customers'",
                                       f"Warning: validateField failed on field '{spec.entity}."
                                       "OrderingCustomerAccountNumber'"],
                                op="CreateEntity" if old is None else "UpdateEntity")
        row["OrderingCustomerAccountNumber"] = customer["CustomerAccount"]
        row["InvoiceCustomerAccountNumber"] = row["InvoiceCustomerAccountNumber"] or customer["CustomerAccount"]
        row["CurrencyCode"] = row["CurrencyCode"] or customer["SalesCurrencyCode"]
        row["CustomerPaymentMethodName"] = row["CustomerPaymentMethodName"] or customer["PaymentMethod"]

    def _order_line_rules(self, set_name: str, row: Row, old: Row | None) -> None:
        spec = SPECS[set_name]
        op = "CreateEntity" if old is None else "UpdateEntity"
        order = self.get("SalesOrderHeadersV2", row)
        if order is None:
            raise write_failure(spec, [f"Warning: The value '{row.get('SalesOrderNumber')}' in field 'Sales order' "
                                       "is not found in the related table 'Sales orders'"], op=op)
        product = self.get("ReleasedProductsV2", row)
        if product is None:
            raise write_failure(spec, [f"Warning: The value '{row.get('ItemNumber')}' in field 'Item number' is not "
                                       "found in the related table 'Items'"], op=op)
        row["CurrencyCode"] = order["CurrencyCode"]
        row["SalesOrderNumber"] = order["SalesOrderNumber"]
        if not row["SalesPrice"]:
            row["SalesPrice"] = product["SalesPrice"]
        row["SalesUnitSymbol"] = row["SalesUnitSymbol"] or product["SalesUnitSymbol"]
        row["LineDescription"] = row["LineDescription"] or product["SearchName"]
        if not row["LineAmount"]:
            per = row["SalesPriceQuantity"] or Decimal(1)
            row["LineAmount"] = row["OrderedSalesQuantity"] * row["SalesPrice"] / per - row["LineDiscountAmount"]

    def _rate_rules(self, set_name: str, row: Row, old: Row | None) -> None:
        spec = SPECS[set_name]
        problems = [f"Warning: The value '{row[name]}' in field '{name}' is not found in the related table 'Currencies'"
                    for name in ("FromCurrency", "ToCurrency") if str(row[name]).upper() not in self.currencies]
        if row["Rate"] <= 0:
            problems.append("Error: The exchange rate must be greater than zero")
        if problems:
            raise write_failure(spec, problems, op="CreateEntity" if old is None else "UpdateEntity")
        row["FromCurrency"], row["ToCurrency"] = str(row["FromCurrency"]).upper(), str(row["ToCurrency"]).upper()

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


__all__ = ["ENUMS", "Company", "FoFailure", "Store", "jsonable", "split_segments"]
