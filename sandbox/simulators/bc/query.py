"""OData query options as Business Central applies them: ``$filter`` (the simulators' one evaluator,
``sandbox.simulators.odata``, over typed records), ``$orderby``, ``$select``, ``$expand`` and ``$skiptoken``
paging.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from functools import cmp_to_key
from typing import Any

from sandbox.simulators.bc.errors import BcError
from sandbox.simulators.bc.schema import (
    BOOLEAN,
    DATE,
    DATETIME,
    DECIMAL,
    GUID,
    INT32,
    INT64,
    NAMESPACE,
    EntitySet,
    Prop,
)
from sandbox.simulators.odata import (
    BUSINESS_CENTRAL,
    FilterSyntaxError,
    ODataQueryError,
    UnknownProperty,
    compile_filter,
)

Record = dict[str, Any]


def typed(value: Any, prop: Prop) -> Any:
    """A stored value as the Python type comparisons need (dates and instants as objects)."""
    if value is None or value == "":
        return None if prop.edm in (DATE, DATETIME) else value
    if prop.edm == DATE:
        return date.fromisoformat(value)
    if prop.edm == DATETIME:
        return datetime.fromisoformat(value)
    if prop.edm == GUID:
        return str(value).lower()
    return value


def filter_predicate(entity_set: EntitySet, text: str) -> Callable[[Record], bool]:
    """``$filter`` as Business Central applies it, by the simulators' one evaluator: plain OData v4 that takes
    quoted dates, numbers and GUIDs, has no arithmetic, and upper-cases a literal compared with a ``Code`` field.

    Raises:
        BcError: 400 ``BadRequest`` (syntax, types, operators) or ``BadRequest_NotFound`` (an unknown property).
    """
    try:
        predicate = compile_filter(text, entity_set.types, dialect=BUSINESS_CENTRAL,
                                   entity=f"{NAMESPACE}.{entity_set.type_name}", codes=entity_set.codes)
    except FilterSyntaxError as exc:
        raise BcError(400, "BadRequest", f"Syntax error in $filter '{text}': {exc.__cause__}") from exc
    except UnknownProperty as exc:
        raise BcError(400, "BadRequest_NotFound", str(exc)) from exc
    except ODataQueryError as exc:
        raise BcError(400, "BadRequest", str(exc)) from exc

    def matches(record: Record) -> bool:
        try:
            return predicate(_Typed(entity_set, record))
        except ODataQueryError as exc:
            raise BcError(400, "BadRequest", str(exc)) from exc

    return matches


class _Typed(Mapping[str, Any]):
    """A record as ``$filter`` reads it, converted property by property only when the filter names one."""

    __slots__ = ("_entity_set", "_record")

    def __init__(self, entity_set: EntitySet, record: Record) -> None:
        self._entity_set = entity_set
        self._record = record

    def __getitem__(self, name: str) -> Any:
        value = self._record[name]
        prop = self._entity_set.by_name.get(name)
        return value if prop is None else typed(value, prop)

    def __iter__(self) -> Iterator[str]:
        return iter(self._record)

    def __len__(self) -> int:
        return len(self._record)


def select(entity_set: EntitySet, text: str | None) -> list[str] | None:
    """The property names ``$select`` keeps (None keeps all); unknown names are an error, as in BC."""
    if not text:
        return None
    names = [n.strip() for n in text.split(",") if n.strip()]
    for name in names:
        if entity_set.prop(name) is None and entity_set.nav(name) is None:
            raise BcError(400, "BadRequest_NotFound",
                          f"Could not find a property named '{name}' on type 'Microsoft.NAV.{entity_set.type_name}'.")
    return names


def orderby(entity_set: EntitySet, text: str | None) -> list[tuple[str, bool]]:
    """``$orderby`` as (property, descending) pairs, followed by the table's key so the order is total."""
    terms: list[tuple[str, bool]] = []
    for part in (text or "").split(","):
        words = part.split()
        if not words:
            continue
        if len(words) > 2 or (len(words) == 2 and words[1].lower() not in ("asc", "desc")):
            raise BcError(400, "BadRequest", f"Syntax error in $orderby '{text}'.")
        if entity_set.prop(words[0]) is None:
            raise BcError(400, "BadRequest_NotFound",
                          f"Could not find a property named '{words[0]}' on type "
                          f"'Microsoft.NAV.{entity_set.type_name}'.")
        terms.append((words[0], len(words) == 2 and words[1].lower() == "desc"))
    named = {name for name, _ in terms}
    terms += [(name, False) for name in (*entity_set.order, entity_set.key) if name not in named]
    return terms


def sort_key(entity_set: EntitySet, terms: Sequence[tuple[str, bool]], record: Record) -> tuple[Any, ...]:
    props = [entity_set.by_name[name] for name, _ in terms]
    return tuple(typed(record.get(p.name), p) for p in props)


def _cmp_values(a: Any, b: Any) -> int:
    if a == b:
        return 0
    if a is None:
        return -1
    if b is None:
        return 1
    return -1 if a < b else 1


def comparator(terms: Sequence[tuple[str, bool]]) -> Callable[[tuple[Any, ...], tuple[Any, ...]], int]:
    def compare(a: tuple[Any, ...], b: tuple[Any, ...]) -> int:
        for (_, descending), x, y in zip(terms, a, b, strict=True):
            result = _cmp_values(x, y)
            if result:
                return -result if descending else result
        return 0

    return compare


def sort(entity_set: EntitySet, terms: Sequence[tuple[str, bool]], records: Iterable[Record]) -> list[Record]:
    compare = comparator(terms)
    keyed = [(sort_key(entity_set, terms, r), r) for r in records]

    def by_key(a: tuple[tuple[Any, ...], Record], b: tuple[tuple[Any, ...], Record]) -> int:
        return compare(a[0], b[0])

    keyed.sort(key=cmp_to_key(by_key))
    return [r for _, r in keyed]


def format_token(values: Sequence[Any]) -> str:
    """A ``$skiptoken``: the sort key of the last entity sent, as OData literals (``'01905893'`` in BC)."""
    parts = []
    for value in values:
        if value is None:
            parts.append("null")
        elif isinstance(value, bool):
            parts.append("true" if value else "false")
        elif isinstance(value, int | Decimal):
            parts.append(str(value))
        elif isinstance(value, date):
            parts.append(value.isoformat())
        else:
            parts.append("'" + str(value).replace("'", "''") + "'")
    return ",".join(parts)


_TOKEN_PART = re.compile(r"\s*(?:'((?:[^']|'')*)'|([^,']*))\s*(?:,|$)")


def parse_token(entity_set: EntitySet, terms: Sequence[tuple[str, bool]], token: str) -> tuple[Any, ...]:
    values: list[Any] = []
    position = 0
    for name, _ in terms:
        match = _TOKEN_PART.match(token, position)
        if match is None or position > len(token):
            raise BcError(400, "BadRequest", f"The $skiptoken '{token}' is not valid for this request.")
        position = match.end()
        quoted, bare = match.group(1), match.group(2)
        prop = entity_set.by_name[name]
        values.append(_token_value(quoted.replace("''", "'") if quoted is not None else None, bare, prop, token))
    if position < len(token):
        raise BcError(400, "BadRequest", f"The $skiptoken '{token}' is not valid for this request.")
    return tuple(values)


def _token_value(quoted: str | None, bare: str | None, prop: Prop, token: str) -> Any:
    try:
        if quoted is not None:
            return typed(quoted, prop)
        text = (bare or "").strip()
        if text == "null":
            return None
        if prop.edm == BOOLEAN:
            return text == "true"
        if prop.edm in (INT32, INT64):
            return int(text)
        if prop.edm == DECIMAL:
            return Decimal(text)
        return typed(text, prop)
    except (ValueError, InvalidOperation) as exc:
        raise BcError(400, "BadRequest", f"The $skiptoken '{token}' is not valid for this request.") from exc


def parse_expand(text: str | None) -> dict[str, dict[str, str]]:
    """``$expand=a,b($expand=c;$select=d)`` as {nav: {option: value}} (one level of nested options)."""
    result: dict[str, dict[str, str]] = {}
    if not text:
        return result
    depth, start, items = 0, 0, []
    for i, char in enumerate(text):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            items.append(text[start:i])
            start = i + 1
    items.append(text[start:])
    for item in (i.strip() for i in items):
        if not item:
            continue
        name, _, rest = item.partition("(")
        options: dict[str, str] = {}
        if rest:
            if not rest.endswith(")"):
                raise BcError(400, "BadRequest", f"Syntax error in $expand '{text}'.")
            for option in _split_options(rest[:-1]):
                key, _, value = option.partition("=")
                options[key.strip()] = value.strip()
        result[name.strip()] = options
    return result


def _split_options(text: str) -> list[str]:
    depth, start, parts = 0, 0, []
    for i, char in enumerate(text):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == ";" and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p for p in parts if p.strip()]
