"""The local host, driven with a small FunctionApp of its own over a real HTTP server."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import azure.functions as func
import httpx
import pytest
from azure.functions.servicebus import ServiceBusMessage
from azure.functions.timer import TimerRequest

from sandbox.host import LocalHost, Undrained, index, resolve, route_pattern, run_in_background, stop_background
from shared.messaging.embedded import EmbeddedBus
from shared.messaging.messages import OutgoingMessage
from shared.settings import Settings

received: list[Any] = []


def build_app() -> func.FunctionApp:
    app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)

    @app.route(route="orders/{id:int}/{kind?}", methods=["GET"])
    def order(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse(f"{req.route_params.get('id')}|{req.route_params.get('kind')}|{req.params.get('q')}",
                                 status_code=200, headers={"X-Seen": req.headers.get("x-custom", "")})

    @app.route(route="open", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
    def open_route(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse(req.get_body()[::-1], status_code=202)

    @app.route(route="admin/ping", auth_level=func.AuthLevel.ADMIN)
    def admin_ping(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse("pong")

    @app.route(route="boom", auth_level=func.AuthLevel.ANONYMOUS)
    def boom(req: func.HttpRequest) -> func.HttpResponse:
        raise RuntimeError("kaput")

    @app.service_bus_queue_trigger(arg_name="msg", queue_name="%JOBS_QUEUE%", connection="ServiceBusConnection")
    def jobs(msg: func.ServiceBusMessage) -> None:
        received.append(msg)
        if msg.get_body() == b"fail":
            raise ValueError("cannot handle")

    @app.timer_trigger(arg_name="timer", schedule="*/2 * * * * *", run_on_startup=False)
    def tick(timer: func.TimerRequest) -> None:
        received.append(timer)

    return app


@pytest.fixture
def host(tmp_path: Path) -> Iterator[LocalHost]:
    received.clear()
    bus = EmbeddedBus(tmp_path / "bus.sqlite")
    settings = Settings(HL365_FUNCTION_KEY="fn-key", HL365_MASTER_KEY="master-key")
    yield LocalHost(build_app(), bus=bus, settings=settings, app_settings={"JOBS_QUEUE": "jobs"})
    bus.close()


@pytest.fixture
def client(host: LocalHost) -> Iterator[httpx.Client]:
    server, thread, port = run_in_background(host.asgi())
    with httpx.Client(base_url=f"http://127.0.0.1:{port}") as http:
        yield http
    stop_background(server, thread)


def test_functions_are_read_from_the_binding_metadata(host: LocalHost) -> None:
    kinds = {f.name: f.kind for f in host.functions}
    assert kinds == {"order": "httpTrigger", "open_route": "httpTrigger", "admin_ping": "httpTrigger",
                     "boom": "httpTrigger", "jobs": "serviceBusTrigger", "tick": "timerTrigger"}
    assert set(host.queues) == {"jobs"}
    assert host.queues["jobs"].trigger["connection"] == "ServiceBusConnection"


def test_an_app_can_be_indexed_only_through_a_function_with_one_trigger() -> None:
    app = func.FunctionApp()
    assert index(app) == []


@pytest.mark.parametrize(
    ("template", "path", "expected"),
    [("orders/{id:int}/{kind?}", "orders/42/lines", {"id": "42", "kind": "lines"}),
     ("orders/{id:int}/{kind?}", "orders/42", {"id": "42", "kind": None}),
     ("orders/{id:int}/{kind?}", "orders/x", None),
     ("files/{*rest}", "files/a/b/c.txt", {"rest": "a/b/c.txt"}),
     ("webhooks/gp", "webhooks/gp", {}),
     ("webhooks/gp", "webhooks/gpx", None)],
)
def test_route_templates(template: str, path: str, expected: dict[str, str | None] | None) -> None:
    match = route_pattern(template).match(path)
    assert (match.groupdict() if match else None) == expected


def test_binding_expressions_take_app_settings() -> None:
    assert resolve("%Q%-dlq", {"Q": "jobs"}) == "jobs-dlq"
    with pytest.raises(KeyError, match="MISSING"):
        resolve("%MISSING%", {})


def test_http_route_params_query_and_headers_reach_the_function(client: httpx.Client) -> None:
    answer = client.get("/api/orders/42/lines", params={"q": "x", "code": "fn-key"}, headers={"X-Custom": "hi"})
    assert answer.status_code == 200
    assert answer.text == "42|lines|x"
    assert answer.headers["x-seen"] == "hi"


def test_function_level_needs_a_function_or_master_key(client: httpx.Client) -> None:
    assert client.get("/api/orders/1").status_code == 401
    assert client.get("/api/orders/1", headers={"x-functions-key": "wrong"}).status_code == 401
    assert client.get("/api/orders/1", headers={"x-functions-key": "fn-key"}).status_code == 200
    assert client.get("/api/orders/1", params={"code": "master-key"}).status_code == 200


def test_admin_level_needs_the_master_key(client: httpx.Client) -> None:
    assert client.get("/api/admin/ping", headers={"x-functions-key": "fn-key"}).status_code == 401
    assert client.get("/api/admin/ping", headers={"x-functions-key": "master-key"}).text == "pong"


def test_anonymous_routes_methods_and_unknown_paths(client: httpx.Client) -> None:
    assert client.post("/api/open", content=b"abc").content == b"cba"
    not_allowed = client.get("/api/open")
    assert not_allowed.status_code == 405 and not_allowed.headers["allow"] == "POST"
    assert client.post("/api/nowhere").status_code == 404
    assert client.post("/open").status_code == 404


def test_a_failing_function_answers_500_without_its_internals(client: httpx.Client, host: LocalHost) -> None:
    answer = client.get("/api/boom")
    assert answer.status_code == 500 and "kaput" not in answer.text
    assert host.stats.errors == ["boom: RuntimeError: kaput"]


def test_queue_trigger_gets_a_real_service_bus_message_and_completes(host: LocalHost) -> None:
    host.bus.send("jobs", [OutgoingMessage(b'{"n":1}', "m-1", application_properties={"type": "job"})])
    assert host.process_queue("jobs") == 1
    message = received[0]
    assert isinstance(message, ServiceBusMessage)
    assert (message.get_body(), message.message_id, message.delivery_count) == (b'{"n":1}', "m-1", 1)
    assert message.application_properties == {"type": "job"}
    assert isinstance(message.enqueued_time_utc, datetime) and message.enqueued_time_utc.tzinfo is not None
    assert host.bus.counts("jobs").active == 0
    assert host.stats.messages_completed == 1


def test_an_exception_abandons_and_the_message_is_redelivered(host: LocalHost) -> None:
    host.bus.send("jobs", [OutgoingMessage(b"fail", "m-2")])
    host.process_queue("jobs")
    host.process_queue("jobs")
    assert [m.delivery_count for m in received] == [1, 2]
    assert host.stats.messages_abandoned == 2
    assert host.bus.counts("jobs").active == 1


def test_timers_run_on_demand_and_on_their_schedule(host: LocalHost) -> None:
    host.run_timer("tick")
    assert isinstance(received[-1], TimerRequest) and received[-1].past_due is False
    schedule = host.schedule("tick")
    first = schedule.get_next(datetime)
    assert first.second % 2 == 0 and first > datetime.now(UTC).replace(microsecond=0)
    with pytest.raises(KeyError, match="tick"):
        host.run_timer("tock")


def test_a_day_is_drained_only_when_scheduled_retries_have_run_too(tmp_path: Path) -> None:
    """A message rescheduled for a later retry is still the day's: drain waits for it (on the embedded bus's
    faster clock) instead of calling the queues empty and the message lost."""
    received.clear()
    bus = EmbeddedBus(tmp_path / "bus.sqlite", speedup=60)
    local = LocalHost(build_app(), bus=bus, settings=Settings(), app_settings={"JOBS_QUEUE": "jobs"})
    later = datetime.now(UTC) + timedelta(seconds=30)
    bus.send("jobs", [OutgoingMessage(body=b"retry", message_id="m-1", scheduled_enqueue_time=later)])
    assert local.drain(timeout=10) == 1
    assert [m.get_body() for m in received] == [b"retry"]
    bus.close()


def test_a_day_not_drained_in_time_names_what_is_still_in_flight(tmp_path: Path) -> None:
    bus = EmbeddedBus(tmp_path / "bus.sqlite")
    local = LocalHost(build_app(), bus=bus, settings=Settings(), app_settings={"JOBS_QUEUE": "jobs"})
    later = datetime.now(UTC) + timedelta(hours=1)
    bus.send("jobs", [OutgoingMessage(body=b"retry", message_id="gp:TRN_A:REVERSED:attempt:1",
                                      scheduled_enqueue_time=later)])
    with pytest.raises(Undrained) as caught:
        local.drain(timeout=0.3)
    assert caught.value.messages == [("jobs", "gp:TRN_A:REVERSED:attempt:1", "scheduled")]
    assert "gp:TRN_A:REVERSED:attempt:1 (scheduled)" in str(caught.value)
    bus.close()


def test_the_host_refuses_settings_that_name_a_real_service_bus(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from sandbox.host import NotEmbedded
    from shared import wiring

    monkeypatch.setenv("HL365_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("HL365_BUS", "servicebus")
    monkeypatch.setenv("ServiceBusConnection__fullyQualifiedNamespace", "hl365-test.servicebus.windows.net")
    monkeypatch.setenv("HL365_AUDIT_KEY", "a" * 32)
    wiring.reset()
    try:
        with pytest.raises(NotEmbedded, match="HL365_BUS=sqlite"):
            LocalHost.from_wiring()
    finally:
        wiring.reset()
