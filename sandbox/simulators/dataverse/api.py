"""The Web API under ``/api/data/v9.2``: bearer check, service protection, routing, writes with their
conditional headers, collections with server-driven paging, and change tracking.

Paging follows Dataverse's shape: ``@odata.nextLink`` carries ``$skiptoken=<cookie pagenumber="2"
pagingcookie="…" istracking="False" />``, opaque to clients, who follow it verbatim. A tracked read's last
page carries ``@odata.deltaLink`` instead.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote, unquote, urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from sandbox.simulators.dataverse.errors import (
    EXPIRED_TOKEN,
    NO_SEGMENT,
    QUERY,
    THROTTLED,
    DataverseError,
    bad_payload,
    query_error,
)
from sandbox.simulators.dataverse.schema import NAMESPACE, TABLES, Table
from sandbox.simulators.dataverse.store import GUID_TEXT, Deleted, Row, Store
from sandbox.simulators.entra import Directory, TokenRejected
from sandbox.simulators.odata import Dialect, EntitySet, ODataQueryError, QueryOptions, edmx

if TYPE_CHECKING:
    from sandbox.simulators.dataverse.simulator import Options

JSON_TYPE = "application/json; odata.metadata=minimal"
DATAVERSE = Dialect(case_insensitive=True)
"""Dataverse compares strings as its SQL collation does: without regard to case."""
_PATH = re.compile(rf"^(?P<set>[A-Za-z_]\w*)(?:\((?P<key>{GUID_TEXT}|[^()]*)\))?$")
_COOKIE = re.compile(r'<cookie pagenumber="(?P<page>\d+)" pagingcookie="(?P<paging>[^"]*)" '
                     r'istracking="(?P<tracking>True|False)" */>')
_NOT_WITH_TRACKING = ("$filter", "$orderby", "$top", "$expand", "$count")


@dataclass
class Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Cookie:
    """Where the previous page ended: the page number, the last primary key (or version) and, for tracked reads,
    the version the whole read answers as of."""

    page: int
    last: Any
    watermark: int | None
    tracking: bool


def _prefer(headers: Mapping[str, str]) -> dict[str, str]:
    found = {}
    for part in headers.get("prefer", "").split(","):
        name, _, value = part.strip().partition("=")
        if name:
            found[name.strip().lower()] = value.strip().strip('"')
    return found


class HttpApi:
    """Request handling; mixed into ``Dataverse``, which owns the options, the store and the tenant."""

    options: Options
    store: Store
    directory: Directory
    _calls: dict[str, deque[float]]

    def routes(self) -> list[BaseRoute]:
        methods = ["GET", "POST", "PATCH", "PUT", "DELETE"]
        return [*self.directory.routes(),
                Route("/api/data/{version}", self._endpoint, methods=methods),
                Route("/api/data/{version}/{rest:path}", self._endpoint, methods=methods)]

    def resource(self) -> str:
        """The organisation URL: a token's audience and the scope ``{resource}/.default``."""
        return self.options.resource or f"https://{self.options.organization}.crm.dynamics.com"

    # -- the gate ----------------------------------------------------------------------------------------------

    async def _endpoint(self, request: Request) -> Response:
        base = f"{request.url.scheme}://{request.url.netloc}"
        root = f"{base}/api/data/{request.path_params['version']}"
        try:
            caller = self._authenticate(request.headers.get("authorization", ""), base)
            remaining = self._throttle(caller)
            if request.path_params["version"] not in ("v9.0", "v9.1", "v9.2"):
                raise DataverseError(404, NO_SEGMENT, f"Resource not found for the segment "
                                     f"'{request.path_params['version']}'.")
            body = await request.body()
            headers = {k.lower(): v for k, v in request.headers.items()}
            with self.store.lock:
                reply = self._dispatch(request.method, unquote(request.path_params.get("rest", "")),
                                       request.url.query, headers, body, root)
            if remaining is not None:
                reply.headers["x-ms-ratelimit-burst-remaining-xrm-requests"] = str(remaining)
        except DataverseError as error:
            reply = Reply(error.status, error.body() if error.status != 401 else None, dict(error.headers))
        request_id = str(uuid.uuid4())
        headers = {"OData-Version": "4.0", "REQ_ID": request_id, "x-ms-service-request-id": request_id,
                   **reply.headers}
        if reply.body is None:
            return Response(status_code=reply.status, headers=headers)
        if isinstance(reply.body, str):
            return Response(reply.body, reply.status, headers=headers, media_type="application/xml")
        return Response(json.dumps(reply.body), reply.status, headers=headers, media_type=JSON_TYPE)

    def _authenticate(self, header: str, base: str) -> str:
        """The caller's app id. A refused token gets Dataverse's bare 401: no body, a challenge naming the
        authority and the resource (obs)."""
        rejected: TokenRejected | None = None
        for audience in (self.resource(), base):
            try:
                return self.directory.authenticate(header, audience).app_id
            except TokenRejected as refusal:
                rejected = rejected or refusal
        challenge = (f"Bearer authorization_uri=https://login.microsoftonline.com/{self.options.tenant}/oauth2/"
                     f"authorize, resource_id={self.resource()}/")
        if rejected is not None and rejected.presented:
            challenge += ', error="invalid_token"'
        raise DataverseError(401, "", rejected.problem if rejected else "", headers={"WWW-Authenticate": challenge})

    def _throttle(self, caller: str) -> int | None:
        """Service protection per user: at most ``requests_per_window`` in a sliding ``window_seconds``; the
        remaining budget, or None when no budget is set."""
        limit, window = self.options.requests_per_window, self.options.window_seconds
        if not limit:
            return None
        now = self.store.clock.now().timestamp()
        with self.store.lock:
            calls = self._calls.setdefault(caller, deque())
            while calls and now - calls[0] >= window:
                calls.popleft()
            if len(calls) >= limit:
                wait = max(1, math.ceil(window - (now - calls[0])))
                raise DataverseError(429, THROTTLED, f"Number of requests exceeded the limit of {limit} over time "
                                     f"window of {round(window)} seconds.", headers={"Retry-After": str(wait)})
            calls.append(now)
            return limit - len(calls)

    # -- routing -----------------------------------------------------------------------------------------------

    def _dispatch(self, method: str, path: str, query: str, headers: Mapping[str, str], body: bytes,
                  root: str) -> Reply:
        path = path.strip("/")
        if path == "":
            return Reply(200, {"@odata.context": f"{root}/$metadata",
                               "value": [{"name": name, "kind": "EntitySet", "url": name} for name in TABLES]})
        if path == "$metadata":
            return Reply(200, edmx(NAMESPACE, [EntitySet(t.entity_set, t.logical_name, (t.key,), t.types)
                                               for t in TABLES.values()], container="System"))
        match = _PATH.match(path)
        table = TABLES.get(match.group("set")) if match else None
        if match is None or table is None:
            raise DataverseError(404, NO_SEGMENT, f"Resource not found for the segment '{path.split('/')[0]}'.")
        params = dict(parse_qsl(query, keep_blank_values=True))
        key = match.group("key")
        if key is None:
            if method == "GET":
                return self._collection(table, params, headers, root)
            if method == "POST":
                return self._create(table, params, headers, body, root)
        elif not re.fullmatch(GUID_TEXT, key):
            raise query_error(f"The key '{key}' of '{table.entity_set}' is not a GUID; this simulator knows no "
                              "alternate keys.")
        elif method == "GET":
            return self._read(table, key, params, headers, root)
        elif method == "PATCH":
            return self._upsert(table, key.lower(), params, headers, body, root)
        elif method == "DELETE":
            row = self.store.get(table, key)
            self.store.check_if_match(row, headers.get("if-match") or "*", table, key)
            assert row is not None
            self.store.delete(table, row)
            return Reply(204)
        raise DataverseError(405, QUERY, f"The HTTP method '{method}' is not allowed for this resource.")

    # -- single records ----------------------------------------------------------------------------------------

    def _options(self, table: Table, params: Mapping[str, str]) -> QueryOptions:
        if "$skip" in params:
            raise query_error("The query parameter $skip is not supported")
        try:
            return QueryOptions.parse(params, table.types, dialect=DATAVERSE, entity=table.type_name)
        except ODataQueryError as exc:
            raise query_error(str(exc)) from None

    def render(self, table: Table, row: Mapping[str, Any], select: Sequence[str] | None) -> dict[str, Any]:
        """A row as the Web API writes it: its weak ETag, the selected columns, and always its key."""
        names = table.types if select is None else [*select, table.key]
        return {"@odata.etag": self.store.etag(row), **{name: row.get(name) for name in names}}

    @staticmethod
    def _context(root: str, table: Table, select: Sequence[str] | None, suffix: str = "") -> str:
        columns = f"({','.join(select)})" if select else ""
        return f"{root}/$metadata#{table.entity_set}{columns}{suffix}"

    def _entity_reply(self, status: int, table: Table, row: Row, select: Sequence[str] | None, root: str,
                      headers: dict[str, str] | None = None) -> Reply:
        return Reply(status, {"@odata.context": self._context(root, table, select, "/$entity"),
                              **self.render(table, row, select)}, headers or {})

    def _read(self, table: Table, key: str, params: Mapping[str, str], headers: Mapping[str, str],
              root: str) -> Reply:
        options = self._options(table, params)
        row = self.store.require(table, key)
        if headers.get("if-none-match", "").strip() == self.store.etag(row):
            return Reply(304)
        return self._entity_reply(200, table, row, options.select, root)

    def _document(self, body: bytes) -> dict[str, Any]:
        try:
            document = json.loads(body or b"{}")
        except ValueError as exc:
            raise bad_payload(f"The request body is not valid JSON: {exc}") from None
        if not isinstance(document, dict):
            raise bad_payload("The request body must be a JSON object.")
        return document

    def _create(self, table: Table, params: Mapping[str, str], headers: Mapping[str, str], body: bytes,
                root: str) -> Reply:
        options = self._options(table, params)
        row = self.store.create(table, self.store.values(table, self._document(body)))
        entity_id = {"OData-EntityId": f"{root}/{table.entity_set}({row[table.key]})"}
        if _prefer(headers).get("return") == "representation":
            return self._entity_reply(201, table, row, options.select, root,
                                      {**entity_id, "Preference-Applied": "return=representation"})
        return Reply(204, None, entity_id)

    def _upsert(self, table: Table, key: str, params: Mapping[str, str], headers: Mapping[str, str], body: bytes,
                root: str) -> Reply:
        """``PATCH`` creates a missing record; ``If-Match`` limits it to an update of that version (``*``: of any),
        ``If-None-Match: *`` to a create."""
        options = self._options(table, params)
        row = self.store.get(table, key)
        if headers.get("if-none-match", "").strip() == "*" and row is not None:
            raise DataverseError(412, "0x80040237", "A record with matching key values already exists.")
        self.store.check_if_match(row, headers.get("if-match"), table, key)
        values = self.store.values(table, self._document(body), record_id=key)
        created = row is None
        row = self.store.create(table, values, record_id=key) if row is None else self.store.update(table, row, values)
        entity_id = {"OData-EntityId": f"{root}/{table.entity_set}({key})"}
        if _prefer(headers).get("return") == "representation":
            return self._entity_reply(201 if created else 200, table, row, options.select, root,
                                      {**entity_id, "Preference-Applied": "return=representation"})
        return Reply(204, None, entity_id)

    # -- collections, paging, change tracking ------------------------------------------------------------------

    def _collection(self, table: Table, params: dict[str, str], headers: Mapping[str, str], root: str) -> Reply:
        prefer = _prefer(headers)
        delta = params.pop("$deltatoken", None)
        cookie = self._cookie(params.pop("$skiptoken", None))
        tracked = "odata.track-changes" in prefer or delta is not None or (cookie is not None and cookie.tracking)
        options = self._options(table, params)
        page_size = self.options.max_page_size
        applied = []
        if prefer.get("odata.maxpagesize", "").isdigit() and int(prefer["odata.maxpagesize"]) > 0:
            page_size = min(page_size, int(prefer["odata.maxpagesize"]))
            applied.append(f"odata.maxpagesize={page_size}")
        if tracked:
            if not self.store.tracking[table.entity_set]:
                raise DataverseError(400, QUERY, f"Change tracking is not enabled for the entity "
                                     f"'{table.logical_name}'. Enable Track changes on the table to use "
                                     "odata.track-changes.")
            for name in _NOT_WITH_TRACKING:
                if name in params:
                    raise query_error(f"The query parameter {name} is not supported with change tracking.")
            if delta is None:
                applied.append("odata.track-changes")
        headers_out = {"Preference-Applied": ",".join(applied)} if applied else {}
        if delta is not None:
            return Reply(200, self._delta(table, options, delta, cookie, page_size, root), headers_out)
        watermark = cookie.watermark if cookie and cookie.watermark is not None else self.store.version
        rows = options.rows(self.store.rows(table))
        if options.top is not None:
            rows = rows[:options.top]
        start = 0
        if cookie is not None:
            if options.orderby:
                start = (cookie.page - 1) * page_size
            else:
                start = next((i for i, row in enumerate(rows) if row[table.key] > cookie.last), len(rows))
        page = rows[start:start + page_size]
        document: dict[str, Any] = {"@odata.context": self._context(root, table, options.select)}
        if options.count:
            document["@odata.count"] = min(len(rows), 5000)
        document["value"] = [self.render(table, row, options.select) for row in page]
        if start + page_size < len(rows):
            following = Cookie((cookie.page if cookie else 1) + 1, page[-1][table.key], watermark if tracked else None,
                               tracked)
            document["@odata.nextLink"] = self._link(root, table, params, "$skiptoken", self._write_cookie(following))
        elif tracked:
            document["@odata.deltaLink"] = self._link(root, table, self._select_only(params), "$deltatoken",
                                                      self.store.delta_token(watermark))
        return Reply(200, document, headers_out)

    def _delta(self, table: Table, options: QueryOptions, token: str, cookie: Cookie | None, page_size: int,
               root: str) -> dict[str, Any]:
        """What changed since ``token``: changed and new rows as rows, deletes as ``$deletedEntity`` entries."""
        parsed = self.store.parse_token(token)
        if parsed is None or parsed[0] > self.store.version:
            raise query_error(f"The delta token '{token}' is not valid for '{table.entity_set}'.")
        since, issued = parsed
        lifetime: timedelta = self.options.delta_token_lifetime
        if self.store.clock.now() - issued > lifetime:
            raise DataverseError(400, EXPIRED_TOKEN, "Version stamp associated with the client has expired. Please "
                                 "perform a full sync.")
        watermark = cookie.watermark if cookie and cookie.watermark is not None else self.store.version
        after = cookie.last if cookie is not None else since
        items = self.store.changes(table, after, watermark)
        page = items[:page_size]
        value: list[dict[str, Any]] = []
        for _version, item in page:
            if isinstance(item, Deleted):
                value.append({"@odata.context": f"{root}/$metadata#{table.entity_set}/$deletedEntity",
                              "id": item.record_id, "reason": "deleted"})
            else:
                value.append(self.render(table, item, options.select))
        params = self._select_only({"$select": ",".join(options.select)} if options.select else {})
        document: dict[str, Any] = {"@odata.context": self._context(root, table, options.select, "/$delta"),
                                    "value": value}
        if len(items) > page_size:
            following = Cookie((cookie.page if cookie else 1) + 1, page[-1][0], watermark, True)
            document["@odata.nextLink"] = self._link(root, table, {**params, "$deltatoken": token}, "$skiptoken",
                                                     self._write_cookie(following))
        else:
            document["@odata.deltaLink"] = self._link(root, table, params, "$deltatoken",
                                                      self.store.delta_token(watermark))
        return document

    @staticmethod
    def _select_only(params: Mapping[str, str]) -> dict[str, str]:
        return {k: v for k, v in params.items() if k == "$select"}

    @staticmethod
    def _link(root: str, table: Table, params: Mapping[str, str], name: str, value: str) -> str:
        query = urlencode([*params.items(), (name, value)], quote_via=quote, safe="$,'()")
        return f"{root}/{table.entity_set}?{query}"

    @staticmethod
    def _write_cookie(cookie: Cookie) -> str:
        paging = quote(json.dumps({"last": cookie.last, "watermark": cookie.watermark}, separators=(",", ":")))
        return (f'<cookie pagenumber="{cookie.page}" pagingcookie="{paging}" '
                f'istracking="{"True" if cookie.tracking else "False"}" />')

    @staticmethod
    def _cookie(text: str | None) -> Cookie | None:
        if text is None:
            return None
        match = _COOKIE.fullmatch(text.strip())
        try:
            if match is None:
                raise ValueError(text)
            paging = json.loads(unquote(match.group("paging")))
            return Cookie(int(match.group("page")), paging["last"], paging["watermark"],
                          match.group("tracking") == "True")
        except (ValueError, KeyError, TypeError):
            raise query_error(f"The $skiptoken '{text}' is not valid.") from None
