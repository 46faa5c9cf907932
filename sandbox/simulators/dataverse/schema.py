"""The two Dataverse tables the CRM side reads and writes, declared once: their entity sets, Edm types, the
columns a client may write, maximum lengths and the customer lookup of a contact.

Lengths are the out-of-the-box column lengths of ``account`` and ``contact`` (unverified against a live
environment's metadata; ``name`` 160, names 50, e-mail 100 are the commonly quoted ones). ``suffix`` on
``contact`` is named as the standard table names it to the best of our knowledge (unverified).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

NAMESPACE = "Microsoft.Dynamics.CRM"
STRING, GUID, DATETIME, INT32 = "Edm.String", "Edm.Guid", "Edm.DateTimeOffset", "Edm.Int32"
SYSTEM_COLUMNS = frozenset({"createdon", "modifiedon", "versionnumber"})
"""Set by Dataverse itself; a value sent for one is ignored, as the platform does for read-only system columns."""

_ADDRESS = {"address1_line1": (STRING, 250), "address1_city": (STRING, 80), "address1_stateorprovince": (STRING, 50),
            "address1_postalcode": (STRING, 20), "address1_country": (STRING, 80)}


@dataclass(frozen=True)
class Lookup:
    """A single-valued navigation written as ``{navigation}@odata.bind`` and read as ``_{column}_value``."""

    navigation: str
    column: str
    target: str
    """The entity set the bound record lives in."""


@dataclass(frozen=True)
class Table:
    """One Dataverse table as the Web API exposes it."""

    entity_set: str
    logical_name: str
    key: str
    columns: Mapping[str, tuple[str, int | None]]
    """Writable column → (Edm type, maximum length)."""
    lookups: tuple[Lookup, ...] = ()
    types: Mapping[str, str] = field(init=False)
    """Every readable property → Edm type (what ``$select``, ``$filter`` and ``$orderby`` may name)."""

    def __post_init__(self) -> None:
        types = {self.key: GUID, **{name: edm for name, (edm, _) in self.columns.items()},
                 "createdon": DATETIME, "modifiedon": DATETIME, "versionnumber": "Edm.Int64"}
        for lookup in self.lookups:
            types[f"_{lookup.column}_value"] = GUID
        object.__setattr__(self, "types", MappingProxyType(types))

    @property
    def type_name(self) -> str:
        return f"{NAMESPACE}.{self.logical_name}"

    def lookup(self, navigation: str) -> Lookup | None:
        return next((item for item in self.lookups if item.navigation == navigation), None)


ACCOUNTS = Table("accounts", "account", "accountid", {
    "name": (STRING, 160), "accountnumber": (STRING, 20), "telephone1": (STRING, 50),
    "emailaddress1": (STRING, 100), **_ADDRESS, "statecode": (INT32, None)})
CONTACTS = Table("contacts", "contact", "contactid", {
    "firstname": (STRING, 50), "lastname": (STRING, 50), "middlename": (STRING, 50), "suffix": (STRING, 10),
    "emailaddress1": (STRING, 100), "telephone1": (STRING, 50), "mobilephone": (STRING, 50), **_ADDRESS,
    "statecode": (INT32, None)},
    lookups=(Lookup("parentcustomerid_account", "parentcustomerid", "accounts"),
             Lookup("parentcustomerid_contact", "parentcustomerid", "contacts")))
TABLES: Mapping[str, Table] = MappingProxyType({t.entity_set: t for t in (ACCOUNTS, CONTACTS)})
