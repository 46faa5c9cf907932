"""Card payments into the Dynamics customer ledger (U3): one payment journal per micro-batch.

A payment's gateway ``reference`` names the sales order it pays; the order gives the customer, and the
mapping gives the card brand's payment method and clearing account. Each line carries the payment's
external key (``HPY-{transaction}``, ``-REV`` for a reversal) so a retry after an uncertain outcome
finds it instead of writing it twice. ERP requests per journal are few and do not grow with its size:
one read of the orders, one write, and a posting in ``auto`` mode.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from collections.abc import Callable, Collection, Iterable, Sequence
from decimal import Decimal
from typing import Any

from shared.canonical.payments import Payment, PaymentKind
from shared.dynamics.bc import BusinessCentralClient
from shared.dynamics.bc import literal as bc_literal
from shared.dynamics.fo import FinanceOperationsClient
from shared.dynamics.odata import any_of, chunks
from shared.errors import FatalError, PermanentApiError
from shared.mapping.schema import MappingConfig, PostingMode

log = logging.getLogger("hl365.customer_payments")

BC_DOCUMENT_LENGTH = 20


def _text(payment: Payment) -> str:
    if payment.note:
        return payment.note[:60]
    card = " ".join(p for p in (payment.card_brand, f"*{payment.card_last4}" if payment.card_last4 else None) if p)
    return f"Heartland {card} {payment.transaction_id}".replace("  ", " ")[:60]


def _unknown_order(payment: Payment, where: str) -> FatalError:
    return FatalError("UnknownOrder", f"sales order {payment.reference!r} named by GP transaction "
                      f"{payment.transaction_id} is not in {where}")


class FoCustomerPayments:
    """F&O: ``CustomerPaymentJournalLines`` with ``PaymentReference`` = the external key, in one changeset
    with the header and the orders' status alignment, so a journal and its order updates land together."""

    def __init__(self, client: FinanceOperationsClient, mapping: Callable[[], MappingConfig]) -> None:
        self._client = client
        self._current_mapping = mapping

    @property
    def _mapping(self) -> MappingConfig:
        return self._current_mapping()

    def find(self, external_keys: Collection[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for chunk in chunks(external_keys):
            for line in self._client.find_customer_payments(chunk):
                document = f"{line['JournalBatchNumber']}/{int(line['LineNumber'])}"
                found.setdefault(str(line["PaymentReference"]), document)
        return found

    def post(self, payments: Sequence[Payment]) -> dict[str, str | FatalError]:
        """One journal per journal name the payments carry (a workflow rule's route, else the mapping's)."""
        mapping = self._mapping  # one mapping for the whole micro-batch
        results: dict[str, str | FatalError] = {}
        for name, group in _by_journal(payments, mapping.customer_payments.journal_name).items():
            results.update(self._post(mapping, name, group))
        return results

    def _post(self, mapping: MappingConfig, journal_name: str,
              payments: Sequence[Payment]) -> dict[str, str | FatalError]:
        results: dict[str, str | FatalError] = {}
        orders = self._orders(p.reference for p in payments if p.reference)
        lines: list[dict[str, Any]] = []
        posted: list[Payment] = []
        statuses: dict[str, dict[str, Any]] = {}
        for payment in payments:
            order = orders.get((payment.reference or "").casefold())
            if order is None:
                results[payment.external_key] = _unknown_order(payment, f"F&O legal entity {self._client.legal_entity}")
                continue
            try:
                line = self._line(mapping, payment, order)
            except FatalError as error:
                results[payment.external_key] = error
                continue
            lines.append(line)
            posted.append(payment)
            status = mapping.status_alignment.get(payment.status.value)
            if status and payment.kind is PaymentKind.SALE:
                statuses[str(order["SalesOrderNumber"])] = {"SalesOrderStatus": status}
        if not lines:
            return results
        rules = mapping.customer_payments
        header = {"JournalName": journal_name,
                  "Description": f"Heartland card payments {posted[0].occurred_at:%Y-%m-%d}"[:60]}
        journal = self._client.create_customer_payment_journal(header, lines, order_updates=statuses)
        for payment, line in zip(posted, journal.lines, strict=True):
            results[payment.external_key] = f"{journal.batch_number}/{int(line['LineNumber'])}"
        if rules.posting_mode is PostingMode.AUTO:
            try:
                self._client.post_customer_payment_journal(journal.batch_number)
            except PermanentApiError as error:
                log.error("customer payment journal %s was created but not posted; it waits for review: %s",
                          journal.batch_number, error.description)
        return results

    def _orders(self, numbers: Iterable[str]) -> dict[str, dict[str, Any]]:
        wanted = sorted(set(numbers))
        rows = self._client.get_many("SalesOrderHeadersV2", [{"SalesOrderNumber": n} for n in wanted])
        return {str(row["SalesOrderNumber"]).casefold(): row for row in rows if row is not None}

    @staticmethod
    def _line(mapping: MappingConfig, payment: Payment, order: dict[str, Any]) -> dict[str, Any]:
        currency = str(order.get("CurrencyCode") or "").upper()
        if currency and currency != payment.amount.currency:
            raise FatalError("CurrencyMismatch", f"GP transaction {payment.transaction_id} is in "
                             f"{payment.amount.currency}, sales order {order['SalesOrderNumber']} in {currency}")
        rule = mapping.payment_type((payment.card_brand or "").upper() or "UNKNOWN")
        received = payment.received.amount
        return {
            "AccountType": "Cust",
            "AccountDisplayValue": order.get("InvoiceCustomerAccountNumber") or order["OrderingCustomerAccountNumber"],
            "TransactionDate": f"{payment.occurred_at:%Y-%m-%d}T12:00:00Z",
            "CreditAmount": received if received > 0 else Decimal(0),
            "DebitAmount": -received if received < 0 else Decimal(0),
            "CurrencyCode": payment.amount.currency,
            "PaymentMethodName": rule.method,
            "PaymentReference": payment.external_key,
            "DocumentNumber": str(order["SalesOrderNumber"]),
            "TransactionText": _text(payment),
            "OffsetAccountType": "Ledger",
            "OffsetAccountDisplayValue": rule.clearing_account,
        }


def _by_journal(payments: Sequence[Payment], default: str) -> dict[str, list[Payment]]:
    groups: dict[str, list[Payment]] = {}
    for payment in payments:
        groups.setdefault((payment.journal or default).upper(), []).append(payment)
    return groups


def bc_document_number(external_key: str) -> str:
    """A deterministic document number of at most 20 characters: BC keeps it on the posted G/L entries,
    where ``externalDocumentNumber`` (the key itself) cannot be searched."""
    digest = base64.b32encode(hashlib.sha256(external_key.encode()).digest()).decode()
    return f"HP{digest[:BC_DOCUMENT_LENGTH - 2]}"


class BcCustomerPayments:
    """Business Central: ``customerPayments`` in one atomic JSON ``$batch`` per journal (at most 100 lines),
    applied to the posted invoice the reference names (by its number or its order's), else recorded on the
    order's customer.

    API v2.0 gives customer payment journals no posting action, so the lines wait for a person to post
    them; posting applies them and BC marks the invoice ``Paid``. BC has no order status to align.
    """

    MAX_LINES = 100

    def __init__(self, client: BusinessCentralClient, mapping: Callable[[], MappingConfig],
                 routes: Callable[[], Collection[str]] = tuple) -> None:
        """``routes``: the journals workflow rules may route a payment to, searched by ``find`` too."""
        self._client = client
        self._current_mapping = mapping
        self._routes = routes
        self._journal_ids: dict[str, str] = {}

    @property
    def _mapping(self) -> MappingConfig:
        return self._current_mapping()

    def journal_id(self, code: str | None = None) -> str:
        """The id of journal ``code`` (default: the mapping's), created the first time it is needed."""
        code = (code or self._mapping.customer_payments.journal_name).upper()
        if code not in self._journal_ids:
            found = next(self._client.iter("customerPaymentJournals", f"code eq {bc_literal(code)}"), None)
            if found is None:
                found = self._client.create("customerPaymentJournals", {"code": code,
                                                                        "displayName": "Heartland card payments"})
            self._journal_ids[code] = str(found["id"])
        return self._journal_ids[code]

    def find(self, external_keys: Collection[str]) -> dict[str, str]:
        """A line still in a journal is found by its key, in the mapping's journal and those workflow rules route
        to; once posted, only its document number survives, on the G/L entries."""
        found: dict[str, str] = {}
        if not external_keys:
            return found
        by_upper = {key.upper(): key for key in external_keys}
        codes = dict.fromkeys([self._mapping.customer_payments.journal_name.upper(),
                               *(code.upper() for code in self._routes())])
        for journal in (self.journal_id(code) for code in codes):
            for chunk in chunks([k for k in external_keys if k not in found]):
                for line in self._client.find_customer_payments(journal, *chunk):
                    key = by_upper.get(str(line["externalDocumentNumber"]).upper())
                    if key is not None:
                        found.setdefault(key, str(line["documentNumber"]))
        documents = {bc_document_number(key): key for key in external_keys if key not in found}
        for chunk in chunks(documents):
            for entry in self._client.find_gl_entries(*chunk):
                key = documents.get(str(entry["documentNumber"]).upper())
                if key is not None:
                    found.setdefault(key, str(entry["documentNumber"]).upper())
        return found

    def post(self, payments: Sequence[Payment]) -> dict[str, str | FatalError]:
        """One atomic batch per journal the payments carry (a workflow rule's route, else the mapping's) and
        at most ``MAX_LINES`` lines."""
        results: dict[str, str | FatalError] = {}
        default = self._mapping.customer_payments.journal_name
        for code, group in _by_journal(payments, default).items():
            for start in range(0, len(group), self.MAX_LINES):
                results.update(self._post(code, group[start:start + self.MAX_LINES]))
        return results

    def _post(self, code: str, payments: Sequence[Payment]) -> dict[str, str | FatalError]:
        results: dict[str, str | FatalError] = {}
        numbers = {p.reference for p in payments if p.reference}
        invoices: dict[str, dict[str, Any]] = {}
        if numbers:
            flt = f"{any_of('orderNumber', numbers, bc_literal)} or {any_of('number', numbers, bc_literal)}"
            for found in self._client.iter("salesInvoices", flt):
                for key in (found.get("orderNumber"), found.get("number")):
                    if key and str(key) in numbers:
                        invoices[str(key).casefold()] = found
        open_orders = numbers - {n for n in numbers if n.casefold() in invoices}
        orders = {str(o["number"]).casefold(): o for o in self._client.iter(
            "salesOrders", any_of("number", open_orders, bc_literal))} if open_orders else {}
        journal = self.journal_id(code)
        base_currency = self._mapping.base_currency
        operations: list[dict[str, Any]] = []
        posted: list[Payment] = []
        for payment in payments:
            reference = (payment.reference or "").casefold()
            invoice: dict[str, Any] | None = invoices.get(reference)
            order: dict[str, Any] | None = orders.get(reference)
            if invoice is None and order is None:
                results[payment.external_key] = _unknown_order(payment, "the Business Central company")
                continue
            if payment.amount.currency != base_currency:
                results[payment.external_key] = FatalError(
                    "CurrencyNotSupported", f"GP transaction {payment.transaction_id} is in {payment.amount.currency}; "
                    f"Business Central customer payments are booked in {base_currency}")
                continue
            body: dict[str, Any] = {
                "amount": -payment.received.amount,  # a receipt is a negative amount in BC
                "postingDate": f"{payment.occurred_at:%Y-%m-%d}",
                "documentNumber": bc_document_number(payment.external_key),
                "externalDocumentNumber": payment.external_key.upper(),
                "description": _text(payment)[:100],
            }
            if invoice is not None and payment.kind is PaymentKind.SALE:
                body["appliesToInvoiceId"] = invoice["id"]
            else:
                body["customerNumber"] = (invoice or order or {})["customerNumber"]
            operations.append({"method": "POST", "url": f"customerPaymentJournals({journal})/customerPayments",
                               "body": body})
            posted.append(payment)
        if operations:
            answers = self._client.batch(operations, atomic=True)
            for payment, answer in zip(posted, answers, strict=True):
                results[payment.external_key] = str((answer.get("body") or {}).get("documentNumber")
                                                    or bc_document_number(payment.external_key))
        return results
