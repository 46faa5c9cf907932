"""The two pages the end-of-day close reads by the million, decoded straight from their bytes.

GP's ``/settlement/transactions`` and Heartland Retail's ``/sales/tickets`` are decoded by msgspec into
frozen structs of only the fields settlement and reconciliation read: one pass of a C decoder per page
instead of a dict per row and a pydantic model per dict. Fields not named are skipped unread, so a card
number is never held, and the last-four fields that are named refuse anything longer.

Shapes are checked while decoding; a row that does not fit fails naming its place, its id and the field.
Amounts stay as sent (GP's minor units, Retail's exact decimals) until ``minor_money`` or
``decimal_money`` makes them ``Money``: a day repeats few amounts, so each is validated and built once.
The full pydantic models in ``gp_models`` and ``retail_models`` serve every other read.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from typing import Annotated, Any, Literal, TypeVar

import msgspec
from pydantic import ValidationError

from shared.canonical.money import Money
from shared.canonical.payments import PaymentStatus
from shared.heartland.gp_models import money as gp_money

Aware = Annotated[datetime, msgspec.Meta(tz=True)]
Last4 = Annotated[str, msgspec.Meta(min_length=4, max_length=4)]
"""The last four of a card, the most of a card number hl365 accepts from the POS; checked by length alone,
which refuses any card number and costs nothing next to a pattern run on a million tenders."""

Page = TypeVar("Page")


class _Row(msgspec.Struct, frozen=True, gc=False):
    """Decoded rows hold only strings, numbers and other rows: never part of a cycle."""


# GP API ------------------------------------------------------------------------------------------------------


class SettledCard(_Row, frozen=True, kw_only=True):
    brand: str | None = None
    authcode: str | None = None


class SettledPaymentMethod(_Row, frozen=True, kw_only=True):
    card: SettledCard | None = None


class SettledRow(_Row, frozen=True, kw_only=True):
    """A ``/settlement/transactions`` row as settlement reads it; ``amount`` in minor units as GP sends it,
    always positive (``type`` says a refund)."""

    id: str
    time_created: Aware
    type: Literal["SALE", "REFUND"]
    status: PaymentStatus
    amount: str | int
    currency: str
    batch_id: str | None = None
    deposit_id: str | None = None
    reference: str | None = None
    payment_method: SettledPaymentMethod | None = None


class _Paging(msgspec.Struct, kw_only=True):
    page_size: int | str | None = None


class SettledPage(msgspec.Struct, kw_only=True):
    transactions: list[SettledRow] | None = None
    total_record_count: int | str | None = None
    total_count: int | str | None = None
    paging: _Paging | None = None


SETTLED_PAGE = msgspec.json.Decoder(SettledPage)


# Heartland Retail --------------------------------------------------------------------------------------------


class TaxRow(_Row, frozen=True, kw_only=True):
    name: str
    amount: Decimal


class LineRow(_Row, frozen=True, kw_only=True):
    """A ticket line: ``ItemLine`` or ``GiftCardLine``; a return has a negative ``qty`` and negative amounts."""

    type: str = "ItemLine"
    item_id: int | None = None
    department: str | None = None
    qty: Decimal
    extended_price: Decimal
    discount_total: Decimal
    taxes: list[TaxRow] = []
    gift_card_last4: Last4 | None = None


class PaymentRow(_Row, frozen=True, kw_only=True):
    """A tender; ``amount`` excludes ``tip`` and is negative for a refund."""

    payment_type_id: int
    type: str
    amount: Decimal
    tip: Decimal | None = None
    card_brand: str | None = None
    card_last4: Last4 | None = None
    gift_card_last4: Last4 | None = None
    auth_code: str | None = None
    gateway_transaction_id: str | None = None
    gateway_reference: str | None = None


class TicketRow(_Row, frozen=True, kw_only=True):
    """A ticket with its lines and payments embedded (``_include[]=lines&_include[]=payments``)."""

    id: int
    status: str
    location_id: int | None = None
    completed_at: Aware | None = None
    updated_at: Aware | None = None
    created_at: Aware | None = None
    lines: list[LineRow] = []
    payments: list[PaymentRow] = []

    def amounts(self) -> Iterator[tuple[str, Decimal | None]]:
        """Every amount with where it sits, to name the one that cannot be Money."""
        for n, line in enumerate(self.lines):
            yield f"lines[{n}].extended_price", line.extended_price
            yield f"lines[{n}].discount_total", line.discount_total
            for t, tax in enumerate(line.taxes):
                yield f"lines[{n}].taxes[{t}].amount", tax.amount
        for n, payment in enumerate(self.payments):
            yield f"payments[{n}].amount", payment.amount
            yield f"payments[{n}].tip", payment.tip


class TicketPage(msgspec.Struct, kw_only=True):
    results: list[TicketRow]
    pages: int | str | None = None


TICKET_PAGE = msgspec.json.Decoder(TicketPage)


# Decoding and amounts ----------------------------------------------------------------------------------------


class PageError(ValueError):
    """The page is not the document expected: not JSON, or its rows are not a list."""


class RowError(ValueError):
    """A row that does not fit: its place on the page (from 1), its id when it has one, the field, the problem."""

    def __init__(self, row: int, record_id: Any, field: str, problem: str) -> None:
        self.row, self.record_id, self.field, self.problem = row, record_id, field, problem
        where = f"row {row}" if record_id is None else f"{record_id} (row {row})"
        super().__init__(f"{where}: {field}: {problem}" if field else f"{where}: {problem}")


_AT = re.compile(r"^(?P<problem>.*) - at `\$(?P<path>[^`]*)`$", re.DOTALL)
_IN_ROW = re.compile(r"^\.(?P<key>\w+)\[(?P<index>\d+)\]\.?(?P<field>.*)$")


def decode(decoder: msgspec.json.Decoder[Page], body: bytes, rows: str) -> Page:
    """One page, decoded whole.

    Raises:
        RowError: a row under ``rows`` does not fit.
        PageError: anything else is wrong with the page.
    """
    try:
        return decoder.decode(body)
    except msgspec.ValidationError as exc:
        raise _located(str(exc), body, rows) from None
    except msgspec.DecodeError:
        raise PageError("the body is not JSON") from None


def _located(message: str, body: bytes, rows: str) -> ValueError:
    found = _AT.match(message)
    problem, path = (found["problem"], found["path"]) if found else (message, "")
    in_row = _IN_ROW.match(path)
    if in_row is None or in_row["key"] != rows:
        return PageError(f"{problem} at {path or 'the top'}")
    index = int(in_row["index"])
    return RowError(index + 1, _record_id(body, rows, index), in_row["field"], problem)


def _record_id(body: bytes, rows: str, index: int) -> Any:
    """The failing row's ``id``, read again loosely; only ever on the way to an error."""
    try:
        row = msgspec.json.decode(body)[rows][index]
    except (msgspec.DecodeError, LookupError, TypeError):
        return None
    record_id = row.get("id") if isinstance(row, dict) else None
    return record_id if isinstance(record_id, str | int) and not isinstance(record_id, bool) else None


def problem(error: Exception) -> str:
    """The short reason of an amount that cannot be Money (pydantic's first message, not its report)."""
    if isinstance(error, ValidationError):
        return str(error.errors(include_input=False)[0]["msg"]).removeprefix("Value error, ")
    if isinstance(error, TypeError):
        return "not an amount"
    return str(error)


@lru_cache(maxsize=65_536)
def minor_money(amount: str | int, currency: str, negate: bool = False) -> Money:
    """GP minor units (``""`` is GP's "nothing", zero) as Money, negated when asked (a refund).

    Raises:
        ValueError: not a whole number of minor units, or not an ISO 4217 currency.
    """
    money = gp_money(amount, currency)
    return -money if negate else money


@lru_cache(maxsize=65_536)
def decimal_money(amount: Decimal, currency: str, negate: bool = False) -> Money:
    """A Retail decimal amount as Money, rounded to the currency's minor units, negated when asked.

    Raises:
        ValueError: not a finite amount.
        TypeError: a signalling NaN, which cannot even be looked up.
    """
    money = Money.of(amount, currency)
    return -money if negate else money
