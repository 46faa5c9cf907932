"""The Azure Table Storage adapter (also serves Azurite), over the synchronous azure-data-tables SDK.

Everything the SDK raises is translated into the port's errors, and every value comes back as a
plain Python type, so code written against the SQLite adapter runs unchanged in Azure.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from azure.core import MatchConditions
from azure.core.credentials import AzureNamedKeyCredential, AzureSasCredential, TokenCredential
from azure.core.exceptions import (
    AzureError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.core.pipeline import PipelineResponse
from azure.data.tables import (
    EdmType,
    EntityProperty,
    RequestTooLargeError,
    TableClient,
    TableEntity,
    TableServiceClient,
    TableTransactionError,
    UpdateMode,
)

from shared.storage.entities import (
    MAX_CONDITIONS,
    Condition,
    Entity,
    Operation,
    Value,
    normalize_batch,
    normalize_conditions,
    normalize_entity,
    validate_key,
    validate_table_name,
)
from shared.storage.errors import (
    BatchError,
    EntityExists,
    EntityNotFound,
    PreconditionFailed,
    StorageError,
)

__all__ = ["AzureTable", "AzureTableStore", "TableCredential"]

TableCredential = TokenCredential | AzureNamedKeyCredential | AzureSasCredential


class AzureTableStore:
    """Tables of one storage account.

    Construct it with an endpoint and a credential (managed identity in Azure:
    ``AzureTableStore(endpoint=..., credential=DefaultAzureCredential())``) or, locally and in tests,
    with :meth:`from_connection_string`. ``client_options`` go to ``TableServiceClient`` (retry
    settings, timeouts, transport).
    """

    def __init__(
        self, endpoint: str, credential: TableCredential | None = None, **client_options: Any
    ) -> None:
        self._attach(TableServiceClient(endpoint=endpoint, credential=credential, **client_options))

    @classmethod
    def from_connection_string(cls, connection_string: str, **client_options: Any) -> AzureTableStore:
        """A store for a storage connection string (Azurite's included)."""
        store = cls.__new__(cls)
        store._attach(TableServiceClient.from_connection_string(connection_string, **client_options))
        return store

    def _attach(self, service: TableServiceClient) -> None:
        self._service = service
        self._lock = threading.Lock()
        self._tables: dict[str, AzureTable] = {}

    def table(self, name: str) -> AzureTable:
        """The table ``name``, created on first use and cached, so only the first call costs a request."""
        validate_table_name(name)
        with self._lock:
            table = self._tables.get(name.lower())
            if table is None:
                try:
                    client = self._service.create_table_if_not_exists(name)
                except AzureError as error:
                    raise StorageError(f"cannot create table {name!r}: {_describe(error)}") from error
                table = self._tables[name.lower()] = AzureTable(client, name)
            return table

    def together(self) -> AbstractContextManager[None]:
        """Table Storage has no transaction across batches: each write is committed as it is made."""
        return nullcontext()

    def close(self) -> None:
        with self._lock:
            tables, self._tables = list(self._tables.values()), {}
        for table in tables:
            table.close()
        self._service.close()


class AzureTable:
    """One Azure table; safe to share between threads (the SDK client is)."""

    def __init__(self, client: TableClient, name: str) -> None:
        self.name = name
        self._client = client

    def get(self, partition_key: str, row_key: str) -> Entity | None:
        validate_key("PartitionKey", partition_key)
        validate_key("RowKey", row_key)
        try:
            raw = self._client.get_entity(partition_key, row_key)
        except ResourceNotFoundError:
            return None
        except AzureError as error:
            raise _translate(error, partition_key, row_key) from error
        return _from_sdk(raw)

    def get_many(self, partition_key: str, row_keys: Sequence[str]) -> dict[str, Entity]:
        """One query per ``MAX_CONDITIONS`` keys: a filter holds 15 comparisons, the partition takes one. The
        SDK finds a parameter up to the next space, so the parentheses stand apart."""
        validate_key("PartitionKey", partition_key)
        wanted = sorted({validate_key("RowKey", row_key) for row_key in row_keys})
        found: dict[str, Entity] = {}
        for start in range(0, len(wanted), MAX_CONDITIONS):
            chunk = wanted[start:start + MAX_CONDITIONS]
            parameters: dict[str, Any] = {"pk": partition_key, **{f"r{n}": key for n, key in enumerate(chunk)}}
            rows = " or ".join(f"RowKey eq @r{n}" for n in range(len(chunk)))
            found.update((e.row_key, e) for e in self._stream(f"PartitionKey eq @pk and ( {rows} )", parameters))
        return found

    def insert(self, entity: Entity) -> Entity:
        checked = normalize_entity(entity)
        try:
            metadata = self._client.create_entity(_to_sdk(checked))
        except AzureError as error:
            raise _translate(error, checked.partition_key, checked.row_key) from error
        return _stored(checked, metadata.get("etag"))

    def upsert(self, entity: Entity, *, etag: str | None = None) -> Entity:
        checked = normalize_entity(entity)
        try:
            if etag is None:
                metadata = self._client.upsert_entity(_to_sdk(checked), mode=UpdateMode.REPLACE)
            else:
                metadata = self._client.update_entity(
                    _to_sdk(checked),
                    mode=UpdateMode.REPLACE,
                    etag=etag,
                    match_condition=MatchConditions.IfNotModified,
                )
        except AzureError as error:
            raise _translate(error, checked.partition_key, checked.row_key) from error
        return _stored(checked, metadata.get("etag"))

    def delete(self, partition_key: str, row_key: str, *, etag: str | None = None) -> None:
        """Delete. The SDK swallows 404 on delete, so a conditional delete watches the raw status
        to report a vanished row as ``EntityNotFound``, as the port promises."""
        validate_key("PartitionKey", partition_key)
        validate_key("RowKey", row_key)
        statuses: list[int] = []

        def record(response: PipelineResponse[Any, Any]) -> None:
            statuses.append(response.http_response.status_code)

        try:
            if etag is None:
                self._client.delete_entity(partition_key, row_key)
                return
            self._client.delete_entity(
                partition_key,
                row_key,
                etag=etag,
                match_condition=MatchConditions.IfNotModified,
                raw_response_hook=record,
            )
        except AzureError as error:
            raise _translate(error, partition_key, row_key) from error
        if statuses and statuses[-1] == 404:
            raise EntityNotFound(f"{partition_key!r}/{row_key!r} does not exist")

    def query(self, partition_key: str, where: Sequence[Condition] = ()) -> Iterator[Entity]:
        """Rows of one partition in RowKey order, fetched page by page as the caller iterates.

        Values travel as filter ``parameters``, except integers: every integer is stored as
        Edm.Int64, Azure compares only values of the same type, and the SDK marks an integer
        parameter as Int64 (``L`` suffix) only above 32 bits, so an integer literal is written
        from the ``int`` itself, which cannot carry anything but digits and a sign.
        """
        validate_key("PartitionKey", partition_key)
        conditions = normalize_conditions(where)
        clauses = ["PartitionKey eq @pk"]
        parameters: dict[str, Any] = {"pk": partition_key}
        for index, condition in enumerate(conditions):
            value = condition.value
            if condition.name == "RowKey" and not isinstance(value, str):
                return iter(())  # RowKey is a string; a comparison with another type is false.
            if isinstance(value, int) and not isinstance(value, bool):
                literal = f"{int(value):d}L"
            else:
                literal = f"@p{index}"
                parameters[f"p{index}"] = value
            clauses.append(f"{condition.name} {condition.op} {literal}")
        return self._stream(" and ".join(clauses), parameters)

    def submit(self, operations: Sequence[Operation]) -> list[Entity | None]:
        checked = normalize_batch(operations)
        if not checked:
            return []
        try:
            parts = self._client.submit_transaction([_to_sdk_operation(op) for op in checked])
        except RequestTooLargeError as error:
            raise StorageError(f"the batch is too large for one request: {_describe(error)}") from error
        except TableTransactionError as error:
            failed = checked[error.index].entity if 0 <= error.index < len(checked) else checked[0].entity
            cause = _translate(error, failed.partition_key, failed.row_key)
            raise BatchError(error.index, cause) from error
        except AzureError as error:
            raise StorageError(f"batch failed: {_describe(error)}") from error
        return [
            None if op.kind == "delete" else _stored(op.entity, part.get("etag"))
            for op, part in zip(checked, parts, strict=True)
        ]

    def close(self) -> None:
        self._client.close()

    def _stream(self, query_filter: str, parameters: dict[str, Any]) -> Iterator[Entity]:
        try:
            for raw in self._client.query_entities(query_filter, parameters=parameters):
                yield _from_sdk(raw)
        except AzureError as error:
            raise StorageError(f"query {query_filter!r} failed: {_describe(error)}") from error


def _to_sdk_operation(operation: Operation) -> tuple[Any, ...]:
    entity = operation.entity
    if operation.kind == "insert":
        return ("create", _to_sdk(entity))
    conditional = {"etag": operation.etag, "match_condition": MatchConditions.IfNotModified}
    if operation.kind == "upsert":
        if operation.etag is None:
            return ("upsert", _to_sdk(entity), {"mode": UpdateMode.REPLACE})
        return ("update", _to_sdk(entity), {"mode": UpdateMode.REPLACE, **conditional})
    keys = {"PartitionKey": entity.partition_key, "RowKey": entity.row_key}
    return ("delete", keys) if operation.etag is None else ("delete", keys, conditional)


def _to_sdk(entity: Entity) -> dict[str, Any]:
    """Every int goes out as Edm.Int64, so one property never mixes Int32 and Int64 across rows."""
    properties: dict[str, Any] = {"PartitionKey": entity.partition_key, "RowKey": entity.row_key}
    for name, value in entity.data.items():
        if isinstance(value, int) and not isinstance(value, bool):
            properties[name] = EntityProperty(value, EdmType.INT64)
        else:
            properties[name] = value
    return properties


def _from_sdk(raw: TableEntity) -> Entity:
    data = {name: _plain(value) for name, value in raw.items() if name not in ("PartitionKey", "RowKey")}
    return Entity(raw["PartitionKey"], raw["RowKey"], data, raw.metadata.get("etag"))


def _plain(value: Any) -> Value:
    """Unwrap the SDK's typed values (Int64 wrappers, its datetime subclass, GUIDs)."""
    if isinstance(value, EntityProperty):
        inner = value.value
        return int(inner) if value.edm_type == EdmType.INT64 else str(inner)
    if isinstance(value, datetime):
        utc = value.astimezone(UTC)
        return datetime(
            utc.year, utc.month, utc.day, utc.hour, utc.minute, utc.second, utc.microsecond, tzinfo=UTC
        )
    if isinstance(value, UUID):
        return str(value)
    return value


def _stored(entity: Entity, etag: str | None) -> Entity:
    return Entity(entity.partition_key, entity.row_key, dict(entity.data), etag)


def _translate(error: AzureError, partition_key: str, row_key: str) -> StorageError:
    status = getattr(error, "status_code", None)
    where = f"{partition_key!r}/{row_key!r}"
    if isinstance(error, ResourceExistsError) or status == 409:
        return EntityExists(f"{where} already exists")
    if isinstance(error, ResourceModifiedError) or status == 412:
        return PreconditionFailed(f"{where} has changed")
    if isinstance(error, ResourceNotFoundError) or status == 404:
        return EntityNotFound(f"{where} does not exist")
    return StorageError(f"{where}: {_describe(error)}")


def _describe(error: AzureError) -> str:
    code = getattr(error, "error_code", None)
    first_line = (str(error.message or error).splitlines() or [""])[0]
    return f"{type(error).__name__} {code or ''} {first_line}".replace("  ", " ").strip()
