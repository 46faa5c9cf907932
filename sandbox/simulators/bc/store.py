"""Storage of the Business Central simulator: companies, typed records with ETags, an undo log that
gives ``Isolation: snapshot`` batches and failed requests their all-or-nothing effect, and the change
feed webhooks are built from.
"""

from __future__ import annotations

import base64
import random
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sandbox.simulators.base import Clock
from sandbox.simulators.bc.errors import BcError, dialog
from sandbox.simulators.bc.schema import (
    BOOLEAN,
    DATE,
    DATETIME,
    DECIMAL,
    GUID,
    INT32,
    INT64,
    SETS,
    EntitySet,
)

Record = dict[str, Any]
EMPTY_GUID = "00000000-0000-0000-0000-000000000000"
EMPTY_DATE = "0001-01-01"
EMPTY_DATETIME = "0001-01-01T00:00:00Z"
CENT = Decimal("0.01")
MONEY_FIELDS = frozenset({"amount", "discountAmount", "creditLimit"})
"""Amounts in the local currency, rounded to cents when written; prices keep their precision, as in BC."""
_MISSING = object()


def money(value: Decimal) -> Decimal:
    """Rounded as BC rounds amounts in the local currency (0.01, halves away from zero)."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Change:
    """One created/updated/deleted entity, as the webhook feed sees it."""

    company_id: str
    entity_set: str
    entity_id: str
    change_type: str
    at: datetime


@dataclass
class Company:
    id: str
    name: str
    display_name: str
    created: str
    tables: dict[str, dict[str, Record]] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)

    def table(self, name: str) -> dict[str, Record]:
        return self.tables.setdefault(name, {})

    def info(self) -> Record:
        return {"id": self.id, "systemVersion": "25.0.0.0", "timestamp": 0, "name": self.name,
                "displayName": self.display_name, "businessProfileId": "", "systemCreatedAt": self.created,
                "systemCreatedBy": EMPTY_GUID, "systemModifiedAt": self.created, "systemModifiedBy": EMPTY_GUID,
                "_seq": 0, "_v": 1}


class Store:
    """All records of all companies; every mutation goes through a primitive that can be undone."""

    def __init__(self, *, seed: int, clock: Clock) -> None:
        self.lock = threading.RLock()
        self.clock = clock
        self.seed = seed
        self.rng = random.Random(f"bc:{seed}")
        self.companies: dict[str, Company] = {}
        self.changes: list[Change] = []
        self.posted: list[Record] = []
        self._undo: list[Callable[[], object]] = []
        self._depth = 0
        self._seq = 0

    # -- identity and time -------------------------------------------------------------------------------------

    def new_id(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def now(self) -> str:
        return iso(self.clock.now())

    def today(self) -> str:
        return self.clock.today().isoformat()

    # -- transactions ------------------------------------------------------------------------------------------

    @contextmanager
    def atomic(self) -> Iterator[None]:
        """All mutations inside happen together or not at all; nests (an inner failure undoes only its part)."""
        with self.lock:
            savepoint = len(self._undo)
            self._depth += 1
            try:
                yield
            except BaseException:
                self._rollback(savepoint)
                raise
            finally:
                self._depth -= 1
                if self._depth == 0:
                    self._undo.clear()

    def _rollback(self, savepoint: int) -> None:
        while len(self._undo) > savepoint:
            self._undo.pop()()

    def take_changes(self) -> list[Change]:
        """The changes committed since the last call (never those of a transaction still open)."""
        with self.lock:
            if self._depth:
                return []
            changes, self.changes = self.changes, []
            return changes

    # -- primitives --------------------------------------------------------------------------------------------

    def insert(self, company: Company, set_name: str, record: Record, *, notify: bool = True) -> Record:
        table = company.table(set_name)
        self._seq += 1
        record.setdefault("_seq", self._seq)
        record.setdefault("_v", 1)
        if "lastModifiedDateTime" in SETS[set_name].by_name:
            record["lastModifiedDateTime"] = self.now()
        table[record["id"]] = record
        self._undo.append(lambda: table.pop(record["id"], None))
        if notify:
            self.emit(company, set_name, record["id"], "created")
        return record

    def modify(self, company: Company, set_name: str, record: Record, changes: Record, *, touch: bool = True,
               notify: bool = True) -> Record:
        """Apply ``changes``; ``touch`` moves the ETag and lastModifiedDateTime (a FlowField-like change does not)."""
        if touch:
            changes = {**changes, "_v": record.get("_v", 1) + 1}
            if "lastModifiedDateTime" in SETS[set_name].by_name:
                changes["lastModifiedDateTime"] = self.now()
        old = {k: record.get(k, _MISSING) for k in changes}
        record.update(changes)

        def undo() -> None:
            for k, v in old.items():
                if v is _MISSING:
                    record.pop(k, None)
                else:
                    record[k] = v

        self._undo.append(undo)
        if touch and notify:
            self.emit(company, set_name, record["id"], "updated")
        return record

    def remove(self, company: Company, set_name: str, record_id: str, *, notify: bool = True) -> Record:
        table = company.table(set_name)
        record = table.pop(record_id)
        self._undo.append(lambda: table.__setitem__(record_id, record))
        if notify:
            self.emit(company, set_name, record_id, "deleted")
        return record

    def count(self, company: Company, series: str, start: int = 0) -> int:
        """The next number of a number series."""
        counters = company.counters
        previous = counters.get(series, start)
        counters[series] = previous + 1

        def undo() -> None:
            counters[series] = previous

        self._undo.append(undo)
        return previous + 1

    def append(self, items: list[Record], item: Record) -> None:
        items.append(item)
        self._undo.append(items.pop)

    def emit(self, company: Company, set_name: str, record_id: str, change_type: str) -> None:
        if not SETS[set_name].webhooks:
            return
        self.changes.append(Change(company.id, set_name, record_id, change_type, self.clock.now()))
        self._undo.append(self.changes.pop)

    # -- records -----------------------------------------------------------------------------------------------

    def defaults(self, entity_set: EntitySet) -> Record:
        """A new record as BC returns an unset one: empty strings, zeros, the empty GUID and 0001-01-01."""
        empty: dict[str, Any] = {GUID: EMPTY_GUID, DECIMAL: Decimal(0), INT32: 0, INT64: 0, BOOLEAN: False,
                                 DATE: EMPTY_DATE, DATETIME: EMPTY_DATETIME}
        return {p.name: empty.get(p.edm, "") for p in entity_set.props}

    def coerce(self, entity_set: EntitySet, body: Any, *, writable_only: bool = True) -> tuple[Record, Record]:
        """Validate a request body against the entity type: (property values, deep-insert navigation values)."""
        if not isinstance(body, dict):
            raise BcError(400, "BadRequest", "The request body must be a JSON object.")
        values: Record = {}
        navs: Record = {}
        for name, raw in body.items():
            if name.startswith("@odata.") or "@odata." in name:
                continue
            if entity_set.nav(name) is not None:
                navs[name] = raw
                continue
            prop = entity_set.prop(name)
            if prop is None:
                raise BcError(400, "BadRequest",
                              f"The property '{name}' does not exist on type 'Microsoft.NAV.{entity_set.type_name}'. "
                              "Make sure to only use property names that are defined by the type.")
            if prop.name in ("id", "lastModifiedDateTime", entity_set.key):
                continue
            if prop.read_only and writable_only:
                raise dialog(f"The property '{name}' is read-only.")
            values[name] = self.convert(prop.name, prop.edm, raw, max_length=prop.max_length, code=prop.code,
                                        options=prop.options)
        return values, navs

    @staticmethod
    def convert(name: str, edm: str, raw: Any, *, max_length: int | None = None, code: bool = False,
                options: tuple[str, ...] | None = None) -> Any:
        def wrong() -> BcError:
            return BcError(400, "BadRequest", f"Cannot convert the literal '{raw}' to the expected type '{edm}' "
                                              f"of the property '{name}'.")

        if raw is None:
            return None
        if edm == DECIMAL:
            if isinstance(raw, bool) or not isinstance(raw, int | Decimal):
                raise wrong()
            value = Decimal(raw)
            return money(value) if name in MONEY_FIELDS else value
        if edm in (INT32, INT64):
            if isinstance(raw, bool) or not isinstance(raw, int):
                raise wrong()
            return raw
        if edm == BOOLEAN:
            if not isinstance(raw, bool):
                raise wrong()
            return raw
        if not isinstance(raw, str):
            raise wrong()
        try:
            if edm == GUID:
                return str(uuid.UUID(raw))
            if edm == DATE:
                return date.fromisoformat(raw).isoformat()
            if edm == DATETIME:
                return iso(datetime.fromisoformat(raw))
        except ValueError as exc:
            raise wrong() from exc
        if options is not None and raw not in options:
            raise BcError(400, "Unknown", f"'{raw}' is not an option. The existing options are: {','.join(options)}")
        if max_length is not None and len(raw) > max_length:
            raise BcError(400, "Application_StringExceededLength",
                          f"The length of the string is {len(raw)}, but it must be less than or equal to "
                          f"{max_length} characters. Value: {raw}")
        return raw.upper() if code else raw

    @staticmethod
    def etag(record: Record) -> str:
        token = base64.b64encode(f"'{record.get('_seq', 0)};{record.get('_v', 1)};00;'".encode()).decode()
        return f'W/"{token}"'

    def render(self, entity_set: EntitySet, record: Record, names: list[str] | None = None) -> Record:
        """The JSON shape BC answers: ``@odata.etag`` first, then the properties in declaration order."""
        out: Record = {"@odata.etag": self.etag(record)}
        for prop in entity_set.props:
            if names is None or prop.name in names:
                out[prop.name] = record.get(prop.name)
        return out

    def find(self, company: Company, set_name: str, **match: Any) -> Record | None:
        for record in company.table(set_name).values():
            if all(record.get(k) == v for k, v in match.items()):
                return record
        return None

    def company(self, company_id: str | None) -> Company:
        if company_id is None:
            return next(iter(self.companies.values()))
        company = self.companies.get(company_id.lower())
        if company is None:
            raise BcError(404, "BadRequest_NotFound", f"The company '{company_id}' does not exist.")
        return company

    def company_by_name(self, name: str) -> Company | None:
        for company in self.companies.values():
            if name in (company.name, company.id):
                return company
        return None

    # -- ground truth ------------------------------------------------------------------------------------------

    @staticmethod
    def jsonable(value: Any) -> Any:
        if isinstance(value, Decimal):
            return str(value)
        if isinstance(value, dict):
            return {k: Store.jsonable(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [Store.jsonable(v) for v in value]
        return value

    def dump(self) -> Record:
        return {
            "companies": [
                {"id": c.id, "name": c.name, "displayName": c.display_name, "created": c.created,
                 "counters": dict(c.counters),
                 "tables": {name: [self.jsonable(r) for r in table.values()] for name, table in c.tables.items()}}
                for c in self.companies.values()],
            "seq": self._seq,
            "posted": self.jsonable(self.posted),
        }

    def load(self, state: Record) -> None:
        with self.lock:
            self.companies.clear()
            for data in state.get("companies", []):
                company = Company(data["id"], data["name"], data["displayName"], data["created"],
                                  counters={k: int(v) for k, v in data.get("counters", {}).items()})
                for name, rows in data.get("tables", {}).items():
                    entity_set = SETS[name]
                    table = company.table(name)
                    for row in rows:
                        record = dict(row)
                        for prop in entity_set.props:
                            if prop.edm == DECIMAL and isinstance(record.get(prop.name), str):
                                record[prop.name] = Decimal(record[prop.name])
                        table[record["id"]] = record
                self.companies[company.id] = company
            self._seq = int(state.get("seq", self._seq))
            self.posted = [dict(p) for p in state.get("posted", [])]
            # A fresh stream: the seed's own stream already produced the ids the snapshot holds.
            self.rng = random.Random(f"bc:{self.seed}:restored:{self._seq}:{len(self.companies)}")
