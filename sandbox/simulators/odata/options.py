"""The system query options of a collection request: ``$filter`` (compiled by ``filter.py``), ``$select``,
``$orderby``, ``$top``, ``$skip`` and ``$count``, validated against the entity's properties."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from sandbox.simulators.odata.errors import ODataQueryError, UnknownProperty
from sandbox.simulators.odata.filter import ODATA_V4, Dialect, Predicate, Row, compile_filter

_SUPPORTED_OPTIONS = frozenset({"$filter", "$select", "$orderby", "$top", "$skip", "$count", "$expand",
                                "$skiptoken", "$format"})

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
    def parse(cls, params: Mapping[str, str], types: Mapping[str, str], *, dialect: Dialect = ODATA_V4,
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
            raise UnknownProperty(f"Could not find a property named '{name}' on type '{entity}'.")
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
            raise UnknownProperty(f"Could not find a property named '{name}' on type '{entity}'.")
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
