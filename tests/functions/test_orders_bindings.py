"""The U4 functions' bindings, compared with the function.json the Functions host would index."""

import pytest

import function_app
from sandbox.host import index

EXPECTED = {
    "fo_webhook": [
        {"direction": "IN", "type": "httpTrigger", "name": "req", "methods": ["POST"], "authLevel": "FUNCTION",
         "route": "webhooks/fo"},
        {"direction": "OUT", "type": "http", "name": "$return"},
    ],
    "bc_webhook": [
        {"direction": "IN", "type": "httpTrigger", "name": "req", "methods": ["POST"], "authLevel": "ANONYMOUS",
         "route": "webhooks/bc"},
        {"direction": "OUT", "type": "http", "name": "$return"},
    ],
    "orders_transform": [
        {"direction": "IN", "type": "serviceBusTrigger", "name": "msg", "connection": "ServiceBusConnection",
         "queueName": "orders-transform"},
    ],
    "orders_charge": [
        {"direction": "IN", "type": "serviceBusTrigger", "name": "msg", "connection": "ServiceBusConnection",
         "queueName": "orders-charge"},
    ],
    "bc_subscriptions": [
        {"direction": "IN", "type": "timerTrigger", "name": "timer", "schedule": "%HL365_BC_SUBSCRIPTION_SCHEDULE%",
         "runOnStartup": False, "useMonitor": True},
    ],
    "bc_subscriptions_run": [
        {"direction": "IN", "type": "httpTrigger", "name": "req", "methods": ["POST"], "authLevel": "ADMIN",
         "route": "admin/subscriptions"},
        {"direction": "OUT", "type": "http", "name": "$return"},
    ],
}


@pytest.fixture(scope="module")
def function_json() -> dict[str, dict[str, object]]:
    return {f.name: dict(f.function_json) for f in index(function_app.app)}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_order_bindings_match_function_json(function_json: dict[str, dict[str, object]], name: str) -> None:
    assert function_json[name] == {"scriptFile": "function_app.py", "bindings": EXPECTED[name]}


def test_the_subscription_schedule_default_is_a_valid_six_field_ncrontab() -> None:
    from croniter import croniter

    from shared.settings import Settings

    schedule = Settings.model_fields["bc_subscription_schedule"].default
    assert croniter.is_valid(schedule, second_at_beginning=True) and len(schedule.split()) == 6
