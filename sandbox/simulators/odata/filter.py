"""``$filter``, the one evaluator both Dynamics simulators use: ``odata-query`` parses the text, this module
checks the tree against the entity's properties once and evaluates it against plain dict rows.

A ``Dialect`` says how a product bends OData: F&O compares strings case-insensitively, accepts ``*``
wildcards inside ``eq``, wants typed enum literals and refuses ``in`` and functions; Business Central
speaks plain OData v4 but takes a quoted literal for a date, number or GUID and has no arithmetic. Row
values are Python values: ``str`` (also ``Edm.DateTimeOffset`` stored as ISO text, and enum members),
``Decimal``, ``int``, ``bool``, ``date``/``datetime`` or ``None``; ``types`` maps each property to its
Edm type name (``"Edm.Decimal"``) or, for an enum, to the enum type's full name.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from odata_query import ast
from odata_query.exceptions import ODataException
from odata_query.grammar import ODataLexer, ODataParser

from sandbox.simulators.odata.errors import FilterSyntaxError, ODataQueryError, UnknownProperty
from sandbox.simulators.odata.values import NUMERIC, PRIMITIVES, parse_datetime

Row = Mapping[str, Any]
Predicate = Callable[[Row], bool]

_ENUM_MARK = "\ue000"  # a private-use character: marks a typed enum literal inside a parsed string
_ENUM_LITERAL = re.compile(r"'(?:[^']|'')*'|(?P<type>(?:[A-Za-z_]\w*\.)+[A-Za-z_]\w*)'(?P<member>(?:[^']|'')*)'")
_QUOTABLE = NUMERIC | {"Edm.Date", "Edm.DateTimeOffset", "Edm.Guid"}
_TEXT_MATCHES = frozenset({"contains", "startswith", "endswith"})


@dataclass(frozen=True)
class Dialect:
    """How one product bends OData.

    Attributes:
        case_insensitive: string comparison ignores case (F&O runs on a case-insensitive SQL collation).
        wildcards: ``Name eq '*retail*'`` matches with ``*`` as a wildcard (F&O's "contains").
        typed_enums: an enum property compares only with ``Namespace.Enum'Member'`` (F&O), not ``'Member'``.
        functions: ``contains()``/``startswith()``/… are allowed (F&O: no).
        allow_in: the ``in`` operator is allowed (F&O: no).
        arithmetic: ``add``/``sub``/``mul``/``div``/``mod`` and negation are allowed (Business Central: no).
        quoted_values: a quoted literal compared with a date, time, number or GUID property is read as one
            (Business Central: ``postingDate eq '2025-01-31'``).
    """

    case_insensitive: bool = False
    wildcards: bool = False
    typed_enums: bool = False
    functions: bool = True
    allow_in: bool = True
    arithmetic: bool = True
    quoted_values: bool = False


ODATA_V4 = Dialect()
"""Plain OData v4, as the standard defines it."""
FINANCE_AND_OPERATIONS = Dialect(case_insensitive=True, wildcards=True, typed_enums=True, functions=False,
                                 allow_in=False)
BUSINESS_CENTRAL = Dialect(arithmetic=False, quoted_values=True)


@dataclass(frozen=True)
class _Enum:
    type_name: str
    member: str


def compile_filter(text: str, types: Mapping[str, str], *, dialect: Dialect = ODATA_V4, entity: str = "",
                   codes: Collection[str] = ()) -> Predicate:
    """Parse ``$filter`` once and return a predicate over rows.

    Args:
        codes: properties stored upper-case (Business Central's ``Code`` fields): a string literal compared
            with one is upper-cased first.

    Raises:
        FilterSyntaxError: the text does not parse.
        UnknownProperty: a name the entity does not have.
        ODataQueryError: an unsupported operator or function, operands of incompatible types (``Amount eq
            'x'``; with ``typed_enums``, ``IsPosted eq 'Yes'``), or a quoted literal that is not the value
            it stands for.
    """
    try:
        tree = ODataParser().parse(ODataLexer().tokenize(_mark_enum_literals(text)))
    except (ODataException, ValueError, TypeError) as exc:
        raise FilterSyntaxError(f"The query specified in the URI is not valid. {exc}") from exc
    if tree is None:
        raise ODataQueryError("The query specified in the URI is not valid. $filter is empty.")
    evaluator = _Evaluator(types, dialect, entity, frozenset(codes))
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
    def __init__(self, types: Mapping[str, str], dialect: Dialect, entity: str, codes: frozenset[str]) -> None:
        self.types = types
        self.dialect = dialect
        self.entity = entity
        self.codes = codes
        self.literals: dict[int, Any] = {}
        """Literals read as the property they are compared with, by node id; read once, here."""

    # -- static checks -------------------------------------------------------------------------------------------
    def check(self, node: ast._Node) -> None:
        if isinstance(node, ast.Identifier):
            if node.namespace or node.name not in self.types:
                raise UnknownProperty(f"Could not find a property named '{node.full_name()}' on type "
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
            if isinstance(node, ast.BinOp) and not self.dialect.arithmetic:
                raise ODataQueryError("The $filter construct BinOp is not supported.")
            self.check(node.left)
            self.check(node.right)
        elif isinstance(node, ast.UnaryOp):
            if not isinstance(node.op, ast.Not) and not self.dialect.arithmetic:
                raise ODataQueryError("The $filter construct UnaryOp is not supported.")
            self.check(node.operand)
        elif isinstance(node, ast.Call):
            self._check_call(node)
        elif isinstance(node, ast.List):
            for item in node.val:
                self.check(item)
        elif not isinstance(node, ast._Literal):
            raise ODataQueryError(f"Unsupported expression in $filter: {type(node).__name__}.")

    def _check_call(self, node: ast.Call) -> None:
        name = node.func.full_name()
        if not self.dialect.functions:
            raise ODataQueryError(f"The function '{name}' is not supported; "
                                  "use a wildcard inside eq, e.g. Name eq '*text*'.")
        if name not in _FUNCTIONS:
            raise ODataQueryError(f"The function '{name}' is not supported.")
        for arg in node.args:
            self.check(arg)
        if name in _TEXT_MATCHES and len(node.args) == 2:
            subject, needle = node.args
            if isinstance(subject, ast.Identifier) and isinstance(needle, ast.String):
                self.literals[id(needle)] = self._read(subject.name, needle)

    def _check_operands(self, node: ast.Compare) -> None:
        pairs = [(node.left, node.right), (node.right, node.left)]
        for prop, literal in pairs:
            if isinstance(prop, ast.Identifier) and isinstance(literal, ast._Literal):
                edm = self.types[prop.name]
                found = _literal_type(literal)
                if found is not None and not _compatible(edm, found, self.dialect):
                    raise ODataQueryError(
                        "A binary operator with incompatible types was detected. Found operand types "
                        f"'{edm}' and '{found}' for operator kind '{type(node.comparator).__name__}'.")
                self.literals[id(literal)] = self._read(prop.name, literal)
                return

    def _read(self, name: str, node: ast._Literal) -> Any:
        """A literal as the value ``name``'s values compare with: a code upper-cased; with ``quoted_values``,
        a quoted date, time, number or GUID as one."""
        if isinstance(node, ast.List):
            return [self._read(name, item) for item in node.val]
        value = _literal_value(node)
        if not isinstance(node, ast.String) or isinstance(value, _Enum):
            return value
        if name in self.codes:
            return value.upper()
        edm = self.types[name]
        if not self.dialect.quoted_values or edm not in _QUOTABLE:
            return value
        try:
            if edm == "Edm.Date":
                return date.fromisoformat(value)
            if edm == "Edm.DateTimeOffset":
                return parse_datetime(value)
            if edm == "Edm.Guid":
                return value.lower()
            number = Decimal(value)
            if not number.is_finite():
                raise ValueError(value)
            return number
        except (ValueError, InvalidOperation) as exc:
            raise ODataQueryError(f"The literal '{value}' cannot be compared with '{name}'.") from exc

    # -- evaluation ----------------------------------------------------------------------------------------------
    def truth(self, node: ast._Node, row: Row) -> bool:
        return bool(self.value(node, row))

    def value(self, node: ast._Node, row: Row) -> Any:
        if isinstance(node, ast.Identifier):
            return row.get(node.name)
        if isinstance(node, ast._Literal):
            return self.literals[id(node)] if id(node) in self.literals else _literal_value(node)
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
            name = node.func.full_name()
            args = [self.value(a, row) for a in node.args]
            if name in _TEXT_MATCHES and self.dialect.case_insensitive:
                args = [_text(a).casefold() for a in args]
            return _FUNCTIONS[name](*args)
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
            left = parse_datetime(left)
        elif isinstance(left, datetime | date) and isinstance(right, str):
            right = parse_datetime(right)
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
    if found == "Edm.String" and dialect.quoted_values and edm in _QUOTABLE:
        return True
    if edm in NUMERIC:
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
        return parse_datetime(node.val)
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


def _text(value: Any) -> str:
    return "" if value is None else str(_unwrap(value))


def _part(value: Any, name: str) -> Decimal | None:
    """``year``/``month``/``day`` of a stored date, time or ISO text (None for anything else)."""
    moment = value if isinstance(value, date) else parse_datetime(value) if isinstance(value, str) else None
    return None if moment is None else Decimal(getattr(moment, name))


_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "contains": lambda s, t: _text(t) in _text(s),
    "startswith": lambda s, t: _text(s).startswith(_text(t)),
    "endswith": lambda s, t: _text(s).endswith(_text(t)),
    "tolower": lambda s: _text(s).lower(),
    "toupper": lambda s: _text(s).upper(),
    "trim": lambda s: _text(s).strip(),
    "length": lambda s: Decimal(len(_text(s))),
    "concat": lambda a, b: _text(a) + _text(b),
    "indexof": lambda s, t: Decimal(_text(s).find(_text(t))),
    "year": lambda d: _part(d, "year"),
    "month": lambda d: _part(d, "month"),
    "day": lambda d: _part(d, "day"),
}
