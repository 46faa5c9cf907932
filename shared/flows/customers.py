"""Customers (issue 13): every source's customers read since its checkpoint, matched, linked to profiles.

A pull that fails leaves every checkpoint where it was, so the next one reads the same records again; the
profile book takes a record it already holds unchanged as a no-op, so reading twice links nothing twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from shared.canonical.customers import SourceRecord
from shared.customers.profiles import CustomerBook, Outcome
from shared.ports import CustomerSource, Ports, Table
from shared.storage import tables
from shared.storage.entities import Entity

CHECKPOINT_PARTITION = "customers"


def sync(book: CustomerBook, sources: Mapping[str, CustomerSource], checkpoints: Table, *,
         now: datetime | None = None) -> Outcome:
    """Read every source, resolve the lot in one pass, then move each source's checkpoint."""
    now = now or datetime.now(UTC)
    incoming: list[SourceRecord] = []
    gone: list[tuple[str, str]] = []
    marks: dict[str, str | None] = {}
    for name, source in sources.items():
        stored = checkpoints.get(CHECKPOINT_PARTITION, name)
        changes = source.changes(str(stored["Checkpoint"]) if stored is not None else None)
        incoming += changes.records
        gone += [(source.source, record_id) for record_id in changes.deleted]
        marks[name] = changes.checkpoint
    outcome = book.resolve(incoming, deleted=gone, correlation_id=f"customers:{now:%Y%m%dT%H%M%S}")
    for name, mark in marks.items():
        if mark is not None:
            checkpoints.upsert(Entity(CHECKPOINT_PARTITION, name, {"Checkpoint": mark, "ReadAt": now}))
    return outcome


def run_customer_sync(ports: Ports, erp: str) -> Outcome:
    """``hl365 customers sync --erp fo|bc``: the POS, the ERP and (when configured) the CRM.

    Raises:
        ConfigError: a source's connection is not configured.
        FatalError: ``UnknownErp``.
    """
    return sync(ports.customers, ports.customer_sources(erp), ports.tables.table(tables.CHECKPOINTS))
