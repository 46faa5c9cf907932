"""The payroll function's binding, compared with the function.json the Functions host would index, and the local
host handing it a register dropped into its folder."""

from __future__ import annotations

import os
import time
from datetime import date
from pathlib import Path

import pytest

import function_app
from sandbox.host import index

EXPECTED = {
    "payroll_register": [
        {"direction": "IN", "type": "blobTrigger", "name": "blob", "path": "payroll-registers/{name}",
         "connection": "AzureWebJobsStorage", "source": "EventGrid"},
    ],
    "employees_sync": [
        {"direction": "IN", "type": "timerTrigger", "name": "timer", "schedule": "%HL365_EMPLOYEES_SCHEDULE%",
         "runOnStartup": False, "useMonitor": True},
    ],
}


def test_the_payroll_blob_trigger_matches_function_json() -> None:
    """Flex Consumption takes only the Event Grid blob trigger: ``source`` must say so."""
    found = {f.name: dict(f.function_json) for f in index(function_app.app)}
    assert found["payroll_register"] == {"scriptFile": "function_app.py", "bindings": EXPECTED["payroll_register"]}


def test_the_employees_timer_matches_function_json_and_its_default_schedule_is_valid() -> None:
    from croniter import croniter

    from shared.settings import Settings

    found = {f.name: dict(f.function_json) for f in index(function_app.app)}
    assert found["employees_sync"] == {"scriptFile": "function_app.py", "bindings": EXPECTED["employees_sync"]}
    schedule = Settings.model_fields["employees_schedule"].default
    assert croniter.is_valid(schedule, second_at_beginning=True) and len(schedule.split()) == 6


def test_the_local_host_hands_a_dropped_register_to_the_function_once(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from sandbox.host import LocalHost, load_app
    from sandbox.scenario.payroll import malformed_register
    from shared import wiring
    from shared.messaging.embedded import EmbeddedBus
    from shared.settings import Settings

    monkeypatch.setenv("HL365_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("HL365_SETTINGS_FILE", str(tmp_path / "absent.json"))
    wiring.reset()
    try:
        settings = Settings()
        host = LocalHost(load_app(), bus=EmbeddedBus(tmp_path / "bus.sqlite"), settings=settings)
        folder = host.blob_folder("payroll-registers")
        folder.mkdir(parents=True)
        data, _ = malformed_register(check_date=date(2026, 11, 20))
        (folder / "run-1.csv").write_bytes(data)
        assert host.process_blobs("payroll-registers") == 0, "a file just written may still be being copied"
        os.utime(folder / "run-1.csv", (time.time() - 5, time.time() - 5))
        assert host.process_blobs("payroll-registers") == 1
        assert (folder / "processed" / "run-1.csv").read_bytes() == data and not (folder / "run-1.csv").exists()
        assert host.process_blobs("payroll-registers") == 0, "a register is handed over once"
        [parked] = list(wiring.services().dead_letters.list(days=1))
        assert parked["Queue"] == "payroll-registers" and parked["Reason"] == "RegisterInvalid"
        assert "run-1.csv" in parked["Body"] and "E10" not in parked["Body"], "the register's content was parked"
    finally:
        wiring.reset()
