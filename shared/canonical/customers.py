"""A customer as one system holds it: the unit the customer profiles are built from."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from shared.canonical.money import Money
from shared.storage.keys import safe_key


@dataclass(frozen=True)
class SourceRecord:
    """``source`` is the kind of system (``pos``, ``erp``, ``crm``, ``loyalty``); ``fields`` are the matcher's
    input fields (``shared.customers.normalize.FIELDS``) as the system wrote them."""

    source: str
    source_id: str
    fields: Mapping[str, str | None]
    updated_at: datetime
    origin: str = ""
    """Which list of the system it came from (``contacts`` or ``accounts`` of one CRM): a complete read of that
    list tells which of its records the system no longer holds."""

    @property
    def key(self) -> str:
        return f"{self.source}:{safe_key(self.source_id)}"


@dataclass(frozen=True)
class LoyaltyBalance:
    """What a customer's loyalty card holds: the gift balance in money and the points."""

    gift: Money
    points: Decimal
