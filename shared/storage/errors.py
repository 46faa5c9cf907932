"""Storage errors shared by every table adapter, so callers never see an adapter's own exceptions."""

from __future__ import annotations


class StorageError(Exception):
    """Root of every error a table adapter raises."""


class EntityExists(StorageError):
    """An insert met a row with the same PartitionKey and RowKey."""


class EntityNotFound(StorageError):
    """The row addressed by PartitionKey and RowKey does not exist."""


class PreconditionFailed(StorageError):
    """The row's ETag no longer matches the one the write was conditioned on."""


class BatchError(StorageError):
    """A batch was rejected as a whole; ``index`` names the operation that failed and ``cause`` why."""

    def __init__(self, index: int, cause: StorageError) -> None:
        super().__init__(f"batch operation {index} failed: {type(cause).__name__}: {cause}")
        self.index = index
        self.cause = cause
