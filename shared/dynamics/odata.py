"""OData conventions shared by the F&O and Business Central clients: paging, error text, exact JSON."""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from decimal import Decimal
from json.encoder import encode_basestring_ascii
from typing import Any

import httpx

from shared.httpclient import ApiClient

LOOKUP_CHUNK = 40
"""External keys asked in one ``$filter``: a few requests for a whole micro-batch, each URL well under limits."""


def chunks(keys: Collection[str], size: int = LOOKUP_CHUNK) -> Iterator[list[str]]:
    """``keys`` sorted and cut into ``$filter``-sized lists."""
    ordered = sorted(set(keys))
    for start in range(0, len(ordered), size):
        yield ordered[start:start + size]


def any_of(field: str, values: Iterable[str], literal: Callable[[str], str]) -> str:
    """``field eq 'a' or field eq 'b' ...`` for each distinct value, in each ERP's own literal syntax."""
    return " or ".join(f"{field} eq {literal(v)}" for v in sorted(set(values)))


def error_text(response: httpx.Response) -> str:
    """The useful part of an OData error body.

    F&O puts a generic ``message`` on top and the Infolog in ``innererror.message``; Business Central
    puts its code and text in ``error.code`` / ``error.message``.
    """
    try:
        error = response.json().get("error", {})
    except ValueError:
        return response.text[:2000]
    if not isinstance(error, dict):
        return response.text[:2000]
    parts = [str(error.get("code") or ""), str(error.get("message") or "")]
    inner = error.get("innererror")
    while isinstance(inner, dict):
        parts.append(str(inner.get("message") or ""))
        inner = inner.get("internalexception")
    return ": ".join(p for p in parts if p) or response.text[:2000]


def iter_entities(
    api: ApiClient, url: str, *, params: Mapping[str, Any] | None = None, headers: Mapping[str, str] | None = None
) -> Iterator[dict[str, Any]]:
    """Every entity of a collection, page by page, following ``@odata.nextLink`` verbatim.

    Only one page is held at a time, so memory does not grow with the collection; numbers with a
    fraction arrive as ``Decimal``, never float.
    """
    next_url: str | None = url
    query: Mapping[str, Any] | None = params
    while next_url:
        response = api.request("GET", next_url, params=query, headers=dict(headers or {}))
        page = json.loads(response.content, parse_float=Decimal)
        yield from page.get("value", [])
        next_url = page.get("@odata.nextLink")
        query = None


def dumps(obj: Any) -> bytes:
    """JSON with ``Decimal`` as an exact number, for every Dynamics payload: money is never a float,
    so a ``float`` raises ``TypeError`` instead of being rounded on its way to the ledger."""
    out: list[str] = []
    _encode(obj, out)
    return "".join(out).encode()


def _encode(obj: Any, out: list[str]) -> None:
    if isinstance(obj, str):
        out.append(encode_basestring_ascii(obj))
    elif obj is None or isinstance(obj, bool):
        out.append({None: "null", True: "true", False: "false"}[obj])
    elif isinstance(obj, Decimal):
        if not obj.is_finite():
            raise ValueError(f"{obj} cannot be sent as a JSON number")
        out.append(format(obj, "f"))
    elif isinstance(obj, int):
        out.append(str(int(obj)))
    elif isinstance(obj, float):
        raise TypeError(f"float {obj!r} in a Dynamics payload; use Decimal for money and quantities")
    elif isinstance(obj, Mapping):
        out.append("{")
        for index, (key, value) in enumerate(obj.items()):
            out.append(("," if index else "") + encode_basestring_ascii(str(key)) + ":")
            _encode(value, out)
        out.append("}")
    elif isinstance(obj, list | tuple):
        out.append("[")
        for index, item in enumerate(obj):
            if index:
                out.append(",")
            _encode(item, out)
        out.append("]")
    else:
        raise TypeError(f"{type(obj).__name__} is not JSON serialisable")
