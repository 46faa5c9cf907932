"""The catalogue timer: the POS's sales into the ERP's stock, then items, prices and stock; one core call."""

from __future__ import annotations

import azure.functions as func

from shared import wiring
from shared.flows import catalog

bp = func.Blueprint()


@bp.timer_trigger(arg_name="timer", schedule="%HL365_CATALOG_SCHEDULE%", run_on_startup=False, use_monitor=True)
def catalog_sync(timer: func.TimerRequest) -> None:  # noqa: ARG001
    """Book the last complete days' POS sales, then bring items, prices and stock in step."""
    catalog.run_scheduled_sync(wiring.services())
