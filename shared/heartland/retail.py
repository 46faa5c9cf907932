"""The Heartland Retail (POS) API client: paged reads that stream, writes that return the new id.

Built on ``ApiClient`` (source ``"retail"``), so throttling (429 with ``Retry-After``) and 5xx are
retried with backoff, and a refused token or a validation error fails at once with the API's own
words. Bodies are parsed with ``parse_float=Decimal`` and every amount becomes ``Money``: a cent
must survive the trip from the till to the ledger exactly.

Collections follow the Heartland conventions (reference/heartland.md §1.2): ``{results,total,pages}``,
``page`` from 1, ``_filter`` as URL-encoded JSON, ``sort[]``, ``_include[]``. Iterators fetch one page
at a time and keep only that page, so a day of tickets never sits in memory at once.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from shared.canonical.money import Money
from shared.errors import PermanentApiError
from shared.heartland.retail_models import (
    AdjustmentSet,
    Customer,
    InventoryValue,
    Item,
    Location,
    PaymentType,
    Ticket,
)
from shared.heartland.settlement_pages import TICKET_PAGE, PageError, RowError, TicketRow, decode
from shared.httpclient import Action, ApiClient, RetryPolicy
from shared.security.pan import redact

SOURCE = "retail"
TICKET_INCLUDES = ("lines", "payments")
"""What settlement needs with every ticket; embedded so a day costs ``pages`` requests, not one per ticket."""

Model = TypeVar("Model", bound=BaseModel)
Row = TypeVar("Row")
Params = list[tuple[str, str]]


def _json_default(value: Any) -> Any:
    if isinstance(value, Money):
        return str(value.amount)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), default=_json_default)


def _aware(moment: datetime, name: str) -> str:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} {moment.isoformat()} has no time zone; give an aware datetime")
    return moment.isoformat()


def describe_error(response: httpx.Response) -> str:
    """A sentence a person can act on, from Heartland's ``{"message", "errors":{field:[…]}}`` body."""
    message, details = "", ""
    try:
        body = json.loads(response.content)
    except ValueError:
        body = None
    if isinstance(body, dict):
        message = str(body.get("message") or body.get("error") or "")
        errors = body.get("errors")
        if isinstance(errors, dict):
            details = "; ".join(f"{field} {', '.join(map(str, problems)) if isinstance(problems, list) else problems}"
                                for field, problems in errors.items())
    message = message or response.text[:500] or response.reason_phrase
    try:
        where = f"{response.request.method} {response.request.url.path}"
    except RuntimeError:
        where = "the request"
    status = response.status_code
    if status == 401:
        return (f"Heartland Retail refused the API token (HTTP 401: {message}); check RETAIL_API_TOKEN: "
                "it must be a current token from My Account > API Tokens")
    if status == 403:
        return f"the API token's user may not {where} (HTTP 403: {message}); grant the permission in Heartland"
    if status == 404:
        return f"Heartland Retail has no such resource: {where} (HTTP 404)"
    text = f"{message} ({details})" if details else message
    return f"Heartland Retail answered {where} with HTTP {status}: {text}"


class RetailClient:
    """Heartland Retail ``/api`` for one account.

    Args:
        base_url: the account's API root, e.g. ``https://acme.retail.heartland.us/api``.
        token: an API token (sent as ``Authorization: Bearer``); never logged.
        transport: an httpx transport, for tests.
        currency: the account's currency; Heartland sends amounts without one.
        retry: the in-process retry policy (defaults to ``RetryPolicy()``).
        sleep: how to wait between retries (tests pass a recorder).
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        transport: httpx.BaseTransport | None = None,
        currency: str = "USD",
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not token:
            raise ValueError("a Heartland Retail API token is required (RETAIL_API_TOKEN)")
        self.currency = Money.of(0, currency).currency
        self._context = {"currency": self.currency}
        # A static token cannot be refreshed, so a 401 or 403 is final at once.
        self._api = ApiClient(
            SOURCE, base_url, headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            policy={401: Action.FAIL, 403: Action.FAIL}, retry=retry or RetryPolicy(), describe_error=describe_error,
            transport=transport, sleep=sleep)

    def close(self) -> None:
        self._api.close()

    def __enter__(self) -> RetailClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def requests_sent(self) -> int:
        return self._api.requests_sent

    # --- plumbing ---------------------------------------------------------------------------------

    def _json(self, response: httpx.Response) -> Any:
        try:
            return json.loads(response.content, parse_float=Decimal)
        except ValueError:
            raise PermanentApiError("MalformedResponse", f"{response.request.method} {response.request.url.path} "
                                    f"answered {response.status_code} with a body that is not JSON",
                                    source=SOURCE, status=response.status_code,
                                    body=redact(response.text[:2000])) from None

    def _parse(self, model: type[Model], row: Any) -> Model:
        """Validate one record; the error names fields and problems but never echoes values (PCI)."""
        try:
            return model.model_validate(row, context=self._context)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_input=False))
            record = row.get("id") if isinstance(row, dict) else None
            raise PermanentApiError("InvalidRecord", redact(f"{model.__name__} {record}: {problems}"),
                                    source=SOURCE) from None

    def _pages(self, path: str, params: Params, model: type[Model], per_page: int) -> Iterator[Model]:
        """Each record of a collection as ``model``, validated as it is taken."""

        def read(response: httpx.Response, where: str) -> tuple[list[Any], int]:
            body = self._json(response)
            if not isinstance(body, dict) or not isinstance(body.get("results"), list):
                raise PermanentApiError("MalformedResponse", f"{where} has no results list", source=SOURCE)
            return body["results"], int(body.get("pages") or 0)

        return (self._parse(model, row) for row in self._paged(path, params, per_page, read))

    def _paged(self, path: str, params: Params, per_page: int,
               read: Callable[[httpx.Response, str], tuple[list[Row], int]]) -> Iterator[Row]:
        """Each row of a collection, one page in memory at a time, until ``page`` passes ``pages``."""
        if per_page < 1:
            raise ValueError(f"per_page must be 1 or more, not {per_page}")
        page = 1
        while True:
            response = self._api.request("GET", path, params=[*params, ("page", str(page)),
                                                              ("per_page", str(per_page))])
            rows, pages = read(response, f"GET {path} page {page}")
            del response
            if not rows:
                return
            yield from rows
            if page >= pages:
                return
            del rows
            page += 1

    @staticmethod
    def _filter(clauses: Iterable[Mapping[str, Any]]) -> Params:
        found = [dict(c) for c in clauses if c]
        if not found:
            return []
        return [("_filter", _dumps(found[0] if len(found) == 1 else found))]

    def _created_id(self, response: httpx.Response, path: str) -> int:
        """The new id: the last segment of ``Location`` (the body may be empty), else the body's ``id``."""
        location = response.headers.get("location", "")
        tail = location.rstrip("/").rsplit("/", 1)[-1]
        if tail.isdigit():
            return int(tail)
        if response.content:
            body = self._json(response)
            if isinstance(body, dict) and str(body.get("id", "")).isdigit():
                return int(body["id"])
        raise PermanentApiError("NoLocation", f"POST {path} answered {response.status_code} without a Location "
                                "header naming the new record", source=SOURCE, status=response.status_code)

    # --- tickets ----------------------------------------------------------------------------------

    def iter_tickets(self, *, completed_from: datetime, completed_to: datetime, location_id: int | None = None,
                     per_page: int = 100, include: Iterable[str] = TICKET_INCLUDES) -> Iterator[Ticket]:
        """Tickets completed in ``[completed_from, completed_to)``, by id, lines and payments embedded.

        Voided tickets whose completion falls in the window are included (``status`` says so), because
        settlement must see a sale that was rung up and then reversed.

        Raises:
            ValueError: a naive datetime or an empty window.
        """
        params = self._ticket_params(completed_from, completed_to, location_id, include)
        return self._pages("sales/tickets", params, Ticket, per_page)

    def iter_ticket_rows(self, *, completed_from: datetime, completed_to: datetime, location_id: int | None = None,
                         per_page: int = 100) -> Iterator[TicketRow]:
        """The tickets of ``iter_tickets`` with only what settlement reads, each page decoded straight from its
        bytes: the end-of-day close reads a million of them. Amounts are exact ``Decimal`` as sent, in
        ``currency``.

        Raises:
            ValueError: a naive datetime or an empty window.
            PermanentApiError: ``InvalidRecord`` naming the ticket and the field that does not fit;
                ``MalformedResponse`` when a page is not a page of tickets.
        """
        params = self._ticket_params(completed_from, completed_to, location_id, TICKET_INCLUDES)
        return self._paged("sales/tickets", params, per_page, _ticket_rows)

    def _ticket_params(self, completed_from: datetime, completed_to: datetime, location_id: int | None,
                       include: Iterable[str]) -> Params:
        start, end = _aware(completed_from, "completed_from"), _aware(completed_to, "completed_to")
        if completed_to <= completed_from:
            raise ValueError(f"completed_to {end} is not after completed_from {start}")
        clause: dict[str, Any] = {"completed_at": {"$gte": start, "$lt": end}}
        if location_id is not None:
            clause["location_id"] = location_id
        return [*self._filter([clause]), ("sort[]", "id"), *(("_include[]", name) for name in include)]

    def get_ticket(self, ticket_id: int, *, include: Iterable[str] = TICKET_INCLUDES) -> Ticket:
        """One ticket with its lines and payments.

        Raises:
            PermanentApiError: 404 when Heartland has no such ticket.
        """
        response = self._api.request("GET", f"sales/tickets/{int(ticket_id)}",
                                     params=[("_include[]", name) for name in include])
        return self._parse(Ticket, self._json(response))

    # --- customers --------------------------------------------------------------------------------

    def iter_customers(self, updated_since: datetime | None = None, *, per_page: int = 100) -> Iterator[Customer]:
        """Every customer, or those updated at or after ``updated_since`` (an incremental pull's watermark)."""
        clause = {"updated_at": {"$gte": _aware(updated_since, "updated_since")}} if updated_since else {}
        return self._pages("customers", [*self._filter([clause]), ("sort[]", "id")], Customer, per_page)

    def get_customer(self, customer_id: int) -> Customer:
        return self._parse(Customer, self._json(self._api.request("GET", f"customers/{int(customer_id)}")))

    def create_customer(self, *, first_name: str | None = None, last_name: str | None = None,
                        email: str | None = None, phone: str | None = None, custom: Mapping[str, Any] | None = None,
                        **fields: Any) -> int:
        """Creates a customer and returns its id, read from ``Location`` (Heartland's body may be empty).

        Raises:
            PermanentApiError: 422 with Heartland's field errors in the description.
        """
        body = {k: v for k, v in {"first_name": first_name, "last_name": last_name, "email": email,
                                  "phone": phone, **fields}.items() if v is not None}
        if custom:
            body["custom"] = dict(custom)
        response = self._api.request("POST", "customers", content=_dumps(body),
                                     headers={"Content-Type": "application/json"})
        return self._created_id(response, "customers")

    def update_customer(self, customer_id: int, **fields: Any) -> None:
        """A partial update: only the named fields change; ``custom`` keys merge into the existing ones."""
        if not fields:
            raise ValueError("update_customer needs at least one field to change")
        self._api.request("PUT", f"customers/{int(customer_id)}", content=_dumps(fields),
                          headers={"Content-Type": "application/json"})

    # --- catalogue, places, tenders, stock --------------------------------------------------------

    def iter_items(self, *, updated_since: datetime | None = None, active: bool | None = None,
                   public_ids: Iterable[str] | None = None, per_page: int = 100) -> Iterator[Item]:
        """Catalogue items, optionally only those changed since a watermark, only (in)active ones, or only those
        with one of ``public_ids``."""
        clause: dict[str, Any] = {}
        if updated_since is not None:
            clause["updated_at"] = {"$gte": _aware(updated_since, "updated_since")}
        if active is not None:
            clause["active"] = active
        if public_ids is not None:
            clause["public_id"] = {"$in": [str(p) for p in public_ids]}
        return self._pages("items", [*self._filter([clause]), ("sort[]", "id")], Item, per_page)

    def get_item(self, item_id: int) -> Item:
        return self._parse(Item, self._json(self._api.request("GET", f"items/{int(item_id)}")))

    def create_item(self, *, description: str, public_id: str | None = None, price: Money | Decimal | None = None,
                    cost: Money | Decimal | None = None, active: bool = True, custom: Mapping[str, Any] | None = None,
                    **fields: Any) -> int:
        """Creates a catalogue item and returns its id (from ``Location``). Amounts go as decimal strings.

        Raises:
            PermanentApiError: 422 with Heartland's field errors (a ``public_id`` already taken among them).
        """
        body: dict[str, Any] = {"description": description, "active": active, **fields}
        for name, value in (("public_id", public_id), ("price", price), ("cost", cost)):
            if value is not None:
                body[name] = value
        if custom:
            body["custom"] = dict(custom)
        response = self._api.request("POST", "items", content=_dumps(body),
                                     headers={"Content-Type": "application/json"})
        return self._created_id(response, "items")

    def update_item(self, item_id: int, **fields: Any) -> None:
        """A partial update: only the named fields change; ``custom`` keys merge into the existing ones."""
        if not fields:
            raise ValueError("update_item needs at least one field to change")
        self._api.request("PUT", f"items/{int(item_id)}", content=_dumps(fields),
                          headers={"Content-Type": "application/json"})

    def iter_payment_types(self, *, per_page: int = 100) -> Iterator[PaymentType]:
        return self._pages("payment_types", [("sort[]", "id")], PaymentType, per_page)

    def iter_locations(self, *, per_page: int = 100) -> Iterator[Location]:
        return self._pages("locations", [("sort[]", "id")], Location, per_page)

    def inventory_values(self, *, group: Iterable[str] = ("item_id", "location_id"), location_id: int | None = None,
                         item_ids: Iterable[int] | None = None, include_item: bool = False,
                         exclude_empty_locations: bool = False, per_page: int = 500) -> Iterator[InventoryValue]:
        """Stock levels summed over ``group`` (sent as ``group[]``, Heartland's empty-bracket arrays)."""
        clause: dict[str, Any] = {}
        if location_id is not None:
            clause["location_id"] = location_id
        if item_ids is not None:
            clause["item_id"] = {"$in": [int(i) for i in item_ids]}
        params: Params = [("group[]", g) for g in group]
        params += self._filter([clause])
        if include_item:
            params.append(("_include[]", "item"))
        if exclude_empty_locations:
            params.append(("exclude_empty_locations", "true"))
        return self._pages("inventory/values", params, InventoryValue, per_page)

    def create_adjustment_set(self, location_id: int, lines: Iterable[tuple[int, Decimal | int]], *,
                              reason_id: int | None = None, note: str | None = None, complete: bool = True) -> int:
        """One adjustment set at ``location_id`` with ``lines`` (item id, signed whole change), made and, with
        ``complete``, applied in ONE request; returns its id.

        Not idempotent: after an ``UncertainOutcome`` read the stock again before adjusting again.

        Raises:
            ValueError: no lines, or a change that is zero or not whole.
            PermanentApiError: 422 (an unknown item, location or reason).
        """
        body_lines = []
        for item_id, qty in lines:
            change = Decimal(qty)
            if change == 0 or change != change.to_integral_value():
                raise ValueError(f"item {item_id}: an adjustment must be a whole number other than zero, not {qty}")
            body_lines.append({"item_id": int(item_id), "qty": int(change)})
        if not body_lines:
            raise ValueError("an adjustment set needs at least one line")
        body: dict[str, Any] = {"location_id": int(location_id), "lines": body_lines}
        if reason_id is not None:
            body["reason_id"] = int(reason_id)
        if note:
            body["note"] = note
        if complete:
            body["status"] = "complete"
        response = self._api.request("POST", "inventory/adjustment_sets", content=_dumps(body),
                                     headers={"Content-Type": "application/json"})
        return self._created_id(response, "inventory/adjustment_sets")

    def complete_adjustment_set(self, adjustment_set_id: int) -> None:
        """Applies a pending set's lines (``PUT {"status":"complete"}``)."""
        self._api.request("PUT", f"inventory/adjustment_sets/{int(adjustment_set_id)}",
                          content=_dumps({"status": "complete"}), headers={"Content-Type": "application/json"})

    def get_adjustment_set(self, adjustment_set_id: int) -> AdjustmentSet:
        response = self._api.request("GET", f"inventory/adjustment_sets/{int(adjustment_set_id)}",
                                     params=[("_include[]", "lines")])
        return self._parse(AdjustmentSet, self._json(response))

    def iter_adjustment_sets(self, *, location_id: int | None = None, per_page: int = 100) -> Iterator[AdjustmentSet]:
        """Adjustment sets by id, lines embedded."""
        clause: dict[str, Any] = {} if location_id is None else {"location_id": int(location_id)}
        params = [*self._filter([clause]), ("sort[]", "id"), ("_include[]", "lines")]
        return self._pages("inventory/adjustment_sets", params, AdjustmentSet, per_page)


def _ticket_rows(response: httpx.Response, where: str) -> tuple[list[TicketRow], int]:
    try:
        page = decode(TICKET_PAGE, response.content, "results")
    except RowError as error:
        record = "" if error.record_id is None else f" {error.record_id}"
        field = f"{error.field}: " if error.field else ""
        raise PermanentApiError("InvalidRecord", redact(f"Ticket{record} (row {error.row} of {where}): "
                                                        f"{field}{error.problem}"), source=SOURCE) from None
    except PageError as error:
        raise PermanentApiError("MalformedResponse", f"{where} is not a page of tickets: {error}", source=SOURCE,
                                status=response.status_code, body=redact(response.text[:2000])) from None
    return page.results, int(page.pages or 0)
