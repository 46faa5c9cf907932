"""The customer functions' bindings, compared with the function.json the Functions host would index."""

import pytest

import function_app
from sandbox.host import index

EXPECTED = {
    "retail_webhook": [
        {"direction": "IN", "type": "httpTrigger", "name": "req", "methods": ["POST"], "authLevel": "FUNCTION",
         "route": "webhooks/retail/{kind}"},
        {"direction": "OUT", "type": "http", "name": "$return"},
    ],
    "customers_stage": [
        {"direction": "IN", "type": "serviceBusTrigger", "name": "msg", "connection": "ServiceBusConnection",
         "queueName": "customers-changed"},
    ],
    "customers_sync": [
        {"direction": "IN", "type": "timerTrigger", "name": "timer", "schedule": "%HL365_CUSTOMERS_SCHEDULE%",
         "runOnStartup": False, "useMonitor": True},
    ],
}


@pytest.fixture(scope="module")
def function_json() -> dict[str, dict[str, object]]:
    return {f.name: dict(f.function_json) for f in index(function_app.app)}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_customer_bindings_match_function_json(function_json: dict[str, dict[str, object]], name: str) -> None:
    assert function_json[name] == {"scriptFile": "function_app.py", "bindings": EXPECTED[name]}


def test_the_customers_schedule_default_is_a_valid_six_field_ncrontab() -> None:
    from croniter import croniter

    from shared.settings import Settings

    schedule = Settings.model_fields["customers_schedule"].default
    assert croniter.is_valid(schedule, second_at_beginning=True) and len(schedule.split()) == 6
