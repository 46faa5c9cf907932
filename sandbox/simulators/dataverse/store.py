"""The organisation's rows, the one version counter every write advances, and the log change tracking reads.

Dataverse stamps each write with the organisation-wide ``versionnumber`` (a SQL rowversion): the weak ETag of a
row is ``W/"<versionnumber>"`` and a delta token is ``<versionnumber>!<UTC time>`` (the shape of the
documented example ``919058!08/22/2017 08:10:44``). A delta therefore means "every row stamped, and every
delete logged, after this version", which is also what the simulator answers.
"""

from __future__ import annotations

import random
import re
import threading
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sandbox.simulators.base import Clock
from sandbox.simulators.dataverse.errors import (
    ALREADY_EXISTS,
    TOO_LONG,
    VERSION_MISMATCH,
    DataverseError,
    bad_payload,
    not_found,
)
from sandbox.simulators.dataverse.schema import SYSTEM_COLUMNS, TABLES, Table
from sandbox.simulators.odata import ODataQueryError, coerce

Row = dict[str, Any]
FIRST_VERSION = 915_000
"""Where the counter starts: a fresh organisation's rowversions are already large (docs show 6-7 digits)."""
GUID_TEXT = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_GUID = re.compile(GUID_TEXT)
_BIND = re.compile(rf"(?:^|/)(?P<set>[A-Za-z_]\w*)\((?P<id>{GUID_TEXT})\)$")
_TOKEN_TIME = "%m/%d/%Y %H:%M:%S"  # noqa: S105 - a date format




def iso(moment: datetime) -> str:
    """``Edm.DateTimeOffset`` as Dataverse writes it: UTC, whole seconds, ``Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Deleted:
    version: int
    entity_set: str
    record_id: str


class Store:
    """Every row of ``accounts`` and ``contacts``; all access holds ``lock``."""

    def __init__(self, *, seed: int = 0, clock: Clock | None = None) -> None:
        self.clock = clock or Clock()
        self.rng = random.Random(f"dataverse:{seed}")
        self.lock = threading.RLock()
        self.version = FIRST_VERSION
        self.tables: dict[str, dict[str, Row]] = {name: {} for name in TABLES}
        self.deleted: list[Deleted] = []
        self.tracking: dict[str, bool] = dict.fromkeys(TABLES, True)

    # -- ids, versions, tokens ---------------------------------------------------------------------------------

    def new_id(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def _stamp(self) -> int:
        self.version += 1
        return self.version

    @staticmethod
    def etag(row: Mapping[str, Any]) -> str:
        return f'W/"{row["versionnumber"]}"'

    def delta_token(self, version: int) -> str:
        return f"{version}!{self.clock.now().strftime(_TOKEN_TIME)}"

    @staticmethod
    def parse_token(token: str) -> tuple[int, datetime] | None:
        """(version, issued) of a token this organisation could have issued, or None."""
        version, _, issued = token.partition("!")
        try:
            return int(version), datetime.strptime(issued, _TOKEN_TIME).replace(tzinfo=UTC)
        except ValueError:
            return None

    # -- reads -------------------------------------------------------------------------------------------------

    def get(self, table: Table, record_id: str) -> Row | None:
        return self.tables[table.entity_set].get(record_id.lower())

    def require(self, table: Table, record_id: str) -> Row:
        row = self.get(table, record_id)
        if row is None:
            raise not_found(table.logical_name, record_id)
        return row

    def rows(self, table: Table) -> list[Row]:
        """Every row, in primary-key order (the order Dataverse pages in when no ``$orderby`` is given)."""
        return sorted(self.tables[table.entity_set].values(), key=lambda row: row[table.key])

    def changes(self, table: Table, after: int, upto: int) -> list[tuple[int, Row | Deleted]]:
        """Rows stamped and deletes logged in (``after``, ``upto``], in version order."""
        found: list[tuple[int, Row | Deleted]] = [
            (row["versionnumber"], row) for row in self.tables[table.entity_set].values()
            if after < row["versionnumber"] <= upto]
        found += [(d.version, d) for d in self.deleted
                  if d.entity_set == table.entity_set and after < d.version <= upto]
        return sorted(found, key=lambda item: item[0])

    # -- writes ------------------------------------------------------------------------------------------------

    def values(self, table: Table, body: Mapping[str, Any], *, record_id: str | None = None) -> Row:
        """A request body as column values: types and lengths checked, ``@odata.bind`` resolved, system columns
        dropped.

        Raises:
            DataverseError: an unknown property, a value of the wrong type or too long, a bind to a missing record.
        """
        values: Row = {}
        for name, value in body.items():
            if name.endswith("@odata.bind"):
                values.update(self._bind(table, name.removesuffix("@odata.bind"), value))
            elif name == table.key:
                if not isinstance(value, str) or not _GUID.fullmatch(value):
                    raise bad_payload(f"Cannot convert the literal '{value}' to the expected type 'Edm.Guid'.")
                if record_id is not None and value.lower() != record_id.lower():
                    raise bad_payload(f"The value of '{table.key}' does not match the key of the request URL.")
                values[table.key] = value.lower()
            elif name in SYSTEM_COLUMNS:
                continue
            elif name in table.columns:
                edm, length = table.columns[name]
                try:
                    typed = coerce(value, edm, name)
                except ODataQueryError as exc:
                    raise bad_payload(str(exc)) from None
                if length is not None and isinstance(typed, str) and len(typed) > length:
                    raise DataverseError(400, TOO_LONG, f"A validation error occurred. The length of the '{name}' "
                                         f"attribute of the '{table.logical_name}' entity exceeded the maximum allowed "
                                         f"length of '{length}'.")
                values[name] = typed
            else:
                raise bad_payload(f"The property '{name}' does not exist on type '{table.type_name}'. Make sure to "
                                  "only use property names that are defined by the type.")
        return values

    def _bind(self, table: Table, navigation: str, value: Any) -> Row:
        lookup = table.lookup(navigation)
        if lookup is None:
            raise bad_payload(f"An undeclared property '{navigation}' which only has property annotations in the "
                              "payload but no property value was found in the payload.")
        column = f"_{lookup.column}_value"
        if value is None:
            return {column: None, "_parent_set": None}
        match = _BIND.search(str(value))
        if match is None or match.group("set") != lookup.target:
            raise bad_payload(f"The @odata.bind value '{value}' of '{navigation}' must name a record of "
                              f"'{lookup.target}', e.g. /{lookup.target}(00000000-0000-0000-0000-000000000001).")
        target = TABLES[lookup.target]
        parent = self.require(target, match.group("id"))
        return {column: parent[target.key], "_parent_set": lookup.target}

    def create(self, table: Table, values: Mapping[str, Any], *, record_id: str | None = None,
               created: str | None = None) -> Row:
        record_id = (record_id or values.get(table.key) or self.new_id()).lower()
        if record_id in self.tables[table.entity_set]:
            raise DataverseError(412, ALREADY_EXISTS, "A record with matching key values already exists.")
        now = created or iso(self.clock.now())
        row: Row = {table.key: record_id, **dict.fromkeys(table.types), "statecode": 0}
        row.update({k: v for k, v in values.items() if k != table.key})
        row.update({table.key: record_id, "createdon": now, "modifiedon": now, "versionnumber": self._stamp()})
        self.tables[table.entity_set][record_id] = row
        return row

    def update(self, table: Table, row: Row, values: Mapping[str, Any]) -> Row:
        row.update({k: v for k, v in values.items() if k != table.key})
        row.update({"modifiedon": iso(self.clock.now()), "versionnumber": self._stamp()})
        return row

    def delete(self, table: Table, row: Row) -> None:
        del self.tables[table.entity_set][row[table.key]]
        self.deleted.append(Deleted(self._stamp(), table.entity_set, row[table.key]))

    def check_if_match(self, row: Row | None, if_match: str | None, table: Table, record_id: str) -> None:
        """``If-Match``: ``*`` needs the record to exist (no create); a version needs it to be that version."""
        if not if_match:
            return
        if row is None:
            raise not_found(table.logical_name, record_id)
        tags = [tag.strip() for tag in if_match.split(",")]
        if "*" not in tags and self.etag(row) not in tags:
            raise DataverseError(412, VERSION_MISMATCH,
                                 "The version of the existing record doesn't match the RowVersion property provided.")

    # -- snapshots ---------------------------------------------------------------------------------------------

    def dump(self) -> dict[str, Any]:
        return {"version": self.version, "tables": {name: list(rows.values()) for name, rows in self.tables.items()},
                "deleted": [vars(d) for d in self.deleted], "tracking": dict(self.tracking)}

    def load(self, state: Mapping[str, Any]) -> None:
        with self.lock:
            self.version = int(state["version"])
            self.tables = {name: {row[TABLES[name].key]: dict(row) for row in rows}
                           for name, rows in state["tables"].items()}
            self.deleted = [Deleted(**d) for d in state.get("deleted", [])]
            self.tracking.update(state.get("tracking", {}))

    def plant(self, table: Table, records: Iterable[Mapping[str, Any]]) -> list[Row]:
        """Records as given (ids, ``createdon`` and ``modifiedon`` kept when present): the demo's duplicates."""
        planted = []
        with self.lock:
            for record in records:
                created = record.get("createdon")
                row = self.create(table, self.values(table, record), record_id=record.get(table.key),
                                  created=created)
                if record.get("modifiedon"):
                    row["modifiedon"] = record["modifiedon"]
                planted.append(dict(row))
        return planted
