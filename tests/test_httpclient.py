"""The shared HTTP client's error policy, with httpx.MockTransport standing in for the network."""

from collections.abc import Callable

import httpx
import pytest

from shared.errors import PermanentApiError, TransientApiError, UncertainOutcome
from shared.httpclient import Action, ApiClient, RetryPolicy, retry_after_seconds

Handler = Callable[[httpx.Request], httpx.Response]


def client(handler: Handler, **options: object) -> tuple[ApiClient, list[float]]:
    sleeps: list[float] = []
    api = ApiClient("test", "http://api.test", transport=httpx.MockTransport(handler), sleep=sleeps.append,
                    retry=RetryPolicy(max_attempts=4, jitter=lambda d: d), **options)  # type: ignore[arg-type]
    return api, sleeps


def test_throttling_honours_retry_after_then_succeeds() -> None:
    answers = iter([httpx.Response(429, headers={"Retry-After": "3"}), httpx.Response(503), httpx.Response(200)])
    api, sleeps = client(lambda _: next(answers))
    assert api.request("GET", "/x").status_code == 200
    assert sleeps == [3.0, 1.0]
    assert api.requests_sent == 3


def test_backoff_grows_and_gives_up_with_a_transient_error() -> None:
    api, sleeps = client(lambda _: httpx.Response(500, text="busy"))
    with pytest.raises(TransientApiError) as caught:
        api.request("GET", "/x")
    assert sleeps == [0.5, 1.0, 2.0]
    assert caught.value.status == 500 and caught.value.body == "busy"


def test_validation_errors_fail_at_once_with_the_body_redacted() -> None:
    api, sleeps = client(lambda _: httpx.Response(422, text="card 4111111111111111 refused",
                                                  headers={"request-id": "req_1"}))
    with pytest.raises(PermanentApiError) as caught:
        api.request("POST", "/x", json={})
    assert sleeps == []
    assert caught.value.request_id == "req_1"
    assert "4111111111111111" not in str(caught.value) and "411111******1111" in str(caught.value.body)


def test_policy_overrides_turn_a_500_into_a_permanent_failure() -> None:
    api, _ = client(lambda _: httpx.Response(500, text="Write failed"), policy={500: Action.FAIL})
    with pytest.raises(PermanentApiError):
        api.request("POST", "/x")


def test_a_401_refreshes_the_token_once() -> None:
    tokens = iter(["stale", "fresh"])
    seen: list[str] = []

    def auth(refresh: bool) -> dict[str, str]:
        return {"Authorization": f"Bearer {next(tokens) if refresh or not seen else 'stale'}"}

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["authorization"])
        return httpx.Response(200 if request.headers["authorization"] == "Bearer fresh" else 401)

    api, _ = client(handler, auth=auth)
    assert api.request("GET", "/x").status_code == 200
    assert seen == ["Bearer stale", "Bearer fresh"]


def test_a_write_whose_response_is_lost_is_uncertain_and_not_retried() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.headers.get("x-idem", ""))
        raise httpx.ReadError("connection reset", request=request)

    api, _ = client(handler)
    with pytest.raises(UncertainOutcome):
        api.request("POST", "/journals", idempotency_header="X-Idem", idempotency_key="HL-1")
    assert calls == ["HL-1"]


def test_a_write_that_never_connected_is_retried_with_the_same_idempotency_key() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.headers.get("x-idem", ""))
        if len(calls) < 3:
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(201)

    api, _ = client(handler)
    assert api.request("POST", "/x", idempotency_header="X-Idem", idempotency_key="K").status_code == 201
    assert calls == ["K", "K", "K"]


def test_retry_after_in_both_forms() -> None:
    assert retry_after_seconds(httpx.Response(429, headers={"Retry-After": "7"})) == 7.0
    assert retry_after_seconds(httpx.Response(429, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})) == 0.0
    assert retry_after_seconds(httpx.Response(429)) is None


def test_a_write_answered_by_a_gateway_timeout_is_uncertain_not_repeated() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        return httpx.Response(504, text="upstream timed out")

    api, _ = client(handler)
    with pytest.raises(UncertainOutcome) as caught:
        api.request("POST", "/journals")
    assert calls == ["POST"] and caught.value.status == 504
    calls.clear()
    with pytest.raises(TransientApiError):
        api.request("GET", "/journals")
    assert len(calls) == 4


def test_a_read_only_batch_answered_by_a_gateway_timeout_is_asked_again() -> None:
    """A $batch of GETs goes out as a POST; a 504 on it wrote nothing, so it is retried, not dead-lettered,
    even under F&O's policy that a gateway error on a write is never repeated."""
    from shared.dynamics.fo import classify

    answers = iter([httpx.Response(504, text="upstream timed out"), httpx.Response(200, json={"ok": True})])
    api, sleeps = client(lambda _: next(answers), classify=classify)
    assert api.request("POST", "/$batch", read_only=True).json() == {"ok": True}
    assert len(sleeps) == 1
