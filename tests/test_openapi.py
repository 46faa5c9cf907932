"""The OpenAPI document against the app: every HTTP function documented with its auth, body and answers;
served anonymously; and a property-based fuzzer (schemathesis) holding the running app to it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import negative_data_rejection, positive_data_acceptance

from sandbox.host import LocalHost, index, load_app, run_in_background, stop_background
from sandbox.simulators import create
from shared import wiring
from shared.openapi import document

MASTER_KEY = "openapi-master-key"
SCHEMES = {"ANONYMOUS": {"gpSignature", None}, "FUNCTION": {"functionKey", "functionKeyQuery"},
           "ADMIN": {"masterKey", "masterKeyQuery"}}


def _http_functions() -> list[tuple[str, str, str, str]]:
    """(name, method, path, auth level) of every HTTP function, from the metadata the Functions host indexes."""
    found = []
    for function in index(load_app()):
        if function.kind == "httpTrigger":
            for method in function.trigger["methods"]:
                found.append((function.name, method.lower(), "/" + function.trigger["route"],
                              str(function.trigger["authLevel"]).upper()))
    return found


@pytest.mark.parametrize(("name", "method", "path", "level"), _http_functions())
def test_every_http_function_is_documented_with_its_auth_body_and_answers(name: str, method: str, path: str,
                                                                          level: str) -> None:
    operation = document()["paths"].get(path, {}).get(method)
    assert operation is not None, f"{name}: {method.upper()} {path} is not in shared/openapi.yaml"
    assert operation["operationId"] == name
    schemes = {next(iter(requirement), None) for requirement in operation["security"]}
    assert schemes and schemes <= SCHEMES[level], f"{name} is {level}; documented as {schemes}"
    answers = operation["responses"]
    assert any(code.startswith("2") for code in answers)
    if level != "ANONYMOUS" or schemes == {"gpSignature"}:
        assert "401" in answers, f"{name} can refuse a caller, and its 401 is not documented"
    if path.startswith("/webhooks/"):
        assert "application/json" in operation["requestBody"]["content"]
        assert {"400", "413", "415", "422"} <= set(answers)


def test_the_document_names_no_route_the_app_does_not_serve() -> None:
    served = {(path, method) for _, method, path, _ in _http_functions()}
    documented = {(path, method) for path, item in document()["paths"].items() for method in item}
    assert documented == served


@pytest.fixture(scope="module")
def app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real app on the local host over loopback HTTP, configured as a merchant would configure it."""
    data = tmp_path_factory.mktemp("openapi")
    simulators = {name: create(name, seed=5) for name in ("gp", "retail")}
    servers = {name: run_in_background(app) for name, app in simulators.items()}
    gp: Any = simulators["gp"].simulated
    with pytest.MonkeyPatch.context() as env:
        env.setenv("GP_API_URL", f"http://127.0.0.1:{servers['gp'][2]}/ucp")
        env.setenv("GP_APP_ID", gp.app_id)
        env.setenv("RETAIL_API_URL", f"http://127.0.0.1:{servers['retail'][2]}/api")
        env.setenv("RETAIL_API_TOKEN", "hl365-local-retail-token")
        env.setenv("HL365_MERCHANT_ID", "MER_openapi")
        env.setenv("HL365_SETTINGS_FILE", str(data / "absent.json"))
        env.setenv("HL365_DATA_DIR", str(data))
        env.setenv("GP_APP_KEY", gp.app_key)
        env.setenv("HL365_MASTER_KEY", MASTER_KEY)
        env.setenv("BC_WEBHOOK_CLIENT_STATE", "openapi-client-state")
        for name in ("HL365_STORAGE", "HL365_BUS", "D365_TARGET", "HL365_ALERT_WEBHOOK_URL", "HL365_MAPPING_FILE",
                     "HL365_FUNCTION_KEY"):
            env.delenv(name, raising=False)
        wiring.reset()
        host = LocalHost.from_wiring()
        server, thread, port = run_in_background(host.asgi())
        try:
            yield f"http://127.0.0.1:{port}/api"
        finally:
            stop_background(server, thread)
            for simulator, simulator_thread, _ in servers.values():
                stop_background(simulator, simulator_thread)
            wiring.reset()


def test_the_document_is_served_anonymously(app_url: str) -> None:
    answer = httpx.get(f"{app_url}/openapi.json")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("application/json")
    assert answer.json() == document() and answer.json()["openapi"] == "3.1.0"


schema = schemathesis.openapi.from_dict(document())


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_app_keeps_to_its_document(case: Any, app_url: str) -> None:
    """No 5xx for anything a caller can send, and every answer is one the document describes. The admin
    calls carry the master key, so the routes behind it are fuzzed too."""
    headers = {"x-functions-key": MASTER_KEY} if case.operation.path.startswith("/admin/") else None
    # Valid-looking input is often refused for a reason a schema cannot state (a signature, one of two
    # parameters); and the Business Central handshake answers 200 whatever the body holds, as it does not read it.
    excluded = [positive_data_acceptance] + ([negative_data_rejection] if case.operation.path == "/webhooks/bc"
                                             else [])
    case.call_and_validate(base_url=app_url, headers=headers, excluded_checks=excluded)


def test_the_fuzzer_reaches_past_authentication(app_url: str) -> None:
    """A fuzzer that only ever met 401 would prove nothing about the routes behind the key."""
    answer = httpx.post(f"{app_url}/admin/deadletters/replay", params={"id": "nothing"},
                        headers={"x-functions-key": MASTER_KEY})
    assert answer.status_code == 404 and answer.json()["status"] == 404
