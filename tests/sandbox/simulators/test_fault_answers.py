"""Injected throttling and outages answer as each real service does: its own error body, and
``Retry-After`` where the service documents it. The demo and ``hl365 chaos`` inject faults this way."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from sandbox.host import run_in_background, stop_background
from sandbox.simulators import create
from sandbox.simulators.base import FaultRule

ROUTES = {"fo": "GET /data/*", "bc": "GET /v2.0/*", "gp": "GET /ucp/*", "retail": "GET /api/*",
          "dataverse": "GET /api/data/*"}
PATHS = {"fo": "/data/CustomersV3", "bc": "/v2.0/t/production/api/v2.0/companies", "gp": "/ucp/transactions",
         "retail": "/api/sales_transactions", "dataverse": "/api/data/v9.2/accounts"}


@pytest.fixture(params=["fo", "bc", "gp", "retail", "dataverse"])
def faulty(request: pytest.FixtureRequest) -> Iterator[tuple[str, httpx.Client]]:
    name = request.param
    app = create(name, seed=1)
    server, thread, port = run_in_background(app)
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
        yield name, client
    stop_background(server, thread)


def _answer(name: str, client: httpx.Client, rule: FaultRule) -> httpx.Response:
    client.put("/_sim/faults", json={"rules": [{"route": rule.route, "kind": rule.kind, "rate": 1.0,
                                                "status": rule.status, "retry_after": rule.retry_after}]})
    return client.get(PATHS[name])


def test_a_throttled_call_gets_the_services_own_body_and_retry_after(faulty: tuple[str, httpx.Client]) -> None:
    name, client = faulty
    answer = _answer(name, client, FaultRule(ROUTES[name], "throttle", 1.0, retry_after=3))
    body = answer.json()
    assert answer.status_code == 429 and answer.headers["retry-after"] == "3"
    if name in ("fo", "bc", "dataverse"):
        assert set(body) == {"error"} and set(body["error"]) == {"code", "message"} and body["error"]["message"]
        assert name != "dataverse" or body["error"]["code"] == "0x80072322"
    elif name == "gp":
        assert body["error_code"] == "SYSTEM_ERROR" and body["detailed_error_description"]
    else:
        assert body == {"message": "Too many requests", "errors": {}}


@pytest.mark.parametrize("status", [502, 503, 504])
def test_an_outage_gets_the_services_own_body(faulty: tuple[str, httpx.Client], status: int) -> None:
    name, client = faulty
    answer = _answer(name, client, FaultRule(ROUTES[name], "error", 1.0, status=status, retry_after=2))
    body = answer.json()
    assert answer.status_code == status
    if name == "bc":
        assert body["error"]["code"] == {502: "BadGateway", 503: "Unavailable", 504: "RequestTimeout"}[status]
        assert ("retry-after" in answer.headers) == (status != 504)
    elif name == "fo":
        assert set(body["error"]) == {"code", "message"}
        assert ("retry-after" in answer.headers) == (status == 503)
    elif name == "dataverse":
        assert body["error"]["code"] == "0x80040216" and "retry-after" not in answer.headers
    elif name == "gp":
        assert body["error_code"] == ("SYSTEM_ERROR" if status == 503 else "SYSTEM_ERROR_DOWNSTREAM")
    else:
        assert set(body) == {"message", "errors"}


def test_the_gp_client_reads_the_injected_body_and_retries_it() -> None:
    """The product's own GP client classifies the injected outage by its ``error_code`` and tries again."""
    from shared.heartland.gp import classify_gp_error, describe_gp_error
    from shared.httpclient import Action

    app = create("gp", seed=1)
    server, thread, port = run_in_background(app)
    try:
        app.faults.rules = [FaultRule("GET /ucp/*", "error", 1.0, status=502)]
        answer = httpx.get(f"http://127.0.0.1:{port}/ucp/transactions", timeout=5)
        assert "SYSTEM_ERROR_DOWNSTREAM" in describe_gp_error(answer)
        assert classify_gp_error(answer) is Action.RETRY
    finally:
        stop_background(server, thread)
