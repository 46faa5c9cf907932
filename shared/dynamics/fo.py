"""Dynamics 365 Finance & Operations client: journals as one atomic ``$batch`` changeset, lookups by
external key before a retry, posting, paged reads, customers and exchange rates.

What F&O gets wrong for an integrator, and what this client does about it (reference §1, §5):

* Validation failures come back as HTTP **500** with the Infolog in ``innererror.message``; they are
  permanent (``classify``), whereas a bare 5xx is retried. Infolog deadlocks and update conflicts are
  retried too.
* ``$batch`` answers **200** even when the changeset failed: every inner part is checked and the
  failing part's Infolog is raised as a ``PermanentApiError``.
* A write whose answer is lost (timeout, dropped connection, 502/504 from a gateway) may have been
  applied: it raises ``UncertainOutcome``; look the external key up (``find_journal``) before
  writing again.
* Reads see only the user's default company unless ``cross-company=true``: every company-specific
  read sends it with ``dataAreaId eq '<legal entity>'``.
* Pages end with ``@odata.nextLink``, followed verbatim; one page is held at a time.

External keys: a general journal carries its key in ``LedgerJournalHeaders.IntegrationKey``; a
customer payment in ``CustomerPaymentJournalLines.PaymentReference``. F&O compares strings without
regard to case and treats ``*`` in ``eq`` as a wildcard, so keys must not differ only by case and must
not contain ``*``.
"""

from __future__ import annotations

import logging
import re
import ssl
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Literal
from urllib.parse import quote

import httpx

from shared.dynamics.credentials import trusting
from shared.dynamics.fo_batch import (
    BatchFormatError,
    BatchRequest,
    BatchResponse,
    build_batch,
    loads,
    parse_batch_response,
)
from shared.dynamics.odata import any_of, dumps, error_text
from shared.errors import ApiError, PermanentApiError, TransientApiError, UncertainOutcome
from shared.httpclient import WRITE_METHODS, Action, ApiClient, RetryPolicy
from shared.security.pan import redact

log = logging.getLogger("hl365.fo")

SOURCE = "fo"
NAMESPACE = "Microsoft.Dynamics.DataEntities"
SHARED_SETS = frozenset({"ExchangeRates", "MainAccounts", "Workers", "EmployeesV2", "PersonIdentificationNumbers"})
"""Entity sets without ``dataAreaId`` (shared across legal entities)."""
_TRANSIENT_INFOLOG = re.compile(r"deadlock|update conflict|could not be completed because the record was changed",
                                re.IGNORECASE)
_FACTORS = {"One": Decimal(1), "Ten": Decimal(10), "Hundred": Decimal(100), "Thousand": Decimal(1000),
            "TenThousand": Decimal(10_000), "HundredThousand": Decimal(100_000)}
PRODUCT_FIELDS = ("ItemNumber", "ProductNumber", "ProductName", "SearchName", "ProductType", "SalesPrice", "UnitCost",
                  "SalesUnitSymbol", "IsPOSRegistrationBlocked")
BARCODE_FIELDS = ("ProductNumber", "Barcode", "BarcodeSetupId", "ProductQuantityUnitSymbol", "IsDefaultScannedBarcode")
ON_HAND_FIELDS = ("ItemNumber", "InventorySiteId", "InventoryWarehouseId", "OnHandQuantity", "AvailableOnHandQuantity",
                  "ReservedOnHandQuantity")
DEFAULT_RETRY = RetryPolicy()
DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=5.0)
JournalKind = Literal["ledger", "customer_payment"]
_SETS: dict[str, tuple[str, str]] = {"ledger": ("LedgerJournalHeaders", "LedgerJournalLines"),
                                     "customer_payment": ("CustomerPaymentJournalHeaders",
                                                          "CustomerPaymentJournalLines")}


@dataclass(frozen=True)
class Journal:
    """A journal as F&O holds it: the header and its lines, numbers as ``Decimal``."""

    kind: JournalKind | Literal["movement"]
    legal_entity: str
    batch_number: str
    header: dict[str, Any]
    lines: list[dict[str, Any]] = field(default_factory=list)

    @property
    def posted(self) -> bool:
        return self.header.get("IsPosted") == "Yes"

    @property
    def external_key(self) -> str | None:
        return self.header.get("IntegrationKey") or None


def infolog(response: httpx.Response) -> str | None:
    """The Infolog of an F&O 500 (``innererror.message`` of an AxODataWriteException or an X++ error), or None."""
    try:
        document = loads(response.content)
    except ValueError:
        return None
    inner = document.get("error", {}).get("innererror") if isinstance(document, dict) and isinstance(
        document.get("error"), dict) else None
    if not isinstance(inner, dict):
        return None
    message, kind = str(inner.get("message") or ""), str(inner.get("type") or "")
    if "AxODataWriteException" in kind or "Infolog" in message or "ErrorException" in kind:
        return message
    return None


def classify(response: httpx.Response) -> Action | None:
    """F&O's error policy where the status alone is ambiguous.

    * 500 with an Infolog: a business-rule failure, permanent (FAIL), unless the Infolog reports a
      deadlock or an update conflict (RETRY).
    * 502/504 on a write: a gateway gave up, the write may have run: FAIL here, and the client turns
      it into ``UncertainOutcome`` (retrying could post twice).
    """
    if response.status_code == 500:
        text = infolog(response)
        if text is not None:
            return Action.RETRY if _TRANSIENT_INFOLOG.search(text) else Action.FAIL
    if response.status_code in (502, 504):
        try:
            method = response.request.method
        except RuntimeError:
            return None
        if method in WRITE_METHODS:
            return Action.FAIL
    return None


def escape_account(value: str) -> str:
    """An account number as one display-value segment: a hyphen becomes ``\\-`` (``US-027`` → ``US\\-027``).

    Idempotent: an already escaped hyphen is left alone.
    """
    return re.sub(r"(?<!\\)-", r"\\-", value)


def literal(value: str) -> str:
    """A string as an OData literal: quoted, with ``'`` doubled."""
    return "'" + value.replace("'", "''") + "'"


class FinanceOperationsClient:
    """The F&O OData client of one legal entity.

    Args:
        base_url: the environment URL, e.g. ``https://contoso.operations.dynamics.com`` (no ``/data``).
        credentials: the ``auth`` callable (``EntraAuth`` for scope ``{base_url}/.default``):
            ``credentials(refresh)`` returns the Authorization header; called with True after a 401.
        legal_entity: the ``dataAreaId`` every write targets and every read is narrowed to.
        transport: an httpx transport (tests route to an in-process app with it).
        verify: the TLS trust for the environment (a CA bundle path or an ``ssl.SSLContext``; ``D365_CA_BUNDLE``
            in the sandbox); True trusts the system's authorities.
    """

    def __init__(
        self,
        base_url: str,
        *,
        credentials: Callable[[bool], Mapping[str, str]],
        legal_entity: str,
        transport: httpx.BaseTransport | None = None,
        verify: ssl.SSLContext | str | bool = True,
        retry: RetryPolicy = DEFAULT_RETRY,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.legal_entity = legal_entity.lower()
        self._root = httpx.URL(self.base_url + "/data/").path
        self._api = ApiClient(SOURCE, self.base_url + "/data/", auth=credentials, retry=retry, timeout=timeout,
                              headers={"Accept": "application/json", "OData-Version": "4.0",
                                       "OData-MaxVersion": "4.0"},
                              describe_error=error_text, classify=classify,
                              transport=transport or trusting(verify), sleep=sleep)

    @property
    def requests_sent(self) -> int:
        return self._api.requests_sent

    def metadata_document(self) -> str:
        """The service's CSDL ``$metadata`` (XML: the JSON the client asks for by default is not offered)."""
        return self._api.request("GET", "$metadata", headers={"Accept": "application/xml"}).text

    def close(self) -> None:
        self._api.close()

    def __enter__(self) -> FinanceOperationsClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- journals ----------------------------------------------------------------------------------------------
    def create_journal(self, header: Mapping[str, Any], lines: Sequence[Mapping[str, Any]], *,
                       external_key: str | None = None) -> Journal:
        """Create a general journal, header and lines, as ONE changeset in ONE ``$batch``: all or nothing.

        ``external_key`` (or ``header["IntegrationKey"]``) is written to ``IntegrationKey`` so
        ``find_journal`` can find the journal after an uncertain outcome. Lines without ``LineNumber``
        are numbered 1, 2, … in order; a hyphen in a customer, vendor or bank account is escaped.
        The returned header is as the changeset created it (its totals are computed afterwards;
        ``get_journal`` re-reads them).

        Raises:
            PermanentApiError: the changeset failed validation; the message carries the Infolog.
            UncertainOutcome: the answer was lost; the journal may exist, call ``find_journal``.
            TransientApiError: throttled or unavailable; nothing was applied.
        """
        document = dict(header)
        if external_key is not None:
            document["IntegrationKey"] = external_key
        _check_key(document.get("IntegrationKey"))
        return self._create("ledger", document, lines)

    def create_customer_payment_journal(self, header: Mapping[str, Any], lines: Sequence[Mapping[str, Any]], *,
                                        order_updates: Mapping[str, Mapping[str, Any]] | None = None) -> Journal:
        """Create a customer payment journal (header + lines) as one atomic changeset.

        Put each payment's external key in the line's ``PaymentReference``; ``find_customer_payments``
        finds it again. ``order_updates`` (sales order number → changed fields) are PATCHed in the same
        changeset, so the orders' status moves with their payments or not at all. Errors as ``create_journal``.
        """
        for line in lines:
            _check_key(line.get("PaymentReference"))
        extra = [BatchRequest("PATCH", f"SalesOrderHeadersV2({self._key(SalesOrderNumber=number)})", dict(changes),
                              content_id=f"o{i}")
                 for i, (number, changes) in enumerate(sorted((order_updates or {}).items()), start=1)]
        return self._create("customer_payment", dict(header), lines, extra=extra)

    def find_journal(self, external_key: str) -> Journal | None:
        """The general journal whose ``IntegrationKey`` is ``external_key`` (with its lines), or None.

        Ask this after an ``UncertainOutcome`` before creating the journal again.
        """
        _check_key(external_key)
        headers = list(self.iter("LedgerJournalHeaders", f"IntegrationKey eq {literal(external_key)}"))
        if not headers:
            return None
        if len(headers) > 1:
            log.warning("fo: %d journals carry the external key %s: %s", len(headers), external_key,
                        ", ".join(str(h["JournalBatchNumber"]) for h in headers))
        header = next((h for h in headers if h.get("IsPosted") == "Yes"), headers[0])
        return self._with_lines("ledger", header)

    def find_customer_payments(self, payment_references: Sequence[str]) -> Iterator[dict[str, Any]]:
        """The customer payment journal lines whose ``PaymentReference`` is one of ``payment_references``, in one
        ``$filter`` (keep the list to a few dozen: the URL carries it)."""
        for reference in payment_references:
            _check_key(reference)
        if payment_references:
            yield from self.iter("CustomerPaymentJournalLines", any_of("PaymentReference", payment_references, literal))

    def get_many(self, entity_set: str, keys: Sequence[Mapping[str, str]]) -> list[dict[str, Any] | None]:
        """Entities by key (without ``dataAreaId``), None where absent, read in ONE ``$batch`` of independent
        GETs: one request however many, where a ``$filter`` of many ``or`` clauses outgrows URL limits."""
        if not keys:
            return []
        reads = [BatchRequest("GET", f"{entity_set}({self._key(**key)})?cross-company=true") for key in keys]
        content_type, payload = build_batch([], root=self._root, reads=reads)
        response = self._api.request("POST", "$batch", content=payload, headers={"Content-Type": content_type},
                                     read_only=True)
        try:
            parts = parse_batch_response(response.headers.get("content-type", ""), response.content)
        except BatchFormatError as exc:
            raise TransientApiError("BatchAnswerUnreadable", f"$batch of reads answered unreadably: {exc}",
                                    source=SOURCE, status=response.status_code) from exc
        if len(parts) != len(reads):
            raise TransientApiError("BatchAnswerIncomplete", f"$batch answered {len(parts)} parts for {len(reads)} "
                                    "reads", source=SOURCE, status=response.status_code)
        found: list[dict[str, Any] | None] = []
        for part in parts:
            if part.status == 404:
                found.append(None)
            elif part.ok:
                found.append(_entity(part))
            else:
                raise _part_error(part, f"read of {entity_set}")
        return found

    def get_journal(self, batch_number: str, *, kind: JournalKind = "ledger") -> Journal | None:
        """A journal by its number, with its lines, or None."""
        header_set, _ = _SETS[kind]
        header = self._get(f"{header_set}({self._key(JournalBatchNumber=batch_number)})")
        return None if header is None else self._with_lines(kind, header)

    def post_journal(self, batch_number: str, *, kind: JournalKind = "ledger") -> Journal:
        """Post a journal through the ``Microsoft.Dynamics.DataEntities.Post`` action; returns it re-read.

        F&O has no standard post action (reference §1.10): this is the bound action the environment
        (and the simulator) exposes. A journal that does not balance is refused with the Infolog.

        Raises:
            PermanentApiError: unbalanced, empty, already posted or unknown journal.
            UncertainOutcome: the answer was lost; ``get_journal(...).posted`` tells whether it posted.
        """
        header_set, _ = _SETS[kind]
        self._write("POST", f"{header_set}({self._key(JournalBatchNumber=batch_number)})/{NAMESPACE}.Post")
        journal = self.get_journal(batch_number, kind=kind)
        if journal is None:
            raise PermanentApiError("NotFound", f"journal {batch_number} vanished after posting", source=SOURCE)
        return journal

    def post_customer_payment_journal(self, batch_number: str) -> Journal:
        return self.post_journal(batch_number, kind="customer_payment")

    # -- reads -------------------------------------------------------------------------------------------------
    def iter(self, entity_set: str, filter: str | None = None, select: Sequence[str] | str | None = None, *,
             orderby: str | None = None) -> Iterator[dict[str, Any]]:
        """Every entity of ``entity_set`` in this legal entity (shared sets: all), page by page.

        ``filter`` is an OData ``$filter`` (F&O dialect: enums as ``Microsoft.Dynamics.DataEntities.NoYes'Yes'``,
        ``*`` wildcards in ``eq``). Only one page is held at a time.
        """
        params: dict[str, str] = {}
        conditions = [] if entity_set in SHARED_SETS else [f"dataAreaId eq {literal(self.legal_entity)}"]
        if filter:
            conditions.append(f"({filter})" if conditions else filter)
        if entity_set not in SHARED_SETS:
            params["cross-company"] = "true"
        if conditions:
            params["$filter"] = " and ".join(conditions)
        if select:
            params["$select"] = select if isinstance(select, str) else ",".join(select)
        if orderby:
            params["$orderby"] = orderby
        next_url: str | None = entity_set
        query: dict[str, str] | None = params
        while next_url:
            page = loads(self._api.request("GET", next_url, params=query).content)
            yield from page.get("value", [])
            next_url = page.get("@odata.nextLink")
            query = None

    def patch(self, entity_set: str, key: Mapping[str, str], changes: Mapping[str, Any]) -> None:
        """Change fields of one entity of the legal entity (``key`` without ``dataAreaId``).

        Raises as ``create_journal``: a 502/504 or a lost answer is ``UncertainOutcome``.
        """
        self._write("PATCH", f"{entity_set}({self._key(**key)})", content=dumps(dict(changes)),
                    headers={"Content-Type": "application/json"})

    # -- products and stock -----------------------------------------------------------------------------------
    def released_products(self, filter: str | None = None) -> Iterator[dict[str, Any]]:
        """Released products (``ReleasedProductsV2``) of the legal entity, with the fields a POS catalogue needs."""
        return self.iter("ReleasedProductsV2", filter, PRODUCT_FIELDS, orderby="ItemNumber")

    def product_barcodes(self, filter: str | None = None) -> Iterator[dict[str, Any]]:
        """Barcodes by product number (``ProductNumberIdentifiedBarcodes``)."""
        return self.iter("ProductNumberIdentifiedBarcodes", filter, BARCODE_FIELDS)

    def warehouse_on_hand(self, site: str, warehouse: str, *, item_number: str | None = None
                          ) -> Iterator[dict[str, Any]]:
        """On-hand rows (``WarehousesOnHandV2``, one per product-dimension combination) of one warehouse."""
        flt = f"InventorySiteId eq {literal(site)} and InventoryWarehouseId eq {literal(warehouse)}"
        if item_number is not None:
            flt += f" and ItemNumber eq {literal(item_number)}"
        return self.iter("WarehousesOnHandV2", flt, ON_HAND_FIELDS)

    # -- inventory movement journals ---------------------------------------------------------------------------
    def movement_journals(self, description: str, *, unposted_only: bool = False) -> list[Journal]:
        """Inventory movement journals whose ``Description`` matches ``description`` (``*`` a wildcard), each
        with its lines (``InventoryMovementJournalEntries``), oldest number first."""
        journals = []
        flt = f"Description eq {literal(description)}"
        if unposted_only:
            flt += f" and IsPosted eq {NAMESPACE}.NoYes'No'"
        for header in self.iter("InventoryMovementJournalHeaders", flt, orderby="JournalNumber"):
            number = str(header["JournalNumber"])
            lines = sorted(self.iter("InventoryMovementJournalEntries", f"JournalNumber eq {literal(number)}"),
                           key=lambda r: r["LineNumber"])
            journals.append(Journal("movement", str(header.get("dataAreaId", self.legal_entity)), number, header,
                                    lines))
        return journals

    def create_movement_journal(self, header: Mapping[str, Any]) -> str:
        """Create an inventory movement journal header; returns its ``JournalNumber`` (the number sequence's).

        Its lines are added by ``add_movement_lines``: the lines' key holds the number, so header and lines
        cannot share one changeset. Errors as ``create_journal``.
        """
        document = {"dataAreaId": self.legal_entity, **header}
        response = self._write("POST", "InventoryMovementJournalHeaders", content=dumps(document),
                               headers={"Content-Type": "application/json"})
        return str(loads(response.content)["JournalNumber"])

    def add_movement_lines(self, number: str, lines: Sequence[Mapping[str, Any]]) -> None:
        """All ``lines`` of journal ``number`` in ONE changeset: every line or none."""
        requests = [BatchRequest("POST", "InventoryMovementJournalEntries",
                                 {**line, "dataAreaId": self.legal_entity, "JournalNumber": number,
                                  "LineNumber": Decimal(n)}, content_id=str(n))
                    for n, line in enumerate(lines, start=1)]
        self._changeset(requests, f"InventoryMovementJournalEntries changeset ({len(lines)} lines)")

    def post_movement_journal(self, number: str) -> None:
        """Post an inventory movement journal (the same bound ``Post`` action as ``post_journal``); its quantities
        then move the warehouses' on-hand. Errors as ``post_journal``."""
        self._write("POST", f"InventoryMovementJournalHeaders({self._key(JournalNumber=number)})/{NAMESPACE}.Post")

    def get_customer(self, account: str) -> dict[str, Any] | None:
        """The customer (``CustomersV3``) with this account in the legal entity, or None."""
        return self._get(f"CustomersV3({self._key(CustomerAccount=account)})")

    def exchange_rate(self, from_currency: str, to_currency: str, on: date, *, rate_type: str = "Default") -> Decimal:
        """Units of ``to_currency`` per one unit of ``from_currency`` on ``on`` (``amount_to = amount_from * rate``).

        Uses the rate of that pair valid on the day (the latest start), honouring ``ConversionFactor``;
        falls back to the inverse pair.

        Raises:
            PermanentApiError: no rate for the pair on that day.
        """
        source, target = from_currency.upper(), to_currency.upper()
        if source == target:
            return Decimal(1)
        direct = self._rate(source, target, on, rate_type)
        if direct is not None:
            return direct
        inverse = self._rate(target, source, on, rate_type)
        if inverse is not None and inverse != 0:
            return Decimal(1) / inverse
        raise PermanentApiError("ExchangeRateMissing", f"no {rate_type} exchange rate {source}→{target} on "
                                f"{on.isoformat()}", source=SOURCE)

    # -- internals ---------------------------------------------------------------------------------------------
    def _rate(self, source: str, target: str, on: date, rate_type: str) -> Decimal | None:
        day_end, day_start = f"{on.isoformat()}T23:59:59Z", f"{on.isoformat()}T00:00:00Z"
        rows = self.iter("ExchangeRates", f"RateTypeName eq {literal(rate_type)} and FromCurrency eq {literal(source)} "
                                          f"and ToCurrency eq {literal(target)} and StartDate le {day_end}")
        valid = [r for r in rows if str(r.get("EndDate", "")).startswith("1900-") or str(r.get("EndDate")) >= day_start]
        if not valid:
            return None
        best = max(valid, key=lambda r: str(r["StartDate"]))
        return Decimal(best["Rate"]) / _FACTORS.get(str(best.get("ConversionFactor", "One")), Decimal(1))

    def _key(self, **values: str) -> str:
        text = ",".join([f"dataAreaId={literal(self.legal_entity)}", *(f"{k}={literal(v)}" for k, v in values.items())])
        return quote(text, safe="'=,")

    def _get(self, path: str) -> dict[str, Any] | None:
        try:
            response = self._api.request("GET", path, params={"cross-company": "true"})
        except PermanentApiError as error:
            if error.status == 404:
                return None
            raise
        document = loads(response.content)
        document.pop("@odata.context", None)
        return dict(document)

    def _with_lines(self, kind: JournalKind, header: dict[str, Any]) -> Journal:
        _, line_set = _SETS[kind]
        batch = str(header["JournalBatchNumber"])
        lines = sorted(self.iter(line_set, f"JournalBatchNumber eq {literal(batch)}"), key=lambda r: r["LineNumber"])
        return Journal(kind, str(header.get("dataAreaId", self.legal_entity)), batch, header, lines)

    def _write(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """A write: a gateway 502/504 (the write may have run) becomes ``UncertainOutcome``, never a retry."""
        try:
            return self._api.request(method, url, **kwargs)
        except PermanentApiError as error:
            if error.status in (502, 504):
                raise UncertainOutcome("GatewayTimeout", f"{method} {url}: HTTP {error.status}; the write may have "
                                       "been applied", source=SOURCE, status=error.status,
                                       request_id=error.request_id, body=error.body) from error
            raise

    def _changeset(self, requests: list[BatchRequest], what: str) -> list[BatchResponse]:
        """Send ``requests`` as ONE changeset (all or nothing) and return its parts, each answered.

        Raises:
            PermanentApiError: a part failed (the changeset applied nothing); the message names ``what``.
            UncertainOutcome: the answer was lost, unreadable or incomplete; the changeset may have applied.
        """
        content_type, payload = build_batch([requests], root=self._root)
        response = self._write("POST", "$batch", content=payload, headers={"Content-Type": content_type})
        try:
            parts = parse_batch_response(response.headers.get("content-type", ""), response.content)
        except BatchFormatError as exc:
            raise UncertainOutcome("BatchAnswerUnreadable", f"$batch answered 200 with an unreadable body: {exc}",
                                   source=SOURCE, status=response.status_code,
                                   body=redact(response.text[:32_000])) from exc
        failed = next((p for p in parts if not p.ok), None)
        if failed is not None:
            raise _part_error(failed, what)
        if len(parts) != len(requests):
            raise UncertainOutcome("BatchAnswerIncomplete", f"$batch answered {len(parts)} parts for "
                                   f"{len(requests)} requests", source=SOURCE, status=response.status_code)
        return parts

    def _create(self, kind: JournalKind, header: dict[str, Any], lines: Sequence[Mapping[str, Any]], *,
                extra: Sequence[BatchRequest] = ()) -> Journal:
        header_set, _ = _SETS[kind]
        header.setdefault("dataAreaId", self.legal_entity)
        requests = [BatchRequest("POST", header_set, header, content_id="1")]
        for number, line in enumerate(lines, start=1):
            body = {k: v for k, v in line.items() if k not in ("dataAreaId", "JournalBatchNumber")}
            body.setdefault("LineNumber", Decimal(number))
            for account, kind_field in (("AccountDisplayValue", "AccountType"),
                                        ("OffsetAccountDisplayValue", "OffsetAccountType")):
                default_type = "Cust" if kind == "customer_payment" and kind_field == "AccountType" else "Ledger"
                if body.get(account) and body.get(kind_field, default_type) in ("Cust", "Vend", "Bank"):
                    body[account] = escape_account(str(body[account]))
            requests.append(BatchRequest("POST", "$1/JournalLines", body, content_id=str(number + 1)))
        requests.extend(extra)
        parts = self._changeset(requests, f"{header_set} changeset ({len(lines)} lines)")
        created_header = _entity(parts[0])
        created_lines = [_entity(p) for p in parts[1:len(lines) + 1]]
        return Journal(kind, str(created_header.get("dataAreaId", self.legal_entity)),
                       str(created_header["JournalBatchNumber"]), created_header, created_lines)


def _entity(part: BatchResponse) -> dict[str, Any]:
    document = part.json() or {}
    document.pop("@odata.context", None)
    return dict(document)


def _part_error(part: BatchResponse, what: str) -> ApiError:
    """A failed inner part as the error the outer 200 hid: Infolog 500s and 4xx are permanent."""
    response = httpx.Response(part.status, headers=dict(part.headers), content=part.body)
    message = redact(f"{what} failed: {error_text(response)}")
    details: dict[str, Any] = {"source": SOURCE, "status": part.status, "body": redact(part.body.decode(
        "utf-8", "replace")[:32_000])}
    text = infolog(response)
    transient = part.status in (408, 429, 502, 503, 504) or (
        part.status == 500 and (text is None or _TRANSIENT_INFOLOG.search(text) is not None))
    if transient:
        return TransientApiError(f"HTTP{part.status}", message, **details)
    return PermanentApiError("ChangesetFailed", message, **details)


def _check_key(key: Any) -> None:
    if key is not None and "*" in str(key):
        raise ValueError(f"external key {key!r} contains '*', which F&O's $filter treats as a wildcard")


__all__ = ["BARCODE_FIELDS", "ON_HAND_FIELDS", "PRODUCT_FIELDS", "SHARED_SETS", "FinanceOperationsClient", "Journal",
           "classify", "dumps", "escape_account", "infolog", "literal"]
