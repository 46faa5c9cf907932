"""Heartland Retail's customer webhooks through the one intake, staged by the queue function from a fresh read of
Retail (the simulator over HTTP), and linked by the next sync."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import orjson
import pytest

from sandbox.host import run_in_background, stop_background
from sandbox.simulators.retail import DEFAULT_TOKEN, RetailSimulator
from sandbox.simulators.retail import create as create_retail
from shared import wiring
from shared.errors import InvalidRequest, NotFound, Unprocessable
from shared.flows import customers, intake
from shared.flows.intake import Accepted
from shared.storage import tables
from tests.flows.conftest import take

HEADERS = {"content-type": "application/json"}


@pytest.fixture
def world(ports: wiring.Services, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[wiring.Services, RetailSimulator]]:
    app = create_retail(seed=2)
    server, thread, port = run_in_background(app)
    monkeypatch.setenv("RETAIL_API_URL", f"http://127.0.0.1:{port}/api")
    monkeypatch.setenv("RETAIL_API_TOKEN", DEFAULT_TOKEN)
    wiring.reset()
    services = wiring.services()
    sim = app.simulated
    assert isinstance(sim, RetailSimulator)
    yield services, sim
    wiring.reset()
    stop_background(server, thread)


def deliver(services: wiring.Services, kind: str, body: object) -> Accepted:
    answer = intake.accept(services, customers.retail_source(kind), orjson.dumps(body), HEADERS)
    assert isinstance(answer, Accepted)
    return answer


def test_a_webhook_is_claimed_once_staged_from_a_fresh_read_and_linked_by_the_next_sync(
        world: tuple[wiring.Services, RetailSimulator]) -> None:
    services, sim = world
    ana = sim.add_customer("Ana", "Ruiz", email="ana.ruiz@example.com", phone="512-555-0111")
    twin = sim.add_customer("ANA", "RUIZ", email="Ana.Ruiz@example.com")
    first = deliver(services, "customer_created", {"id": ana["id"], "updated_at": ana["updated_at"]})
    again = deliver(services, "customer_created", {"id": ana["id"], "updated_at": ana["updated_at"]})
    deliver(services, "customer_updated", {"customer": {"id": twin["id"], "first_name": "stale"}})
    assert (first.duplicates, again.duplicates) == (0, 1)
    messages = take(services.bus, customers.QUEUE)
    assert len(messages) == 2  # the duplicate never reached the queue
    for message in messages:
        customers.stage_customer(services, message.body)
    records = services.tables.table(tables.CUSTOMER_RECORDS)
    staged = records.get("pos", str(twin["id"]))
    assert staged is not None and staged.get("staged") and not staged.get("profile")
    assert orjson.loads(staged["fields"])["first_name"] == "ANA"  # Retail's, not the webhook body's
    outcome = customers.run_scheduled_sync(services)
    assert services.customers.profile_of("pos", str(ana["id"])) == services.customers.profile_of("pos",
                                                                                                str(twin["id"]))
    assert outcome.linked == 2 and not records.get("pos", str(twin["id"])).get("staged")
    steps = [r["Step"] for r in services.audit.records(datetime.now(UTC).date())]
    assert steps.count("customer.stage") == 2 and steps.count("intake.retail") == 3


def test_a_customer_gone_from_retail_is_audited_not_staged(world: tuple[wiring.Services, RetailSimulator]) -> None:
    services, _ = world
    deliver(services, "customer_updated", {"id": 987654})
    [message] = take(services.bus, customers.QUEUE)
    customers.stage_customer(services, message.body)
    assert services.tables.table(tables.CUSTOMER_RECORDS).get("pos", "987654") is None


@pytest.mark.parametrize(("kind", "body", "error"), [
    ("order_created", {"id": 1}, NotFound),
    ("customer_created", b"[1, 2]", InvalidRequest),
    ("customer_created", {"first_name": "no id"}, Unprocessable),
    ("customer_created", {"id": "12a"}, Unprocessable),
    ("customer_created", {"id": 5, "note": "card 4111 1111 1111 1111"}, Unprocessable),
])
def test_what_is_not_a_customer_webhook_is_refused_with_its_reason(
        world: tuple[wiring.Services, RetailSimulator], kind: str, body: object, error: type[Exception]) -> None:
    services, _ = world
    with pytest.raises(error):
        intake.accept(services, customers.retail_source(kind), body if isinstance(body, bytes) else orjson.dumps(body),
                      HEADERS)
    assert take(services.bus, customers.QUEUE) == []


def test_the_sync_timer_without_an_erp_reads_the_pos_alone(world: tuple[wiring.Services, RetailSimulator]) -> None:
    services, sim = world
    sim.add_customer("Bo", "Li", phone="312-555-0100")
    outcome = customers.run_scheduled_sync(services)
    assert outcome.records >= 1 and outcome.profiles >= 1
    assert services.tables.table(tables.CHECKPOINTS).get(customers.CHECKPOINT_PARTITION, "retail") is not None
