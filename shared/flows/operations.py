"""Operations (U8): checks that run on a timer and tell a person when something is wrong."""

from __future__ import annotations

from datetime import date

from shared.ops.alerts import Alert
from shared.ports import Ports
from shared.storage.audit import VerifyReport


def check_audit_trail(ports: Ports, day: date) -> VerifyReport:
    """Verify one day of the audit trail and alert on any record that was edited, inserted or deleted."""
    report = ports.audit.verify(day)
    if not report.ok:
        ports.alerts.notify(Alert("audit_tampered", f"audit trail of {day} failed verification",
                                  {"day": day.isoformat(), "problems": "; ".join(report.problems)}))
    return report
