"""The Heartland Retail (POS) simulator: the ``/api`` REST conventions of reference/heartland.md §1,
plus a Python-side scenario API that seeds a business day and reports its ground truth.

Wire decisions where the reference is silent (tagged [?] there), kept in one place so a client
author can read them:

* **Money** is a JSON *string* with exactly the currency's minor units (``"54.10"``, ``"-12.00"``);
  quantities are JSON integers. Filters compare money numerically, so ``{"total":{"$gt":50}}`` works.
* **Tickets** carry their totals (``subtotal``, ``discount_total``, ``tax_total``, ``total``,
  ``tip_total``, ``amount_paid``, ``balance``) and, with ``_include[]=lines`` / ``_include[]=payments``,
  their lines and payments embedded, so end-of-day settlement reads a day in ``pages`` requests.
  Statuses: ``pending`` → ``complete`` (only when fully paid; sets ``completed_at``) → ``voided``.
* **Lines**: ``type`` ``ItemLine`` or ``GiftCardLine`` (a gift card sold: a liability, never taxed);
  ``department`` is copied from the item at sale time; ``extended_price = qty * unit_price``,
  ``net_amount = extended_price - discount_total`` (the revenue), ``taxes`` one entry per tax component.
  Returns are lines with a negative ``qty``; all their amounts are negative.
* **Payments**: ``type`` ``CreditCardPayment`` | ``CashPayment`` | ``GiftCardPayment`` | ``CustomPayment``;
  ``amount`` is what the payment applies to the ticket (negative for a refund), ``tip`` is charged on
  top of it. Card payments carry only ``card_brand``, ``card_last4``, ``auth_code``,
  ``gateway_transaction_id`` and ``gateway_reference``; any request carrying a card number is refused.
* **Errors** use ``{"message": …, "errors": {field: […]}}`` (configurable through ``error_body``);
  ``per_page`` above ``max_per_page`` is clamped, below 1 is a 422; ``_include[]`` of an unknown
  relation is ignored; ``$like`` is SQL ``LIKE`` (``%``, ``_``), case-insensitive.
"""

from __future__ import annotations

import copy
import hmac
import json
import random
import re
import threading
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from sandbox.simulators.base import SimulatorApp
from shared.security.pan import find_pans

DEFAULT_TOKEN = "hl365-local-retail-token"  # noqa: S105 (the local default)
MAX_PER_PAGE = 1000
DEFAULT_PER_PAGE = 20
TICKET_STATUSES = ("pending", "complete", "voided")
PAYMENT_TYPES = ("CashPayment", "CreditCardPayment", "GiftCardPayment", "CustomPayment")
CARD_BRANDS = ("VISA", "MASTERCARD", "AMEX", "DISCOVER")
CENTRAL = timezone(timedelta(hours=-6), "CST")
_ID_CHARS = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]

Record = dict[str, Any]
ErrorBody = Callable[[str, Mapping[str, list[str]]], dict[str, Any]]
Handler = Callable[[Request], Awaitable[Response]]


class Invalid(Exception):
    """A request the API refuses with 422; ``errors`` maps each field to what is wrong with it."""

    def __init__(self, errors: Mapping[str, list[str]], message: str | None = None) -> None:
        first = next(iter(errors.items()), ("request", ["is invalid"]))
        super().__init__(message or f"Validation failed: {first[0]} {first[1][0]}")
        self.errors = {k: list(v) for k, v in errors.items()}
        self.message = message or str(self)


class NotFound(Exception):
    """An unknown id or path: 404."""


def default_error_body(message: str, errors: Mapping[str, list[str]]) -> dict[str, Any]:
    """The error shape a third-party client reads (``message`` and ``errors``); the reference marks it [?]."""
    return {"message": message, "errors": dict(errors)}


# ---------------------------------------------------------------------------------------------------
# money and values


def _decimal(value: Any, name: str) -> Decimal:
    if isinstance(value, bool) or value is None:
        raise Invalid({name: ["is not a number"]})
    try:
        number = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        raise Invalid({name: ["is not a number"]}) from None
    if not number.is_finite():
        raise Invalid({name: ["is not a number"]})
    return number


def _amount(value: Any, name: str, places: int = 2) -> Decimal:
    """A money amount as given by a caller: at most ``places`` decimals, refused otherwise."""
    number = _decimal(value, name)
    try:
        rounded = number.quantize(Decimal(1).scaleb(-places))
    except InvalidOperation:
        raise Invalid({name: ["is too large"]}) from None
    if rounded != number:
        raise Invalid({name: [f"must have at most {places} decimal places"]})
    return rounded


def _quantity(value: Any, name: str = "qty") -> int:
    number = _decimal(value, name)
    if number == 0 or number != number.to_integral_value():
        raise Invalid({name: ["must be a whole number other than zero"]})
    return int(number)


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError(f"{moment!r} has no time zone; the API sends every time with its offset")
    return moment.isoformat(timespec="seconds")


_NUMBER = re.compile(r"^-?\d+(?:\.\d+)?$")
_MOMENT = re.compile(r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$")


@lru_cache(maxsize=131_072)
def _read_text(text: str) -> tuple[Decimal | None, datetime | None]:
    """A string field read as a number (money) or a time, once per distinct string: filters run per row."""
    if _NUMBER.match(text):
        return Decimal(text), None
    if _MOMENT.match(text):
        try:
            return None, datetime.fromisoformat(text)
        except ValueError:
            return None, None
    return None, None


def _as_number(value: Any) -> Decimal | None:
    if isinstance(value, str):
        return _read_text(value)[0]
    if isinstance(value, bool):
        return None
    if isinstance(value, int | Decimal):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(str(value))
    return None


def _as_moment(value: Any) -> datetime | None:
    return _read_text(value)[1] if isinstance(value, str) else None


def _align(a: datetime, b: datetime) -> tuple[datetime, datetime]:
    """A date-only or naive bound takes the other side's offset (a local business day), else UTC."""
    if a.tzinfo is not None and b.tzinfo is not None:
        return a, b
    if a.tzinfo is None:
        a = a.replace(tzinfo=b.tzinfo or UTC)
    if b.tzinfo is None:
        b = b.replace(tzinfo=a.tzinfo)
    return a, b


def _as_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if value in ("true", "1", 1):
        return True
    if value in ("false", "0", 0):
        return False
    return None


# ---------------------------------------------------------------------------------------------------
# _filter, sort[], _only[], _include[]


_FILTER_KEY = re.compile(r"^_filter((?:\[[^\[\]]*\])+)$")
_SEGMENT = re.compile(r"\[([^\[\]]*)\]")
OPERATORS = ("$eq", "$neq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$like")


def parse_filters(params: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
    """Every ``_filter`` of a query, in any of its three forms, as a list of clauses to AND together.

    Raises:
        Invalid: malformed JSON, a clause that is not an object, or an unknown operator.
    """
    clauses: list[dict[str, Any]] = []
    bracket: dict[str, Any] = {}
    for key, value in params:
        if key in ("_filter", "_filter[]"):
            try:
                document = json.loads(value, parse_float=Decimal)
            except ValueError:
                raise Invalid({"_filter": ["is not valid JSON"]}) from None
            found = document if isinstance(document, list) else [document]
            if not all(isinstance(clause, dict) for clause in found):
                raise Invalid({"_filter": ["must be a JSON object or an array of objects"]})
            clauses.extend(found)
        elif key.startswith("_filter["):
            match = _FILTER_KEY.match(key)
            if match is None:
                raise Invalid({key: ["is not a filter parameter"]})
            _assign(bracket, _SEGMENT.findall(match.group(1)), None if value == "null" else value, key)
    if bracket:
        clauses.append(bracket)
    for clause in clauses:
        _check_clause(clause)
    return clauses


def _assign(tree: dict[str, Any], path: list[str], value: str | None, key: str) -> None:
    """Place one bracket-form parameter (``[a][$in][]``) into the clause it builds."""
    node: Any = tree
    for position, segment in enumerate(path):
        last = position == len(path) - 1
        if segment == "" or not isinstance(node, dict):
            raise Invalid({key: ["is not a filter parameter"]})
        if last:
            node[segment] = value
        elif position == len(path) - 2 and path[-1] == "":
            listed = node.setdefault(segment, [])
            if not isinstance(listed, list):
                raise Invalid({key: ["mixes a list with a single value"]})
            listed.append(value)
            return
        else:
            node = node.setdefault(segment, {})


def _is_operator_map(condition: Any) -> bool:
    return isinstance(condition, dict) and bool(condition) and all(str(k).startswith("$") for k in condition)


def _check_clause(clause: Mapping[str, Any]) -> None:
    for name, condition in clause.items():
        if name in ("$and", "$or"):
            if not isinstance(condition, list) or not all(isinstance(c, dict) for c in condition):
                raise Invalid({"_filter": [f"{name} takes an array of objects"]})
            for inner in condition:
                _check_clause(inner)
        elif _is_operator_map(condition):
            for operator in condition:
                if operator not in OPERATORS:
                    raise Invalid({"_filter": [f"unknown operator {operator} on {name}"]})


def field_value(record: Mapping[str, Any], name: str) -> Any:
    """A record's field; ``custom@size`` reads ``custom["size"]``."""
    if name.startswith("custom@"):
        custom = record.get("custom")
        return custom.get(name[len("custom@"):]) if isinstance(custom, dict) else None
    return record.get(name)


def _equal(value: Any, operand: Any) -> bool:
    if value is None or operand is None:
        return value is None and operand is None
    if isinstance(value, bool) or isinstance(operand, bool):
        left, right = _as_bool(value), _as_bool(operand)
        return left is not None and left == right
    if isinstance(value, str) and isinstance(operand, str):
        if value == operand:
            return True
        left_moment, right_moment = _as_moment(value), _as_moment(operand)
        if left_moment is not None and right_moment is not None:
            a, b = _align(left_moment, right_moment)
            return a == b
        return False
    left_number, right_number = _as_number(value), _as_number(operand)
    return left_number is not None and left_number == right_number


def _compare(value: Any, operand: Any) -> int | None:
    """-1, 0, 1 as ``value`` sorts before, with or after ``operand``; None when they do not compare."""
    if isinstance(value, str) and isinstance(operand, str):
        (left_number, left_moment), (right_number, right_moment) = _read_text(value), _read_text(operand)
        if left_number is not None and right_number is not None:
            return (left_number > right_number) - (left_number < right_number)
        if left_moment is not None and right_moment is not None:
            a, b = _align(left_moment, right_moment)
            return (a > b) - (a < b)
        return (value > operand) - (value < operand)
    if value is None or operand is None or isinstance(value, bool) or isinstance(operand, bool):
        return None
    left_number, right_number = _as_number(value), _as_number(operand)
    if left_number is not None and right_number is not None:
        return (left_number > right_number) - (left_number < right_number)
    left_moment, right_moment = _as_moment(value), _as_moment(operand)
    if left_moment is not None and right_moment is not None:
        a, b = _align(left_moment, right_moment)
        return (a > b) - (a < b)
    if isinstance(value, str) and isinstance(operand, str):
        return (value > operand) - (value < operand)
    return None


@lru_cache(maxsize=1024)
def _like_pattern(pattern: str) -> re.Pattern[str]:
    body = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.compile(body, re.IGNORECASE | re.DOTALL)


def _listed(operand: Any) -> list[Any]:
    return operand if isinstance(operand, list) else [operand]


def _test(value: Any, operator: str, operand: Any) -> bool:
    if operator == "$eq":
        return _equal(value, operand)
    if operator in ("$neq", "$ne"):
        return not _equal(value, operand)
    if operator == "$in":
        return any(_equal(value, o) for o in _listed(operand))
    if operator == "$nin":
        return not any(_equal(value, o) for o in _listed(operand))
    if operator == "$like":
        return value is not None and operand is not None and bool(_like_pattern(str(operand)).fullmatch(str(value)))
    order = _compare(value, operand)
    if order is None:
        return False
    return {"$gt": order > 0, "$gte": order >= 0, "$lt": order < 0, "$lte": order <= 0}[operator]


Predicate = Callable[[Mapping[str, Any]], bool]


def _combined(inner: list[Predicate], every: bool) -> Predicate:
    def test(record: Mapping[str, Any]) -> bool:
        return all(p(record) for p in inner) if every else any(p(record) for p in inner)

    return test


def _condition(name: str, operator: str, operand: Any) -> Predicate:
    def test(record: Mapping[str, Any]) -> bool:
        return _test(field_value(record, name), operator, operand)

    return test


def compile_clause(clause: Mapping[str, Any]) -> Predicate:
    """One ``_filter`` clause as a predicate, its structure read once rather than once per record."""
    tests: list[Predicate] = []
    for name, condition in clause.items():
        if name in ("$or", "$and"):
            tests.append(_combined([compile_clause(c) for c in condition], every=name == "$and"))
        elif _is_operator_map(condition):
            tests.extend(_condition(name, operator, operand) for operator, operand in condition.items())
        else:
            tests.append(_condition(name, "$eq", condition))
    return _combined(tests, every=True)


def matches(record: Mapping[str, Any], clause: Mapping[str, Any]) -> bool:
    """Whether ``record`` satisfies every condition of one ``_filter`` clause."""
    return compile_clause(clause)(record)


def _sort_key(value: Any) -> tuple[int, Any]:
    """A total order over mixed JSON values: nulls, numbers (money strings too), times, text, the rest."""
    if value is None:
        return (0, 0)
    if type(value) is int:
        return (1, value)
    number = _as_number(value)
    if number is not None:
        return (1, number)
    if isinstance(value, bool):
        return (1, Decimal(int(value)))
    moment = _as_moment(value)
    if moment is not None:
        return (2, (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp())
    if isinstance(value, str):
        return (3, (value.casefold(), value))
    return (4, json.dumps(value, sort_keys=True, default=str))


def sort_records(records: list[Record], sorts: Sequence[str]) -> list[Record]:
    """``sort[]=field`` / ``sort[]=field,desc``, the first the most significant."""
    ordered = list(records)
    for spec in reversed(sorts):
        name, _, direction = spec.partition(",")
        direction = direction.strip().lower() or "asc"
        if direction not in ("asc", "desc"):
            raise Invalid({"sort": [f"direction of {name} must be asc or desc"]})
        ordered.sort(key=_field_key(name.strip()), reverse=direction == "desc")
    return ordered


def _field_key(name: str) -> Callable[[Record], tuple[int, Any]]:
    return lambda record: _sort_key(field_value(record, name))


def _page_number(text: str | None, name: str, default: int) -> int:
    if text is None or text == "":
        return default
    try:
        number = int(text)
    except ValueError:
        raise Invalid({name: ["must be a whole number"]}) from None
    if number < 1:
        raise Invalid({name: ["must be 1 or more"]})
    return number


# ---------------------------------------------------------------------------------------------------
# scenario inputs


@dataclass(frozen=True)
class Line:
    """One line to put on a seeded ticket.

    Discounts and explicit taxes are given as magnitudes; a return line (negative ``qty``) turns
    them negative with it. Taxes default to the location's rates on the discounted amount.
    """

    item_id: int | None = None
    qty: int = 1
    unit_price: Decimal | str | int | None = None
    discounts: Mapping[str, Decimal | str | int] = field(default_factory=dict)
    taxes: Mapping[str, Decimal | str | int] | None = None
    gift_card_last4: str | None = None
    description: str | None = None

    @classmethod
    def gift_card(cls, amount: Decimal | str | int, last4: str) -> Line:
        """A gift card sold (or loaded): deferred revenue, never taxed or discounted."""
        return cls(qty=1, unit_price=amount, gift_card_last4=last4, description="Gift card")


@dataclass(frozen=True)
class Tender:
    """One payment to put on a seeded ticket; ``amount`` is negative for a refund."""

    kind: Literal["cash", "card", "gift_card", "custom"]
    amount: Decimal | str | int
    tip: Decimal | str | int = 0
    brand: str | None = None
    last4: str | None = None
    auth_code: str | None = None
    transaction_id: str | None = None
    reference: str | None = None
    payment_type_id: int | None = None

    @classmethod
    def cash(cls, amount: Decimal | str | int) -> Tender:
        return cls("cash", amount)

    @classmethod
    def card(cls, amount: Decimal | str | int, *, brand: str = "VISA", last4: str = "4242",
             tip: Decimal | str | int = 0, auth_code: str | None = None, transaction_id: str | None = None,
             reference: str | None = None) -> Tender:
        return cls("card", amount, tip=tip, brand=brand, last4=last4, auth_code=auth_code,
                   transaction_id=transaction_id, reference=reference)

    @classmethod
    def gift_card(cls, amount: Decimal | str | int, last4: str) -> Tender:
        return cls("gift_card", amount, last4=last4)


_KIND_TYPES = {"cash": "CashPayment", "card": "CreditCardPayment", "gift_card": "GiftCardPayment",
               "custom": "CustomPayment"}
_DEFAULT_PAYMENT_TYPES = (("Cash", "CashPayment"), ("Credit Card", "CreditCardPayment"),
                          ("Gift Card", "GiftCardPayment"))
_COLLECTIONS = ("locations", "payment_types", "items", "customers", "tickets")
_FIRST_IDS = {"locations": 1, "payment_types": 1, "items": 1001, "customers": 5001, "tickets": 88001,
              "lines": 1, "payments": 1}
_BELONGS_TO = {"customer": "customers", "location": "locations", "item": "items", "payment_type": "payment_types",
               "ticket": "tickets"}
_TICKET_COMPUTED = frozenset({"id", "created_at", "updated_at", "completed_at", "voided_at", "subtotal",
                              "discount_total", "tax_total", "total", "tip_total", "amount_paid", "balance",
                              "lines", "payments"})
_READ_ONLY = frozenset({"id", "created_at", "updated_at"})


def _last4(value: Any, name: str) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}", value):
        raise Invalid({name: ["must be the last four digits only"]})
    return value


# ---------------------------------------------------------------------------------------------------
# the simulator


class RetailSimulator:
    """Heartland Retail's ``/api``: customers, items, locations, payment types, tickets, inventory.

    Args:
        token: the only bearer token accepted; anything else is a 401.
        currency: the account's currency; money is written with its minor units.
        max_per_page: larger ``per_page`` values are clamped to it.
        public_url: the API root written into ``Location`` headers (default: the request's own host + ``/api``).
        error_body: builds every error body from a message and field errors.
        validation_status: the status of a refused write (422).
        clock: "now" for created and updated times.
        defaults: start with a location (two stations), a few items and the default payment types.
        seed: seeds the day generator.
    """

    name = "retail"

    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        currency: str = "USD",
        max_per_page: int = MAX_PER_PAGE,
        public_url: str | None = None,
        error_body: ErrorBody = default_error_body,
        validation_status: int = 422,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        defaults: bool = True,
        seed: int = 0,
    ) -> None:
        self.token = token
        self.currency = currency
        self.max_per_page = max_per_page
        self.public_url = public_url.rstrip("/") if public_url else None
        self.error_body = error_body
        self.validation_status = validation_status
        self.clock = clock
        self.seed = seed
        self._lock = threading.RLock()
        self._data: dict[str, dict[int, Record]] = {name: {} for name in _COLLECTIONS}
        self._next = dict(_FIRST_IDS)
        self._inventory: dict[tuple[int, int], Record] = {}
        for name, kind in _DEFAULT_PAYMENT_TYPES:
            self.add_payment_type(name, type=kind)
        if defaults:
            self.add_location("Main Street", public_id="MAIN", tax_rates={"State": "0.0625", "City": "0.0100"})
            for description, price, department in (("Coffee mug", "12.00", "Housewares"),
                                                   ("T-shirt", "19.99", "Apparel"),
                                                   ("Notebook", "4.50", "Stationery")):
                self.add_item(description, price=price, department=department)

    # --- Python-side scenario API -----------------------------------------------------------------

    def _take_id(self, kind: str) -> int:
        number = self._next[kind]
        self._next[kind] = number + 1
        return number

    def _money(self, value: Decimal) -> str:
        return f"{value:.2f}"

    def add_location(self, name: str, *, public_id: str | None = None,
                     tax_rates: Mapping[str, Decimal | str] | None = None, stations: int = 2) -> Record:
        """A store; ``tax_rates`` are its tax components (name → rate), applied to every taxable line."""
        with self._lock:
            location_id = self._take_id("locations")
            first_station = location_id * 100 + 1
            record: Record = {
                "id": location_id, "public_id": public_id or f"L{location_id:02d}", "name": name,
                "station_ids": list(range(first_station, first_station + stations)),
                "tax_rates": [{"name": k, "rate": str(Decimal(str(v)))} for k, v in (tax_rates or {}).items()],
                "custom": {},
            }
            self._data["locations"][location_id] = record
            return copy.deepcopy(record)

    def add_payment_type(self, name: str, *, type: str = "CustomPayment", active: bool = True) -> Record:
        """A tender the stores accept; ``type`` is one of ``PAYMENT_TYPES``."""
        if type not in PAYMENT_TYPES:
            raise ValueError(f"payment type kind {type!r} is not one of {', '.join(PAYMENT_TYPES)}")
        with self._lock:
            payment_type_id = self._take_id("payment_types")
            record: Record = {"id": payment_type_id, "name": name, "type": type, "active": active, "custom": {}}
            self._data["payment_types"][payment_type_id] = record
            return copy.deepcopy(record)

    def add_item(self, description: str, *, price: Decimal | str, cost: Decimal | str | None = None,
                 department: str = "General", public_id: str | None = None, taxable: bool = True,
                 active: bool = True, custom: Mapping[str, Any] | None = None) -> Record:
        """A catalogue item; ``department`` is copied onto every line that sells it."""
        with self._lock:
            return self._create_item({"description": description, "price": str(price),
                                      "cost": None if cost is None else str(cost), "department": department,
                                      "public_id": public_id, "taxable": taxable, "active": active,
                                      "custom": dict(custom or {})})

    def add_customer(self, first_name: str, last_name: str, *, email: str | None = None, phone: str | None = None,
                     custom: Mapping[str, Any] | None = None) -> Record:
        """A customer, as the POS would hold one."""
        with self._lock:
            return self._create_customer({"first_name": first_name, "last_name": last_name, "email": email,
                                          "phone": phone, "custom": dict(custom or {})})

    def set_inventory(self, item_id: int, location_id: int, *, on_hand: int, committed: int = 0,
                      unit_cost: Decimal | str | None = None) -> Record:
        """Stock of one item at one location; sales and returns seeded later move ``qty_on_hand``."""
        with self._lock:
            item = self._get("items", item_id)
            self._get("locations", location_id)
            cost = unit_cost if unit_cost is not None else (item.get("cost") or item["price"])
            row: Record = {"item_id": item_id, "location_id": location_id, "qty_on_hand": on_hand,
                           "qty_committed": committed, "unit_cost": self._money(_amount(cost, "unit_cost"))}
            self._inventory[(item_id, location_id)] = row
            return dict(row)

    def add_ticket(
        self,
        *,
        location_id: int,
        lines: Sequence[Line],
        payments: Sequence[Tender] | None = None,
        station_id: int | None = None,
        customer_id: int | None = None,
        completed_at: datetime | None = None,
        status: Literal["pending", "complete", "voided"] = "complete",
        public_id: str | None = None,
        custom: Mapping[str, Any] | None = None,
        allow_unbalanced: bool = False,
    ) -> Record:
        """A ticket as the POS would have rung it up; returns it with its lines and payments.

        ``payments=None`` pays the total in cash. A complete ticket must be paid exactly unless
        ``allow_unbalanced`` (to plant a discrepancy); ``completed_at`` defaults to the clock.

        Raises:
            ValueError: an unknown location, station, customer or item, or an unpaid balance.
        """
        with self._lock:
            ticket: Record | None = None
            try:
                location = self._get("locations", location_id)
                station = station_id if station_id is not None else location["station_ids"][0]
                moment = completed_at or self.clock()
                ticket = self._new_ticket({"location_id": location_id, "station_id": station,
                                           "customer_id": customer_id, "public_id": public_id,
                                           "custom": dict(custom or {})},
                                          created_at=moment - timedelta(minutes=3))
                for line in lines:
                    self._add_line(ticket, self._line_body(line), taxes=line.taxes)
                if payments is None:
                    payments = [Tender.cash(Decimal(ticket["total"]))] if Decimal(ticket["total"]) else []
                for tender in payments:
                    self._add_payment(ticket, self._tender_body(ticket, tender))
                if status in ("complete", "voided"):
                    self._set_status(ticket, "complete", moment, force=allow_unbalanced)
                if status == "voided":
                    self._set_status(ticket, "voided", moment)
                ticket["updated_at"] = _iso(moment)
            except (Invalid, NotFound, ValueError) as exc:
                if ticket is not None:
                    self._data["tickets"].pop(ticket["id"], None)
                raise ValueError(f"not found: {exc}" if isinstance(exc, NotFound) else str(exc)) from None
            return copy.deepcopy(ticket)

    def _line_body(self, line: Line) -> Record:
        discounts = [{"name": k, "amount": str(v)} for k, v in line.discounts.items()]
        body: Record = {"qty": line.qty, "discounts": discounts}
        if line.gift_card_last4 is not None:
            body.update(type="GiftCardLine", gift_card_last4=line.gift_card_last4, unit_price=str(line.unit_price))
        else:
            body["item_id"] = line.item_id
            if line.unit_price is not None:
                body["unit_price"] = str(line.unit_price)
        if line.description is not None:
            body["description"] = line.description
        return body

    def _tender_body(self, ticket: Record, tender: Tender) -> Record:
        type_name = _KIND_TYPES[tender.kind]
        payment_type_id = tender.payment_type_id or next(
            (p["id"] for p in self._data["payment_types"].values() if p["type"] == type_name), None)
        if payment_type_id is None:
            raise Invalid({"payment_type_id": [f"no payment type of kind {type_name}"]})
        body: Record = {"payment_type_id": payment_type_id, "amount": str(tender.amount), "tip": str(tender.tip)}
        if tender.kind == "card":
            rng = random.Random(f"{self.seed}:{ticket['id']}:{len(ticket['payments'])}")
            body.update(card_brand=tender.brand, card_last4=tender.last4,
                        auth_code=tender.auth_code or f"{rng.randrange(1_000_000):06d}",
                        gateway_transaction_id=tender.transaction_id or gateway_id(rng),
                        gateway_reference=tender.reference or f"HR-TICKET-{ticket['public_id']}")
        elif tender.kind == "gift_card":
            body["gift_card_last4"] = tender.last4
        return body

    def seed_business_day(self, day: date, *, tickets: int = 200, seed: int | None = None, tz: tzinfo = CENTRAL,
                          refund_rate: float = 0.03, gift_card_rate: float = 0.04, tip_rate: float = 0.25,
                          void_rate: float = 0.01) -> list[Record]:
        """A seeded, realistic day: card, cash and split tenders, tips, discounts, gift cards sold and
        redeemed, returns refunded to the card, a few voids. Creates two locations, items and
        customers if the account has none. Returns the tickets created, in time order.
        """
        rng = random.Random(seed if seed is not None else self.seed)
        with self._lock:
            if len(self._data["locations"]) < 2:
                self.add_location("Riverside", tax_rates={"State": "0.0625", "County": "0.0075"})
            if len(self._data["items"]) < 10:
                self._seed_catalogue(rng)
            if len(self._data["customers"]) < 20:
                for n in range(20):
                    self.add_customer(f"Guest{n}", f"Shopper{n}", email=f"guest{n}@example.com")
            locations = sorted(self._data["locations"])
            items = [i for i in self._data["items"].values() if i["active"]]
            for location_id in locations:
                for item in items:
                    if (item["id"], location_id) not in self._inventory:
                        self.set_inventory(item["id"], location_id, on_hand=rng.randrange(50, 500) + tickets)
            customers = sorted(self._data["customers"])
            start = datetime.combine(day, time(8), tz)
            moments = sorted(start + timedelta(seconds=rng.randrange(13 * 3600)) for _ in range(tickets))
            created = []
            for moment in moments:
                created.append(self._seed_ticket(rng, moment, locations, items, customers,
                                                 refund_rate, gift_card_rate, tip_rate, void_rate))
            return created

    def _seed_catalogue(self, rng: random.Random) -> None:
        departments = {"Apparel": ("Hoodie", "Cap", "Socks"), "Housewares": ("Candle", "Tea towel", "Vase"),
                       "Grocery": ("Coffee beans", "Chocolate", "Honey"), "Stationery": ("Pen set", "Planner")}
        for department, names in departments.items():
            for name in names:
                price = Decimal(rng.randrange(299, 6_999)) / 100
                self.add_item(name, price=price, cost=(price * Decimal("0.45")).quantize(Decimal("0.01")),
                              department=department, taxable=department != "Grocery")

    def _seed_ticket(self, rng: random.Random, moment: datetime, locations: list[int], items: list[Record],
                     customers: list[int], refund_rate: float, gift_card_rate: float, tip_rate: float,
                     void_rate: float) -> Record:
        location_id = rng.choice(locations)
        customer_id = rng.choice(customers) if rng.random() < 0.4 else None
        refund = rng.random() < refund_rate
        lines: list[Line] = []
        for item in rng.sample(items, rng.randint(1, 1 if refund else 4)):
            qty = rng.randint(1, 3) * (-1 if refund else 1)
            discounts = {"Promo 10%": (Decimal(item["price"]) * abs(qty) / 10).quantize(Decimal("0.01"))} \
                if rng.random() < 0.15 else {}
            lines.append(Line(item_id=item["id"], qty=qty, discounts=discounts))
        if not refund and rng.random() < gift_card_rate:
            lines.append(Line.gift_card(rng.choice((25, 50, 100)), f"{rng.randrange(10_000):04d}"))
        draft = self._price(location_id, lines)
        status: Literal["complete", "voided"] = "voided" if rng.random() < void_rate else "complete"
        payments: list[Tender] = []
        if refund:
            payments.append(Tender.card(draft, brand=rng.choice(CARD_BRANDS), last4=f"{rng.randrange(10_000):04d}"))
        else:
            remaining = draft
            if rng.random() < 0.05:
                redeemed = min(remaining, Decimal(rng.choice((10, 25))))
                payments.append(Tender.gift_card(redeemed, f"{rng.randrange(10_000):04d}"))
                remaining -= redeemed
            if remaining and rng.random() < 0.25:
                payments.append(Tender.cash(remaining))
            elif remaining:
                tip = (remaining * Decimal(rng.choice((10, 15, 20))) / 100).quantize(Decimal("0.01")) \
                    if rng.random() < tip_rate else Decimal(0)
                payments.append(Tender.card(remaining, brand=rng.choice(CARD_BRANDS), tip=tip,
                                            last4=f"{rng.randrange(10_000):04d}"))
        return self.add_ticket(location_id=location_id, lines=lines, payments=payments, customer_id=customer_id,
                               completed_at=moment, status=status)

    def _price(self, location_id: int, lines: Sequence[Line]) -> Decimal:
        """What ``lines`` would total at ``location_id``, computed by ringing them on a scratch ticket."""
        scratch = self._blank_ticket(0, {"location_id": location_id}, datetime.now(UTC))
        for line in lines:
            self._add_line(scratch, self._line_body(line), taxes=line.taxes, scratch=True)
        return Decimal(scratch["total"])

    def records(self, kind: str) -> list[Record]:
        """Copies of one collection (``tickets``, ``customers``, ``items``, ``locations``, ``payment_types``
        or ``inventory``), in id order: cheaper than ``state()`` when a check needs only one."""
        with self._lock:
            if kind == "inventory":
                return [dict(row) for _, row in sorted(self._inventory.items())]
            if kind not in self._data:
                raise KeyError(f"no collection {kind!r}; choose one of {', '.join(_COLLECTIONS)}, inventory")
            return copy.deepcopy([self._data[kind][k] for k in sorted(self._data[kind])])

    def ticket(self, ticket_id: int) -> Record:
        """One ticket with its lines and payments, as ground truth."""
        with self._lock:
            return copy.deepcopy(self._get("tickets", ticket_id))

    def totals(self, day: date | None = None, location_id: int | None = None) -> dict[str, Any]:
        """What end-of-day settlement should find for complete tickets (of ``day``, in each ticket's own
        local time, and ``location_id`` when given), as decimal strings."""
        with self._lock:
            tickets = [t for t in self._data["tickets"].values() if t["status"] == "complete"
                       and (location_id is None or t["location_id"] == location_id)
                       and (day is None or datetime.fromisoformat(t["completed_at"]).date() == day)]
            return self._summarise(tickets)

    def _summarise(self, tickets: Iterable[Record]) -> dict[str, Any]:
        zero = Decimal(0)
        sums: dict[str, Decimal] = defaultdict(lambda: zero)
        tax: dict[str, Decimal] = defaultdict(lambda: zero)
        departments: dict[str, Decimal] = defaultdict(lambda: zero)
        tenders: dict[str, Decimal] = defaultdict(lambda: zero)
        brands: dict[str, Decimal] = defaultdict(lambda: zero)
        count = 0
        for ticket in tickets:
            count += 1
            sums["total"] += Decimal(ticket["total"])
            for line in ticket["lines"]:
                if line["type"] == "GiftCardLine":
                    sums["gift_cards_sold"] += Decimal(line["net_amount"])
                    continue
                net = Decimal(line["net_amount"])
                sums["revenue"] += net
                sums["discounts"] += Decimal(line["discount_total"])
                departments[line["department"]] += net
                if net < 0:
                    sums["returns"] += net
                for component in line["taxes"]:
                    tax[component["name"]] += Decimal(component["amount"])
            for payment in ticket["payments"]:
                amount, tip = Decimal(payment["amount"]), Decimal(payment["tip"])
                tenders[self._data["payment_types"][payment["payment_type_id"]]["name"]] += amount
                sums["tips"] += tip
                if payment["type"] == "CreditCardPayment":
                    brands[payment["card_brand"]] += amount + tip
                if payment["type"] == "GiftCardPayment":
                    sums["gift_card_redemptions"] += amount
        money = self._money
        result: dict[str, Any] = {"tickets": count}
        for key in ("revenue", "discounts", "returns", "gift_cards_sold", "gift_card_redemptions", "tips", "total"):
            result[key] = money(sums[key])
        result["tax"] = {k: money(v) for k, v in sorted(tax.items())}
        result["departments"] = {k: money(v) for k, v in sorted(departments.items())}
        result["tenders"] = {k: money(v) for k, v in sorted(tenders.items())}
        result["card_brands"] = {k: money(v) for k, v in sorted(brands.items())}
        return result

    # --- Simulated protocol -----------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """Everything the account holds, plus per-day totals of complete tickets (business day = the
        ticket's local date), so a test or the demo can check what a pipeline computed."""
        with self._lock:
            by_day: dict[str, list[Record]] = defaultdict(list)
            for ticket in self._data["tickets"].values():
                if ticket["status"] == "complete":
                    by_day[ticket["completed_at"][:10]].append(ticket)
            document: dict[str, Any] = {"currency": self.currency, "next_ids": dict(self._next)}
            for name in _COLLECTIONS:
                document[name] = copy.deepcopy(list(self._data[name].values()))
            document["inventory"] = [dict(row) for row in self._inventory.values()]
            document["totals_by_day"] = {d: self._summarise(ts) for d, ts in sorted(by_day.items())}
            return document

    def restore(self, state: dict[str, Any]) -> None:
        with self._lock:
            self.currency = state.get("currency", self.currency)
            self._data = {name: {int(r["id"]): copy.deepcopy(r) for r in state.get(name, [])} for name in _COLLECTIONS}
            self._next = {**_FIRST_IDS, **{k: int(v) for k, v in state.get("next_ids", {}).items()}}
            self._inventory = {(int(r["item_id"]), int(r["location_id"])): dict(r) for r in state.get("inventory", [])}

    def fault_answer(self, status: int, retry_after: float) -> tuple[dict[str, Any], dict[str, str]]:
        """Retail's error body, ``{"message", "errors"}``; a 429 carries ``Retry-After``."""
        message = "Too many requests" if status == 429 else "Service unavailable"
        headers = {"Retry-After": str(max(1, round(retry_after)))} if status == 429 else {}
        return {"message": message, "errors": {}}, headers

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
            ("/api/{rest:path}", self._unknown_path, _ALL_METHODS),
        ]
        return [Route(path, self._guarded(handler), methods=methods) for path, handler, methods in table]

    # --- HTTP plumbing ----------------------------------------------------------------------------

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

    def _get(self, kind: str, record_id: Any) -> Record:
        try:
            number = int(record_id)
        except (TypeError, ValueError):
            raise NotFound(f"{kind} {record_id}") from None
        found = self._data[kind].get(number)
        if found is None:
            raise NotFound(f"{kind} {record_id}")
        return found

    def _present(self, kind: str, record: Record, includes: Sequence[str], only: Sequence[str]) -> Record:
        shown = {k: v for k, v in record.items() if k not in ("lines", "payments")}
        if only:
            shown = {k: v for k, v in shown.items() if k in only}
        for relation in includes:
            if kind == "tickets" and relation in ("lines", "payments"):
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
        page = _page_number(params.get("page"), "page", 1)
        per_page = min(_page_number(params.get("per_page"), "per_page", DEFAULT_PER_PAGE), self.max_per_page)
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
                               "tickets": self._create_ticket}[kind](body)
                path = "sales/tickets" if kind == "tickets" else kind
                return self._created(request, f"{path}/{created['id']}")
            with self._lock:
                return self._listing(request, kind, self._data[kind].values())

        return endpoint

    def _member_endpoint(self, kind: str) -> Handler:
        async def endpoint(request: Request) -> Response:
            if request.method == "PUT":
                body = await self._body(request)
                with self._lock:
                    record = self._get(kind, request.path_params["id"])
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
                    ticket["updated_at"] = _iso(self.clock())
                return self._created(request, f"sales/tickets/{ticket['id']}/{relation}/{child['id']}")
            with self._lock:
                ticket = self._get("tickets", request.path_params["id"])
                return self._listing(request, relation, ticket[relation])

        return endpoint

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
        exclude_empty = _as_bool(request.query_params.get("exclude_empty_locations", "false")) is True
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

    # --- writes -----------------------------------------------------------------------------------

    def _stamp(self, record: Record) -> None:
        now = _iso(self.clock())
        record.setdefault("created_at", now)
        record["updated_at"] = now

    def _create_customer(self, body: Record) -> Record:
        errors: dict[str, list[str]] = {}
        if not (body.get("first_name") or body.get("last_name")):
            errors["last_name"] = ["can't be blank when first_name is blank"]
        if body.get("email") is not None and "@" not in str(body["email"]):
            errors["email"] = ["is not an email address"]
        if not isinstance(body.get("custom", {}), dict):
            errors["custom"] = ["must be an object"]
        if errors:
            raise Invalid(errors)
        customer_id = self._take_id("customers")
        record: Record = {"id": customer_id, "public_id": str(body.get("public_id") or customer_id),
                          "first_name": body.get("first_name"), "last_name": body.get("last_name"),
                          "email": body.get("email"), "phone": body.get("phone"), "active": True, "custom": {}}
        record.update({k: v for k, v in body.items() if k not in _READ_ONLY})
        record.update(public_id=str(body.get("public_id") or customer_id), custom=dict(body.get("custom") or {}))
        self._stamp(record)
        self._data["customers"][customer_id] = record
        return record

    def _create_item(self, body: Record) -> Record:
        errors: dict[str, list[str]] = {}
        if not body.get("description"):
            errors["description"] = ["can't be blank"]
        public_id = body.get("public_id")
        if public_id and any(i["public_id"] == public_id for i in self._data["items"].values()):
            errors["public_id"] = ["has already been taken"]
        prices: dict[str, str | None] = {}
        for name in ("price", "cost"):
            try:
                value = body.get(name, "0" if name == "price" else None)
                prices[name] = None if value is None else self._money(_amount(value, name))
            except Invalid as exc:
                errors.update(exc.errors)
        if errors:
            raise Invalid(errors)
        item_id = self._take_id("items")
        record: Record = {"id": item_id, "public_id": public_id or f"SKU-{item_id}", "description": None,
                          "long_description": None, "department": "General", "taxable": True, "active": True,
                          "grid_id": None, "primary_vendor_id": None}
        record.update({k: v for k, v in body.items() if k not in _READ_ONLY})
        record.update(prices, public_id=public_id or f"SKU-{item_id}", custom=dict(body.get("custom") or {}))
        self._stamp(record)
        self._data["items"][item_id] = record
        return record

    def _blank_ticket(self, ticket_id: int, body: Record, created_at: datetime) -> Record:
        return {"id": ticket_id, "public_id": str(body.get("public_id") or ticket_id), "status": "pending",
                "customer_id": body.get("customer_id"), "location_id": body.get("location_id"),
                "station_id": body.get("station_id"), "subtotal": "0.00", "discount_total": "0.00",
                "tax_total": "0.00", "total": "0.00", "tip_total": "0.00", "amount_paid": "0.00", "balance": "0.00",
                "created_at": _iso(created_at), "updated_at": _iso(created_at), "completed_at": None,
                "voided_at": None, "custom": dict(body.get("custom") or {}), "lines": [], "payments": []}

    def _new_ticket(self, body: Record, *, created_at: datetime | None = None) -> Record:
        """Validates as the POS does: a station and a location are required (iPaaS: "station Id and
        Inventory Source location Id are required when creating orders or tickets")."""
        body = dict(body)
        if body.get("location_id") is None and body.get("source_location_id") is not None:
            body["location_id"] = body["source_location_id"]
        errors: dict[str, list[str]] = {}
        location: Record | None = None
        if body.get("location_id") is None:
            errors["location_id"] = ["can't be blank"]
        else:
            location = self._data["locations"].get(_as_int(body["location_id"]))
            if location is None:
                errors["location_id"] = ["does not exist"]
        if body.get("station_id") is None:
            errors["station_id"] = ["can't be blank"]
        elif location is not None and _as_int(body["station_id"]) not in location["station_ids"]:
            errors["station_id"] = [f"is not a station of location {location['id']}"]
        if body.get("customer_id") is not None and _as_int(body["customer_id"]) not in self._data["customers"]:
            errors["customer_id"] = ["does not exist"]
        if errors:
            raise Invalid(errors)
        ticket_id = self._take_id("tickets")
        body.update(location_id=_as_int(body["location_id"]), station_id=_as_int(body["station_id"]),
                    customer_id=None if body.get("customer_id") is None else _as_int(body["customer_id"]))
        ticket = self._blank_ticket(ticket_id, body, created_at or self.clock())
        self._data["tickets"][ticket_id] = ticket
        return ticket

    def _create_ticket(self, body: Record) -> Record:
        ticket = self._new_ticket(body)
        try:
            for line in body.get("lines") or []:
                self._add_line(ticket, line)
            for payment in body.get("payments") or []:
                if not isinstance(payment, dict):
                    raise Invalid({"payments": ["must be objects"]})
                self._add_payment(ticket, payment)
        except Invalid:
            del self._data["tickets"][ticket["id"]]
            raise
        return ticket

    def _add_line(self, ticket: Record, body: Any, *, taxes: Mapping[str, Any] | None = None,
                  scratch: bool = False) -> Record:
        if not isinstance(body, dict):
            raise Invalid({"lines": ["must be objects"]})
        if ticket["status"] != "pending":
            raise Invalid({"status": [f"is {ticket['status']}; lines can be added to pending tickets only"]})
        qty = _quantity(body.get("qty", body.get("quantity", 1)))
        kind = body.get("type", "ItemLine")
        sign = Decimal(1) if qty > 0 else Decimal(-1)
        item: Record | None = None
        if kind == "GiftCardLine":
            last4 = _last4(body.get("gift_card_last4"), "gift_card_last4")
            if body.get("unit_price") is None:
                raise Invalid({"unit_price": ["can't be blank for a gift card"]})
            unit_price = _amount(body["unit_price"], "unit_price")
            department = "Gift Cards"
        elif kind == "ItemLine":
            last4 = None
            if body.get("item_id") is None:
                raise Invalid({"item_id": ["can't be blank"]})
            item = self._data["items"].get(_as_int(body["item_id"]))
            if item is None:
                raise Invalid({"item_id": ["does not exist"]})
            unit_price = _amount(body.get("unit_price", item["price"]), "unit_price")
            department = item["department"]
        else:
            raise Invalid({"type": ["must be ItemLine or GiftCardLine"]})
        extended = (unit_price * qty).quantize(Decimal("0.01"), ROUND_HALF_UP)
        discounts = []
        for entry in body.get("discounts") or []:
            if kind == "GiftCardLine":
                raise Invalid({"discounts": ["a gift card cannot be discounted"]})
            amount = abs(_amount(entry.get("amount"), "discounts")) * sign
            discounts.append({"name": str(entry.get("name") or "Discount"), "amount": self._money(amount)})
        discount_total = sum((Decimal(d["amount"]) for d in discounts), Decimal(0))
        if abs(discount_total) > abs(extended):
            raise Invalid({"discounts": ["exceed the line amount"]})
        net = extended - discount_total
        location = self._data["locations"][ticket["location_id"]]
        tax_lines: list[Record] = []
        if kind == "ItemLine" and item is not None and item.get("taxable", True):
            if taxes is not None:
                tax_lines = [{"name": k, "rate": None, "amount": self._money(abs(_amount(v, "taxes")) * sign)}
                             for k, v in taxes.items()]
            else:
                for rate in location["tax_rates"]:
                    amount = (net * Decimal(rate["rate"])).quantize(Decimal("0.01"), ROUND_HALF_UP)
                    tax_lines.append({"name": rate["name"], "rate": rate["rate"], "amount": self._money(amount)})
        line: Record = {
            "id": 0 if scratch else self._take_id("lines"), "ticket_id": ticket["id"], "type": kind,
            "item_id": None if item is None else item["id"],
            "description": body.get("description") or (item["description"] if item else "Gift card"),
            "department": department, "qty": qty, "unit_price": self._money(unit_price),
            "extended_price": self._money(extended), "discounts": discounts,
            "discount_total": self._money(discount_total), "net_amount": self._money(net), "taxes": tax_lines,
            "tax_total": self._money(sum((Decimal(t["amount"]) for t in tax_lines), Decimal(0))),
            "gift_card_last4": last4, "custom": dict(body.get("custom") or {}),
        }
        ticket["lines"].append(line)
        self._recalculate(ticket)
        return line

    def _add_payment(self, ticket: Record, body: Record) -> Record:
        if ticket["status"] != "pending":
            raise Invalid({"status": [f"is {ticket['status']}; payments can be added to pending tickets only"]})
        payment_type = self._data["payment_types"].get(_as_int(body.get("payment_type_id")))
        if payment_type is None:
            raise Invalid({"payment_type_id": ["does not exist" if body.get("payment_type_id") else "can't be blank"]})
        if body.get("amount") is None:
            raise Invalid({"amount": ["can't be blank"]})
        amount = _amount(body["amount"], "amount")
        tip = _amount(body.get("tip") or 0, "tip")
        kind = payment_type["type"]
        payment: Record = {"id": self._take_id("payments"), "ticket_id": ticket["id"],
                           "payment_type_id": payment_type["id"], "type": kind, "amount": self._money(amount),
                           "tip": self._money(tip), "card_brand": None, "card_last4": None, "auth_code": None,
                           "gateway_transaction_id": None, "gateway_reference": None, "gift_card_last4": None,
                           "custom": dict(body.get("custom") or {})}
        if kind == "CreditCardPayment":
            brand = str(body.get("card_brand") or "").upper()
            if brand not in CARD_BRANDS:
                raise Invalid({"card_brand": [f"must be one of {', '.join(CARD_BRANDS)}"]})
            payment.update(card_brand=brand, card_last4=_last4(body.get("card_last4"), "card_last4"),
                           auth_code=body.get("auth_code"), gateway_transaction_id=body.get("gateway_transaction_id"),
                           gateway_reference=body.get("gateway_reference"))
        elif kind == "GiftCardPayment":
            payment["gift_card_last4"] = _last4(body.get("gift_card_last4"), "gift_card_last4")
        ticket["payments"].append(payment)
        self._recalculate(ticket)
        return payment

    def _recalculate(self, ticket: Record) -> None:
        def total(rows: list[Record], key: str) -> Decimal:
            return sum((Decimal(r[key]) for r in rows), Decimal(0))

        lines, payments = ticket["lines"], ticket["payments"]
        grand = total(lines, "net_amount") + total(lines, "tax_total")
        paid = total(payments, "amount")
        ticket.update(subtotal=self._money(total(lines, "extended_price")),
                      discount_total=self._money(total(lines, "discount_total")),
                      tax_total=self._money(total(lines, "tax_total")), total=self._money(grand),
                      tip_total=self._money(total(payments, "tip")), amount_paid=self._money(paid),
                      balance=self._money(grand - paid))

    def _set_status(self, ticket: Record, status: Any, at: datetime, *, force: bool = False) -> None:
        if status not in TICKET_STATUSES:
            raise Invalid({"status": [f"must be one of {', '.join(TICKET_STATUSES)}"]})
        current = ticket["status"]
        if status == current:
            return
        if current == "voided" or (status == "pending" and current == "complete"):
            raise Invalid({"status": [f"cannot change from {current} to {status}"]})
        if status == "complete":
            if Decimal(ticket["balance"]) != 0 and not force:
                raise Invalid({"status": [f"cannot complete: balance {ticket['balance']} is not paid"]})
            ticket["completed_at"] = _iso(at)
            self._move_stock(ticket, -1)
        if status == "voided":
            ticket["voided_at"] = _iso(at)
            if current == "complete":
                self._move_stock(ticket, 1)
        ticket["status"] = status

    def _move_stock(self, ticket: Record, direction: int) -> None:
        """A completed sale takes its items off the shelf at its location (a return puts them back)."""
        for line in ticket["lines"]:
            row = self._inventory.get((line["item_id"], ticket["location_id"])) if line["item_id"] else None
            if row is not None:
                row["qty_on_hand"] += direction * line["qty"]

    def _update(self, kind: str, record: Record, body: Record) -> None:
        """A partial merge: named fields replace, ``custom`` merges key by key, computed fields are ignored."""
        if kind not in ("customers", "items", "tickets"):
            raise NotFound(f"{kind} {record['id']} cannot be updated")
        changes = {k: v for k, v in body.items() if k not in _READ_ONLY}
        if "custom" in changes and not isinstance(changes["custom"], dict):
            raise Invalid({"custom": ["must be an object"]})
        if kind == "tickets":
            changes = {k: v for k, v in changes.items() if k not in _TICKET_COMPUTED}
            customer_id = changes.get("customer_id")
            if customer_id is not None and _as_int(customer_id) not in self._data["customers"]:
                raise Invalid({"customer_id": ["does not exist"]})
            if "status" in changes:
                self._set_status(record, changes.pop("status"), self.clock())
        if kind == "items":
            for name in ("price", "cost"):
                if changes.get(name) is not None:
                    changes[name] = self._money(_amount(changes[name], name))
        if kind == "customers" and changes.get("email") is not None and "@" not in str(changes["email"]):
            raise Invalid({"email": ["is not an email address"]})
        custom = changes.pop("custom", None)
        record.update(changes)
        if custom is not None:
            record["custom"] = {**record.get("custom", {}), **custom}
        record["updated_at"] = _iso(self.clock())


def _as_int(value: Any) -> int:
    """An id from a request; -1 (which no record has) when it is not a whole number."""
    if isinstance(value, bool):
        return -1
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1


def gateway_id(rng: random.Random) -> str:
    """A GP-style transaction id (``TRN_`` and letters): never a digit run a PAN scanner would flag."""
    return "TRN_" + "".join(rng.choice(_ID_CHARS) for _ in range(12))


def create(seed: int = 0, snapshot: Path | None = None, **options: Any) -> SimulatorApp:
    """The Heartland Retail simulator as an ASGI app; ``options`` go to ``RetailSimulator``."""
    return SimulatorApp(RetailSimulator(seed=seed, **options), seed=seed, snapshot=snapshot)
