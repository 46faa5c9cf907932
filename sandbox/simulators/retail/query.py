"""The Retail API's collection conventions: ``_filter`` in its three forms (JSON, JSON array, bracket
parameters) with ``$eq`` … ``$like``, ``sort[]``, and page numbers."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC
from decimal import Decimal
from functools import lru_cache
from typing import Any

from sandbox.simulators import jsonio
from sandbox.simulators.retail.errors import Invalid
from sandbox.simulators.retail.values import align, as_bool, as_moment, as_number, read_text

Record = dict[str, Any]


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
                document = jsonio.loads(value)
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
        left, right = as_bool(value), as_bool(operand)
        return left is not None and left == right
    if isinstance(value, str) and isinstance(operand, str):
        if value == operand:
            return True
        left_moment, right_moment = as_moment(value), as_moment(operand)
        if left_moment is not None and right_moment is not None:
            a, b = align(left_moment, right_moment)
            return a == b
        return False
    left_number, right_number = as_number(value), as_number(operand)
    return left_number is not None and left_number == right_number


def _compare(value: Any, operand: Any) -> int | None:
    """-1, 0, 1 as ``value`` sorts before, with or after ``operand``; None when they do not compare."""
    if isinstance(value, str) and isinstance(operand, str):
        (left_number, left_moment), (right_number, right_moment) = read_text(value), read_text(operand)
        if left_number is not None and right_number is not None:
            return (left_number > right_number) - (left_number < right_number)
        if left_moment is not None and right_moment is not None:
            a, b = align(left_moment, right_moment)
            return (a > b) - (a < b)
        return (value > operand) - (value < operand)
    if value is None or operand is None or isinstance(value, bool) or isinstance(operand, bool):
        return None
    left_number, right_number = as_number(value), as_number(operand)
    if left_number is not None and right_number is not None:
        return (left_number > right_number) - (left_number < right_number)
    left_moment, right_moment = as_moment(value), as_moment(operand)
    if left_moment is not None and right_moment is not None:
        a, b = align(left_moment, right_moment)
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
    number = as_number(value)
    if number is not None:
        return (1, number)
    if isinstance(value, bool):
        return (1, Decimal(int(value)))
    moment = as_moment(value)
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


def page_number(text: str | None, name: str, default: int) -> int:
    if text is None or text == "":
        return default
    try:
        number = int(text)
    except ValueError:
        raise Invalid({name: ["must be a whole number"]}) from None
    if number < 1:
        raise Invalid({name: ["must be 1 or more"]})
    return number
