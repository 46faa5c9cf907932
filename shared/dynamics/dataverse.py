"""Dataverse Web API client for the CRM's accounts and contacts: change tracking (delta links), upserts guarded
by ETags, creates, reads, paging.

What Dataverse does that a client must know (reference §3, §4.4):

* ``POST`` answers **204** with the new record's URL in ``OData-EntityId``, not a body: the id is read from
  that header.
* ``PATCH set(id)`` is an **upsert**: it creates a record that does not exist. ``If-Match: <etag>`` makes it
  an update of exactly that version (412 when someone changed it since), ``If-Match: *`` an update of any
  version, ``If-None-Match: *`` a create only (412 when it exists). Each 412 is raised as its own error.
* Change tracking: the first read with ``Prefer: odata.track-changes`` ends with ``@odata.deltaLink``; a GET
  on that link returns what changed since, deletes as ``$deletedEntity`` entries, and the next link. A delta
  link the service no longer accepts (expired after about 7 days) raises ``DeltaLinkRejected``: read everything
  again with ``delta_link=None``.
* Pages end with ``@odata.nextLink`` (an opaque ``$skiptoken``), followed verbatim, with the same ``Prefer``.

Transport, token refresh after a 401, and retries on 429 (honouring ``Retry-After``) and 5xx are
``shared.httpclient.ApiClient``'s.
"""

from __future__ import annotations

import json
import re
import ssl
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import httpx

from shared.dynamics.credentials import trusting
from shared.dynamics.odata import dumps, error_text
from shared.errors import PermanentApiError
from shared.httpclient import ApiClient, RetryPolicy

SOURCE = "dataverse"
API_VERSION = "v9.2"
DEFAULT_RETRY = RetryPolicy()
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
NOT_FOUND = "0x80040217"
VERSION_MISMATCH = "0x80060882"
ALREADY_EXISTS = "0x80040237"
_ENTITY_ID = re.compile(r"\((?P<id>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})\)$")
_DELETED = "/$deletedEntity"

Entity = dict[str, Any]


class PreconditionFailed(PermanentApiError):
    """A conditional write was refused (HTTP 412): nothing was written."""


class StaleEtag(PreconditionFailed):
    """``If-Match`` named a version the record no longer has: someone changed it since it was read."""


class AlreadyExists(PreconditionFailed):
    """A create-only write (``If-None-Match: *``, or a create with a given id) met an existing record."""


class RecordNotFound(PermanentApiError):
    """The record does not exist (an update-only write, or a delete)."""


class TrackingRefused(PermanentApiError):
    """A tracked read was refused: change tracking is off for the table, or the query names an unknown column."""


class DeltaLinkRejected(PermanentApiError):
    """The delta link is expired or unknown: read the whole table again with ``delta_link=None``."""


@dataclass(frozen=True)
class Created:
    """A new record: its id, and the record itself when it was asked for (``representation=True``)."""

    id: str
    record: Entity | None = None


@dataclass(frozen=True)
class Upserted:
    """The record after an upsert, with ``created`` telling a create (201) from an update (200)."""

    id: str
    created: bool
    record: Entity

    @property
    def etag(self) -> str:
        """The version to send as ``If-Match`` with the next guarded write."""
        return str(self.record.get("@odata.etag", ""))


class Changes(NamedTuple):
    """What one change-tracking read found, and where the next one starts."""

    rows: list[Entity]
    deleted_ids: list[str]
    delta_link: str


def scope_for(organization_url: str) -> str:
    """The client-credentials scope of an organisation: its URL (scheme and host) + ``/.default``."""
    parts = urlsplit(organization_url if "://" in organization_url else f"https://{organization_url}")
    return f"{parts.scheme}://{parts.netloc}/.default"


def literal(value: str) -> str:
    """An OData string literal: quoted, with quotes doubled."""
    return "'" + value.replace("'", "''") + "'"


def _code(error: PermanentApiError) -> str:
    try:
        document = json.loads(error.body or "")
    except ValueError:
        return ""
    inner = document.get("error") if isinstance(document, dict) else None
    return str(inner.get("code") or "") if isinstance(inner, dict) else ""


def _retyped(error: PermanentApiError, kind: type[PermanentApiError], reason: str) -> PermanentApiError:
    return kind(reason, error.description, source=error.source, status=error.status, request_id=error.request_id,
                body=error.body)


def _refined(error: PermanentApiError) -> PermanentApiError:
    """The Dataverse condition behind a refusal, as a typed error (never decided from the message text)."""
    code = _code(error)
    if error.status == 412:
        return _retyped(error, AlreadyExists if code == ALREADY_EXISTS else StaleEtag,
                        "AlreadyExists" if code == ALREADY_EXISTS else "StaleEtag")
    if error.status == 404 and code == NOT_FOUND:
        return _retyped(error, RecordNotFound, "RecordNotFound")
    return error


class DataverseClient:
    """One Dataverse organisation's Web API.

    Args:
        base_url: the API root, ``https://{org}.crm.dynamics.com/api/data/v9.2``.
        credentials: the ``auth`` callable (``EntraAuth`` for ``scope_for(org URL)``); called with True after a 401.
        page_size: rows per page asked with ``Prefer: odata.maxpagesize`` (None: the service's default, 5,000).
        transport: an httpx transport for tests.
        verify: the TLS trust (a CA bundle path or an ``ssl.SSLContext``; True: the system's authorities).
    """

    def __init__(
        self,
        base_url: str,
        *,
        credentials: Callable[[bool], Mapping[str, str]],
        page_size: int | None = None,
        transport: httpx.BaseTransport | None = None,
        verify: ssl.SSLContext | str | bool = True,
        retry: RetryPolicy = DEFAULT_RETRY,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.page_size = page_size
        self.api = ApiClient(SOURCE, base_url.rstrip("/") + "/", auth=credentials, retry=retry, timeout=timeout,
                             headers={"Accept": "application/json", "OData-MaxVersion": "4.0", "OData-Version": "4.0"},
                             describe_error=error_text, transport=transport or trusting(verify), sleep=sleep)

    @classmethod
    def connect(cls, organization_url: str, *, credentials: Callable[[bool], Mapping[str, str]],
                api_version: str = API_VERSION, **options: Any) -> DataverseClient:
        """A client for the organisation at ``organization_url`` (``https://contoso.crm.dynamics.com``)."""
        root = organization_url.rstrip("/")
        if "/api/data/" not in root:
            root = f"{root}/api/data/{api_version}"
        return cls(root, credentials=credentials, **options)

    def close(self) -> None:
        self.api.close()

    @property
    def requests_sent(self) -> int:
        return self.api.requests_sent

    # -- plumbing ----------------------------------------------------------------------------------------------

    def _send(self, method: str, url: str, *, body: Any = None, headers: Mapping[str, str] | None = None,
              params: Mapping[str, str] | None = None) -> httpx.Response:
        sent = dict(headers or {})
        content = None
        if body is not None:
            content = dumps(body)
            sent["Content-Type"] = "application/json"
        try:
            return self.api.request(method, url, content=content, headers=sent, params=dict(params) if params else None)
        except PermanentApiError as error:
            raise _refined(error) from None

    @staticmethod
    def _json(response: httpx.Response) -> Any:
        return json.loads(response.content, parse_float=Decimal) if response.content else None

    def _prefer(self, *preferences: str) -> dict[str, str]:
        wanted = [*preferences, *([f"odata.maxpagesize={self.page_size}"] if self.page_size else [])]
        return {"Prefer": ",".join(wanted)} if wanted else {}

    @staticmethod
    def _id(response: httpx.Response) -> str:
        match = _ENTITY_ID.search(response.headers.get("OData-EntityId", ""))
        if match is None:
            raise PermanentApiError("NoEntityId", f"{response.request.method} {response.request.url} answered "
                                    f"{response.status_code} without an OData-EntityId naming the record",
                                    source=SOURCE, status=response.status_code)
        return match.group("id").lower()

    # -- records -----------------------------------------------------------------------------------------------

    def get(self, entity_set: str, record_id: str, *, select: Sequence[str] | None = None) -> Entity | None:
        """One record, or None when it does not exist: looking a record up before writing it is routine."""
        params = {"$select": ",".join(select)} if select else None
        try:
            result: Entity = self._json(self._send("GET", f"{entity_set}({record_id})", params=params))
        except RecordNotFound:
            return None
        return result

    def create(self, entity_set: str, body: Mapping[str, Any], *, representation: bool = False) -> Created:
        """A new record (a lookup is written ``"parentcustomerid_account@odata.bind": "/accounts(<id>)"``).

        Raises:
            AlreadyExists: ``body`` names the key of a record that exists.
        """
        headers = {"Prefer": "return=representation"} if representation else None
        response = self._send("POST", entity_set, body=body, headers=headers)
        return Created(self._id(response), self._json(response) if representation else None)

    def upsert(self, entity_set: str, record_id: str, body: Mapping[str, Any], *, if_match: str | None = None,
               create_only: bool = False) -> Upserted:
        """Create or update the record ``record_id``; returns it as stored, with its new ETag.

        Args:
            if_match: update only that version (an ``@odata.etag``), or any existing version with ``"*"``.
            create_only: create, never overwrite (``If-None-Match: *``).

        Raises:
            StaleEtag: the record changed since ``if_match`` was read.
            AlreadyExists: ``create_only`` and the record exists.
            RecordNotFound: ``if_match`` given and the record does not exist.
        """
        if if_match is not None and create_only:
            raise ValueError("if_match and create_only exclude each other: one asks for an update, the other a create")
        headers = {"Prefer": "return=representation"}
        if if_match is not None:
            headers["If-Match"] = if_match
        if create_only:
            headers["If-None-Match"] = "*"
        response = self._send("PATCH", f"{entity_set}({record_id})", body=body, headers=headers)
        record: Entity = self._json(response) or {}
        return Upserted(record_id.lower(), response.status_code == 201, record)

    def delete(self, entity_set: str, record_id: str, *, if_match: str | None = None) -> None:
        """Delete a record (only that version with ``if_match``).

        Raises:
            RecordNotFound: it does not exist.
            StaleEtag: it changed since ``if_match`` was read.
        """
        self._send("DELETE", f"{entity_set}({record_id})", headers={"If-Match": if_match} if if_match else None)

    def iter(self, entity_set: str, *, select: Sequence[str] | None = None, filter: str | None = None,
             orderby: str | None = None) -> Iterator[Entity]:
        """Every matching record, one page in memory at a time, following ``@odata.nextLink``."""
        params = {name: value for name, value in (("$select", ",".join(select or ())), ("$filter", filter or ""),
                                                  ("$orderby", orderby or "")) if value}
        url: str | None = entity_set
        query: dict[str, str] | None = params or None
        while url:
            page = self._json(self._send("GET", url, params=query, headers=self._prefer()))
            yield from page.get("value", [])
            url, query = page.get("@odata.nextLink"), None

    # -- change tracking ---------------------------------------------------------------------------------------

    def changes(self, entity_set: str, select: Sequence[str], delta_link: str | None = None) -> Changes:
        """What changed in ``entity_set`` since ``delta_link`` (everything, when None), every page followed.

        Returns:
            ``(rows, deleted_ids, next_delta_link)``: new and changed rows (``select`` and the key), the ids of
            deleted records, and the link to pass next time. Keep the link only once the rows are handled: a
            read that is not acted on must be read again.

        Raises:
            TrackingRefused: the first read was refused (change tracking off for the table, or an unknown column).
            DeltaLinkRejected: ``delta_link`` is expired or unknown.
        """
        rows: list[Entity] = []
        deleted: list[str] = []
        url: str | None = delta_link or entity_set
        params: dict[str, str] | None = None if delta_link else {"$select": ",".join(select)}
        headers = self._prefer() if delta_link else self._prefer("odata.track-changes")
        next_link: str | None = None
        while url:
            try:
                page = self._json(self._send("GET", url, params=params, headers=headers))
            except PermanentApiError as error:
                if error.status != 400:
                    raise
                if delta_link:
                    raise _retyped(error, DeltaLinkRejected, "DeltaLinkRejected") from None
                raise _retyped(error, TrackingRefused, "TrackingRefused") from None
            for item in page.get("value", []):
                if str(item.get("@odata.context", "")).endswith(_DELETED):
                    deleted.append(str(item["id"]).lower())
                else:
                    rows.append(item)
            url, params, next_link = page.get("@odata.nextLink"), None, page.get("@odata.deltaLink")
        if not next_link:
            raise PermanentApiError("NoDeltaLink", f"the last page of {entity_set} carried no @odata.deltaLink",
                                    source=SOURCE)
        return Changes(rows, deleted, next_link)
