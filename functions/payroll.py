"""Payroll: a register dropped into the ``payroll-registers`` container is imported, and the ERP's workers are
kept in step with Heartland Payroll; each one core call."""

from __future__ import annotations

import azure.functions as func

from shared import wiring
from shared.flows import employees, payroll

bp = func.Blueprint()


@bp.blob_trigger(arg_name="blob", path="payroll-registers/{name}", connection="AzureWebJobsStorage",
                 source=func.BlobSource.EVENT_GRID)
def payroll_register(blob: func.InputStream) -> None:
    """Read, prove, map and post the run once; a register that is held is parked and alerted, not retried."""
    payroll.import_register(wiring.services(), (blob.name or "register").rsplit("/", 1)[-1], blob.read())


@bp.timer_trigger(arg_name="timer", schedule="%HL365_EMPLOYEES_SCHEDULE%", run_on_startup=False, use_monitor=True)
def employees_sync(timer: func.TimerRequest) -> None:  # noqa: ARG001
    """Hires, changes and terminations of the ERP's workers into Heartland Payroll."""
    employees.run_employee_sync(wiring.services())
