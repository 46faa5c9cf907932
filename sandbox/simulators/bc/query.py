"""OData query options as Business Central applies them: ``$filter`` (parsed by odata-query, evaluated
here against typed records), ``$orderby``, ``$select``, ``$expand`` and ``$skiptoken`` paging.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from functools import cmp_to_key
from typing import Any

from odata_query import ast
from odata_query.exceptions import ODataException
from odata_query.grammar import ODataLexer, ODataParser

from sandbox.simulators.bc.errors import BcError
from sandbox.simulators.bc.schema import BOOLEAN, DATE, DATETIME, DECIMAL, GUID, INT32, INT64, EntitySet, Prop

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


def _literal(node: ast._Node, prop: Prop | None) -> Any:
    """A filter literal, converted to the type of the property it is compared with."""
    if isinstance(node, ast.Null):
        return None
    if isinstance(node, ast.List):
        return [_literal(v, prop) for v in node.val]
    if isinstance(node, ast.Float | ast.Integer):
        number = Decimal(node.val)
        return int(number) if prop is not None and prop.edm in (INT32, INT64) else number
    if isinstance(node, ast.Boolean):
        return node.py_val
    if isinstance(node, ast.GUID):
        return node.val.lower()
    if isinstance(node, ast.Date):
        return date.fromisoformat(node.val)
    if isinstance(node, ast.DateTime):
        return datetime.fromisoformat(node.val.replace("Z", "+00:00"))
    if isinstance(node, ast.String):
        text = node.val
        if prop is None:
            return text
        if prop.code:
            return text.upper()
        try:
            if prop.edm == DATE:
                return date.fromisoformat(text)
            if prop.edm == DATETIME:
                return datetime.fromisoformat(text.replace("Z", "+00:00"))
            if prop.edm == GUID:
                return text.lower()
            if prop.edm == DECIMAL:
                return Decimal(text)
        except (ValueError, InvalidOperation) as exc:
            raise BcError(400, "BadRequest", f"The literal '{text}' cannot be compared with '{prop.name}'.") from exc
        return text
    raise BcError(400, "BadRequest", f"The filter literal {node!r} is not supported.")


class FilterEvaluator:
    """Evaluates a parsed ``$filter`` against one record of one entity set."""

    def __init__(self, entity_set: EntitySet, text: str) -> None:
        self.entity_set = entity_set
        try:
            self.tree = ODataParser().parse(ODataLexer().tokenize(text))
        except (ODataException, ValueError, TypeError) as exc:
            raise BcError(400, "BadRequest", f"Syntax error in $filter '{text}': {exc}") from exc
        self._check(self.tree)

    def _check(self, node: ast._Node) -> None:
        """Unknown property names fail the whole request up front, as BC's OData layer does."""
        if isinstance(node, ast.Identifier):
            self._prop(node.name)
        if isinstance(node, ast.Call):
            for arg in node.args:
                self._check(arg)
            return
        for child in getattr(node, "__dict__", {}).values():
            if isinstance(child, ast._Node):
                self._check(child)
            elif isinstance(child, list):
                for item in child:
                    if isinstance(item, ast._Node):
                        self._check(item)

    def _prop(self, name: str) -> Prop:
        prop = self.entity_set.prop(name)
        if prop is None:
            raise BcError(400, "BadRequest_NotFound", f"Could not find a property named '{name}' on type "
                                                      f"'Microsoft.NAV.{self.entity_set.type_name}'.")
        return prop

    def __call__(self, record: Record) -> bool:
        return bool(self._eval(self.tree, record))

    def _eval(self, node: ast._Node, record: Record) -> Any:
        if isinstance(node, ast.BoolOp):
            if isinstance(node.op, ast.And):
                return self._eval(node.left, record) and self._eval(node.right, record)
            return self._eval(node.left, record) or self._eval(node.right, record)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return not self._eval(node.operand, record)
        if isinstance(node, ast.Compare):
            return self._compare(node, record)
        if isinstance(node, ast.Call):
            return self._call(node, record)
        if isinstance(node, ast.Identifier):
            prop = self._prop(node.name)
            return typed(record.get(node.name), prop)
        if isinstance(node, ast._Literal):
            return _literal(node, None)
        raise BcError(400, "BadRequest", f"The $filter construct {type(node).__name__} is not supported.")

    def _side(self, node: ast._Node, other: ast._Node, record: Record) -> Any:
        if isinstance(node, ast._Literal):
            prop = self._prop(other.name) if isinstance(other, ast.Identifier) else None
            return _literal(node, prop)
        return self._eval(node, record)

    def _compare(self, node: ast.Compare, record: Record) -> bool:
        left = self._side(node.left, node.right, record)
        right = self._side(node.right, node.left, record)
        op = node.comparator
        if isinstance(op, ast.In):
            return left in (right if isinstance(right, list) else [right])
        if isinstance(op, ast.Eq):
            return bool(left == right)
        if isinstance(op, ast.NotEq):
            return bool(left != right)
        if left is None or right is None:
            return False
        try:
            if isinstance(op, ast.Lt):
                return bool(left < right)
            if isinstance(op, ast.LtE):
                return bool(left <= right)
            if isinstance(op, ast.Gt):
                return bool(left > right)
            if isinstance(op, ast.GtE):
                return bool(left >= right)
        except TypeError as exc:
            raise BcError(400, "BadRequest", f"Cannot compare {left!r} with {right!r}.") from exc
        raise BcError(400, "BadRequest", f"The operator {type(op).__name__} is not supported.")

    def _call(self, node: ast.Call, record: Record) -> Any:
        name = node.func.name.lower()
        args = [self._eval(a, record) for a in node.args]
        strings = [("" if a is None else str(a)) for a in args]
        if name in ("contains", "startswith", "endswith") and len(args) == 2:
            haystack, needle = strings
            first = node.args[0]
            if isinstance(first, ast.Identifier) and (prop := self.entity_set.prop(first.name)) and prop.code:
                needle = needle.upper()
            return {"contains": needle in haystack, "startswith": haystack.startswith(needle),
                    "endswith": haystack.endswith(needle)}[name]
        if name == "tolower" and len(args) == 1:
            return strings[0].lower()
        if name == "toupper" and len(args) == 1:
            return strings[0].upper()
        if name == "length" and len(args) == 1:
            return Decimal(len(strings[0]))
        raise BcError(400, "BadRequest", f"The function '{node.func.name}' is not supported in $filter.")


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
