"""The settlement flow's ledger port on the real ERPs: canonical journals as F&O general journals
(and, in ``bc.py``'s terms, Business Central journals)."""

from __future__ import annotations

import hashlib
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from shared.canonical.journals import AccountType, Journal
from shared.dynamics.bc import BusinessCentralClient
from shared.dynamics.fo import FinanceOperationsClient
from shared.errors import FatalError

FO_SEGMENTS = ("BusinessUnit", "Department", "CostCenter")
"""Financial dimensions in the order of the F&O account structure, after the main account."""


def fo_display_value(account: str, dimensions: dict[str, str]) -> str:
    """``401100-001-022``: the main account, then each dimension segment in structure order."""
    segments = [account, *(dimensions.get(name, "") for name in FO_SEGMENTS)]
    while len(segments) > 1 and not segments[-1]:
        segments.pop()
    return "-".join(segments)


class FoJournals:
    """``JournalLedger`` on Dynamics 365 Finance & Operations general journals."""

    max_lines = 10_000
    """F&O posts journals of 10,000+ lines slowly; keep each one under that."""

    def __init__(self, client: FinanceOperationsClient, *, journal_name: str, legal_entity: str) -> None:
        self._client = client
        self._journal_name = journal_name
        self._legal_entity = legal_entity

    def find_journal(self, external_key: str) -> str | None:
        found = self._client.find_journal(external_key)
        return None if found is None else found.batch_number

    def create_journal(self, journal: Journal) -> str:
        header = {"dataAreaId": self._legal_entity, "JournalName": self._journal_name,
                  "Description": journal.description[:60]}
        trans_date = datetime.combine(journal.business_date, time(12)).isoformat() + "Z"
        lines: list[dict[str, Any]] = []
        for number, line in enumerate(journal.lines, start=1):
            bank = line.account_type is AccountType.BANK
            entry: dict[str, Any] = {
                "dataAreaId": self._legal_entity,
                "LineNumber": Decimal(number),
                "TransDate": trans_date,
                "AccountType": "Bank" if bank else "Ledger",
                "AccountDisplayValue": line.account if bank else fo_display_value(line.account, line.dimensions),
                "DebitAmount": line.debit,
                "CreditAmount": line.credit,
                "CurrencyCode": line.currency,
                "Text": f"{line.text} {journal.external_key}"[:60],
            }
            if line.exchange_rate is not None:
                entry["ExchRate"] = line.exchange_rate * 100
            lines.append(entry)
        return self._client.create_journal(header, lines, external_key=journal.external_key).batch_number

    def post_journal(self, document_id: str) -> None:
        """Post unless already posted: a re-run after a crash between creating and posting posts it once."""
        current = self._client.get_journal(document_id)
        if current is not None and not current.posted:
            self._client.post_journal(document_id)

    def exchange_rate(self, currency: str, base_currency: str, on: date) -> Decimal:
        return self._client.exchange_rate(currency, base_currency, on)


class BcJournals:
    """``JournalLedger`` on Business Central general journals.

    Each settlement journal gets its own journal batch (``code``) and document number derived from
    the external key, so the batch is empty before this run and posting it posts nothing else. BC's
    API v2.0 journal lines carry no currency or dimensions: lines must be in the company's currency.
    """

    max_lines = 100
    """One journal's lines go in one atomic ``$batch``, which holds at most 100 operations."""

    def __init__(self, client: BusinessCentralClient, *, base_currency: str) -> None:
        self._client = client
        self._base_currency = base_currency

    @staticmethod
    def code(external_key: str) -> str:
        """A 10-character journal batch code (BC's Code[10]) unique to the external key."""
        return "HL" + hashlib.sha1(external_key.encode()).hexdigest()[:8].upper()  # noqa: S324

    @staticmethod
    def document_number(external_key: str) -> str:
        return "HL" + hashlib.sha1(external_key.encode()).hexdigest()[:14].upper()  # noqa: S324

    @staticmethod
    def key(external_key: str) -> str:
        """The external key as BC stores it (Code[35])."""
        if len(external_key) <= 35:
            return external_key
        return external_key[:26] + "-" + hashlib.sha1(external_key.encode()).hexdigest()[:8]  # noqa: S324

    def find_journal(self, external_key: str) -> str | None:
        waiting = self._client.find_journal_lines(self.key(external_key), code=self.code(external_key))
        if waiting:
            return str(waiting[0]["journalId"])
        document = self.document_number(external_key)
        return f"posted:{document}" if self._client.find_gl_entries(document) else None

    def create_journal(self, journal: Journal) -> str:
        document = self.document_number(journal.external_key)
        lines = []
        for line in journal.lines:
            if line.currency != self._base_currency:
                raise FatalError("CurrencyNotSupported", f"{journal.external_key}: Business Central journal lines "
                                 f"take the company currency {self._base_currency}, not {line.currency}")
            lines.append({
                "accountType": "Bank Account" if line.account_type is AccountType.BANK else "G/L Account",
                "accountNumber": line.account,
                "postingDate": journal.business_date.isoformat(),
                "documentNumber": document,
                "amount": line.amount,
                "description": line.text[:100],
            })
        created = self._client.create_journal_with_lines(self.code(journal.external_key), lines,
                                                         external_key=self.key(journal.external_key),
                                                         display_name=self.key(journal.external_key))
        return str(created["journal"]["id"])

    def post_journal(self, document_id: str) -> None:
        if not document_id.startswith("posted:"):
            self._client.post_journal(document_id)

    def exchange_rate(self, currency: str, base_currency: str, on: date) -> Decimal:
        raise FatalError("CurrencyNotSupported", f"no {currency}/{base_currency} rate for {on}: Business Central "
                         "journal lines take the company currency only")
