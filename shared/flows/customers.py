"""Customers: every source's customers read since its checkpoint, matched, linked to profiles.

A pull that fails leaves every checkpoint where it was, so the next one reads the same records again; the
profile book takes a record it already holds unchanged as a no-op, so reading twice links nothing twice.

Heartland Retail's ``customer_created`` and ``customer_updated`` webhooks (``POST /api/webhooks/retail/{kind}``)
go through the same intake as every webhook. Like F&O's business events they are pointers: the queue function
reads the customer again from Retail and stages it in the profile book; the next sync (the ``customers_sync``
timer) matches it with everything else. Matching is a pass over every record, so it runs on the timer, not
once per webhook.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

import orjson

from shared.canonical.customers import SourceRecord
from shared.customers.profiles import CustomerBook, Outcome
from shared.customers.rules import LoyaltyRules
from shared.errors import ApiError, FatalError, NotFound
from shared.flows.intake import Event, FunctionKey, Ignored, Source, one_object
from shared.flows.pipeline import envelope_of
from shared.ports import CustomerSource, ErpCustomerFields, LoyaltyBalances, Ports, Table
from shared.storage import tables
from shared.storage.entities import Entity

log = logging.getLogger("hl365.customers")
CHECKPOINT_PARTITION = "customers"
QUEUE = "customers-changed"
SOURCE_RETAIL = "heartland.retail"
RETAIL_KINDS: Mapping[str, str] = {"customer_created": "customer.created", "customer_updated": "customer.updated"}
"""The Retail webhook events about customers (the PHP client lists these; their payload is not documented)."""


def sync(book: CustomerBook, sources: Mapping[str, CustomerSource], checkpoints: Table, *,
         now: datetime | None = None) -> Outcome:
    """Read every source, resolve the lot in one pass, then move each source's checkpoint."""
    now = now or datetime.now(UTC)
    incoming: list[SourceRecord] = []
    gone: list[tuple[str, str]] = []
    complete: list[tuple[str, str, list[SourceRecord]]] = []
    marks: dict[str, str | None] = {}
    for name, source in sources.items():
        stored = checkpoints.get(CHECKPOINT_PARTITION, name)
        changes = source.changes(str(stored["Checkpoint"]) if stored is not None else None)
        incoming += changes.records
        gone += [(source.source, record_id) for record_id in changes.deleted]
        if changes.complete is not None:
            complete.append((source.source, changes.complete, changes.records))
        marks[name] = changes.checkpoint
    outcome = book.resolve(incoming, deleted=gone, complete=complete,
                           correlation_id=f"customers:{now:%Y%m%dT%H%M%S}")
    for name, mark in marks.items():
        if mark is not None:
            checkpoints.upsert(Entity(CHECKPOINT_PARTITION, name, {"Checkpoint": mark, "ReadAt": now}))
    return outcome


def refresh_loyalty(book: CustomerBook, loyalty: LoyaltyBalances, profiles: Sequence[str], *,
                    erp: ErpCustomerFields | None = None, rules: LoyaltyRules | None = None) -> tuple[int, int]:
    """Look each profile's phone up as a loyalty card alias, keep the balances on the profile, and write them to
    the profile's ERP customers where the mapping names fields and the balances changed since the last write.
    Returns (cards found, ERP customers written).

    One profile whose look-up or write fails (the service still refusing after the client's retries) is logged
    and skipped, so the others are not held back; it keeps its last balances and is looked up again the next
    time a sync touches it, or by ``hl365 customers loyalty``."""
    found = pushed = 0
    for profile_id in profiles:
        row = book.profile(profile_id)
        if row is None or row.get("merged_into"):
            continue
        try:
            alias = loyalty_alias(orjson.loads(row["fields"]).get("phone"))
            balance = loyalty.balances(alias) if alias else None
            found += balance is not None
            changed = book.set_loyalty(profile_id, balance)
            fields = rules.fo_fields(balance) if rules is not None and balance is not None else {}
            if erp is None or not fields or not changed:
                continue
            accounts = [key.split(":", 1)[1] for key in orjson.loads(row["records"]) if key.startswith("erp:")]
            for account in accounts:
                erp.write(unquote(account), fields)
            pushed += len(accounts)
            book.set_loyalty(profile_id, balance, pushed=True)
        except ApiError as error:
            log.warning("loyalty of %s not refreshed: %s", profile_id, error)
    return found, pushed


def loyalty_alias(phone: object) -> str:
    """The ten digits a card is registered under in the US (``+1 (312) 555-0182`` → ``3125550182``)."""
    digits = "".join(c for c in str(phone or "") if c.isdigit())
    if len(digits) == 11 and digits.startswith("1"):
        digits = digits[1:]
    return digits if len(digits) == 10 else ""


def run_customer_sync(ports: Ports, erp: str | None) -> Outcome:
    """``hl365 customers sync --erp fo|bc``: the POS, the ERP ``erp`` (None: none) and (when configured) the
    CRM; then the loyalty balances of the profiles the sync touched.

    Raises:
        ConfigError: a source's connection is not configured.
        FatalError: ``UnknownErp``.
    """
    outcome = sync(ports.customers, ports.customer_sources(erp), ports.tables.table(tables.CHECKPOINTS))
    loyalty = ports.loyalty
    if loyalty is not None and outcome.touched:
        outcome.loyalty_cards, outcome.loyalty_pushed = refresh_loyalty(
            ports.customers, loyalty, outcome.touched, erp=ports.erp_customer_fields(erp) if erp else None,
            rules=ports.mapping.customers.loyalty)
    return outcome


def run_scheduled_sync(ports: Ports) -> Outcome:
    """The ``customers_sync`` timer: the ERP that ``D365_TARGET`` names, when it names one."""
    target = ports.settings.d365_target
    return run_customer_sync(ports, target if target in ("fo", "bc") else None)


def retail_source(kind: str) -> Source:
    """Retail's customer webhooks as an intake source. Retail's webhook signing is not documented, so the
    route takes a Functions key (``?code=``) in the URL registered with Retail.

    Raises:
        NotFound: ``kind`` is not a customer event hl365 takes.
    """
    if kind not in RETAIL_KINDS:
        raise NotFound(f"webhooks/retail/{kind[:40]}: hl365 takes {', '.join(RETAIL_KINDS)}")
    return Source(name="retail", label="Heartland Retail customer", envelope_source=SOURCE_RETAIL, queue=QUEUE,
                  authentication=FunctionKey(), items=one_object, read=lambda item: _retail_event(kind, item))


def _retail_event(kind: str, item: Mapping[str, Any]) -> Event | Ignored:
    """The customer a webhook names: the body is the customer, or holds it under ``customer`` or ``data``.
    Keyed on the customer and its ``updated_at`` (or the body's hash), so a re-delivery is a duplicate and a
    later change is not."""
    customer = next((item[k] for k in ("customer", "data") if isinstance(item.get(k), dict)), item)
    customer_id = customer.get("id")
    if isinstance(customer_id, bool) or not isinstance(customer_id, int | str) or not str(customer_id).isdigit():
        raise ValueError("the customer's id (an integer) is missing")
    version = str(customer.get("updated_at") or "") or hashlib.sha256(
        repr(sorted(customer.items())).encode()).hexdigest()[:16]
    key = f"retail:customer:{int(customer_id)}:{hashlib.sha256(version.encode()).hexdigest()[:16]}"
    return Event(key=key, partition="retail-customers", type=RETAIL_KINDS[kind], subject=str(int(customer_id)),
                 data={"customer_id": int(customer_id), "kind": kind})


def stage_customer(ports: Ports, body: bytes) -> None:
    """Read the customer a webhook named again from Retail and stage it for the next sync."""
    envelope = envelope_of(body)
    customer_id = envelope.data.get("customer_id")
    if not isinstance(customer_id, int):
        raise FatalError("InvalidMessage", "a customer webhook message without its customer id")
    record = ports.pos_customers.get(customer_id)
    outcome = "staged" if record is not None else "not_found"
    if record is not None:
        ports.customers.stage([record])
    ports.audit.record(step="customer.stage", event_id=envelope.idempotency_key,
                       correlation_id=envelope.correlation_id or envelope.idempotency_key, outcome=outcome,
                       detail={"customer": str(customer_id), "kind": str(envelope.data.get("kind") or "")})
