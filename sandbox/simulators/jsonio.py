"""JSON with exact decimals, for every simulator that reads or writes money: amounts come in as ``Decimal``
(never through ``float``) and go out as JSON numbers written from ``Decimal`` by the product's own writer
(``shared.dynamics.odata.dumps``), so no simulator rounds what a client sent or what it answers."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from shared.dynamics.odata import dumps as _exact_dumps

_DECODER = json.JSONDecoder(parse_float=Decimal)  # built once: ``json.loads`` with options builds one per call


def loads(data: bytes | str) -> Any:
    """A JSON document with every number that has a fraction read as ``Decimal``."""
    if isinstance(data, bytes | bytearray):
        data = data.decode(json.detect_encoding(data), "surrogatepass")
    return _DECODER.decode(data)


def dumps(value: Any, *, shortest: bool = False) -> bytes:
    """``value`` as JSON bytes, ``Decimal`` written exactly; a ``float`` raises ``TypeError``.

    ``shortest`` writes each decimal without trailing zeros (``12.5``, ``0``, ``100``): the Business Central
    simulator's numbers. Otherwise a decimal keeps the scale it has (``12.50``): the F&O simulator's.
    """
    return _exact_dumps(_shortest(value) if shortest else value)


def _shortest(value: Any) -> Any:
    if isinstance(value, Decimal):
        if value.is_finite() and value == 0:
            return Decimal(0)
        return value.normalize() if value.is_finite() else value
    if isinstance(value, dict):
        return {key: _shortest(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_shortest(item) for item in value]
    return value
