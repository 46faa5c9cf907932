"""The table store under test, once per adapter: SQLite, and Azure Table Storage on Azurite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.ports import TableStore
from shared.storage.azure_tables import AzureTableStore
from shared.storage.sqlite import SqliteTableStore


@pytest.fixture(params=["sqlite", pytest.param("azurite", marks=pytest.mark.azurite)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TableStore]:
    if request.param == "sqlite":
        created: TableStore = SqliteTableStore(tmp_path / "tables.sqlite")
    else:
        created = AzureTableStore.from_connection_string(request.getfixturevalue("azurite_connection_string"))
    yield created
    created.close()
