"""Customers of Dynamics as customer records: F&O ``CustomersV3`` and Business Central ``customers`` (the
ERP), Dataverse ``contacts`` and ``accounts`` (the CRM).

F&O's customer entity carries no modification time, so a pull reads every customer of the legal entity and
the profile book keeps only those whose fields changed; Business Central filters on
``lastModifiedDateTime``; Dataverse hands out delta links.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from nameparser import HumanName

from shared.canonical.customers import SourceRecord
from shared.dynamics.bc import BusinessCentralClient
from shared.dynamics.dataverse import DataverseClient, DeltaLinkRejected
from shared.dynamics.fo import FinanceOperationsClient
from shared.ports import CustomerChanges

FO_FIELDS = ("CustomerAccount", "PartyType", "OrganizationName", "PersonFirstName", "PersonLastName",
             "PrimaryContactEmail", "PrimaryContactPhone", "AddressStreet", "AddressCity", "AddressState",
             "AddressZipCode", "AddressCountryRegionId")


def _text(value: Any) -> str | None:
    return str(value).strip() or None if value is not None else None


def fo_record(row: dict[str, Any], pulled_at: datetime) -> SourceRecord:
    person = row.get("PartyType") == "Person"
    street = _text(row.get("AddressStreet"))
    return SourceRecord("erp", str(row["CustomerAccount"]), origin="CustomersV3", fields={
        "first_name": _text(row.get("PersonFirstName")) if person else None,
        "last_name": _text(row.get("PersonLastName")) if person else None,
        "company": None if person else _text(row.get("OrganizationName")),
        "email": _text(row.get("PrimaryContactEmail")), "phone": _text(row.get("PrimaryContactPhone")),
        "address_line1": street.splitlines()[0] if street else None, "city": _text(row.get("AddressCity")),
        "state": _text(row.get("AddressState")), "postal_code": _text(row.get("AddressZipCode")),
        "country": _text(row.get("AddressCountryRegionId")),
    }, updated_at=pulled_at)


def bc_record(row: dict[str, Any], pulled_at: datetime) -> SourceRecord:
    """A person's ``displayName`` is a whole name in one field: nameparser splits it, so the profile gets a
    first and a last name from Business Central as from every other source."""
    person = row.get("type") == "Person"
    modified = row.get("lastModifiedDateTime")
    name = HumanName(_text(row.get("displayName")) or "") if person else None
    return SourceRecord("erp", str(row["number"]), origin="customers", fields={
        "first_name": " ".join(filter(None, (name.first, name.middle))) or None if name else None,
        "last_name": " ".join(filter(None, (name.last, name.suffix))) or None if name else None,
        "company": None if person else _text(row.get("displayName")),
        "email": _text(row.get("email")), "phone": _text(row.get("phoneNumber")),
        "address_line1": _text(row.get("addressLine1")), "city": _text(row.get("city")),
        "state": _text(row.get("state")), "postal_code": _text(row.get("postalCode")),
        "country": _text(row.get("country")),
    }, updated_at=datetime.fromisoformat(modified.replace("Z", "+00:00")) if isinstance(modified, str) else pulled_at)


class FinanceOperationsCustomers:
    source = "erp"

    def __init__(self, client: FinanceOperationsClient) -> None:
        self._client = client

    def changes(self, checkpoint: str | None) -> CustomerChanges:  # noqa: ARG002 (no change time to filter on)
        read_at = datetime.now(UTC)
        return CustomerChanges([fo_record(row, read_at) for row in self._client.iter("CustomersV3", select=FO_FIELDS)],
                               None, complete="CustomersV3")


    def write(self, account: str, fields: Mapping[str, Decimal]) -> None:
        self._client.patch("CustomersV3", {"CustomerAccount": account}, dict(fields))


class BusinessCentralCustomers:
    source = "erp"

    def __init__(self, client: BusinessCentralClient) -> None:
        self._client = client

    def changes(self, checkpoint: str | None) -> CustomerChanges:
        read_at = datetime.now(UTC)
        where = f"lastModifiedDateTime ge {checkpoint}" if checkpoint else None
        records = [bc_record(row, read_at) for row in self._client.iter("customers", filter=where)]
        newest = max((r.updated_at for r in records), default=None)
        return CustomerChanges(records, f"{newest.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}" if newest else checkpoint,
                               complete=None if checkpoint else "customers")


CONTACT_FIELDS = ("contactid", "firstname", "middlename", "lastname", "suffix", "emailaddress1", "telephone1",
                  "mobilephone", "address1_line1", "address1_city", "address1_stateorprovince", "address1_postalcode",
                  "address1_country", "modifiedon")
ACCOUNT_FIELDS = ("accountid", "name", "emailaddress1", "telephone1", "address1_line1", "address1_city",
                  "address1_stateorprovince", "address1_postalcode", "address1_country", "modifiedon")


def _address(row: dict[str, Any]) -> dict[str, str | None]:
    return {"address_line1": _text(row.get("address1_line1")), "city": _text(row.get("address1_city")),
            "state": _text(row.get("address1_stateorprovince")), "postal_code": _text(row.get("address1_postalcode")),
            "country": _text(row.get("address1_country"))}


def _modified(row: dict[str, Any], read_at: datetime) -> datetime:
    value = row.get("modifiedon")
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if isinstance(value, str) else read_at


def contact_record(row: dict[str, Any], read_at: datetime) -> SourceRecord:
    last = " ".join(filter(None, (_text(row.get("lastname")), _text(row.get("suffix"))))) or None
    first = " ".join(filter(None, (_text(row.get("firstname")), _text(row.get("middlename"))))) or None
    return SourceRecord("crm", str(row["contactid"]), {
        "first_name": first, "last_name": last, "email": _text(row.get("emailaddress1")),
        "phone": _text(row.get("telephone1")) or _text(row.get("mobilephone")), **_address(row)},
        _modified(row, read_at))


def account_record(row: dict[str, Any], read_at: datetime) -> SourceRecord:
    return SourceRecord("crm", str(row["accountid"]), {
        "company": _text(row.get("name")), "email": _text(row.get("emailaddress1")),
        "phone": _text(row.get("telephone1")), **_address(row)}, _modified(row, read_at))


class DataverseCustomers:
    """One Dataverse table (``contacts`` or ``accounts``) through change tracking: the checkpoint is the delta
    link; a link the service no longer accepts means reading the table again from the start."""

    source = "crm"

    def __init__(self, client: DataverseClient, entity_set: str) -> None:
        if entity_set not in ("contacts", "accounts"):
            raise ValueError(f"{entity_set!r}: customers are Dataverse contacts or accounts")
        self._client, self._set = client, entity_set
        contacts = entity_set == "contacts"
        self._fields: tuple[str, ...] = CONTACT_FIELDS if contacts else ACCOUNT_FIELDS
        self._record: Callable[[dict[str, Any], datetime], SourceRecord] = (contact_record if contacts
                                                                            else account_record)

    def changes(self, checkpoint: str | None) -> CustomerChanges:
        read_at = datetime.now(UTC)
        full = checkpoint is None
        try:
            rows, deleted, link = self._client.changes(self._set, self._fields, checkpoint)
        except DeltaLinkRejected:  # expired: read the table again, and what is no longer in it was deleted
            rows, deleted, link = self._client.changes(self._set, self._fields, None)
            full = True
        return CustomerChanges([replace(self._record(row, read_at), origin=self._set) for row in rows], link,
                               list(deleted), complete=self._set if full else None)
