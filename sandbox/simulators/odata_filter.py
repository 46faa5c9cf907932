"""OData v4 building blocks for the Dynamics simulators: query options, keys, exact JSON and EDMX.

The simulators must answer ``$filter``/``$select``/``$orderby``/``$top``/``$skip``/``$count`` and
``$metadata`` the way the real services do, so a client bug (a forgotten quote, a float amount, a
plain string compared with an F&O enum) fails in tests instead of in production. ``odata-query``
parses ``$filter``; this module evaluates its AST against plain dict rows.

Public API (small on purpose; the Business Central simulator may import it too):

* ``ODataQueryError``: a query option the service cannot honour; answer it with HTTP 400.
* ``Dialect``: the per-product differences (F&O compares strings case-insensitively, accepts ``*``
  wildcards inside ``eq``, wants typed enum literals and rejects ``in``/``has`` and functions);
  ``FINANCE_AND_OPERATIONS`` is F&O's, ``Dialect()`` plain OData v4 (what Business Central speaks).
* ``compile_filter(text, types, *, dialect, entity)`` → ``predicate(row) -> bool``.
* ``QueryOptions.parse(params, types, *, dialect, entity)`` then ``.rows(rows)`` (filter + order),
  ``.page(rows)`` (skip + top) and ``.project(row)`` (select).
* ``parse_key(text, keys, types, *, entity)`` / ``format_key(values, keys, types)``: the
  ``(dataAreaId='usmf',JournalBatchNumber='00042')`` part of an entity URL;
  ``split_outside_quotes(text, sep)`` splits a path or key list without breaking quoted literals.
* ``coerce(value, edm_type)``: a JSON request value as the Python value the row stores.
* ``dumps(obj)``: JSON with ``Decimal`` written as an exact number (never through float).
* ``EntitySet``, ``NavigationProperty``, ``Action`` and ``edmx(...)``: a ``$metadata`` document.

Row values are Python values: ``str`` (also ``Edm.DateTimeOffset``, stored as ISO text, and enum
members), ``Decimal``, ``int``, ``bool`` or ``None``. ``types`` maps each property to its Edm type
name (``"Edm.Decimal"``) or, for an enum, to the enum type's full name.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from functools import partial
from typing import Any

from odata_query import ast
from odata_query.exceptions import ODataException
from odata_query.grammar import ODataLexer, ODataParser

Row = Mapping[str, Any]
Predicate = Callable[[Row], bool]

PRIMITIVES = frozenset({"Edm.String", "Edm.Decimal", "Edm.Double", "Edm.Int32", "Edm.Int64", "Edm.Boolean",
                        "Edm.DateTimeOffset", "Edm.Date", "Edm.Guid"})
_NUMERIC = frozenset({"Edm.Decimal", "Edm.Double", "Edm.Int32", "Edm.Int64"})
_ENUM_MARK = "\ue000"  # a private-use character: marks a typed enum literal inside a parsed string
_ENUM_LITERAL = re.compile(r"'(?:[^']|'')*'|(?P<type>(?:[A-Za-z_]\w*\.)+[A-Za-z_]\w*)'(?P<member>(?:[^']|'')*)'")
_SUPPORTED_OPTIONS = frozenset({"$filter", "$select", "$orderby", "$top", "$skip", "$count", "$expand",
                                "$skiptoken", "$format"})


class ODataQueryError(ValueError):
    """A request the service refuses as malformed (HTTP 400); the message is the OData error text."""


@dataclass(frozen=True)
class Dialect:
    """How one product bends OData.

    Attributes:
        case_insensitive: string comparison ignores case (F&O runs on a case-insensitive SQL collation).
        wildcards: ``Name eq '*retail*'`` matches with ``*`` as a wildcard (F&O's "contains").
        typed_enums: an enum property compares only with ``Namespace.Enum'Member'`` (F&O), not ``'Member'``.
        functions: ``contains()``/``startswith()``/… are allowed (F&O: no).
        allow_in: the ``in`` operator is allowed (F&O: no).
    """

    case_insensitive: bool = False
    wildcards: bool = False
    typed_enums: bool = False
    functions: bool = True
    allow_in: bool = True


FINANCE_AND_OPERATIONS = Dialect(case_insensitive=True, wildcards=True, typed_enums=True, functions=False,
                                 allow_in=False)


# ---------------------------------------------------------------------------------------------------------------
# $filter


@dataclass(frozen=True)
class _Enum:
    type_name: str
    member: str


def compile_filter(text: str, types: Mapping[str, str], *, dialect: Dialect = Dialect(), entity: str = "") -> Predicate:
    """Parse ``$filter`` once and return a predicate over rows.

    Raises:
        ODataQueryError: a syntax error, an unknown property, an unsupported operator or function, or
            operands of incompatible types (``Amount eq 'x'``; with ``typed_enums``, ``IsPosted eq 'Yes'``).
    """
    try:
        tree = ODataParser().parse(ODataLexer().tokenize(_mark_enum_literals(text)))
    except ODataException as exc:
        raise ODataQueryError(f"The query specified in the URI is not valid. {exc}") from exc
    if tree is None:
        raise ODataQueryError("The query specified in the URI is not valid. $filter is empty.")
    evaluator = _Evaluator(types, dialect, entity)
    evaluator.check(tree)
    return lambda row: evaluator.truth(tree, row)


def _mark_enum_literals(text: str) -> str:
    """``Ns.Enum'Member'`` (which odata-query cannot parse) → a marked string literal the evaluator knows."""

    def replace(match: re.Match[str]) -> str:
        if match.group("type") is None:
            return match.group(0)
        return f"'{_ENUM_MARK}{match.group('type')}{_ENUM_MARK}{match.group('member')}'"

    return _ENUM_LITERAL.sub(replace, text)


class _Evaluator:
    def __init__(self, types: Mapping[str, str], dialect: Dialect, entity: str) -> None:
        self.types = types
        self.dialect = dialect
        self.entity = entity

    # -- static checks -------------------------------------------------------------------------------------------
    def check(self, node: ast._Node) -> None:
        if isinstance(node, ast.Identifier):
            if node.namespace or node.name not in self.types:
                raise ODataQueryError(f"Could not find a property named '{node.full_name()}' on type "
                                      f"'{self.entity}'.")
        elif isinstance(node, ast.Attribute):
            raise ODataQueryError("Navigation paths are not supported in $filter.")
        elif isinstance(node, ast.Compare):
            if isinstance(node.comparator, ast.In) and not self.dialect.allow_in:
                raise ODataQueryError("The 'in' operator is not supported.")
            self.check(node.left)
            self.check(node.right)
            self._check_operands(node)
        elif isinstance(node, ast.BoolOp | ast.BinOp):
            self.check(node.left)
            self.check(node.right)
        elif isinstance(node, ast.UnaryOp):
            self.check(node.operand)
        elif isinstance(node, ast.Call):
            if not self.dialect.functions:
                raise ODataQueryError(f"The function '{node.func.full_name()}' is not supported; "
                                      "use a wildcard inside eq, e.g. Name eq '*text*'.")
            if node.func.full_name() not in _FUNCTIONS:
                raise ODataQueryError(f"The function '{node.func.full_name()}' is not supported.")
            for arg in node.args:
                self.check(arg)
        elif isinstance(node, ast.List):
            for item in node.val:
                self.check(item)
        elif not isinstance(node, ast._Literal):
            raise ODataQueryError(f"Unsupported expression in $filter: {type(node).__name__}.")

    def _check_operands(self, node: ast.Compare) -> None:
        pairs = [(node.left, node.right), (node.right, node.left)]
        for prop, literal in pairs:
            if isinstance(prop, ast.Identifier) and isinstance(literal, ast._Literal):
                edm = self.types[prop.name]
                found = _literal_type(literal)
                if found is None or _compatible(edm, found, self.dialect):
                    return
                raise ODataQueryError(
                    "A binary operator with incompatible types was detected. Found operand types "
                    f"'{edm}' and '{found}' for operator kind '{type(node.comparator).__name__}'.")

    # -- evaluation ----------------------------------------------------------------------------------------------
    def truth(self, node: ast._Node, row: Row) -> bool:
        return bool(self.value(node, row))

    def value(self, node: ast._Node, row: Row) -> Any:
        if isinstance(node, ast.Identifier):
            return row.get(node.name)
        if isinstance(node, ast._Literal):
            return _literal_value(node)
        if isinstance(node, ast.BoolOp):
            if isinstance(node.op, ast.And):
                return self.truth(node.left, row) and self.truth(node.right, row)
            return self.truth(node.left, row) or self.truth(node.right, row)
        if isinstance(node, ast.UnaryOp):
            operand = self.value(node.operand, row)
            if isinstance(node.op, ast.Not):
                return not operand
            return None if operand is None else -_number(operand)
        if isinstance(node, ast.Compare):
            return self._compare(node, row)
        if isinstance(node, ast.BinOp):
            left, right = self.value(node.left, row), self.value(node.right, row)
            if left is None or right is None:
                return None
            return _arithmetic(node.op, _number(left), _number(right))
        if isinstance(node, ast.Call):
            return _FUNCTIONS[node.func.full_name()](*[self.value(a, row) for a in node.args])
        raise ODataQueryError(f"Unsupported expression in $filter: {type(node).__name__}.")

    def _compare(self, node: ast.Compare, row: Row) -> bool:
        left = self.value(node.left, row)
        op = node.comparator
        if isinstance(op, ast.In):
            return any(self._equal(left, item) for item in self.value(node.right, row))
        right = self.value(node.right, row)
        if isinstance(op, ast.Eq):
            return self._equal(left, right)
        if isinstance(op, ast.NotEq):
            return not self._equal(left, right)
        if left is None or right is None:
            return False
        a, b = self._comparable(left, right)
        try:
            if isinstance(op, ast.Lt):
                return bool(a < b)
            if isinstance(op, ast.LtE):
                return bool(a <= b)
            if isinstance(op, ast.Gt):
                return bool(a > b)
            return bool(a >= b)
        except TypeError:
            return False

    def _equal(self, left: Any, right: Any) -> bool:
        if left is None or right is None:
            return left is None and right is None
        if self.dialect.wildcards:
            for value, pattern in ((left, right), (right, left)):
                if isinstance(pattern, str) and "*" in pattern and isinstance(value, str):
                    return _wildcard(pattern).fullmatch(value) is not None
        a, b = self._comparable(left, right)
        return bool(a == b)

    def _comparable(self, left: Any, right: Any) -> tuple[Any, Any]:
        left, right = _unwrap(left), _unwrap(right)
        if isinstance(right, datetime | date) and isinstance(left, str):
            left = _parse_datetime(left)
        elif isinstance(left, datetime | date) and isinstance(right, str):
            right = _parse_datetime(right)
        if isinstance(left, datetime) and isinstance(right, date) and not isinstance(right, datetime):
            left = left.date()
        elif isinstance(right, datetime) and isinstance(left, date) and not isinstance(left, datetime):
            right = right.date()
        if _is_number(left) and _is_number(right):
            return _number(left), _number(right)
        if isinstance(left, str) and isinstance(right, str) and self.dialect.case_insensitive:
            return left.casefold(), right.casefold()
        return left, right


def _literal_type(node: ast._Literal) -> str | None:
    if isinstance(node, ast.String):
        return node.val[1:].split(_ENUM_MARK)[0] if node.val.startswith(_ENUM_MARK) else "Edm.String"
    return {ast.Integer: "Edm.Int32", ast.Float: "Edm.Decimal", ast.Boolean: "Edm.Boolean",
            ast.DateTime: "Edm.DateTimeOffset", ast.Date: "Edm.Date", ast.GUID: "Edm.Guid"}.get(type(node))


def _compatible(edm: str, found: str, dialect: Dialect) -> bool:
    if edm in _NUMERIC:
        return found in ("Edm.Int32", "Edm.Decimal")
    if edm in ("Edm.DateTimeOffset", "Edm.Date"):
        return found in ("Edm.DateTimeOffset", "Edm.Date")
    if edm == "Edm.Guid":
        return found in ("Edm.Guid", "Edm.String")
    if edm in PRIMITIVES:
        return found == edm
    # an enum property
    if found == "Edm.String":
        return not dialect.typed_enums
    if found not in PRIMITIVES:
        return found.rsplit(".", 1)[-1] == edm.rsplit(".", 1)[-1]
    return False


def _literal_value(node: ast._Literal) -> Any:
    if isinstance(node, ast.String):
        if node.val.startswith(_ENUM_MARK):
            type_name, member = node.val[1:].split(_ENUM_MARK, 1)
            return _Enum(type_name, member.replace("''", "'"))
        return node.val
    if isinstance(node, ast.Integer | ast.Float):
        return Decimal(node.val)
    if isinstance(node, ast.DateTime):
        return _parse_datetime(node.val)
    if isinstance(node, ast.Date):
        return date.fromisoformat(node.val)
    if isinstance(node, ast.GUID):
        return node.val.lower()
    if isinstance(node, ast.List):
        return [_literal_value(v) for v in node.val]
    if isinstance(node, ast.Null):
        return None
    if isinstance(node, ast.Boolean):
        return node.val.lower() == "true"
    raise ODataQueryError(f"Unsupported literal in $filter: {type(node).__name__}.")


def _unwrap(value: Any) -> Any:
    return value.member if isinstance(value, _Enum) else value


def _is_number(value: Any) -> bool:
    return isinstance(value, int | Decimal) and not isinstance(value, bool)


def _number(value: Any) -> Decimal:
    if not _is_number(value):
        raise ODataQueryError(f"Arithmetic on a non-numeric value {value!r}.")
    return Decimal(value)


def _arithmetic(op: ast._BinOpToken, a: Decimal, b: Decimal) -> Decimal | None:
    if isinstance(op, ast.Add):
        return a + b
    if isinstance(op, ast.Sub):
        return a - b
    if isinstance(op, ast.Mult):
        return a * b
    if b == 0:
        return None
    return a / b if isinstance(op, ast.Div) else a % b


def _wildcard(pattern: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in pattern.split("*")), re.IGNORECASE | re.DOTALL)


def _parse_datetime(text: str) -> datetime:
    """ISO 8601 with up to 7 fractional digits (F&O writes ``.2942742Z``) and a ``Z`` or an offset."""
    try:
        match = re.fullmatch(r"(.*T\d\d:\d\d(?::\d\d)?)(\.\d+)?(Z|[+-]\d\d:\d\d)?", text.strip())
        if match is None:
            return datetime.combine(date.fromisoformat(text.strip()), datetime.min.time(), UTC)
        base, fraction, zone = match.groups()
        micro = (fraction or "")[:7].ljust(7, "0")[1:7] if fraction else ""
        parsed = datetime.fromisoformat(base + (f".{micro}" if micro else "") + ("+00:00" if zone in (None, "Z")
                                                                                 else zone))
        return parsed.astimezone(UTC)
    except ValueError as exc:
        raise ODataQueryError(f"'{text}' is not a valid Edm.DateTimeOffset.") from exc


def _text(value: Any) -> str:
    return "" if value is None else str(_unwrap(value))


_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "contains": lambda s, t: _text(t).casefold() in _text(s).casefold(),
    "startswith": lambda s, t: _text(s).casefold().startswith(_text(t).casefold()),
    "endswith": lambda s, t: _text(s).casefold().endswith(_text(t).casefold()),
    "tolower": lambda s: _text(s).lower(),
    "toupper": lambda s: _text(s).upper(),
    "trim": lambda s: _text(s).strip(),
    "length": lambda s: Decimal(len(_text(s))),
    "concat": lambda a, b: _text(a) + _text(b),
    "indexof": lambda s, t: Decimal(_text(s).find(_text(t))),
    "year": lambda d: Decimal(_parse_datetime(d).year) if isinstance(d, str) else None,
    "month": lambda d: Decimal(_parse_datetime(d).month) if isinstance(d, str) else None,
    "day": lambda d: Decimal(_parse_datetime(d).day) if isinstance(d, str) else None,
}


# ---------------------------------------------------------------------------------------------------------------
# $select, $orderby, $top, $skip, $count


@dataclass(frozen=True)
class QueryOptions:
    """The system query options of one collection request, validated against the entity's properties."""

    predicate: Predicate | None = None
    orderby: tuple[tuple[str, bool], ...] = ()
    select: tuple[str, ...] | None = None
    expand: tuple[str, ...] = ()
    top: int | None = None
    skip: int = 0
    count: bool = False
    extra: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, params: Mapping[str, str], types: Mapping[str, str], *, dialect: Dialect = Dialect(),
              entity: str = "") -> QueryOptions:
        """Validate every ``$`` option; other parameters (``cross-company``) are left in ``extra``.

        Raises:
            ODataQueryError: an unknown or unsupported ``$`` option or an invalid value.
        """
        for name in params:
            if name.startswith("$") and name not in _SUPPORTED_OPTIONS:
                raise ODataQueryError(f"The query parameter '{name}' is not supported.")
        predicate = compile_filter(params["$filter"], types, dialect=dialect, entity=entity) \
            if params.get("$filter", "").strip() else None
        return cls(
            predicate=predicate,
            orderby=_parse_orderby(params.get("$orderby", ""), types, entity),
            select=_parse_select(params.get("$select", ""), types, entity),
            expand=tuple(p.strip() for p in params.get("$expand", "").split(",") if p.strip()),
            top=_non_negative(params, "$top"),
            skip=_non_negative(params, "$skip") or 0,
            count=_boolean(params.get("$count", "false"), "$count"),
            extra={k: v for k, v in params.items() if not k.startswith("$")},
        )

    def rows(self, rows: Iterable[Row]) -> list[Row]:
        """The rows that match ``$filter``, in ``$orderby`` order (a stable sort: ties keep the given order)."""
        found = [r for r in rows if self.predicate(r)] if self.predicate is not None else list(rows)
        for name, descending in reversed(self.orderby):
            found.sort(key=partial(_sort_key, name), reverse=descending)
        return found

    def page(self, rows: Sequence[Row]) -> Sequence[Row]:
        """``$skip`` then ``$top``."""
        end = None if self.top is None else self.skip + self.top
        return rows[self.skip:end]

    def project(self, row: Row) -> dict[str, Any]:
        """``$select``: only the named properties (annotations such as ``@odata.etag`` always stay)."""
        if self.select is None:
            return dict(row)
        return {k: v for k, v in row.items() if k.startswith("@") or k in self.select}


def _sort_key(name: str, row: Row) -> tuple[int, Any]:
    value = row.get(name)
    if value is None:
        return (0, "")
    if isinstance(value, str):
        return (1, value.casefold())
    return (1, value)


def _parse_orderby(text: str, types: Mapping[str, str], entity: str) -> tuple[tuple[str, bool], ...]:
    result = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        name, _, direction = part.partition(" ")
        direction = direction.strip().lower() or "asc"
        if name not in types:
            raise ODataQueryError(f"Could not find a property named '{name}' on type '{entity}'.")
        if direction not in ("asc", "desc"):
            raise ODataQueryError(f"Syntax error in $orderby: '{part}'.")
        result.append((name, direction == "desc"))
    return tuple(result)


def _parse_select(text: str, types: Mapping[str, str], entity: str) -> tuple[str, ...] | None:
    names = tuple(p.strip() for p in text.split(",") if p.strip())
    if not names or "*" in names:
        return None
    for name in names:
        if name not in types:
            raise ODataQueryError(f"Could not find a property named '{name}' on type '{entity}'.")
    return names


def _non_negative(params: Mapping[str, str], name: str) -> int | None:
    if name not in params:
        return None
    try:
        value = int(params[name])
    except ValueError:
        value = -1
    if value < 0:
        raise ODataQueryError(f"Invalid value '{params[name]}' for {name} query option found. The {name} query "
                              "option requires a non-negative integer value.")
    return value


def _boolean(text: str, name: str) -> bool:
    if text.lower() not in ("true", "false"):
        raise ODataQueryError(f"'{text}' is not a valid value for {name}; use true or false.")
    return text.lower() == "true"


# ---------------------------------------------------------------------------------------------------------------
# keys and values


def split_outside_quotes(text: str, separator: str) -> list[str]:
    """Split on ``separator`` except inside single-quoted literals (``''`` is an escaped quote)."""
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    for char in text:
        if char == "'":
            quoted = not quoted
        if char == separator and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def parse_key(text: str, keys: Sequence[str], types: Mapping[str, str], *, entity: str = "") -> dict[str, Any]:
    """``dataAreaId='usmf',LineNumber=1`` → ``{"dataAreaId": "usmf", "LineNumber": Decimal(1)}``.

    Every key property must be named exactly once; a single-key entity also accepts ``('value')``.

    Raises:
        ODataQueryError: a missing, extra or unknown key part, or a literal of the wrong type.
    """
    mismatch = ODataQueryError(f"The number of keys specified in the URI does not match number of key properties "
                               f"for the resource '{entity}'.")
    parts = [p for p in split_outside_quotes(text, ",") if p.strip()]
    values: dict[str, Any] = {}
    if len(parts) == 1 and len(split_outside_quotes(parts[0], "=")) == 1 and len(keys) == 1:
        values[keys[0]] = _key_literal(parts[0].strip(), types[keys[0]], keys[0])
        return values
    for part in parts:
        pieces = split_outside_quotes(part, "=")
        if len(pieces) != 2:
            raise mismatch
        name, literal = pieces[0].strip(), pieces[1].strip()
        if name not in keys or name in values:
            raise mismatch
        values[name] = _key_literal(literal, types[name], name)
    if set(values) != set(keys):
        raise mismatch
    return values


def _key_literal(literal: str, edm: str, name: str) -> Any:
    match = re.fullmatch(r"(?:(?:[A-Za-z_]\w*\.)+[A-Za-z_]\w*)?'((?:[^']|'')*)'", literal)
    if edm in _NUMERIC:
        try:
            number = Decimal(literal.rstrip("mMdDlL"))
        except InvalidOperation as exc:
            raise ODataQueryError(f"The key value '{literal}' of '{name}' is not a valid {edm}.") from exc
        return number if edm in ("Edm.Decimal", "Edm.Double") else int(number)
    if edm == "Edm.Boolean":
        if literal not in ("true", "false"):
            raise ODataQueryError(f"The key value '{literal}' of '{name}' is not a valid Edm.Boolean.")
        return literal == "true"
    if edm == "Edm.Guid" and match is None:
        return literal.lower()
    if edm == "Edm.DateTimeOffset" and match is None:
        return _parse_datetime(literal).strftime("%Y-%m-%dT%H:%M:%SZ")
    if match is None:
        raise ODataQueryError(f"The key value {literal} of '{name}' must be a quoted {edm} literal, e.g. '{literal}'.")
    return match.group(1).replace("''", "'")


def format_key(values: Mapping[str, Any], keys: Sequence[str], types: Mapping[str, str]) -> str:
    """The inverse of ``parse_key``: ``dataAreaId='usmf',JournalBatchNumber='00042'``."""
    parts = []
    for name in keys:
        value, edm = values[name], types[name]
        if edm in _NUMERIC:
            text = format(Decimal(value), "f")
        elif edm == "Edm.Boolean":
            text = "true" if value else "false"
        elif edm == "Edm.DateTimeOffset":
            text = str(value)
        elif edm == "Edm.Guid":
            text = str(value)
        else:
            text = "'" + str(value).replace("'", "''") + "'"
        parts.append(f"{name}={text}")
    return ",".join(parts)


def coerce(value: Any, edm: str, name: str, members: Sequence[str] = ()) -> Any:
    """A JSON request value (numbers parsed as ``Decimal``/``int``) as the value a row stores.

    Dates are normalised to ``YYYY-MM-DDTHH:MM:SSZ``; decimals stay exact.

    Raises:
        ODataQueryError: the value does not fit the property's type (or is not one of the enum ``members``).
    """
    if value is None:
        return None
    wrong = ODataQueryError(f"Cannot convert the literal '{value}' to the expected type '{edm}' of property "
                            f"'{name}'.")
    if edm in _NUMERIC:
        if isinstance(value, bool) or not isinstance(value, int | Decimal):
            raise wrong
        if edm in ("Edm.Int32", "Edm.Int64"):
            if isinstance(value, Decimal) and value != value.to_integral_value():
                raise wrong
            return int(value)
        if isinstance(value, Decimal) and not value.is_finite():
            raise wrong
        return Decimal(value)
    if edm == "Edm.Boolean":
        if not isinstance(value, bool):
            raise wrong
        return value
    if not isinstance(value, str):
        raise wrong
    if edm == "Edm.DateTimeOffset":
        try:
            return _parse_datetime(value).strftime("%Y-%m-%dT%H:%M:%SZ")
        except ODataQueryError as exc:
            raise wrong from exc
    if edm == "Edm.Date":
        try:
            return date.fromisoformat(value).isoformat()
        except ValueError as exc:
            raise wrong from exc
    if members and value not in members:
        raise ODataQueryError(f"The value '{value}' is not a member of the enum type '{edm}' of property '{name}'; "
                              f"use one of {', '.join(members)}.")
    return value


# ---------------------------------------------------------------------------------------------------------------
# $metadata


@dataclass(frozen=True)
class NavigationProperty:
    """A navigation from one entity type to another; ``constraints`` pairs (own property, target property)."""

    name: str
    target: str
    collection: bool
    partner: str | None = None
    constraints: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class EntitySet:
    """One entity set and its entity type, for ``edmx``; ``properties`` maps name → Edm or enum type."""

    name: str
    entity_type: str
    keys: tuple[str, ...]
    properties: Mapping[str, str]
    navigation: tuple[NavigationProperty, ...] = ()


@dataclass(frozen=True)
class Action:
    """An action, bound to an entity type (``binding``) or unbound, with ``parameters`` (name, type)."""

    name: str
    binding: str | None = None
    parameters: tuple[tuple[str, str], ...] = ()
    returns: str | None = None


def edmx(namespace: str, entity_sets: Sequence[EntitySet], *, enums: Mapping[str, Mapping[str, int]] | None = None,
         actions: Sequence[Action] = (), container: str = "Resources") -> str:
    """An OData v4 CSDL (EDMX) document describing the sets, their keys, property types and actions.

    Enum and entity types live in ``namespace``; property types given as bare enum names are qualified.
    """
    edmx_ns = "http://docs.oasis-open.org/odata/ns/edmx"
    edm_ns = "http://docs.oasis-open.org/odata/ns/edm"
    root = ET.Element("edmx:Edmx", {"Version": "4.0", "xmlns:edmx": edmx_ns})
    services = ET.SubElement(root, "edmx:DataServices")
    schema = ET.SubElement(services, "Schema", {"Namespace": namespace, "xmlns": edm_ns})
    enums = enums or {}

    def qualified(type_name: str) -> str:
        if type_name in PRIMITIVES or "." in type_name:
            return type_name
        return f"{namespace}.{type_name}"

    for entity_set in entity_sets:
        entity = ET.SubElement(schema, "EntityType", {"Name": entity_set.entity_type})
        key = ET.SubElement(entity, "Key")
        for name in entity_set.keys:
            ET.SubElement(key, "PropertyRef", {"Name": name})
        for name, type_name in entity_set.properties.items():
            attributes = {"Name": name, "Type": qualified(type_name)}
            if name in entity_set.keys:
                attributes["Nullable"] = "false"
            if type_name == "Edm.Decimal":
                attributes.update({"Precision": "32", "Scale": "16"})
            ET.SubElement(entity, "Property", attributes)
        for navigation in entity_set.navigation:
            target = qualified(navigation.target)
            attributes = {"Name": navigation.name, "Type": f"Collection({target})" if navigation.collection else target}
            if navigation.partner:
                attributes["Partner"] = navigation.partner
            element = ET.SubElement(entity, "NavigationProperty", attributes)
            for own, referenced in navigation.constraints:
                ET.SubElement(element, "ReferentialConstraint", {"Property": own, "ReferencedProperty": referenced})
    for enum_name, members in enums.items():
        enum = ET.SubElement(schema, "EnumType", {"Name": enum_name})
        for member, value in members.items():
            ET.SubElement(enum, "Member", {"Name": member, "Value": str(value)})
    for action in actions:
        element = ET.SubElement(schema, "Action", {"Name": action.name, "IsBound": str(action.binding is not None)
                                                   .lower()})
        if action.binding is not None:
            ET.SubElement(element, "Parameter", {"Name": "_this", "Type": qualified(action.binding)})
        for name, type_name in action.parameters:
            ET.SubElement(element, "Parameter", {"Name": name, "Type": qualified(type_name)})
        if action.returns:
            ET.SubElement(element, "ReturnType", {"Type": qualified(action.returns)})
    box = ET.SubElement(schema, "EntityContainer", {"Name": container})
    for entity_set in entity_sets:
        element = ET.SubElement(box, "EntitySet", {"Name": entity_set.name,
                                                   "EntityType": qualified(entity_set.entity_type)})
        for navigation in entity_set.navigation:
            target_set = next((s.name for s in entity_sets if s.entity_type == navigation.target), None)
            if target_set:
                ET.SubElement(element, "NavigationPropertyBinding", {"Path": navigation.name, "Target": target_set})
    return '<?xml version="1.0" encoding="utf-8"?>' + ET.tostring(root, encoding="unicode")
