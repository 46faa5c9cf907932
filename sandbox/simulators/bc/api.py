"""The HTTP face of the Business Central simulator: Entra's token endpoint, bearer checks, OData routing
under ``/v2.0/{tenant}/{environment}/api/v2.0``, ETag rules, paging, ``$metadata`` and JSON ``$batch``.
"""

from __future__ import annotations

import math
import re
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from sandbox.simulators import jsonio
from sandbox.simulators.bc import query
from sandbox.simulators.bc.errors import BcError, not_found
from sandbox.simulators.bc.schema import COMPANY_SETS, SETS, EntitySet, edmx
from sandbox.simulators.bc.store import Company, Record
from sandbox.simulators.entra import Directory, TokenRejected

if TYPE_CHECKING:
    from sandbox.simulators.bc.books import Books
    from sandbox.simulators.bc.simulator import Options
    from sandbox.simulators.bc.webhooks import Webhooks

JSON_TYPE = "application/json; odata.metadata=minimal"
_API_PATH = re.compile(r"^/v2\.0/(?:(?P<tenant>[^/]+)/)?(?P<env>[^/]+)/api/v2\.0(?P<rest>/.*)?$")
RESOURCE = "https://api.businesscentral.dynamics.com"
"""Business Central's application ID URI: the audience of every token it accepts."""
_SEGMENT = re.compile(r"^(?P<name>[^()]+)(?:\((?P<key>[^()]*)\))?$")
_CONCURRENCY = ("Could not validate the client concurrency token required by the service. Please provide a valid "
                "token in the client request.")


@dataclass
class Req:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: Any
    base: str

    def param(self, name: str) -> str | None:
        value = None
        for key, item in parse_qsl(self.query, keep_blank_values=True):
            if key == name:
                value = item
        return value


@dataclass
class Resp:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    location: str | None = None


def _segments(path: str) -> list[tuple[str, str | None]]:
    result: list[tuple[str, str | None]] = []
    for part in (p for p in path.split("/") if p):
        match = _SEGMENT.match(part)
        if match is None:
            raise not_found(f"The resource segment '{part}'")
        key = match.group("key")
        if key is not None:
            key = key.strip()
            if key.startswith("id="):
                key = key[3:]
            key = key.strip("'").replace("''", "'")
        result.append((match.group("name"), key))
    return result


class HttpApi:
    """Request handling; mixed into ``BusinessCentral``, which owns the store, the webhooks and the options."""

    options: Options
    store: Books
    webhooks: Webhooks
    directory: Directory
    _calls: deque[float]

    def routes(self) -> list[BaseRoute]:
        return [*self.directory.routes(),
                Route("/{path:path}", self._endpoint, methods=["GET", "POST", "PATCH", "PUT", "DELETE"])]

    # -- entry -------------------------------------------------------------------------------------------------

    async def _endpoint(self, request: Request) -> Response:
        correlation = str(uuid.uuid4())
        raw = await request.body()
        path = request.url.path
        match = _API_PATH.match(path)
        try:
            if match is None:
                raise not_found(f"No HTTP resource matches the request URI '{path}'; the resource")
            tenant = match.group("tenant")
            self._check_route(tenant, match.group("env"))
            self._authenticate(request.headers.get("authorization", ""))
            self._throttle()
            headers = {k.lower(): v for k, v in request.headers.items()}
            root = f"{request.url.scheme}://{request.url.netloc}{path[: len(path) - len(match.group('rest') or '')]}"
            req = Req(request.method, (match.group("rest") or "/").lstrip("/"), request.url.query, headers,
                      self._parse_body(request.method, raw), root)
            result = await self._route(req)
        except BcError as error:
            result = Resp(error.status, self._error_body(error.code, error.message, correlation), dict(error.headers))
        finally:
            self.webhooks.publish(self.store.take_changes())
        return self._response(result, correlation)

    def _response(self, result: Resp, correlation: str) -> Response:
        headers = {"request-id": correlation, "OData-Version": "4.0", **result.headers}
        if result.location:
            headers["Location"] = result.location
        if result.body is None:
            return Response(status_code=result.status, headers=headers)
        if isinstance(result.body, bytes):
            return Response(result.body, result.status, headers=headers, media_type="application/xml")
        return Response(jsonio.dumps(result.body, shortest=True), result.status, headers=headers, media_type=JSON_TYPE)

    @staticmethod
    def _error_body(code: str, message: str, correlation: str) -> dict[str, Any]:
        return {"error": {"code": code, "message": f"{message}  CorrelationId:  {correlation}."}}

    @staticmethod
    def _parse_body(method: str, raw: bytes) -> Any:
        if method not in ("POST", "PATCH", "PUT") or not raw.strip():
            return None
        try:
            return jsonio.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise BcError(400, "BadRequest", f"The request body is not valid JSON: {exc}") from exc

    # -- Entra ID and the gate ---------------------------------------------------------------------------------

    def _check_route(self, tenant: str | None, environment: str) -> None:
        if environment.lower() != self.options.environment.lower():
            raise BcError(404, "BadRequest_NotFound", f"The environment '{environment}' does not exist.")
        if tenant is not None and tenant.lower() != self.options.tenant.lower():
            raise BcError(404, "BadRequest_NotFound", f"The tenant '{tenant}' does not exist.")

    def _authenticate(self, header: str) -> None:
        """Business Central's answer to a missing, expired or foreign token: 401 ``Authentication_InvalidCredentials``
        with a challenge naming the authority and the resource."""
        try:
            self.directory.authenticate(header, RESOURCE)
        except TokenRejected as rejected:
            challenge = (f'Bearer authorization_uri="https://login.microsoftonline.com/{self.options.tenant}/'
                         f'oauth2/authorize", resource_id="{RESOURCE}"'
                         + (', error="invalid_token"' if rejected.presented else ""))
            raise BcError(401, "Authentication_InvalidCredentials", "The server has rejected the client credentials.",
                          headers={"WWW-Authenticate": challenge}) from None

    def _throttle(self) -> None:
        limit = self.options.requests_per_minute
        if not limit:
            return
        now = time.monotonic()
        with self.store.lock:
            while self._calls and now - self._calls[0] >= 60.0:
                self._calls.popleft()
            if len(self._calls) >= limit:
                wait = max(1, math.ceil(60.0 - (now - self._calls[0])))
                raise BcError(429, "Application_TooManyRequests",
                              f"Too many requests reached.  Actual ({len(self._calls) + 1}).  Maximum ({limit}).",
                              headers={"Retry-After": str(wait)})
            self._calls.append(now)

    # -- routing -----------------------------------------------------------------------------------------------

    async def _route(self, req: Req) -> Resp:
        first = req.path.split("/", 1)[0].split("(", 1)[0].split("?", 1)[0]
        if first == "$batch":
            if req.method != "POST":
                raise BcError(405, "BadRequest_MethodNotAllowed", "$batch accepts only POST.")
            return await self._batch(req)
        if first == "subscriptions":
            return await self._subscriptions(req)
        with self.store.lock, self.store.atomic():
            return self._dispatch(req)

    def _dispatch(self, req: Req) -> Resp:
        segments = _segments(req.path)
        if not segments:
            return self._service_document(req)
        name, key = segments[0]
        if name == "$metadata":
            return Resp(200, edmx())
        if name == "companies":
            if key is None:
                if len(segments) > 1:
                    raise not_found("The resource")
                return self._collection(req, None, SETS["companies"],
                                        [c.info() for c in self.store.companies.values()], "companies")
            company = self.store.company(key)
            if len(segments) == 1:
                if req.method != "GET":
                    raise self._not_allowed(req.method, "companies")
                return self._entity(req, company, SETS["companies"], company.info(), f"companies({company.id})")
            return self._company_path(req, company, segments[1:])
        company_name = req.headers.get("company") or req.param("company")
        company_or_none = self.store.company_by_name(company_name) if company_name else None
        if company_or_none is None:
            raise BcError(400, "Internal_CompanyNotFound",
                          "Cannot process the request because the default company cannot be found. You can specify "
                          'a company in the URL, in the Company header, or with a query string like "company=[name]".')
        return self._company_path(req, company_or_none, segments)

    def _service_document(self, req: Req) -> Resp:
        value = [{"name": n, "kind": "EntitySet", "url": n} for n in ("companies", "subscriptions")]
        return Resp(200, {"@odata.context": f"{req.base}/$metadata", "value": value})

    @staticmethod
    def _not_allowed(method: str, what: str) -> BcError:
        return BcError(405, "BadRequest_MethodNotAllowed",
                       f"'{method}' requests for '{what}' are not allowed within Dynamics 365 Business Central OData "
                       "web services.")

    def _company_path(self, req: Req, company: Company, segments: list[tuple[str, str | None]]) -> Resp:
        (name, key), rest = segments[0], segments[1:]
        entity_set = SETS.get(name)
        if entity_set is None or name not in COMPANY_SETS:
            raise not_found(f"The resource segment '{name}'")
        path = f"companies({company.id})/{name}"
        if key is None:
            if rest:
                raise not_found("The resource")
            return self._collection_request(req, company, entity_set, None, path)
        if rest and rest[0][0].startswith("Microsoft.NAV."):
            if len(rest) > 1 or rest[0][1] is not None:
                raise not_found("The resource")
            return self._action(req, company, entity_set, key, rest[0][0].removeprefix("Microsoft.NAV."))
        record = self.store.lookup(company, name, key)
        if not rest:
            return self._entity_request(req, company, entity_set, record, f"{path}({record['id']})")
        (nav_name, nav_key), more = rest[0], rest[1:]
        nav = entity_set.nav(nav_name)
        if nav is None or more:
            raise not_found(f"The resource segment '{nav_name}'")
        target = SETS[nav.target]
        child_path = f"companies({company.id})/{target.name}"
        if not nav.collection:
            if req.method != "GET":
                raise self._not_allowed(req.method, nav_name)
            referenced = company.table(target.name).get(record.get(nav.ref or "") or "")
            if referenced is None:
                raise not_found(f"The {nav_name}")
            return self._entity(req, company, target, referenced, f"{child_path}({referenced['id']})")
        if nav_key is None:
            return self._collection_request(req, company, target, record, child_path)
        child = self.store.lookup(company, target.name, nav_key)
        if child.get(nav.fk or "") != record["id"]:
            raise not_found(f"The {target.type_name} with id {nav_key}")
        return self._entity_request(req, company, target, child, f"{child_path}({child['id']})")

    # -- collections and entities ------------------------------------------------------------------------------

    def _collection_request(self, req: Req, company: Company, entity_set: EntitySet, parent: Record | None,
                            path: str) -> Resp:
        if req.method == "POST":
            record = self.store.create(company, entity_set, self._body(req), parent)
            location = f"{req.base}/companies({company.id})/{entity_set.name}({record['id']})"
            result = self._entity(req, company, entity_set, record, f"companies({company.id})/{entity_set.name}",
                                  status=201)
            result.location = location
            return result
        if req.method != "GET":
            raise BcError(405, "BadRequest_MethodNotAllowed",
                          f"'{req.method}' requests for '{entity_set.name}' of EdmType 'Collection' are not allowed "
                          "within Dynamics 365 Business Central OData web services.")
        if parent is not None and entity_set.parent_fk:
            rows = [r for r in company.table(entity_set.name).values() if r.get(entity_set.parent_fk) == parent["id"]]
        else:
            if entity_set.parent_fk:
                self._check_line_filters(req, entity_set)
            rows = list(company.table(entity_set.name).values())
        return self._collection(req, company, entity_set, rows, path)

    @staticmethod
    def _check_line_filters(req: Req, entity_set: EntitySet) -> None:
        """Line pages refuse to list every line of the company: they need the parent (or the line) in $filter."""
        text = req.param("$filter") or ""
        if not re.search(rf"\b({entity_set.parent_fk}|id)\b", text):
            if entity_set.name in ("journalLines", "customerPayments"):
                raise BcError(400, "Application_DialogException",
                              "You must specify a journal batch ID or a journal ID to get a journal line.")
            raise BcError(400, "Application_DialogException", "You must specify a document id to get the lines.")

    def _collection(self, req: Req, company: Company | None, entity_set: EntitySet, rows: list[Record],
                    path: str) -> Resp:
        if req.method != "GET":
            raise self._not_allowed(req.method, entity_set.name)
        text = req.param("$filter")
        if text:
            matches = query.filter_predicate(entity_set, text)
            rows = [r for r in rows if matches(r)]
        terms = query.orderby(entity_set, req.param("$orderby"))
        rows = query.sort(entity_set, terms, rows)
        total = len(rows)
        token = req.param("$skiptoken")
        if token:
            after = query.parse_token(entity_set, terms, token)
            compare = query.comparator(terms)
            rows = [r for r in rows if compare(query.sort_key(entity_set, terms, r), after) > 0]
        skip = self._int_param(req, "$skip")
        if skip:
            rows = rows[skip:]
        page_size = self._page_size(req)
        top = self._int_param(req, "$top")
        headers: dict[str, str] = {}
        if "odata.maxpagesize" in req.headers.get("prefer", ""):
            headers["Preference-Applied"] = f"odata.maxpagesize={page_size}"
        body: dict[str, Any] = {"@odata.context": f"{req.base}/$metadata#{path}"}
        if (req.param("$count") or "").lower() == "true":
            body["@odata.count"] = total
        page = rows[: min(top, page_size)] if top is not None else rows[:page_size]
        body["value"] = [self._render(req, company, entity_set, r) for r in page]
        if top is None and len(rows) > page_size:
            body["@odata.nextLink"] = self._next_link(req, path, query.format_token(
                query.sort_key(entity_set, terms, page[-1])))
        return Resp(200, body, headers)

    @staticmethod
    def _int_param(req: Req, name: str) -> int | None:
        value = req.param(name)
        if value is None:
            return None
        if not value.isdigit():
            raise BcError(400, "BadRequest", f"The value '{value}' of {name} is not a non-negative integer.")
        return int(value)

    def _page_size(self, req: Req) -> int:
        size = self.options.max_page_size
        match = re.search(r"odata\.maxpagesize\s*=\s*(\d+)", req.headers.get("prefer", ""))
        if match and int(match.group(1)) > 0:
            size = min(size, int(match.group(1)))
        return size

    @staticmethod
    def _next_link(req: Req, path: str, token: str) -> str:
        params = [(k, v) for k, v in parse_qsl(req.query, keep_blank_values=True) if k != "$skiptoken"]
        params.append(("$skiptoken", token))
        encoded = urlencode(params, quote_via=quote, safe="$'(),:")
        return f"{req.base}/{path}?{encoded}"

    def _render(self, req: Req, company: Company | None, entity_set: EntitySet, record: Record,
                options: dict[str, str] | None = None) -> Record:
        options = options if options is not None else {"$select": req.param("$select") or "",
                                                       "$expand": req.param("$expand") or ""}
        names = query.select(entity_set, options.get("$select"))
        out = self.store.render(entity_set, record, names)
        for nav_name, nested in query.parse_expand(options.get("$expand")).items():
            nav = entity_set.nav(nav_name)
            if nav is None or company is None:
                raise BcError(400, "BadRequest_NotFound",
                              f"Could not find a property named '{nav_name}' on type "
                              f"'Microsoft.NAV.{entity_set.type_name}'.")
            target = SETS[nav.target]
            if nav.collection:
                children = query.sort(target, query.orderby(target, None),
                                      [r for r in company.table(target.name).values()
                                       if r.get(nav.fk or "") == record["id"]])
                out[nav_name] = [self._render(req, company, target, c, nested) for c in children]
            else:
                referenced = company.table(target.name).get(record.get(nav.ref or "") or "")
                out[nav_name] = None if referenced is None else self._render(req, company, target, referenced, nested)
        return out

    def _entity(self, req: Req, company: Company | None, entity_set: EntitySet, record: Record, path: str,
                status: int = 200) -> Resp:
        body = {"@odata.context": f"{req.base}/$metadata#{path.rsplit('(', 1)[0] if path.endswith(')') else path}"
                                  "/$entity", **self._render(req, company, entity_set, record)}
        return Resp(status, body, {"ETag": self.store.etag(record)})

    def _entity_request(self, req: Req, company: Company, entity_set: EntitySet, record: Record, path: str) -> Resp:
        if req.method == "GET":
            return self._entity(req, company, entity_set, record, path)
        if req.method in ("PATCH", "DELETE"):
            self._check_if_match(req, self.store.etag(record))
            if req.method == "DELETE":
                self.store.delete(company, entity_set, record)
                return Resp(204)
            updated = self.store.update(company, entity_set, record, self._body(req))
            return self._entity(req, company, entity_set, updated, path)
        raise self._not_allowed(req.method, entity_set.name)

    @staticmethod
    def _check_if_match(req: Req, current: str) -> None:
        given = req.headers.get("if-match")
        if not given:
            raise BcError(400, "BadRequest_InvalidToken", _CONCURRENCY)
        if given.strip() == "*":
            return
        if current not in [tag.strip() for tag in given.split(",")]:
            raise BcError(409, "Request_EntityChanged", "Another user has already changed the record.")

    @staticmethod
    def _body(req: Req) -> Any:
        if req.body is None:
            raise BcError(400, "BadRequest", "The request body is missing.")
        return req.body

    def _action(self, req: Req, company: Company, entity_set: EntitySet, key: str, action: str) -> Resp:
        if req.method != "POST":
            raise self._not_allowed(req.method, f"Microsoft.NAV.{action}")
        if action not in entity_set.actions:
            raise not_found(f"The bound action 'Microsoft.NAV.{action}' for '{entity_set.name}'")
        if entity_set.name == "journals":
            found = self.store.journal_by_id(company, key.lower(),
                                             any_template=self.options.post_payment_journals_via_journals)
            if found is None:
                raise not_found(f"The journal with id {key}")
            self.store.post_journal(company, *found)
        elif entity_set.name == "salesInvoices":
            self.store.post_invoice(company, self.store.lookup(company, "salesInvoices", key))
        else:
            self.store.ship_and_invoice(company, self.store.lookup(company, "salesOrders", key))
        return Resp(204)

    # -- subscriptions -----------------------------------------------------------------------------------------

    async def _subscriptions(self, req: Req) -> Resp:
        segments = _segments(req.path.split("?", 1)[0])
        key = segments[0][1]
        if len(segments) > 1:
            raise not_found("The resource")
        hooks = self.webhooks
        if key is None:
            if req.method == "GET":
                hooks.purge_expired()
                with self.store.lock:
                    value = [s.render() for s in hooks.subscriptions.values()]
                return Resp(200, {"@odata.context": f"{req.base}/$metadata#subscriptions", "value": value})
            if req.method != "POST":
                raise self._not_allowed(req.method, "subscriptions")
            values = hooks.validate(self._body(req), creating=True)
            await hooks.handshake(values["notificationUrl"])
            subscription = hooks.create(values)
            return Resp(201, {"@odata.context": f"{req.base}/$metadata#subscriptions/$entity",
                              **subscription.render()},
                        location=f"{req.base}/subscriptions('{subscription.id}')")
        subscription = hooks.get(key)
        if req.method == "GET":
            return Resp(200, {"@odata.context": f"{req.base}/$metadata#subscriptions/$entity", **subscription.render()})
        if req.method not in ("PATCH", "DELETE"):
            raise self._not_allowed(req.method, "subscriptions")
        self._check_if_match(req, subscription.render()["@odata.etag"])
        if req.method == "DELETE":
            hooks.delete(subscription, "deleted by the client")
            return Resp(204)
        values = hooks.validate(req.body or {}, creating=False)
        await hooks.handshake(values.get("notificationUrl") or subscription.notification_url)
        hooks.renew(subscription, values)
        return Resp(200, {"@odata.context": f"{req.base}/$metadata#subscriptions/$entity", **subscription.render()})

    # -- $batch ------------------------------------------------------------------------------------------------

    async def _batch(self, req: Req) -> Resp:
        document = self._body(req)
        requests = document.get("requests") if isinstance(document, dict) else None
        if not isinstance(requests, list) or not all(isinstance(r, dict) for r in requests):
            raise BcError(400, "BadRequest", 'A JSON batch body is {"requests": [{"method", "url", ...}]}.')
        limit = self.options.max_batch_operations
        if len(requests) > limit:
            raise BcError(400, "BadRequest",
                          f"The batch request contains {len(requests)} operations; the maximum is {limit}.")
        atomic = req.headers.get("isolation", "").strip().lower() == "snapshot"
        done: dict[str, Resp] = {}
        answers: list[dict[str, Any]] = []
        if atomic:
            with self.store.lock:
                try:
                    with self.store.atomic():
                        for position, operation in enumerate(requests):
                            result = self._inner_sync(req, operation, done)
                            answers.append(self._answer(operation, result))
                            if result.status >= 400:
                                raise _Rollback(position)
                except _Rollback as stop:
                    failed = requests[stop.position]
                    for operation in requests[stop.position + 1:]:
                        answers.append(self._answer(operation, self._failed_dependency(failed, rolled_back=True)))
        else:
            for operation in requests:
                answers.append(self._answer(operation, await self._inner(req, operation, done)))
        return Resp(200, {"responses": answers})

    def _inner_request(self, outer: Req, operation: dict[str, Any], done: dict[str, Resp]) -> Req | Resp:
        for dependency in operation.get("dependsOn") or []:
            previous = done.get(str(dependency))
            if previous is None or previous.status >= 400:
                return self._failed_dependency({"id": dependency}, rolled_back=False)
        method = str(operation.get("method", "GET")).upper()
        url = str(operation.get("url", ""))
        if url.startswith("$"):
            reference, _, rest = url[1:].partition("/")
            previous = done.get(reference)
            if previous is None or previous.location is None:
                return Resp(400, self._error_body("BadRequest", f"The request reference '${reference}' is unknown.",
                                                  str(uuid.uuid4())))
            url = previous.location + ("/" + rest if rest else "")
        if "api/v2.0/" in url:
            url = url.split("api/v2.0/", 1)[1]
        path, _, query_string = url.lstrip("/").partition("?")
        headers = {k.lower(): str(v) for k, v in (operation.get("headers") or {}).items()}
        return Req(method, path, query_string, headers, operation.get("body"), outer.base)

    def _inner_sync(self, outer: Req, operation: dict[str, Any], done: dict[str, Resp]) -> Resp:
        prepared = self._inner_request(outer, operation, done)
        if isinstance(prepared, Resp):
            return self._remember(operation, prepared, done)
        try:
            if prepared.path.split("(", 1)[0].split("/", 1)[0] in ("subscriptions", "$batch"):
                raise BcError(400, "BadRequest",
                              "subscriptions and nested $batch requests cannot run inside an isolated batch.")
            with self.store.atomic():
                result = self._dispatch(prepared)
        except BcError as error:
            result = Resp(error.status, self._error_body(error.code, error.message, str(uuid.uuid4())))
        return self._remember(operation, result, done)

    async def _inner(self, outer: Req, operation: dict[str, Any], done: dict[str, Resp]) -> Resp:
        prepared = self._inner_request(outer, operation, done)
        if isinstance(prepared, Resp):
            return self._remember(operation, prepared, done)
        try:
            if prepared.path.split("(", 1)[0].split("/", 1)[0] == "$batch":
                raise BcError(400, "BadRequest", "A $batch request cannot contain another $batch.")
            result = await self._route(prepared)
        except BcError as error:
            result = Resp(error.status, self._error_body(error.code, error.message, str(uuid.uuid4())))
        return self._remember(operation, result, done)

    @staticmethod
    def _remember(operation: dict[str, Any], result: Resp, done: dict[str, Resp]) -> Resp:
        if operation.get("id") is not None:
            done[str(operation["id"])] = result
        return result

    def _failed_dependency(self, failed: dict[str, Any], *, rolled_back: bool) -> Resp:
        what = f"operation '{failed.get('id')}' failed"
        text = (f"Not run: {what} and the isolated batch was rolled back." if rolled_back
                else f"Not run: it depends on an operation that failed or did not run ({what}).")
        return Resp(424, self._error_body("BadRequest_FailedDependency", text, str(uuid.uuid4())))

    @staticmethod
    def _answer(operation: dict[str, Any], result: Resp) -> dict[str, Any]:
        headers = {"odata-version": "4.0"}
        if result.body is not None:
            headers["content-type"] = JSON_TYPE
        headers.update({k.lower(): v for k, v in result.headers.items()})
        if result.location:
            headers["location"] = result.location
        answer: dict[str, Any] = {"id": operation.get("id"), "status": result.status, "headers": headers}
        if result.body is not None:
            answer["body"] = result.body if not isinstance(result.body, bytes) else result.body.decode()
        return answer


class _Rollback(Exception):
    def __init__(self, position: int) -> None:
        super().__init__(position)
        self.position = position


def api_root(base_url: str, tenant: str, environment: str) -> str:
    """The API v2.0 root a client uses, e.g. ``http://127.0.0.1:7104/v2.0/{tenant}/production/api/v2.0``."""
    parts = urlsplit(base_url)
    return f"{parts.scheme}://{parts.netloc}/v2.0/{tenant}/{environment}/api/v2.0"
