"""The Retail API over HTTP under ``/api``: bearer auth, the collection and member endpoints of customers,
items, locations, payment types and tickets (with their lines and payments), inventory values and adjustment
sets (with their lines), and the collection conventions (``_filter``, ``sort[]``, paging, ``_only[]``,
``_include[]``)."""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from sandbox.simulators.retail.adjustments import Adjustments
from sandbox.simulators.retail.errors import ErrorBody, Invalid, NotFound
from sandbox.simulators.retail.query import compile_clause, page_number, parse_filters, sort_records
from sandbox.simulators.retail.store import Record
from sandbox.simulators.retail.values import as_bool, iso
from shared.security.pan import find_pans

MAX_PER_PAGE = 1000
DEFAULT_PER_PAGE = 20
_ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
_BELONGS_TO = {"customer": "customers", "location": "locations", "item": "items", "payment_type": "payment_types",
               "ticket": "tickets", "reason": "adjustment_reasons"}
_EMBEDDED = {"tickets": ("lines", "payments"), "adjustment_sets": ("lines",)}
"""Children a record holds, shown only when ``_include[]`` asks for them."""
_PATHS = {"tickets": "sales/tickets", "adjustment_sets": "inventory/adjustment_sets"}

Handler = Callable[[Request], Awaitable[Response]]


class HttpApi(Adjustments):
    """Request handling, mixed into ``RetailSimulator``, which owns the records and the options."""

    token: str
    public_url: str | None
    error_body: ErrorBody
    validation_status: int
    max_per_page: int

    def routes(self) -> list[BaseRoute]:
        read, write, show = ["GET"], ["GET", "POST"], ["GET", "PUT"]
        table: list[tuple[str, Handler, list[str]]] = [
            ("/api/customers", self._collection_endpoint("customers"), write),
            ("/api/customers/{id}", self._member_endpoint("customers"), show),
            ("/api/items", self._collection_endpoint("items"), write),
            ("/api/items/{id}", self._member_endpoint("items"), show),
            ("/api/locations", self._collection_endpoint("locations"), read),
            ("/api/locations/{id}", self._member_endpoint("locations"), read),
            ("/api/payment_types", self._collection_endpoint("payment_types"), read),
            ("/api/payment_types/{id}", self._member_endpoint("payment_types"), read),
            ("/api/sales/tickets", self._collection_endpoint("tickets"), write),
            ("/api/sales/tickets/{id}", self._member_endpoint("tickets"), show),
            ("/api/sales/tickets/{id}/lines", self._ticket_children("lines"), write),
            ("/api/sales/tickets/{id}/lines/{child}", self._ticket_child("lines"), read),
            ("/api/sales/tickets/{id}/payments", self._ticket_children("payments"), write),
            ("/api/sales/tickets/{id}/payments/{child}", self._ticket_child("payments"), read),
            ("/api/inventory/values", self._inventory_values, read),
            ("/api/inventory/adjustment_reasons", self._collection_endpoint("adjustment_reasons"), read),
            ("/api/inventory/adjustment_reasons/{id}", self._member_endpoint("adjustment_reasons"), read),
            ("/api/inventory/adjustment_sets", self._collection_endpoint("adjustment_sets"), write),
            ("/api/inventory/adjustment_sets/{id}", self._member_endpoint("adjustment_sets"), show),
            ("/api/inventory/adjustment_sets/{id}/lines", self._adjustment_lines, write),
            ("/api/{rest:path}", self._unknown_path, _ALL_METHODS),
        ]
        return [Route(path, self._guarded(handler), methods=methods) for path, handler, methods in table]

    def _error(self, status: int, message: str, errors: Mapping[str, list[str]] | None = None,
               headers: Mapping[str, str] | None = None) -> Response:
        return JSONResponse(self.error_body(message, errors or {}), status, headers=dict(headers or {}))

    def _guarded(self, handler: Handler) -> Handler:
        """Bearer auth first, then the handler; Invalid and NotFound become 422 and 404."""

        async def endpoint(request: Request) -> Response:
            scheme, _, presented = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(presented.strip().encode(), self.token.encode()):
                return self._error(401, "Invalid or missing API token: send Authorization: Bearer <token>",
                                   headers={"WWW-Authenticate": 'Bearer realm="api"'})
            try:
                return await handler(request)
            except Invalid as exc:
                return self._error(self.validation_status, exc.message, exc.errors)
            except NotFound as exc:
                return self._error(404, f"Not found: {exc}")

        return endpoint

    async def _unknown_path(self, request: Request) -> Response:
        raise NotFound(request.url.path)

    async def _body(self, request: Request) -> Record:
        raw = await request.body()
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            raise Invalid({"body": ["is not valid JSON"]}) from None
        if not isinstance(body, dict):
            raise Invalid({"body": ["must be a JSON object"]})
        if any(True for _ in find_pans(raw.decode("utf-8", "replace"))):
            raise Invalid({"body": ["contains a card number; send only the last four digits"]})
        return body

    def _location(self, request: Request, path: str) -> str:
        root = self.public_url or f"{str(request.base_url).rstrip('/')}/api"
        return f"{root}/{path}"

    def _created(self, request: Request, path: str) -> Response:
        return Response(status_code=201, headers={"Location": self._location(request, path)})

    def _present(self, kind: str, record: Record, includes: Sequence[str], only: Sequence[str]) -> Record:
        shown = {k: v for k, v in record.items() if k not in ("lines", "payments")}
        if only:
            shown = {k: v for k, v in shown.items() if k in only}
        for relation in includes:
            if relation in _EMBEDDED.get(kind, ()):
                shown[relation] = record[relation]
            elif relation in _BELONGS_TO and f"{relation}_id" in record:
                related = self._data[_BELONGS_TO[relation]].get(record[f"{relation}_id"]) \
                    if record[f"{relation}_id"] is not None else None
                shown[relation] = None if related is None else \
                    {k: v for k, v in related.items() if k not in ("lines", "payments")}
        return shown

    def _listing(self, request: Request, kind: str, records: Iterable[Record],
                 default_sort: Sequence[str] = ("id",)) -> Response:
        """The collection conventions: ``_filter``, ``sort[]``, paging, ``_only[]``, ``_include[]``."""
        params = request.query_params
        clauses = parse_filters(params.multi_items())
        sorts = params.getlist("sort[]") or params.getlist("sort") or list(default_sort)
        page = page_number(params.get("page"), "page", 1)
        per_page = min(page_number(params.get("per_page"), "per_page", DEFAULT_PER_PAGE), self.max_per_page)
        predicates = [compile_clause(c) for c in clauses]
        chosen = [r for r in records if all(p(r) for p in predicates)]
        ordered = sort_records(chosen, sorts)
        total = len(ordered)
        window = ordered[(page - 1) * per_page: page * per_page]
        includes, only = params.getlist("_include[]"), params.getlist("_only[]")
        results = [self._present(kind, r, includes, only) for r in window]
        return JSONResponse({"results": results, "total": total, "pages": -(-total // per_page)})

    def _member(self, request: Request, kind: str, record: Record) -> Response:
        params = request.query_params
        return JSONResponse(self._present(kind, record, params.getlist("_include[]"), params.getlist("_only[]")))

    def _collection_endpoint(self, kind: str) -> Handler:
        async def endpoint(request: Request) -> Response:
            if request.method == "POST":
                body = await self._body(request)
                with self._lock:
                    created = {"customers": self._create_customer, "items": self._create_item,
                               "tickets": self._create_ticket,
                               "adjustment_sets": self._create_adjustment_set}[kind](body)
                return self._created(request, f"{_PATHS.get(kind, kind)}/{created['id']}")
            with self._lock:
                return self._listing(request, kind, self._data[kind].values())

        return endpoint

    def _member_endpoint(self, kind: str) -> Handler:
        async def endpoint(request: Request) -> Response:
            if request.method == "PUT":
                body = await self._body(request)
                with self._lock:
                    record = self._get(kind, request.path_params["id"])
                    if kind == "adjustment_sets":
                        self._update_adjustment_set(record, body)
                    else:
                        self._update(kind, record, body)
                    return self._member(request, kind, record)
            with self._lock:
                return self._member(request, kind, self._get(kind, request.path_params["id"]))

        return endpoint

    def _ticket_children(self, relation: Literal["lines", "payments"]) -> Handler:
        async def endpoint(request: Request) -> Response:
            if request.method == "POST":
                body = await self._body(request)
                with self._lock:
                    ticket = self._get("tickets", request.path_params["id"])
                    child = self._add_line(ticket, body) if relation == "lines" else self._add_payment(ticket, body)
                    ticket["updated_at"] = iso(self.clock())
                return self._created(request, f"sales/tickets/{ticket['id']}/{relation}/{child['id']}")
            with self._lock:
                ticket = self._get("tickets", request.path_params["id"])
                return self._listing(request, relation, ticket[relation])

        return endpoint

    async def _adjustment_lines(self, request: Request) -> Response:
        if request.method == "POST":
            body = await self._body(request)
            with self._lock:
                adjustment = self._adjustment_set(request.path_params["id"])
                line = self._add_adjustment_line(adjustment, body)
            return self._created(request, f"inventory/adjustment_sets/{adjustment['id']}/lines/{line['id']}")
        with self._lock:
            return self._listing(request, "adjustment_lines", self._adjustment_set(request.path_params["id"])["lines"])

    def _ticket_child(self, relation: Literal["lines", "payments"]) -> Handler:
        async def endpoint(request: Request) -> Response:
            with self._lock:
                ticket = self._get("tickets", request.path_params["id"])
                wanted = request.path_params["child"]
                for child in ticket[relation]:
                    if str(child["id"]) == wanted:
                        return self._member(request, relation, child)
                raise NotFound(f"{relation} {wanted} of ticket {ticket['id']}")

        return endpoint

    async def _inventory_values(self, request: Request) -> Response:
        """Stock rows summed over the ``group[]`` fields (default item and location)."""
        group = request.query_params.getlist("group[]") or ["item_id", "location_id"]
        unknown = [g for g in group if g not in ("item_id", "location_id")]
        if unknown:
            raise Invalid({"group": [f"cannot group by {', '.join(unknown)}"]})
        exclude_empty = as_bool(request.query_params.get("exclude_empty_locations", "false")) is True
        with self._lock:
            grouped: dict[tuple[Any, ...], Record] = {}
            for row in self._inventory.values():
                if exclude_empty and row["qty_on_hand"] == 0:
                    continue
                key = tuple(row[g] for g in group)
                into = grouped.setdefault(key, {**{g: row[g] for g in group}, "qty_on_hand": 0, "qty_committed": 0,
                                                "_cost": Decimal(0)})
                into["qty_on_hand"] += row["qty_on_hand"]
                into["qty_committed"] += row["qty_committed"]
                into["_cost"] += Decimal(row["unit_cost"]) * max(row["qty_on_hand"], 0)
            rows = []
            for into in grouped.values():
                cost = into.pop("_cost")
                on_hand = into["qty_on_hand"]
                into["qty_available"] = on_hand - into["qty_committed"]
                unit_cost = (cost / on_hand) if on_hand > 0 else Decimal(0)
                into["unit_cost"] = self._money(unit_cost.quantize(Decimal("0.01"), ROUND_HALF_UP))
                rows.append(into)
            return self._listing(request, "inventory", rows, default_sort=group)
