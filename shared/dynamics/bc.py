"""Business Central API v2.0 client: journals posted once in effect, customer payments, sales documents,
paging, ETag-guarded updates, JSON ``$batch`` with ``Isolation: snapshot``, and webhook subscriptions.

Money travels as ``Decimal`` both ways: responses are parsed with ``parse_float=Decimal`` and request
bodies are written by an encoder that prints a ``Decimal`` as a JSON number and refuses ``float``.
"""

from __future__ import annotations

import json
import re
import ssl
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any

import httpx

from shared.dynamics.credentials import trusting
from shared.dynamics.odata import any_of, dumps, error_text
from shared.errors import PermanentApiError, TransientApiError
from shared.httpclient import ApiClient, RetryPolicy

SOURCE = "bc"
SCOPE = "https://api.businesscentral.dynamics.com/.default"
"""The client-credentials scope every Business Central tenant expects."""
MAX_BATCH_OPERATIONS = 100
JOURNAL_CODE_LENGTH = 10
EXTERNAL_KEY_LENGTH = 35
"""``externalDocumentNumber`` is an AL ``Code[35]``: stored upper-case, at most 35 characters."""
_TRANSIENT = frozenset({408, 429, 500, 502, 503, 504})
ITEM_FIELDS = ("id", "number", "displayName", "type", "blocked", "gtin", "inventory", "unitPrice", "unitCost",
               "baseUnitOfMeasureCode", "lastModifiedDateTime")
DEFAULT_RETRY = RetryPolicy()
DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=5.0)
"""Posting a large journal takes a while in BC; reads and writes stay well under its 8-minute limit."""

Entity = dict[str, Any]
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


class BatchError(PermanentApiError):
    """A ``$batch`` operation was refused; ``operation`` names it and ``responses`` holds every answer."""

    def __init__(self, description: str, *, operation: Mapping[str, Any], responses: list[Entity], status: int,
                 body: str | None) -> None:
        super().__init__("BatchOperationFailed", description, source=SOURCE, status=status, body=body)
        self.operation = dict(operation)
        self.responses = responses


class TransientBatchError(TransientApiError):
    """A ``$batch`` operation was throttled or hit a server error; the same batch may succeed later."""

    def __init__(self, description: str, *, operation: Mapping[str, Any], responses: list[Entity], status: int,
                 body: str | None) -> None:
        super().__init__("BatchOperationThrottled", description, source=SOURCE, status=status, body=body)
        self.operation = dict(operation)
        self.responses = responses


class JournalNotEmpty(PermanentApiError):
    """The journal batch holds lines this run did not write; posting it would post them too."""


class AlreadyPosted(PermanentApiError):
    """G/L entries already carry one of the journal's document numbers: writing the lines again would
    post the same money twice."""


DECIMAL_FIELDS = frozenset({
    "amount", "debitAmount", "creditAmount", "additionalCurrencyDebitAmount", "additionalCurrencyCreditAmount",
    "remainingAmount", "discountAmount", "discountPercent", "totalAmountExcludingTax", "totalTaxAmount",
    "totalAmountIncludingTax", "amountExcludingTax", "amountIncludingTax", "netAmount", "taxPercent", "unitPrice",
    "unitCost", "quantity", "shippedQuantity", "invoicedQuantity", "inventory", "balanceDue", "creditLimit",
    "netChange"})
"""``Edm.Decimal`` properties of the entities this client reads. BC writes a whole decimal without a point
(``"debitAmount": 0``), which JSON parses as ``int``; these are turned into ``Decimal`` as well."""


def _decimals(document: dict[str, Any]) -> dict[str, Any]:
    for key, value in document.items():
        if key in DECIMAL_FIELDS and isinstance(value, int) and not isinstance(value, bool):
            document[key] = Decimal(value)
    return document


def loads(content: bytes | str) -> Any:
    """Business Central JSON with every decimal property as ``Decimal`` (never ``float``)."""
    return json.loads(content, parse_float=Decimal, object_hook=_decimals)


def literal(value: str) -> str:
    """An OData string literal: quoted, with quotes doubled."""
    return "'" + value.replace("'", "''") + "'"


class BusinessCentralClient:
    """One company of one Business Central environment.

    Args:
        base_url: the API root, ``https://api.businesscentral.dynamics.com/v2.0/{tenant}/{environment}/api/v2.0``.
        credentials: the ``auth`` callable (``EntraAuth`` for scope ``SCOPE``): ``credentials(refresh)`` returns
            the Authorization header; called with True after a 401.
        company_id: the company (GUID) every company-scoped call addresses.
        transport: an httpx transport for tests.
        verify: the TLS trust (a CA bundle path or an ``ssl.SSLContext``; True: the system's authorities).
    """

    def __init__(
        self,
        base_url: str,
        *,
        credentials: Callable[[bool], Mapping[str, str]],
        company_id: str,
        transport: httpx.BaseTransport | None = None,
        verify: ssl.SSLContext | str | bool = True,
        retry: RetryPolicy = DEFAULT_RETRY,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.company_id = company_id
        self.api = ApiClient(SOURCE, base_url.rstrip("/") + "/", auth=credentials, retry=retry, timeout=timeout,
                             headers={"Accept": "application/json"}, describe_error=error_text,
                             transport=transport or trusting(verify), sleep=sleep)

    def metadata_document(self) -> str:
        """The API's CSDL ``$metadata`` (XML: the JSON the client asks for by default is not offered)."""
        return self.api.request("GET", "$metadata", headers={"Accept": "application/xml"}).text

    @classmethod
    def connect(cls, service_url: str, *, tenant: str, credentials: Callable[[bool], Mapping[str, str]],
                environment: str = "production",
                company: str | None = None, transport: httpx.BaseTransport | None = None,
                **options: Any) -> BusinessCentralClient:
        """A client for ``company`` (its GUID or its name; None takes the environment's first company).

        ``service_url`` is the host (``https://api.businesscentral.dynamics.com``, or ``D365_BC_URL`` for the
        simulator); the API root ``/v2.0/{tenant}/{environment}/api/v2.0`` is added unless it is there.
        """
        root = service_url.rstrip("/")
        if "/api/v2.0" not in root:
            root = f"{root}/v2.0/{tenant}/{environment}/api/v2.0"
        client = cls(root, credentials=credentials, company_id="", transport=transport, **options)
        if company is not None and _GUID.match(company):
            client.company_id = company.lower()
            return client
        flt = None if company is None else f"name eq {literal(company)}"
        found = next(client.iter("companies", flt), None)
        if found is None:
            client.close()
            raise PermanentApiError("CompanyNotFound", f"no company {company!r} in environment {environment}",
                                    source=SOURCE)
        client.company_id = str(found["id"])
        return client

    def close(self) -> None:
        self.api.close()

    @property
    def requests_sent(self) -> int:
        return self.api.requests_sent

    # -- plumbing ----------------------------------------------------------------------------------------------

    def path(self, resource: str) -> str:
        """A company-scoped path; ``subscriptions``, ``companies…`` and absolute URLs pass unchanged."""
        if resource.startswith(("http://", "https://", "companies", "subscriptions", "$")):
            return resource
        return f"companies({self.company_id})/{resource.lstrip('/')}"

    def call(self, method: str, resource: str, *, body: Any = None, headers: Mapping[str, str] | None = None,
             params: Mapping[str, Any] | None = None) -> Any:
        """Send one request and return the parsed JSON body (None for 204)."""
        sent = dict(headers or {})
        content = None
        if body is not None:
            content = dumps(body)
            sent.setdefault("Content-Type", "application/json")
        response = self.api.request(method, self.path(resource), content=content, headers=sent,
                                    params=dict(params) if params else None)
        return loads(response.content) if response.content else None

    def get(self, resource: str, entity_id: str, *, expand: str | None = None) -> Entity:
        params = {"$expand": expand} if expand else None
        result: Entity = self.call("GET", f"{resource}({entity_id})", params=params)
        return result

    def create(self, resource: str, body: Mapping[str, Any]) -> Entity:
        result: Entity = self.call("POST", resource, body=body)
        return result

    def patch(self, resource: str, entity_id: str, etag: str, changes: Mapping[str, Any], *,
              reread_on_conflict: bool = False) -> Entity:
        """PATCH with ``If-Match: etag`` (BC requires it; ``"*"`` overwrites whatever is there).

        With ``reread_on_conflict``, a 409 ``Request_EntityChanged`` re-reads the entity and applies
        ``changes`` once more over the fresh ETag: right for fields this integration alone owns.
        """
        target = f"{resource}({entity_id})"
        try:
            result: Entity = self.call("PATCH", target, body=changes, headers={"If-Match": etag})
            return result
        except PermanentApiError as error:
            if not (reread_on_conflict and error.status == 409 and "Request_EntityChanged" in (error.body or "")):
                raise
        fresh = self.get(resource, entity_id)
        result = self.call("PATCH", target, body=changes, headers={"If-Match": fresh["@odata.etag"]})
        return result

    def delete(self, resource: str, entity_id: str, etag: str = "*") -> None:
        self.call("DELETE", f"{resource}({entity_id})", headers={"If-Match": etag})

    def iter(self, resource: str, filter: str | None = None, select: str | Sequence[str] | None = None, *,
             orderby: str | None = None, expand: str | None = None, page_size: int | None = None,
             ) -> Iterator[Entity]:
        """Every entity of a collection, one page in memory at a time, following ``@odata.nextLink``.

        Never sends ``$top``: in Business Central ``$top`` switches paging off and silently truncates.
        """
        params: dict[str, Any] = {}
        if filter:
            params["$filter"] = filter
        if select:
            params["$select"] = select if isinstance(select, str) else ",".join(select)
        if orderby:
            params["$orderby"] = orderby
        if expand:
            params["$expand"] = expand
        headers = {"Prefer": f"odata.maxpagesize={page_size}"} if page_size else None
        url: str | None = self.path(resource)
        query: dict[str, Any] | None = params or None
        while url:
            response = self.api.request("GET", url, params=query, headers=dict(headers or {}))
            page = loads(response.content)
            yield from page.get("value", [])
            url = page.get("@odata.nextLink")
            query = None

    # -- $batch ------------------------------------------------------------------------------------------------

    def batch(self, operations: Sequence[Mapping[str, Any]], *, atomic: bool = True) -> list[Entity]:
        """Send operations as one JSON ``$batch``; returns the answers in operation order.

        Each operation is ``{"method", "url", "body"?, "headers"?, "id"?, "dependsOn"?}``; a company-scoped
        ``url`` may be relative to the company (``"customers"``). ``atomic`` sends ``Isolation: snapshot``, so
        one failure rolls the whole batch back. Every answer is checked: the first failed operation raises
        ``BatchError`` (or ``TransientBatchError`` for 408/429/5xx) naming it.

        Raises:
            ValueError: more than 100 operations (BC's limit; split them yourself, knowing that two batches
                are two transactions).
        """
        if len(operations) > MAX_BATCH_OPERATIONS:
            raise ValueError(f"{len(operations)} operations in one $batch; Business Central allows at most "
                             f"{MAX_BATCH_OPERATIONS}")
        requests = []
        for position, operation in enumerate(operations, start=1):
            headers = {"Content-Type": "application/json", **dict(operation.get("headers") or {})}
            request: dict[str, Any] = {"id": str(operation.get("id", position)),
                                       "method": str(operation["method"]).upper(),
                                       "url": self.path(str(operation["url"])), "headers": headers}
            if operation.get("body") is not None:
                request["body"] = operation["body"]
            if operation.get("dependsOn"):
                request["dependsOn"] = [str(d) for d in operation["dependsOn"]]
            requests.append(request)
        headers = {"Content-Type": "application/json"}
        if atomic:
            headers["Isolation"] = "snapshot"
        response = self.api.request("POST", "$batch", content=dumps({"requests": requests}), headers=headers)
        answers = loads(response.content).get("responses")
        if not isinstance(answers, list):
            raise PermanentApiError("BatchUnreadable", f"$batch answered without a responses list: "
                                    f"{response.text[:500]}", source=SOURCE, status=response.status_code)
        by_id = {str(a.get("id")): a for a in answers if isinstance(a, dict)}
        ordered = []
        for request in requests:
            answer = by_id.get(request["id"])
            if answer is None:
                answer = {"id": request["id"], "status": 424, "body": {"error": {
                    "code": "Missing", "message": "Business Central returned no answer for this operation."}}}
            ordered.append(answer)
        self._raise_for_batch(requests, ordered, atomic)
        return ordered

    @staticmethod
    def _raise_for_batch(requests: list[Entity], answers: list[Entity], atomic: bool) -> None:
        failures = [(r, a) for r, a in zip(requests, answers, strict=True) if int(a.get("status", 0)) >= 400]
        if not failures:
            return
        request, answer = next(((r, a) for r, a in failures if a.get("status") != 424), failures[0])
        status = int(answer["status"])
        error = (answer.get("body") or {}).get("error") or {}
        text = ": ".join(str(p) for p in (error.get("code"), error.get("message")) if p)
        description = (f"$batch operation {request['id']} ({request['method']} {request['url']}) failed with HTTP "
                       f"{status}: {text or answer.get('body')}")
        if atomic:
            description += "; the batch ran with Isolation: snapshot, so none of its operations were applied"
        else:
            applied = sum(1 for a in answers if int(a.get("status", 0)) < 400)
            description += f"; {applied} of {len(answers)} operations were applied"
        body = json.dumps(answer.get("body"), default=str)[:32_000]
        kind = TransientBatchError if status in _TRANSIENT else BatchError
        raise kind(description, operation=request, responses=answers, status=status, body=body)

    # -- journals ----------------------------------------------------------------------------------------------

    def find_journal(self, *, code: str | None = None, external_key: str | None = None) -> Entity | None:
        """A general journal batch by its code or by the external key it was created for (its displayName)."""
        if code is not None:
            flt = f"code eq {literal(code.upper())}"
        elif external_key is not None:
            flt = f"displayName eq {literal(external_key)}"
        else:
            raise ValueError("find_journal needs a code or an external key")
        return next(self.iter("journals", flt), None)

    def journal_lines(self, journal_id: str, filter: str | None = None) -> list[Entity]:
        return list(self.iter(f"journals({journal_id})/journalLines", filter))

    def create_journal_with_lines(self, code: str, lines: Sequence[Mapping[str, Any]], *, external_key: str,
                                  display_name: str | None = None, check_posted: bool = True) -> Entity:
        """Create journal batch ``code`` and its lines, all lines in one atomic ``$batch``.

        The batch must be new or empty: BC posts every line of a batch, so a batch holding someone else's
        lines is refused (``JournalNotEmpty``). Every line carries ``external_key`` in
        ``externalDocumentNumber`` and gets a deterministic ``lineNumber``, so a retry after an uncertain
        outcome collides instead of duplicating; look the key up with ``find_journal_lines`` first.
        If this run's lines are all there already, they are returned as they are. Posted lines leave the
        journal, so with ``check_posted`` the lines' document numbers are looked up in the G/L first and
        ``AlreadyPosted`` is raised if they are there (a redelivered message must not post twice).

        Returns:
            ``{"journal": …, "lines": […]}``.
        """
        code = code.upper()
        key = external_key.upper()
        if not 0 < len(code) <= JOURNAL_CODE_LENGTH:
            raise ValueError(f"journal code {code!r} must have 1 to {JOURNAL_CODE_LENGTH} characters")
        if not 0 < len(key) <= EXTERNAL_KEY_LENGTH:
            raise ValueError(f"external key {external_key!r} must have 1 to {EXTERNAL_KEY_LENGTH} characters")
        if not lines or len(lines) > MAX_BATCH_OPERATIONS:
            raise ValueError(f"{len(lines)} journal lines; one atomic batch holds 1 to {MAX_BATCH_OPERATIONS}")
        journal = self._journal_for(code, display_name or external_key)
        existing = self.journal_lines(journal["id"])
        if existing:
            if len(existing) == len(lines) and all(line.get("externalDocumentNumber") == key for line in existing):
                return {"journal": journal, "lines": existing}
            raise JournalNotEmpty(
                "JournalNotEmpty", f"journal {code} holds {len(existing)} line(s) not written for {key} "
                f"(first: {existing[0].get('documentNumber')} / {existing[0].get('externalDocumentNumber')}); "
                "posting it would post them too", source=SOURCE)
        if check_posted:
            for document in sorted({str(line.get("documentNumber") or "") for line in lines} - {""}):
                posted = self.find_gl_entries(document)
                if posted:
                    raise AlreadyPosted("AlreadyPosted", f"document {document.upper()} is posted already "
                                        f"(G/L entries {[e['entryNumber'] for e in posted]})", source=SOURCE)
        operations = [{"method": "POST", "url": f"journals({journal['id']})/journalLines",
                       "body": {**line, "lineNumber": line.get("lineNumber", 10000 * i),
                                "externalDocumentNumber": key}}
                      for i, line in enumerate(lines, start=1)]
        answers = self.batch(operations, atomic=True)
        return {"journal": journal, "lines": [a.get("body") for a in answers]}

    def _journal_for(self, code: str, display_name: str) -> Entity:
        journal = self.find_journal(code=code)
        if journal is not None:
            return journal
        try:
            return self.create("journals", {"code": code, "displayName": display_name[:100]})
        except PermanentApiError as error:
            if "Internal_EntityWithSameKeyExists" not in (error.body or ""):
                raise
        found = self.find_journal(code=code)
        if found is None:
            raise PermanentApiError("JournalMissing", f"journal {code} exists and cannot be read", source=SOURCE)
        return found

    def find_journal_lines(self, external_key: str, *, code: str | None = None) -> list[Entity]:
        """The unposted lines written for ``external_key`` (the look-up before retrying a write).

        The journal is found by ``code`` or, by default, by the external key kept in its displayName.
        An empty answer means nothing is waiting: never written, or already posted (see ``find_gl_entries``).
        """
        journals = ([j] if (j := self.find_journal(code=code)) else []) if code is not None else \
            list(self.iter("journals", f"displayName eq {literal(external_key)}"))
        flt = f"externalDocumentNumber eq {literal(external_key.upper())}"
        return [line for journal in journals for line in self.journal_lines(journal["id"], flt)]

    def post_journal(self, journal_id: str) -> None:
        """``Microsoft.NAV.post``: posts every line of the batch (204), or raises with BC's reason."""
        self.call("POST", f"journals({journal_id})/Microsoft.NAV.post")

    def find_gl_entries(self, *document_numbers: str) -> list[Entity]:
        """Posted G/L entries of these document numbers (a few dozen at most, in one ``$filter``): the evidence
        that a journal was posted."""
        if not document_numbers:
            return []
        numbers = (n.upper() for n in document_numbers)
        return list(self.iter("generalLedgerEntries", any_of("documentNumber", numbers, literal)))

    # -- customer payments and sales documents -----------------------------------------------------------------

    def create_customer_payment(self, journal_id: str, *, amount: Decimal, posting_date: str,
                                external_document_number: str, customer_number: str | None = None,
                                customer_id: str | None = None, document_number: str | None = None,
                                applies_to_invoice_id: str | None = None,
                                applies_to_invoice_number: str | None = None,
                                description: str | None = None) -> Entity:
        """A line in customer-payment journal ``journal_id`` (a receipt is a negative amount in BC)."""
        if not isinstance(amount, Decimal):
            raise TypeError("amount must be a Decimal")
        body: dict[str, Any] = {"amount": amount, "postingDate": posting_date,
                                "externalDocumentNumber": external_document_number.upper()}
        optional = {"customerNumber": customer_number, "customerId": customer_id, "documentNumber": document_number,
                    "appliesToInvoiceId": applies_to_invoice_id, "appliesToInvoiceNumber": applies_to_invoice_number,
                    "description": description}
        body.update({k: v for k, v in optional.items() if v is not None})
        return self.create(f"customerPaymentJournals({journal_id})/customerPayments", body)

    def find_customer_payments(self, journal_id: str, *external_document_numbers: str) -> list[Entity]:
        """Lines of a customer-payment journal with these external document numbers (a few dozen at most)."""
        if not external_document_numbers:
            return []
        flt = any_of("externalDocumentNumber", (n.upper() for n in external_document_numbers), literal)
        return list(self.iter(f"customerPaymentJournals({journal_id})/customerPayments", flt))

    # -- items ------------------------------------------------------------------------------------------------

    def items(self, filter: str | None = None) -> Iterator[Entity]:
        """The company's items by number. ``inventory`` is the item's stock over all locations: API v2.0 has no
        per-location figure."""
        return self.iter("items", filter, ITEM_FIELDS, orderby="number")

    def get_sales_order(self, order_id: str) -> Entity:
        """A sales order with its ``salesOrderLines``."""
        return self.get("salesOrders", order_id, expand="salesOrderLines")

    def get_sales_invoice(self, invoice_id: str) -> Entity:
        return self.get("salesInvoices", invoice_id, expand="salesInvoiceLines")

    # -- webhooks ----------------------------------------------------------------------------------------------

    def create_subscription(self, notification_url: str, resource: str, client_state: str) -> Entity:
        """Subscribe ``notification_url`` to a company collection (``"customers"`` or a full resource path).

        BC calls ``notification_url?validationToken=…`` before it answers; the receiver must echo the token
        with 200 within about 5 seconds, or the subscription is refused.
        """
        if not resource.startswith(("/api/", "api/", "companies")):
            resource = f"/api/v2.0/companies({self.company_id})/{resource}"
        return self.create("subscriptions", {"notificationUrl": notification_url, "resource": resource,
                                             "clientState": client_state})

    def renew_subscription(self, subscription_id: str, etag: str) -> Entity:
        """Extend a subscription by three days (BC repeats the handshake); returns it with its new ETag."""
        result: Entity = self.call("PATCH", f"subscriptions({literal(subscription_id)})", body={},
                                   headers={"If-Match": etag})
        return result

    def delete_subscription(self, subscription_id: str, etag: str = "*") -> None:
        self.call("DELETE", f"subscriptions({literal(subscription_id)})", headers={"If-Match": etag})

    def list_subscriptions(self) -> list[Entity]:
        return list(self.iter("subscriptions"))
