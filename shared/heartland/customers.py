"""Heartland Retail's customers as customer records: the till's side of the profile."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shared.canonical.customers import SourceRecord
from shared.errors import PermanentApiError
from shared.heartland.retail import RetailClient
from shared.heartland.retail_models import Customer
from shared.ports import CustomerChanges

OVERLAP = timedelta(minutes=5)
"""A customer saved in the second of the last pull's newest is read again rather than skipped."""


def source_record(customer: Customer, read_at: datetime | None = None) -> SourceRecord:
    """Retail keeps a name, an e-mail and a phone on the customer (addresses sit under it, and rarely). It
    wants a name, so a business is kept under its company name (``custom.company``): that is no person."""
    company = str(customer.custom["company"]).strip() if customer.custom.get("company") else None
    first, last = customer.first_name, customer.last_name
    if company and not (first or "").strip() and (last or "").strip() == company:
        first = last = None
    return SourceRecord("pos", str(customer.id), {
        "first_name": first, "last_name": last, "email": customer.email, "phone": customer.phone,
        "company": company}, customer.updated_at or read_at or datetime.now(UTC), origin="customers")


class RetailCustomers:
    """Incremental pulls on ``updated_at``: the checkpoint is the newest ``updated_at`` read."""

    source = "pos"

    def __init__(self, client: RetailClient) -> None:
        self._client = client

    def changes(self, checkpoint: str | None) -> CustomerChanges:
        read_at = datetime.now(UTC)
        since = datetime.fromisoformat(checkpoint) - OVERLAP if checkpoint else None
        records = [source_record(c, read_at) for c in self._client.iter_customers(since)]
        newest = max((r.updated_at for r in records), default=None)
        return CustomerChanges(records, newest.isoformat() if newest else checkpoint,
                               complete=None if checkpoint else "customers")

    def get(self, customer_id: int) -> SourceRecord | None:
        try:
            return source_record(self._client.get_customer(customer_id))
        except PermanentApiError as error:
            if error.status == 404:
                return None
            raise
