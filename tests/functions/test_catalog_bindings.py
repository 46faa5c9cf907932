"""The catalogue timer's binding, compared with the function.json the Functions host would index."""

import function_app
from sandbox.host import index

EXPECTED = {
    "catalog_sync": [
        {"direction": "IN", "type": "timerTrigger", "name": "timer", "schedule": "%HL365_CATALOG_SCHEDULE%",
         "runOnStartup": False, "useMonitor": True},
    ],
}


def test_the_catalog_timer_binding_matches_function_json() -> None:
    found = {f.name: dict(f.function_json) for f in index(function_app.app)}
    assert found["catalog_sync"] == {"scriptFile": "function_app.py", "bindings": EXPECTED["catalog_sync"]}


def test_the_catalog_schedule_default_is_a_valid_six_field_ncrontab() -> None:
    from croniter import croniter

    from shared.settings import Settings

    schedule = Settings.model_fields["catalog_schedule"].default
    assert croniter.is_valid(schedule, second_at_beginning=True) and len(schedule.split()) == 6
