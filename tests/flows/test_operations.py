"""The nightly audit check: every chain of the day verified, one alert naming each break."""

from __future__ import annotations

from datetime import UTC, datetime

from shared import wiring
from shared.flows.operations import check_audit_trail
from shared.storage import tables
from shared.storage.entities import Entity
from tests.flows.conftest import Alerts


def test_an_intact_day_raises_no_alert_and_a_broken_one_raises_one_naming_every_break(
    ports: wiring.Services,
) -> None:
    today = datetime.now(UTC).date()
    events = ["gp:TRN_1:CAPTURED", "gp:TRN_2:CAPTURED", "gp:TRN_3:CAPTURED"]
    stored = [ports.audit.record(step=step, event_id=event, correlation_id=event, outcome="ok")
              for event in events for step in ("intake.gp", "post.payment")]
    report = check_audit_trail(ports, today)
    alerts = ports.alerts
    assert isinstance(alerts, Alerts)
    assert report.ok and report.records == 6 and report.chains == len({r.partition_key for r in stored})
    assert alerts.sent == []

    table = ports.tables.table(tables.AUDIT_LOG)
    chain = stored[0].partition_key
    first = next(r for r in table.query(chain) if r.get("EventId") == events[0])
    table.upsert(Entity(chain, first.row_key, {**first.data, "Outcome": "refunded"}))
    report = check_audit_trail(ports, today)
    [alert] = alerts.sent
    assert alert.kind == "audit_tampered" and not report.ok
    assert f"record {chain}/{first.row_key}: edited" in alert.context["problems"]
    assert alert.context["chains"] == str(report.chains) and "1 break(s) in 6 records" in alert.message
