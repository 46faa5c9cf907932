"""The F&O simulator's HTTP face: Entra tokens, OData under ``/data``, ``$batch``, posting, business events.

``FinanceOperations`` is the ``Simulated`` part that ``SimulatorApp`` wraps with fault injection and
``/_sim``; its methods are also the Python-side API tests and the demo use to seed master data, post
journals, emit events and read the ground truth.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from sandbox.scenario import contoso
from sandbox.simulators.entra import Directory, TokenRejected
from sandbox.simulators.fo.errors import FoFailure, bad_request, not_found
from sandbox.simulators.fo.events import BusinessEvents, DeliveryMode, Endpoint
from sandbox.simulators.fo.model import (
    HEADER_SETS,
    INVENTORY_HEADERS,
    LINE_SETS,
    NAMESPACE,
    POST_ACTION,
    SPECS,
    EntitySpec,
    metadata,
)
from sandbox.simulators.fo.multipart import InnerRequest, InnerResponse, MultipartError, parse_batch, write_batch
from sandbox.simulators.fo.rules import split_segments
from sandbox.simulators.fo.seeding import Seeding
from sandbox.simulators.fo.store import Company, Row, Store, jsonable
from sandbox.simulators.jsonio import dumps, loads
from sandbox.simulators.odata import (
    FINANCE_AND_OPERATIONS,
    ODataQueryError,
    QueryOptions,
    format_key,
    parse_key,
    split_outside_quotes,
)

DEFAULT_TENANT = "00000000-0000-0000-0000-000000000365"
DEFAULT_CLIENT_ID = "hl365-local-client"
DEFAULT_CLIENT_SECRET = "hl365-local-secret"  # noqa: S105  (the sandbox's published local credential)
KINDS = {"ledger": "LedgerJournalHeaders", "customer_payment": "CustomerPaymentJournalHeaders"}


@dataclass
class Reply:
    """One HTTP answer, built before it is sent (so ``$batch`` can nest it)."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    entity_path: str | None = None

    @classmethod
    def json(cls, status: int, document: Any, headers: Mapping[str, str] | None = None,
             entity_path: str | None = None) -> Reply:
        return cls(status, {"Content-Type": "application/json; odata.metadata=minimal", "OData-Version": "4.0",
                            **(headers or {})}, dumps(document), entity_path)

    @classmethod
    def failure(cls, failure: FoFailure) -> Reply:
        return cls.json(failure.status, failure.body(), failure.headers)


class FinanceOperations(Seeding):
    """A Dynamics 365 Finance & Operations environment on loopback.

    Args:
        seed: drives ETag versions, ControlNumber gaps and EventIds (reproducible runs).
        page_size: server-driven page size (F&O: 10,000).
        token_lifetime: seconds a token lives (``expires_in``); ``expire_tokens()`` ends them at once.
        tenant, clients: the Entra directory and its app registrations (client id → secret); certificates and
            federated credentials are added through ``directory.register`` (``sandbox/simulators/entra.py``).
        registered_apps: client ids listed under "Microsoft Entra ID applications" in F&O (default: every
            app registration and the managed identity); a valid token of any other app gets 401 on ``/data``.
        resource: the environment URL, a token's audience (default: the URL the request came to).
        default_company: the caller's default legal entity; reads without ``cross-company=true`` see only it.
        companies: legal entity → accounting currency (default: usmf, usrt USD; demf EUR; gbsi GBP).
        demo_data: seed the Contoso-like master data of ``sandbox/scenario/contoso.py``.
        event_mode, event_interval, event_retries, event_retry_delay: business-event delivery (``events.py``).
        event_endpoints: URLs that receive every business event.
        clock: epoch seconds, by which tokens are issued and expire; today: the business date/time (default: now, UTC).
    """

    name = "fo"

    def __init__(
        self,
        *,
        seed: int = 0,
        page_size: int = 10_000,
        token_lifetime: float = 3599.0,
        tenant: str = DEFAULT_TENANT,
        clients: Mapping[str, str] | None = None,
        registered_apps: Iterable[str] | None = None,
        resource: str | None = None,
        default_company: str = "usmf",
        companies: Mapping[str, str] | None = None,
        demo_data: bool = True,
        event_mode: DeliveryMode = "in_order",
        event_endpoints: Iterable[str] = (),
        event_interval: float | None = 0.5,
        event_retries: int = 3,
        event_retry_delay: float = 1.0,
        clock: Callable[[], float] = time.time,
        today: Callable[[], datetime] = lambda: datetime.now(UTC),
        journal_number_format: str = "{n:05d}",
    ) -> None:
        self.page_size = page_size
        self.tenant = tenant
        self.directory = Directory(tenant, resources=self._resources, clock=clock, token_lifetime=token_lifetime)
        for client_id, secret in (clients or {DEFAULT_CLIENT_ID: DEFAULT_CLIENT_SECRET}).items():
            self.directory.register(client_id, secret=secret)
        self._registered_apps = set(registered_apps) if registered_apps is not None else None
        self.resource = resource.rstrip("/") if resource else None
        self.store = Store(companies=dict(companies or {"usmf": "USD", "usrt": "USD", "demf": "EUR", "gbsi": "GBP"}),
                           default_company=default_company, seed=seed, today=today,
                           journal_number_format=journal_number_format)
        self.events = BusinessEvents(seed=seed, mode=event_mode, retries=event_retries, retry_delay=event_retry_delay,
                                     interval=event_interval, clock=today)
        self.store.on_event = self._publish
        for url in event_endpoints:
            self.add_event_endpoint(url)
        for company in self.store.companies:
            contoso.setup_company(self, company)
        if demo_data:
            contoso.seed(self)

    def _publish(self, event_id: str, company: str, payload: dict[str, Any]) -> None:
        self.events.publish(event_id, company, payload)

    # ================================================================================================ HTTP routes
    def fault_answer(self, status: int, retry_after: float) -> tuple[dict[str, Any], dict[str, str]]:
        """F&O's OData error body; its service protection sends ``Retry-After`` with a 429."""
        if status == 429:
            return ({"error": {"code": "", "message": "Number of requests exceeded the limit of 6000 over the time "
                               "window of 300 seconds."}}, {"Retry-After": str(max(1, round(retry_after)))})
        return ({"error": {"code": "", "message": "The service is temporarily unavailable. Try again later."}},
                {"Retry-After": str(max(1, round(retry_after)))} if status == 503 else {})

    def routes(self) -> list[BaseRoute]:
        methods = ["GET", "POST", "PATCH", "PUT", "DELETE"]
        return [
            *self.directory.routes(),
            Route("/data", self._data, methods=methods),
            Route("/data/{rest:path}", self._data, methods=methods),
        ]

    def _resources(self, base: str) -> list[str]:
        return [self.resource or base]

    @property
    def registered_apps(self) -> set[str]:
        """Client ids listed under System administration > Setup > Microsoft Entra ID applications."""
        if self._registered_apps is not None:
            return self._registered_apps
        return set(self.directory.apps) | {m.client_id for m in self.directory.managed_identities}

    @registered_apps.setter
    def registered_apps(self, client_ids: Iterable[str]) -> None:
        self._registered_apps = set(client_ids)

    @property
    def tokens_issued(self) -> int:
        return self.directory.tokens_issued

    def _authenticate(self, request: Request) -> Reply | None:
        base = f"{request.url.scheme}://{request.url.netloc}"
        try:
            caller = self.directory.authenticate(request.headers.get("authorization", ""), self.resource or base)
        except TokenRejected as rejected:
            problem = rejected.problem
        else:
            if caller.app_id in self.registered_apps:
                return None
            problem = (f"The application '{caller.app_id}' is not registered in Microsoft Entra ID applications "
                       "(System administration > Setup).")
        return Reply.json(401, {"error": {"code": "", "message": problem}},
                          {"WWW-Authenticate": f'Bearer error="invalid_token", error_description="{problem}"'})

    async def _data(self, request: Request) -> Response:
        denied = self._authenticate(request)
        if denied is None:
            body = await request.body()
            raw = request.scope.get("raw_path") or request.scope["path"].encode()
            target = raw.decode("latin-1") + ("?" + request.url.query if request.url.query else "")
            headers = {k.lower(): v for k, v in request.headers.items()}
            reply = self.execute(request.method, target, headers, body, f"{request.url.scheme}://{request.url.netloc}")
        else:
            reply = denied
        return Response(reply.body, reply.status, headers=reply.headers)

    # ============================================================================================ request dispatch
    def execute(self, method: str, target: str, headers: Mapping[str, str], body: bytes, base: str) -> Reply:
        """Answer one request (path and query under ``/data``) as F&O would; failures become error replies."""
        try:
            with self.store.lock:
                return self._dispatch(method, target, headers, body, base, None)
        except FoFailure as failure:
            return Reply.failure(failure)

    def _dispatch(self, method: str, target: str, headers: Mapping[str, str], body: bytes, base: str,
                  content_ids: dict[str, str] | None) -> Reply:
        segments, params = self._resolve(target, content_ids)
        if segments == [""]:
            if method != "GET":
                raise FoFailure(405, "The requested resource does not support the HTTP method.")
            return Reply.json(200, {"@odata.context": f"{base}/data/$metadata", "value": [
                {"name": s, "kind": "EntitySet", "url": s} for s in SPECS]})
        if segments[0] == "$metadata":
            return Reply(200, {"Content-Type": "application/xml", "OData-Version": "4.0"}, metadata().encode())
        if segments[0] == "$batch":
            if method != "POST" or content_ids is not None:
                raise FoFailure(405, "$batch accepts POST only, and cannot be nested.")
            return self._batch(headers, body, base)
        name, key_text = _entity_segment(segments[0])
        spec = SPECS.get(name)
        if spec is None or len(segments) > 2:
            raise FoFailure(404, f"No HTTP resource was found that matches the request URI '{base}/data/"
                                 f"{'/'.join(segments)}'.")
        try:
            values = dict(_key_values(name, key_text)) if key_text is not None else None
        except ODataQueryError as exc:
            raise bad_request(str(exc)) from exc
        cross = params.get("cross-company", "").lower() == "true"
        if values is None:
            if len(segments) == 1 and method == "GET":
                return self._collection(spec, None, params, base, cross)
            if len(segments) == 1 and method == "POST":
                return self._create(spec, _json_body(body), headers, base, content_ids)
            if len(segments) == 2 and segments[1] == "$count" and method == "GET":
                options = self._options(spec, params)
                rows = options.rows(self._visible(spec, cross))
                return Reply(200, {"Content-Type": "text/plain", "OData-Version": "4.0"}, str(len(rows)).encode())
            raise FoFailure(405, "The requested resource does not support the HTTP method.")
        if len(segments) == 1:
            return self._entity(spec, values, method, params, headers, body, base, cross)
        return self._bound(spec, values, segments[1], method, params, headers, body, base, content_ids)

    def _resolve(self, target: str, content_ids: dict[str, str] | None) -> tuple[list[str], dict[str, str]]:
        """Path segments under ``/data`` and query parameters; ``$1`` resolves to the entity created as Content-ID 1."""
        split = urlsplit(target)
        path = unquote(split.path)
        if path.startswith("/data"):
            path = path[len("/data"):]
        path = path.lstrip("/")
        if content_ids is not None and path.startswith("$") and not path.startswith(("$batch", "$metadata")):
            reference, _, rest = path[1:].partition("/")
            if reference not in content_ids:
                raise bad_request(f"The Content-ID '${reference}' does not name an earlier request of this changeset.")
            path = content_ids[reference] + ("/" + rest if rest else "")
        params = dict(parse_qsl(split.query, keep_blank_values=True))
        return split_outside_quotes(path, "/"), params

    def _options(self, spec: EntitySpec, params: Mapping[str, str]) -> QueryOptions:
        try:
            options = QueryOptions.parse(params, spec.properties, dialect=FINANCE_AND_OPERATIONS,
                                         entity=f"{NAMESPACE}.{spec.entity_type}")
        except ODataQueryError as exc:
            raise bad_request(str(exc)) from exc
        navigation = {n.name for n in spec.navigation}
        for name in options.expand:
            if name not in navigation:
                raise bad_request(f"Could not find a property named '{name}' on type '{NAMESPACE}."
                                  f"{spec.entity_type}'.")
        return options

    def _visible(self, spec: EntitySpec, cross: bool, rows: Iterable[Row] | None = None) -> list[Row]:
        """Company scoping: without ``cross-company=true`` only the default company's rows exist."""
        rows = self.store.tables[spec.name].values() if rows is None else rows
        if not spec.company or cross:
            return list(rows)
        return [r for r in rows if r["dataAreaId"] == self.store.default_company]

    def _present(self, spec: EntitySpec, row: Mapping[str, Any], options: QueryOptions | None) -> dict[str, Any]:
        document: dict[str, Any] = {"@odata.etag": self.store.etag(row)}
        document.update({name: row[name] for name in spec.properties})
        if options is None:
            return document
        document = options.project(document)
        for navigation in options.expand:
            if navigation == "JournalLines":
                line_spec = SPECS[HEADER_SETS[spec.name]]
                document[navigation] = [self._present(line_spec, r, None)
                                        for r in self.store.lines_of(spec.name, row["dataAreaId"],
                                                                     row["JournalBatchNumber"])]
            else:
                header = self.store.get(LINE_SETS[spec.name], row)
                document[navigation] = None if header is None else self._present(SPECS[LINE_SETS[spec.name]],
                                                                                  header, None)
        return document

    def _collection(self, spec: EntitySpec, rows: Iterable[Row] | None, params: Mapping[str, str], base: str,
                    cross: bool, path: str | None = None) -> Reply:
        """A page of a collection: filter, order, count, skip/top, then at most ``page_size`` rows + nextLink."""
        options = self._options(spec, params)
        matched = options.rows(self._visible(spec, cross, rows))
        window = options.page(matched)
        token = params.get("$skiptoken", "0")
        if not token.isdigit():
            raise bad_request(f"The $skiptoken '{token}' is not valid.")
        offset = int(token)
        page = window[offset:offset + self.page_size]
        context = f"{base}/data/$metadata#{spec.name}"
        if options.select is not None:
            context += "(" + ",".join(options.select) + ")"
        document: dict[str, Any] = {"@odata.context": context}
        if options.count:
            document["@odata.count"] = len(matched)
        document["value"] = [self._present(spec, row, options) for row in page]
        if offset + self.page_size < len(window):
            following = {k: v for k, v in params.items() if k != "$skiptoken"}
            following["$skiptoken"] = str(offset + self.page_size)
            document["@odata.nextLink"] = f"{base}/data/{path or spec.name}?{urlencode(following)}"
        return Reply.json(200, document)

    def _entity(self, spec: EntitySpec, values: dict[str, Any], method: str, params: Mapping[str, str],
                headers: Mapping[str, str], body: bytes, base: str, cross: bool) -> Reply:
        if method == "GET":
            row = self.store.get(spec.name, values)
            if row is None or not self._visible(spec, cross, [row]):
                raise not_found(spec.name)
            document = {"@odata.context": f"{base}/data/$metadata#{spec.name}/$entity",
                        **self._present(spec, row, self._options(spec, params))}
            return Reply.json(200, document, {"ETag": self.store.etag(row)})
        if method in ("PATCH", "PUT"):
            row = self.store.update(spec.name, values, _json_body(body), if_match=headers.get("if-match"))
            return Reply(204, {"ETag": self.store.etag(row), "OData-Version": "4.0"},
                         entity_path=self._path(spec, row))
        if method == "DELETE":
            self.store.delete(spec.name, values, if_match=headers.get("if-match"))
            return Reply(204, {"OData-Version": "4.0"})
        raise FoFailure(405, "The requested resource does not support the HTTP method.")

    def _bound(self, spec: EntitySpec, values: dict[str, Any], segment: str, method: str, params: Mapping[str, str],
               headers: Mapping[str, str], body: bytes, base: str, content_ids: dict[str, str] | None) -> Reply:
        """``…(keys)/Microsoft.Dynamics.DataEntities.Post`` and the journal navigation properties."""
        if segment in (f"{NAMESPACE}.{POST_ACTION}", POST_ACTION) and spec.name in HEADER_SETS:
            if method != "POST":
                raise FoFailure(405, "The action Post accepts POST only.")
            self.store.post(spec.name, values)
            return Reply(204, {"OData-Version": "4.0"})
        if segment in (f"{NAMESPACE}.{POST_ACTION}", POST_ACTION) and spec.name == INVENTORY_HEADERS:
            if method != "POST":
                raise FoFailure(405, "The action Post accepts POST only.")
            self.store.post_movement(values)
            return Reply(204, {"OData-Version": "4.0"})
        header = self.store.get(spec.name, values) if spec.name in HEADER_SETS else None
        if segment == "JournalLines" and spec.name in HEADER_SETS:
            if header is None:
                raise not_found(spec.name)
            line_spec = SPECS[HEADER_SETS[spec.name]]
            if method == "GET":
                lines = self.store.lines_of(spec.name, header["dataAreaId"], header["JournalBatchNumber"])
                path = f"{self._path(spec, header)}/JournalLines"
                return self._collection(line_spec, lines, params, base, True, path)
            if method == "POST":
                document = {**_json_body(body), "dataAreaId": header["dataAreaId"],
                            "JournalBatchNumber": header["JournalBatchNumber"]}
                return self._create(line_spec, document, headers, base, content_ids)
            raise FoFailure(405, "The requested resource does not support the HTTP method.")
        if segment == "JournalHeader" and spec.name in LINE_SETS and method == "GET":
            line = self.store.get(spec.name, values)
            parent = None if line is None else self.store.get(LINE_SETS[spec.name], line)
            if parent is None:
                raise not_found(spec.name)
            header_spec = SPECS[LINE_SETS[spec.name]]
            return Reply.json(200, {"@odata.context": f"{base}/data/$metadata#{header_spec.name}/$entity",
                                    **self._present(header_spec, parent, None)})
        raise FoFailure(404, f"No HTTP resource was found that matches the request URI '{base}/data/"
                             f"{spec.name}/{segment}'.")

    def _create(self, spec: EntitySpec, document: dict[str, Any], headers: Mapping[str, str], base: str,
                content_ids: dict[str, str] | None) -> Reply:
        for navigation in spec.navigation:
            bind = document.pop(f"{navigation.name}@odata.bind", None)
            if bind is None or not navigation.constraints:
                continue
            segments, _ = self._resolve(str(bind), content_ids)
            name, key_text = _entity_segment(segments[0])
            target = SPECS.get(name)
            if target is None or key_text is None:
                raise bad_request(f"The @odata.bind value '{bind}' does not identify an entity.")
            try:
                keys = parse_key(key_text, target.keys, target.properties)
            except ODataQueryError as exc:
                raise bad_request(str(exc)) from exc
            parent = self.store.get(name, keys)
            if parent is None:
                raise not_found(name)
            for own, referenced in navigation.constraints:
                document[own] = parent[referenced]
        row = self.store.create(spec.name, document)
        path = self._path(spec, row)
        url = f"{base}/data/{path}"
        extra = {"ETag": self.store.etag(row), "Location": url, "OData-EntityId": url}
        if "return=minimal" in headers.get("prefer", ""):
            return Reply(204, {**extra, "OData-Version": "4.0", "Preference-Applied": "return=minimal"},
                         entity_path=path)
        document = {"@odata.context": f"{base}/data/$metadata#{spec.name}/$entity", **self._present(spec, row, None)}
        return Reply.json(201, document, extra, entity_path=path)

    @staticmethod
    def _path(spec: EntitySpec, row: Row) -> str:
        return f"{spec.name}({format_key(row, spec.keys, spec.properties)})"

    # ======================================================================================================= $batch
    def _batch(self, headers: Mapping[str, str], body: bytes, base: str) -> Reply:
        """Each changeset in one transaction; the outer answer is 200 whatever happened inside (reference §1.5)."""
        try:
            parts = parse_batch(headers.get("content-type", ""), body)
        except MultipartError as exc:
            raise bad_request(f"The batch request is not valid: {exc}") from exc
        answers: list[InnerResponse | list[InnerResponse]] = []
        for part in parts:
            if part.request is not None:
                reply = self._inner(part.request, base, None)
                answers.append(InnerResponse(reply.status, reply.headers, reply.body, part.request.content_id))
            else:
                answers.append(self._changeset(part.changeset, base))
        content_type, payload = write_batch(answers)
        return Reply(200, {"Content-Type": content_type, "OData-Version": "4.0"}, payload)

    def _inner(self, request: InnerRequest, base: str, content_ids: dict[str, str] | None) -> Reply:
        try:
            return self._dispatch(request.method, request.target, request.headers, request.body, base, content_ids)
        except FoFailure as failure:
            return Reply.failure(failure)

    def _changeset(self, requests: Sequence[InnerRequest], base: str) -> list[InnerResponse]:
        content_ids: dict[str, str] = {}
        answers: list[InnerResponse] = []
        current: InnerRequest | None = None
        try:
            with self.store.transaction():
                for current in requests:
                    if current.method == "GET":
                        raise bad_request("A changeset can contain only data modification requests (POST, PATCH, "
                                          "PUT, DELETE); send GET outside the changeset.")
                    reply = self._dispatch(current.method, current.target, current.headers, current.body, base,
                                           content_ids)
                    if current.content_id is not None:
                        content_ids[current.content_id.lstrip("$")] = reply.entity_path or ""
                    answers.append(InnerResponse(reply.status, reply.headers, reply.body, current.content_id))
        except FoFailure as failure:
            reply = Reply.failure(failure)
            return [InnerResponse(reply.status, reply.headers, reply.body, current.content_id if current else None)]
        return answers

    # ================================================================================================ ground truth
    def state(self) -> dict[str, Any]:
        """JSON-able ground truth: journals with lines and posted flag, customer payments, events, tokens."""
        with self.store.lock:
            journals = self.journals()
            payments = [
                {"dataAreaId": line["dataAreaId"], "JournalBatchNumber": line["JournalBatchNumber"],
                 "LineNumber": line["LineNumber"], "customer": split_segments(str(line["AccountDisplayValue"]))[0],
                 "PaymentReference": line["PaymentReference"], "MarkedInvoice": line["MarkedInvoice"],
                 "amount": format(Decimal(line["CreditAmount"]) - Decimal(line["DebitAmount"]), "f"),
                 "CurrencyCode": line["CurrencyCode"], "posted": journal["IsPosted"] == "Yes"}
                for journal in journals if journal["kind"] == "customer_payment" for line in journal["lines"]]
            return {
                "journals": journals,
                "customer_payments": payments,
                "business_events": self.events.state(),
                "tokens_issued": self.tokens_issued,
                "store": self.store.dump(),
            }

    def restore(self, state: dict[str, Any]) -> None:
        self.store.load(state["store"])

    def journals(self, kind: str | None = None) -> list[dict[str, Any]]:
        """Every journal (``kind``: ``ledger`` or ``customer_payment``) with its lines, balance and posted flag."""
        result = []
        with self.store.lock:
            for journal_kind, header_set in KINDS.items():
                if kind not in (None, journal_kind):
                    continue
                for header in self.store.tables[header_set].values():
                    lines = self.store.lines_of(header_set, header["dataAreaId"], header["JournalBatchNumber"])
                    totals = self.store.balance(lines)
                    result.append({
                        "kind": journal_kind, **{k: v for k, v in jsonable(header).items() if not k.startswith("_")},
                        "posted_at": header.get("_posted_at"),
                        "balanced": all(d == c for d, c in totals.values()),
                        "totals": {cur: {"debit": format(d, "f"), "credit": format(c, "f")}
                                   for cur, (d, c) in totals.items()},
                        "lines": [{k: v for k, v in jsonable(line).items() if not k.startswith("_")} for line in lines],
                    })
        return result

    def rows(self, set_name: str) -> list[dict[str, Any]]:
        """A copy of every row of an entity set (all companies), typed (Decimal stays Decimal)."""
        with self.store.lock:
            return [{k: v for k, v in row.items() if not k.startswith("_")}
                    for row in self.store.tables[set_name].values()]

    # ================================================= Python-side API (the rest of the seeding API is seeding.py)
    def add_company(self, company: str, currency: str) -> None:
        with self.store.lock:
            self.store.companies[company.lower()] = Company(currency=currency.upper())
            self.store.currencies.add(currency.upper())
            contoso.setup_company(self, company.lower())

    def sales_order(self, number: str, *, company: str | None = None) -> dict[str, Any] | None:
        """A sales order header as F&O holds it (``HL365PaymentStatus`` included), or None."""
        with self.store.lock:
            row = self.store.get("SalesOrderHeadersV2", {"dataAreaId": self._company(company),
                                                         "SalesOrderNumber": number})
            return None if row is None else {k: v for k, v in row.items() if not k.startswith("_")}

    def post_journal(self, batch_number: str, *, company: str | None = None, kind: str = "ledger") -> dict[str, Any]:
        """Post as the ``Post`` action does (a control hook for tests that post "inside F&O")."""
        row = self.store.post(KINDS[kind], {"dataAreaId": self._company(company), "JournalBatchNumber": batch_number})
        return {k: v for k, v in row.items() if not k.startswith("_")}

    def add_event_endpoint(self, url: str, *, headers: Mapping[str, str] | None = None,
                           events: Iterable[str] | None = None, legal_entity: str | None = None) -> None:
        """Bind business events (all, or ``events``) of one legal entity (or all) to an HTTPS endpoint."""
        self.events.endpoints.append(Endpoint(url, dict(headers or {}), frozenset(events) if events else None,
                                              legal_entity))

    def emit_event(self, business_event_id: str, payload: Mapping[str, Any] | None = None, *,
                   company: str | None = None) -> dict[str, Any]:
        """Raise a business event now (queued for the next delivery pass); returns its envelope."""
        return self.events.publish(business_event_id, self._company(company), dict(payload or {}))

    def deliver_events(self) -> list[dict[str, Any]]:
        """Run one delivery pass now; returns one record per successful POST."""
        return self.events.deliver()

    def expire_tokens(self) -> None:
        """End every issued token now: the next ``/data`` call with one gets 401."""
        self.directory.expire_tokens()


def _entity_segment(segment: str) -> tuple[str, str | None]:
    """``Set(keys)`` → (``Set``, ``keys``); ``Set`` → (``Set``, None)."""
    if segment.endswith(")") and "(" in segment:
        name, _, rest = segment.partition("(")
        return name, rest[:-1]
    return segment, None


@lru_cache(maxsize=1024)
def _key_values(set_name: str, key_text: str) -> tuple[tuple[str, Any], ...]:
    """A URL's key, parsed once: every line of a journal changeset names the same header (``$1``)."""
    spec = SPECS[set_name]
    return tuple(parse_key(key_text, spec.keys, spec.properties, entity=f"{NAMESPACE}.{spec.entity_type}").items())


def _json_body(body: bytes) -> dict[str, Any]:
    try:
        document = loads(body or b"{}")
    except (ValueError, UnicodeDecodeError) as exc:
        raise bad_request(f"The request body is not valid JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise bad_request("The request body must be a JSON object.")
    return document
