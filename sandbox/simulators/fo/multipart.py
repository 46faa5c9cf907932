"""The server side of OData v4 multipart ``$batch``: read requests and changesets, write the answer.

Written independently of the client's ``shared/dynamics/fo_batch.py`` on purpose: a simulator that
shared the client's parser would agree with the client's bugs.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from http import HTTPStatus

_BOUNDARY = re.compile(r'boundary\s*=\s*(?:"([^"]+)"|([^;\s]+))', re.IGNORECASE)
_REQUEST_LINE = re.compile(rb"\s*([A-Z]+) (\S+)(?: HTTP/1\.[01])?\r?\n")


class MultipartError(ValueError):
    """The body is not the multipart/mixed document its Content-Type announces."""


@dataclass
class InnerRequest:
    """One ``application/http`` part: a request inside the batch."""

    method: str
    target: str
    headers: dict[str, str]
    body: bytes
    content_id: str | None = None


@dataclass
class BatchPart:
    """A top-level part: a single request, or a changeset of several."""

    request: InnerRequest | None = None
    changeset: list[InnerRequest] = field(default_factory=list)


@dataclass
class InnerResponse:
    status: int
    headers: dict[str, str]
    body: bytes
    content_id: str | None = None


def boundary_of(content_type: str) -> str | None:
    """The boundary of a ``multipart/mixed`` Content-Type, or None if it is not one."""
    if not content_type.lower().startswith("multipart/mixed"):
        return None
    match = _BOUNDARY.search(content_type)
    return (match.group(1) or match.group(2)) if match else None


def _split(body: bytes, boundary: str) -> list[bytes]:
    delimiter = b"--" + boundary.encode("latin-1")
    pieces = body.split(delimiter)
    if len(pieces) < 2:
        raise MultipartError(f"no part delimited by '--{boundary}' in the body")
    parts: list[bytes] = []
    for piece in pieces[1:]:
        if piece.startswith(b"--"):
            return parts
        piece = piece.lstrip(b" \t")
        piece = piece[2:] if piece.startswith(b"\r\n") else piece[1:] if piece.startswith(b"\n") else piece
        piece = piece[:-2] if piece.endswith(b"\r\n") else piece[:-1] if piece.endswith(b"\n") else piece
        parts.append(piece)
    raise MultipartError(f"the close delimiter '--{boundary}--' is missing")


def _headers(block: bytes) -> tuple[dict[str, str], bytes]:
    """MIME or HTTP headers up to the first blank line (``\\r?\\n\\r?\\n``), and what follows.

    Two ``find`` calls instead of a regex search: this runs twice for each of a thousand journal lines.
    """
    crlf = block.find(b"\n\r\n")
    lf = block.find(b"\n\n", 0, crlf + 1 if crlf >= 0 else len(block))
    if lf >= 0:
        newline, end = lf, lf + 2
    elif crlf >= 0:
        newline, end = crlf, crlf + 3
    else:
        return _header_lines(block), b""
    start = newline - 1 if block[newline - 1:newline] == b"\r" else newline
    return _header_lines(block[:start]), block[end:]


def _header_lines(head: bytes) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in head.decode("latin-1").splitlines():
        name, colon, value = line.partition(":")
        if colon:
            headers[name.strip().lower()] = value.strip()
    return headers


def _request(part: bytes) -> InnerRequest:
    mime, http = _headers(part)
    if not mime.get("content-type", "").lower().startswith("application/http"):
        raise MultipartError("a batch part must be application/http or a multipart/mixed changeset")
    match = _REQUEST_LINE.match(http)
    if match is None:
        raise MultipartError("a batch part has no request line (METHOD URL HTTP/1.1)")
    headers, body = _headers(http[match.end():])
    return InnerRequest(match.group(1).decode(), match.group(2).decode("utf-8"), headers, body.rstrip(b"\r\n"),
                        mime.get("content-id"))


def parse_batch(content_type: str, body: bytes) -> list[BatchPart]:
    """The parts of a ``$batch`` request body, changesets opened.

    Raises:
        MultipartError: a malformed body (answered with 400).
    """
    boundary = boundary_of(content_type)
    if boundary is None:
        raise MultipartError("a $batch request must be multipart/mixed with a boundary")
    parts = []
    for raw in _split(body, boundary):
        mime, rest = _headers(raw)
        inner = boundary_of(mime.get("content-type", ""))
        if inner is not None:
            parts.append(BatchPart(changeset=[_request(p) for p in _split(rest, inner)]))
        else:
            parts.append(BatchPart(request=_request(raw)))
    return parts


def _http(response: InnerResponse) -> bytes:
    lines = ["Content-Type: application/http", "Content-Transfer-Encoding: binary"]
    if response.content_id is not None:
        lines.append(f"Content-ID: {response.content_id}")
    reason = HTTPStatus(response.status).phrase
    lines += ["", f"HTTP/1.1 {response.status} {reason}"]
    lines += [f"{name}: {value}" for name, value in response.headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + response.body


def _multipart(boundary: str, parts: list[bytes]) -> bytes:
    delimiter = f"--{boundary}\r\n".encode()
    return b"".join(delimiter + part + b"\r\n" for part in parts) + f"--{boundary}--\r\n".encode()


def write_batch(answers: list[InnerResponse | list[InnerResponse]]) -> tuple[str, bytes]:
    """The batch answer: one part per single request, a ``changesetresponse`` part per changeset.

    Returns:
        The Content-Type (with its boundary) and the body.
    """
    boundary = f"batchresponse_{uuid.uuid4()}"
    parts = []
    for answer in answers:
        if isinstance(answer, list):
            inner = f"changesetresponse_{uuid.uuid4()}"
            head = f"Content-Type: multipart/mixed; boundary={inner}\r\n\r\n".encode()
            parts.append(head + _multipart(inner, [_http(r) for r in answer]))
        else:
            parts.append(_http(answer))
    return f"multipart/mixed; boundary={boundary}", _multipart(boundary, parts)
