"""Dataverse's refusals: ``{"error": {"code": "0x…", "message": "…"}}`` with the platform's hexadecimal codes.

Codes seen in public clients and docs: ``0x80040217`` (record does not exist), ``0x80060882`` (RowVersion
mismatch on ``If-Match``), ``0x80040237`` (a record with matching key values already exists),
``0x80060888`` (the OData layer refused the query; also reported for change tracking on a table without it,
obs), ``0x8006088a`` (no such resource segment), ``0x80072322`` (service protection: number of requests),
``0x80044331`` (a value longer than the column), ``0x80048d19`` (an invalid property in a payload).
``0x80044352`` (ExpiredVersionStamp) is documented for metadata change tracking; that an expired data
delta token gets it too is the simulator's assumption (unverified).
"""

from __future__ import annotations

NOT_FOUND = "0x80040217"
VERSION_MISMATCH = "0x80060882"
ALREADY_EXISTS = "0x80040237"
QUERY = "0x80060888"
NO_SEGMENT = "0x8006088a"
THROTTLED = "0x80072322"
TOO_LONG = "0x80044331"
BAD_PAYLOAD = "0x80048d19"
EXPIRED_TOKEN = "0x80044352"  # noqa: S105 - an error code
UNEXPECTED = "0x80040216"


class DataverseError(Exception):
    """An error answer: HTTP ``status`` with Dataverse's error body."""

    def __init__(self, status: int, code: str, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}

    def body(self) -> dict[str, dict[str, str]]:
        return {"error": {"code": self.code, "message": self.message}}


def not_found(logical_name: str, record_id: str) -> DataverseError:
    return DataverseError(404, NOT_FOUND, f"Entity '{logical_name}' With Id = {record_id} Does Not Exist")


def query_error(message: str) -> DataverseError:
    return DataverseError(400, QUERY, message)


def bad_payload(message: str) -> DataverseError:
    return DataverseError(400, BAD_PAYLOAD, message)
