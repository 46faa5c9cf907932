"""The demo day's anomaly watch and workflow rules: the watch run at the end of the day over its payments as the
timer would, and the example rules file tried in a dry run on the payments the stream posts, the web orders paid
the morning after. The payments are ordinary ones, so the report shows what a real day's watch and rules would put
in front of a person."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from shared.flows.anomalies import watch
from shared.flows.payments import payments_of_day
from shared.flows.workflow import dry_run
from shared.ports import Ports
from shared.workflow.rules import load

RULES = Path(__file__).parents[2] / "rules.yaml"


def run(ports: Ports, day: date) -> dict[str, Any]:
    """The report's ``anomalies`` and ``rules`` parts."""
    zone = ZoneInfo(ports.settings.merchant_timezone)
    end_of_day = datetime.combine(day + timedelta(days=1), time(), zone).astimezone(UTC)
    watched = watch(ports, now=end_of_day)
    again = watch(ports, now=end_of_day)
    rules = load(RULES)
    paid = day + timedelta(days=1)
    tried = dry_run(ports, rules, paid, lambda d: payments_of_day(ports, d))
    return {
        "anomalies": {"payments_watched": watched.transactions, "flags": len(watched.new),
                      "by_pattern": dict(Counter(f.pattern for f in watched.new).most_common()),
                      "new_on_a_second_run": len(again.new)},
        "rules": {"file": RULES.name, "date": paid.isoformat(), "payments": tried.payments,
                  "settled_by_journal": tried.settled_by_journal,
                  "matched": {rule: dict(counts) for rule, counts in tried.per_rule.items()}},
    }
