"""The key part of an entity URL, ``(dataAreaId='usmf',JournalBatchNumber='00042')``: parsed into typed
values and written back, and a path split without breaking quoted literals."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from sandbox.simulators.odata.errors import ODataQueryError
from sandbox.simulators.odata.values import NUMERIC, parse_datetime

_QUOTED = re.compile(r"(?:(?:[A-Za-z_]\w*\.)+[A-Za-z_]\w*)?'((?:[^']|'')*)'")


def split_outside_quotes(text: str, separator: str) -> list[str]:
    """Split on ``separator`` except inside single-quoted literals (``''`` is an escaped quote).

    A separator is quoted when an odd number of quotes precede it, so the pieces of a plain ``str.split``
    are joined back while their quotes are unbalanced: every URL of a ``$batch`` passes here.
    """
    if len(separator) != 1 or separator == "'":
        return _split_by_char(text, separator)
    pieces = text.split(separator)
    if "'" not in text:
        return pieces
    parts: list[str] = []
    pending: list[str] = []
    quoted = False
    for piece in pieces:
        pending.append(piece)
        if piece.count("'") % 2:
            quoted = not quoted
        if not quoted:
            parts.append(separator.join(pending))
            pending = []
    if pending:
        parts.append(separator.join(pending))
    return parts


def _split_by_char(text: str, separator: str) -> list[str]:
    """The definition, for separators the fast path cannot take (none a URL uses)."""
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
    parts = [p for p in split_outside_quotes(text, ",") if p.strip()]
    values: dict[str, Any] = {}
    if len(parts) == 1 and len(split_outside_quotes(parts[0], "=")) == 1 and len(keys) == 1:
        values[keys[0]] = _key_literal(parts[0].strip(), types[keys[0]], keys[0])
        return values
    for part in parts:
        pieces = split_outside_quotes(part, "=")
        if len(pieces) != 2:
            raise _mismatch(entity)
        name, literal = pieces[0].strip(), pieces[1].strip()
        if name not in keys or name in values:
            raise _mismatch(entity)
        values[name] = _key_literal(literal, types[name], name)
    if set(values) != set(keys):
        raise _mismatch(entity)
    return values


def _mismatch(entity: str) -> ODataQueryError:
    return ODataQueryError(f"The number of keys specified in the URI does not match number of key properties "
                           f"for the resource '{entity}'.")


def _key_literal(literal: str, edm: str, name: str) -> Any:
    match = _QUOTED.fullmatch(literal)
    if edm in NUMERIC:
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
        return parse_datetime(literal).strftime("%Y-%m-%dT%H:%M:%SZ")
    if match is None:
        raise ODataQueryError(f"The key value {literal} of '{name}' must be a quoted {edm} literal, e.g. '{literal}'.")
    return match.group(1).replace("''", "'")


def format_key(values: Mapping[str, Any], keys: Sequence[str], types: Mapping[str, str]) -> str:
    """The inverse of ``parse_key``: ``dataAreaId='usmf',JournalBatchNumber='00042'``."""
    parts = []
    for name in keys:
        value, edm = values[name], types[name]
        if edm in NUMERIC:
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
