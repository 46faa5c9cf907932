"""Operations timers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import azure.functions as func

from shared import wiring
from shared.flows import operations

bp = func.Blueprint()


@bp.timer_trigger(arg_name="timer", schedule="0 30 2 * * *", run_on_startup=False, use_monitor=True)
def audit_verify(timer: func.TimerRequest) -> None:  # noqa: ARG001
    """Each night, prove yesterday's audit trail is intact; a broken chain raises an alert."""
    operations.check_audit_trail(wiring.services(), (datetime.now(UTC) - timedelta(days=1)).date())
