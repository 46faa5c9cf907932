"""Each function's bindings, compared with the function.json the Functions host would index."""

import pytest

import function_app
from sandbox.host import index
from tests.functions.test_catalog_bindings import EXPECTED as CATALOG_FUNCTIONS
from tests.functions.test_customers_bindings import EXPECTED as CUSTOMER_FUNCTIONS
from tests.functions.test_orders_bindings import EXPECTED as ORDER_FUNCTIONS
from tests.functions.test_payroll_bindings import EXPECTED as PAYROLL_FUNCTIONS

EXPECTED = {
    "gp_webhook": [
        {"direction": "IN", "type": "httpTrigger", "name": "req", "methods": ["POST"], "authLevel": "ANONYMOUS",
         "route": "webhooks/gp"},
        {"direction": "OUT", "type": "http", "name": "$return"},
    ],
    "health": [
        {"direction": "IN", "type": "httpTrigger", "name": "req", "methods": ["GET"], "authLevel": "ANONYMOUS",
         "route": "health"},
        {"direction": "OUT", "type": "http", "name": "$return"},
    ],
    "payments_transform": [
        {"direction": "IN", "type": "serviceBusTrigger", "name": "msgs", "connection": "ServiceBusConnection",
         "queueName": "payments-transform", "cardinality": "MANY"},
    ],
    "payments_post": [
        {"direction": "IN", "type": "serviceBusTrigger", "name": "msgs", "connection": "ServiceBusConnection",
         "queueName": "payments-post", "cardinality": "MANY"},
    ],
    "payments_poll": [
        {"direction": "IN", "type": "timerTrigger", "name": "timer", "schedule": "0 */10 * * * *",
         "runOnStartup": False, "useMonitor": True},
    ],
    "anomaly_watch": [
        {"direction": "IN", "type": "timerTrigger", "name": "timer", "schedule": "%HL365_ANOMALY_SCHEDULE%",
         "runOnStartup": False, "useMonitor": True},
    ],
    "eod_settlement": [
        {"direction": "IN", "type": "timerTrigger", "name": "timer", "schedule": "%HL365_EOD_SCHEDULE%",
         "runOnStartup": False, "useMonitor": True},
    ],
    "settlement_run": [
        {"direction": "IN", "type": "httpTrigger", "name": "req", "methods": ["POST"], "authLevel": "ADMIN",
         "route": "admin/settlement"},
        {"direction": "OUT", "type": "http", "name": "$return"},
    ],
    "dead_letter_sweep": [
        {"direction": "IN", "type": "timerTrigger", "name": "timer", "schedule": "0 */5 * * * *",
         "runOnStartup": False, "useMonitor": False},
    ],
    "openapi": [
        {"direction": "IN", "type": "httpTrigger", "name": "req", "methods": ["GET"], "authLevel": "ANONYMOUS",
         "route": "openapi.json"},
        {"direction": "OUT", "type": "http", "name": "$return"},
    ],
    "operations_console": [
        {"direction": "IN", "type": "httpTrigger", "name": "req", "methods": ["GET"], "authLevel": "ADMIN",
         "route": "admin/console"},
        {"direction": "OUT", "type": "http", "name": "$return"},
    ],
    "operations_console_replay": [
        {"direction": "IN", "type": "httpTrigger", "name": "req", "methods": ["POST"], "authLevel": "ADMIN",
         "route": "admin/console/replay"},
        {"direction": "OUT", "type": "http", "name": "$return"},
    ],
    "dead_letters_list": [
        {"direction": "IN", "type": "httpTrigger", "name": "req", "methods": ["GET"], "authLevel": "ADMIN",
         "route": "admin/deadletters"},
        {"direction": "OUT", "type": "http", "name": "$return"},
    ],
    "dead_letters_replay": [
        {"direction": "IN", "type": "httpTrigger", "name": "req", "methods": ["POST"], "authLevel": "ADMIN",
         "route": "admin/deadletters/replay"},
        {"direction": "OUT", "type": "http", "name": "$return"},
    ],
    "audit_verify": [
        {"direction": "IN", "type": "timerTrigger", "name": "timer", "schedule": "0 30 2 * * *",
         "runOnStartup": False, "useMonitor": True},
    ],
}


@pytest.fixture(scope="module")
def function_json() -> dict[str, dict[str, object]]:
    return {f.name: dict(f.function_json) for f in index(function_app.app)}


def test_the_app_has_exactly_the_expected_functions(function_json: dict[str, dict[str, object]]) -> None:
    assert sorted(function_json) == sorted({**EXPECTED, **ORDER_FUNCTIONS, **CUSTOMER_FUNCTIONS, **CATALOG_FUNCTIONS,
                                            **PAYROLL_FUNCTIONS})


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bindings_match_function_json(function_json: dict[str, dict[str, object]], name: str) -> None:
    assert function_json[name] == {"scriptFile": "function_app.py", "bindings": EXPECTED[name]}
