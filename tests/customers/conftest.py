"""Customer profiles kept on both table adapters: the embedded SQLite store and Azure's (Azurite)."""

import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from shared.ports import Table, TableStore
from shared.storage.azure_tables import AzureTableStore
from shared.storage.sqlite import SqliteTableStore


class _OwnTables:
    """The test's own tables on the shared Azurite account: every name gets the test's suffix."""

    def __init__(self, store: TableStore) -> None:
        self._store, self._suffix = store, uuid.uuid4().hex[:8]

    def table(self, name: str) -> Table:
        return self._store.table(name + self._suffix)

    def together(self) -> AbstractContextManager[None]:
        return self._store.together()

    def close(self) -> None:
        self._store.close()


@pytest.fixture(params=["sqlite", pytest.param("azurite", marks=pytest.mark.azurite)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TableStore]:
    if request.param == "sqlite":
        created: TableStore = SqliteTableStore(tmp_path / "tables.sqlite")
    else:
        created = _OwnTables(AzureTableStore.from_connection_string(
            request.getfixturevalue("azurite_connection_string")))
    yield created
    created.close()
