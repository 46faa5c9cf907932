"""Operations (U8): checks that run on a timer and tell a person when something is wrong."""

from __future__ import annotations

import logging
from datetime import date

from shared.ops.alerts import Alert
from shared.ports import Ports
from shared.storage.audit import VerifyReport

log = logging.getLogger("hl365.audit")


def check_audit_trail(ports: Ports, day: date) -> VerifyReport:
    """Verify every chain of one day of the audit trail and alert on any record edited, inserted or deleted.

    One alert per day, naming every break, so a tampered day is one thing to look at, however many chains it hit.
    The counts are logged every night: kept outside the table, they witness what the table alone cannot, a
    day deleted whole or rolled back to an earlier copy.
    """
    report = ports.audit.verify(day)
    log.info("audit trail of %s: %d records in %d chain(s), %d break(s)", day, report.records, report.chains,
             len(report.problems))
    if not report.ok:
        ports.alerts.notify(Alert(
            "audit_tampered",
            f"audit trail of {day} failed verification: {len(report.problems)} break(s) in "
            f"{report.records} records of {report.chains} chain(s)",
            {"day": day.isoformat(), "chains": str(report.chains), "records": str(report.records),
             "problems": "; ".join(report.problems)}))
    return report
