"""OData v4 multipart ``$batch`` for F&O, and JSON that keeps money exact.

F&O answers a ``$batch`` with 200 even when a changeset failed; the failure is an inner
``HTTP/1.1 500`` part (reference §1.5). ``parse_batch_response`` therefore returns every inner
response so the caller can look at each status.

JSON: numbers are read as ``Decimal`` (integers too: F&O amounts and ``LineNumber`` are
``Edm.Decimal`` and may arrive without a fraction) and ``Decimal`` is written as an exact JSON
number. ``float`` is refused on the way out: money never goes through binary floating point.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from shared.dynamics.odata import dumps

_BOUNDARY = re.compile(r'boundary\s*=\s*(?:"([^"]+)"|([^;\s]+))', re.IGNORECASE)
_STATUS = re.compile(rb"HTTP/1\.[01] (\d{3})[^\r\n]*\r?\n")
_PART_START = re.compile(rb"^[ \t]*\r?\n")
_BLANK_LINE = re.compile(rb"\r?\n\r?\n")


class BatchFormatError(ValueError):
    """The ``$batch`` answer is not the multipart document it claims to be."""


_DECODER = json.JSONDecoder(parse_float=Decimal, parse_int=Decimal)  # built once, not per call


def loads(data: bytes | str) -> Any:
    """JSON with every number as ``Decimal``."""
    if isinstance(data, bytes | bytearray):
        data = data.decode(json.detect_encoding(data), "surrogatepass")
    return _DECODER.decode(data)


@dataclass(frozen=True)
class BatchRequest:
    """One request of a changeset. ``url`` is relative to the service root (``LedgerJournalHeaders``)
    or a Content-ID reference (``$1/JournalLines``)."""

    method: str
    url: str
    body: Any = None
    content_id: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class BatchResponse:
    """One inner answer; ``changeset`` is the index of the changeset it belongs to (None outside one)."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    content_id: str | None = None
    changeset: int | None = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def json(self) -> Any:
        return loads(self.body) if self.body.strip() else None


def build_batch(changesets: Sequence[Sequence[BatchRequest]], *, root: str = "/data/",
                reads: Sequence[BatchRequest] = ()) -> tuple[str, bytes]:
    """A ``$batch`` body with one changeset per sequence of requests.

    Args:
        root: the service root's path, prefixed to each relative URL (``/data/``).
        reads: requests outside any changeset (GETs), each answered on its own, placed first.

    Returns:
        The Content-Type (with the boundary) and the body.
    """
    batch = f"batch_{uuid.uuid4()}"
    out: list[bytes] = []  # joined once: a journal of a thousand lines is a thousand parts
    for request in reads:
        out.append(f"--{batch}\r\n".encode() + _part(request, root) + b"\r\n")
    for requests in changesets:
        changeset = f"changeset_{uuid.uuid4()}"
        out.append(f"--{batch}\r\nContent-Type: multipart/mixed; boundary={changeset}\r\n\r\n".encode())
        out.extend(f"--{changeset}\r\n".encode() + _part(request, root) + b"\r\n" for request in requests)
        out.append(f"--{changeset}--\r\n".encode())
    out.append(f"--{batch}--\r\n".encode())
    return f"multipart/mixed; boundary={batch}", b"".join(out)


def _part(request: BatchRequest, root: str) -> bytes:
    url = request.url if request.url.startswith(("$", "http://", "https://")) else root + request.url
    head = ["Content-Type: application/http", "Content-Transfer-Encoding: binary"]
    if request.content_id is not None:
        head.append(f"Content-ID: {request.content_id}")
    lines = [f"{request.method} {url} HTTP/1.1", "Accept: application/json"]
    body = b""
    if request.body is not None:
        lines.append("Content-Type: application/json; charset=utf-8")
        body = dumps(request.body)
    lines += [f"{k}: {v}" for k, v in request.headers.items()]
    part = "\r\n".join(head) + "\r\n\r\n" + "\r\n".join(lines) + "\r\n\r\n"
    return part.encode("utf-8") + body


def boundary_of(content_type: str) -> str | None:
    if not content_type.lower().lstrip().startswith("multipart/"):
        return None
    match = _BOUNDARY.search(content_type)
    return (match.group(1) or match.group(2)) if match else None


def _parts(body: bytes, boundary: str) -> list[bytes]:
    pieces = body.split(b"--" + boundary.encode("latin-1"))
    if len(pieces) < 2:
        raise BatchFormatError(f"no part delimited by '--{boundary}'")
    parts: list[bytes] = []
    for piece in pieces[1:]:
        if piece.startswith(b"--"):
            return parts
        piece = _PART_START.sub(b"", piece, count=1)
        # The line break before the next delimiter belongs to it. Cut by hand: a search for ``\r?\n$`` tries
        # every line break of a changeset's megabyte.
        parts.append(piece[:-2] if piece.endswith(b"\r\n") else piece[:-1] if piece.endswith(b"\n") else piece)
    raise BatchFormatError(f"the close delimiter '--{boundary}--' is missing")


def _split_headers(block: bytes) -> tuple[dict[str, str], bytes]:
    match = _BLANK_LINE.search(block)
    head, rest = (block[:match.start()], block[match.end():]) if match else (block, b"")
    headers = {}
    for line in head.decode("latin-1").splitlines():
        name, colon, value = line.partition(":")
        if colon:
            headers[name.strip().lower()] = value.strip()
    return headers, rest


def _response(part: bytes, changeset: int | None) -> BatchResponse:
    mime, http = _split_headers(part)
    match = _STATUS.match(http.lstrip())
    if match is None:
        raise BatchFormatError("an inner part has no HTTP status line")
    headers, body = _split_headers(http.lstrip()[match.end():])
    return BatchResponse(int(match.group(1)), headers, body, mime.get("content-id"), changeset)


def parse_batch_response(content_type: str, body: bytes) -> list[BatchResponse]:
    """Every inner response of a ``$batch`` answer, changesets opened, in order.

    A changeset that failed usually answers with a single part (its failing request's error).

    Raises:
        BatchFormatError: the body does not parse as the announced multipart document.
    """
    boundary = boundary_of(content_type)
    if boundary is None:
        raise BatchFormatError(f"the $batch answer is {content_type or 'untyped'}, not multipart/mixed")
    responses: list[BatchResponse] = []
    changeset = -1
    for part in _parts(body, boundary):
        mime, rest = _split_headers(part)
        inner = boundary_of(mime.get("content-type", ""))
        if inner is None:
            responses.append(_response(part, None))
            continue
        changeset += 1
        responses.extend(_response(p, changeset) for p in _parts(rest, inner))
    return responses
