"""The anomaly watch on the live payment stream: the gateway's last day of transactions through the same detector
``hl365 anomalies`` runs on files; each new flag is stored once, alerted once, and shown in the console, where a
workflow rule reading ``flags`` can hold the payment's posting for review.

The window is a whole day because the patterns need history (a refund's earlier sale, a location's usual
amounts, a card's last place); runs overlap, and a flag found again is the same row, so nothing is alerted
twice.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from shared.anomalies.detector import Flag, Thresholds, detect, locations_from
from shared.anomalies.rows import Row
from shared.canonical.payments import PaymentStatus
from shared.flows.workflow import WATCH_CHECKPOINT
from shared.heartland.gp_models import Transaction
from shared.ops.alerts import Alert
from shared.ops.anomaly_flags import AnomalyFlags, StoredFlag
from shared.ports import Ports
from shared.storage import tables
from shared.storage.entities import Entity
from shared.workflow.rules import RulesError

log = logging.getLogger("hl365.anomalies")

WINDOW = timedelta(hours=24)
LISTING_LAG = timedelta(minutes=2)
"""How long after its creation a transaction is surely in the gateway's list."""
STREAM = Thresholds(judge_unknown_refunds=False)
"""A day's window holds few refunds' sales: a refund is judged only against a sale the window holds."""


@dataclass
class Watch:
    transactions: int = 0
    flags: int = 0
    new: list[StoredFlag] = field(default_factory=list)


def row_of(listed: Transaction, zone: ZoneInfo) -> Row:
    """A gateway transaction as a detector row, on the store's clock. The gateway gives no card fingerprint:
    brand with first six and last four (or last four) stands for the card."""
    method = listed.payment_method
    card = method.card if method else None
    masked = (card.masked_number_first6last4 or card.masked_number_last4 or "") if card else ""
    kind = "VOID" if listed.status is PaymentStatus.REVERSED else listed.type
    # A refund names its sale by the sale's id (GP's parent), so each sale is known by its id too.
    reference = (listed.parent_resource_id or listed.reference or "") if kind == "REFUND" else listed.id
    declined = listed.status in (PaymentStatus.DECLINED, PaymentStatus.REJECTED)
    fingerprint = f"{card.brand or ''}:{masked.lstrip('X*')}" if card and masked else ""
    return Row(id=listed.id, time=listed.time_created.astimezone(zone), location=listed.merchant_id or "",
               type=kind, amount=abs(listed.amount.amount), result="DECLINED" if declined else "APPROVED",
               currency=listed.amount.currency, brand=(card.brand or "") if card else "",
               masked_card=masked[-4:] if masked else "", card_fingerprint=fingerprint,
               entry_mode=(method.entry_mode or "") if method else "", reference=reference)


def watch(ports: Ports, *, now: datetime | None = None) -> Watch:
    """Run the detector over the gateway's last ``WINDOW``; store, alert and audit what is new."""
    now = now or datetime.now(UTC)
    since = now - WINDOW
    zone = ZoneInfo(ports.settings.merchant_timezone)
    rows = [row_of(listed, zone) for listed in ports.gateway.iter_transactions(
        from_time_created=since.date(), to_time_created=now.date()) if since <= listed.time_created < now
        and listed.merchant_id]
    try:
        places = locations_from(ports.rules.locations, "the rules file's locations")
    except RulesError as error:  # the payments wait for the file to be fixed; the watch goes on without places
        log.warning("the anomaly watch runs without locations (opening hours, metros): %s", error.problems[0])
        places = {}
    flags = detect(rows, places, settings=STREAM)
    when = {row.id: row.time.astimezone(UTC).date() for row in rows}
    store = AnomalyFlags(ports.tables.table(tables.ANOMALY_FLAGS))
    new = store.add(_stored(flags, when))
    for flag in new:
        ports.alerts.notify(Alert("anomaly", f"{flag.pattern.replace('_', ' ')} on {flag.transaction_id}: "
                                  f"{flag.reason}", {"transaction": flag.transaction_id, "pattern": flag.pattern,
                                                     "score": f"{flag.score:.2f}"}))
    # A transaction the gateway lists a little late is still read by the next run; a rule waits until then.
    ports.tables.table(tables.CHECKPOINTS).upsert(Entity(*WATCH_CHECKPOINT, {"Watermark": now - LISTING_LAG}))
    ports.audit.record(step="anomaly.watch", event_id=f"anomaly:{now.isoformat()}",
                       correlation_id=f"anomaly:{now:%Y%m%d}", outcome="watched",
                       detail={"transactions": str(len(rows)), "flags": str(len(flags)), "new": str(len(new))})
    return Watch(len(rows), len(flags), new)


def _stored(flags: Iterable[Flag], when: Mapping[str, date]) -> list[StoredFlag]:
    return [StoredFlag(flag.id, flag.pattern, flag.score, flag.reason, when[flag.id])
            for flag in flags]
