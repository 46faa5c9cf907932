"""Orders into Heartland payments (U4), flow by flow, against the simulators over loopback HTTP."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from sandbox.simulators import bc as bc_sim
from sandbox.simulators import fo as fo_sim
from sandbox.simulators import gp as gp_sim
from sandbox.simulators.base import FaultRule, SimulatorApp, serve
from sandbox.simulators.bc import BusinessCentral
from sandbox.simulators.fo import FinanceOperations
from sandbox.simulators.gp import GpSimulator
from sandbox.simulators.tls import SandboxCA
from shared.canonical.envelope import Envelope
from shared.canonical.payments import Payment, PaymentStatus
from shared.dynamics.subscriptions import SubscriptionKeeper
from shared.errors import FatalError, RetriableError
from shared.flows import orders, orders_intake, payments
from shared.flows.answer import Answer
from shared.flows.orders_erp import Order
from shared.messaging.embedded import EmbeddedBus
from shared.messaging.envelope import to_message
from shared.ops.alerts import Alert
from shared.settings import Settings
from shared.wiring import Services
from tests.loopback import Swap, wait_for

ROOT = Path(__file__).parents[2]
TENANT = "00000000-0000-0000-0000-000000000365"
CLIENT_STATE = "flow-client-state"
TOKEN = "PMT_flowtestcustomer01"
PAN = "4111111111111111"


class Alerts:
    def __init__(self) -> None:
        self.sent: list[Alert] = []

    def notify(self, alert: Alert) -> None:
        self.sent.append(alert)

    def kinds(self) -> list[str]:
        return [a.kind for a in self.sent]


@dataclass
class Hook:
    """The public notification URL: echoes BC's handshake and keeps the notifications it gets."""

    url: str = ""
    handshakes: list[str] = field(default_factory=list)
    notifications: list[dict[str, Any]] = field(default_factory=list)

    async def endpoint(self, request: Request) -> Response:
        token = request.query_params.get("validationToken")
        if token is not None:
            self.handshakes.append(token)
            return PlainTextResponse(token)
        self.notifications.append(json.loads(await request.body()))
        return Response(status_code=202)


@pytest.fixture(scope="module")
def tls() -> Iterator[SandboxCA]:
    """The ERP's certificate authority: azure-identity asks an HTTPS authority only."""
    ca = SandboxCA()
    yield ca
    ca.close()


@pytest.fixture(scope="module")
def servers(tls: SandboxCA) -> Iterator[dict[str, tuple[Swap, int]]]:
    swaps = {name: Swap() for name in ("gp", "erp", "hook")}
    running = {name: serve(swap, tls=tls if name == "erp" else None) for name, swap in swaps.items()}
    yield {name: (swaps[name], running[name].port) for name in swaps}
    for served in running.values():
        served.stop()


@dataclass
class World:
    services: Services
    alerts: Alerts
    gp_app: SimulatorApp
    erp_app: SimulatorApp
    hook: Hook
    erp: str

    @property
    def gp(self) -> GpSimulator:
        assert isinstance(self.gp_app.simulated, GpSimulator)
        return self.gp_app.simulated

    @property
    def fo(self) -> FinanceOperations:
        return fo_sim.simulator(self.erp_app)

    @property
    def bc(self) -> BusinessCentral:
        assert isinstance(self.erp_app.simulated, BusinessCentral)
        return self.erp_app.simulated

    @property
    def bus(self) -> EmbeddedBus:
        assert isinstance(self.services.bus, EmbeddedBus)
        return self.services.bus

    @property
    def company(self) -> str:
        return "usmf" if self.erp == "fo" else self.bc.company_id

    def charges(self) -> int:
        """POSTs that reached GP's /transactions: each one a charge attempt the gateway saw."""
        return self.gp_app.requests["POST /ucp/transactions"]

    def take(self, queue: str) -> list[Envelope]:
        """Receive and complete everything visible on ``queue``."""
        taken = []
        while batch := self.bus.receive(queue, max_messages=50):
            for message in batch:
                taken.append(Envelope.from_body(message.body))
                self.bus.complete(message)
        return taken

    def run(self, queue: str, handler: Callable[[Services, bytes], object]) -> list[Envelope]:
        """Run ``handler`` on each message of ``queue`` as its trigger would (errors propagate)."""
        envelopes = self.take(queue)
        for envelope in envelopes:
            handler(self.services, to_message(envelope).body)
        return envelopes

    def audit(self) -> list[tuple[str, str]]:
        return [(str(r["Step"]), str(r["Outcome"])) for r in self.services.audit.records(datetime.now(UTC).date())]


@pytest.fixture
def make_world(servers: dict[str, tuple[Swap, int]], tls: SandboxCA, tmp_path: Path,
               monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., World]]:
    built: list[World] = []

    def make(erp: str = "fo", *, capture: str = "charge", **gp_options: Any) -> World:
        gp_app = gp_sim.create(seed=3, **gp_options)
        erp_app = fo_sim.create(seed=3, event_interval=None) if erp == "fo" else bc_sim.create(
            seed=3, notification_delay=0.05, notification_retry_interval=0.05, handshake_timeout=2.0)
        hook = Hook()
        servers["gp"][0].app = gp_app
        servers["erp"][0].app = erp_app
        servers["hook"][0].app = Starlette(routes=[Route("/api/webhooks/bc", hook.endpoint, methods=["POST"])])
        erp_url = f"https://127.0.0.1:{servers['erp'][1]}"
        hook.url = f"http://127.0.0.1:{servers['hook'][1]}"
        for name in ("HL365_STORAGE", "HL365_BUS", "HL365_ALERT_WEBHOOK_URL", "D365_BC_COMPANY", "HL365_MERCHANT_ID"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HL365_SETTINGS_FILE", str(tmp_path / "absent.json"))
        settings = Settings(
            HL365_DATA_DIR=str(tmp_path / f"data{len(built)}"), HL365_MAPPING_FILE=str(ROOT / "mapping.yaml"),
            GP_API_URL=f"http://127.0.0.1:{servers['gp'][1]}/ucp", GP_APP_ID="hl365-local-app",
            GP_APP_KEY="hl365-local-app-key", D365_TARGET=erp, D365_FO_URL=erp_url, D365_BC_URL=erp_url,
            D365_AUTHORITY_URL=erp_url, D365_TENANT_ID=TENANT, D365_CLIENT_ID="hl365-local-client",
            D365_CLIENT_SECRET="hl365-local-secret", D365_CA_BUNDLE=str(tls.ca_bundle), D365_LEGAL_ENTITY="USMF",
            HL365_PUBLIC_URL=hook.url,
            BC_WEBHOOK_CLIENT_STATE=CLIENT_STATE, HL365_ORDER_CAPTURE=capture)
        services = Services(settings)
        alerts = Alerts()
        services.__dict__["alerts"] = alerts
        world = World(services, alerts, gp_app, erp_app, hook, erp)
        built.append(world)
        return world

    yield make
    for world in built:
        world.services.close()
        if world.erp == "bc":
            world.bc.close()


def fo_order(world: World, *, customer: str = "US-001", price: str = "20.00", quantity: str = "2",
             token: str | None = TOKEN, line: dict[str, Any] | None = None, **fields: Any) -> str:
    """A confirmed F&O order (its business event queued in the simulator); returns its number."""
    if token is not None:
        orders.set_payment_token(world.services, erp="fo", company="usmf", customer=customer, token=token)
    order = world.fo.add_sales_order(customer, [{"ItemNumber": "T0001", "OrderedSalesQuantity": Decimal(quantity),
                                                 "SalesPrice": Decimal(price), **(line or {})}], **fields)
    return str(order["SalesOrderNumber"])


def fo_events(world: World) -> list[dict[str, Any]]:
    return [e for e in world.fo.events.emitted if e["BusinessEventId"] == "SalesOrderConfirmedBusinessEvent"]


def accept_fo(world: World, payload: Any, content_type: str = "application/json") -> Answer:
    return orders_intake.accept_fo_events(world.services, orjson.dumps(payload, default=str),
                                          {"content-type": content_type})


def through_transform(world: World) -> list[Envelope]:
    world.run(orders.TRANSFORM_QUEUE, orders.transform_order)
    return world.take(orders.CHARGE_QUEUE)


def charge(world: World, envelope: Envelope) -> str:
    return orders.charge_order(world.services, to_message(envelope).body)


# -- F&O intake ---------------------------------------------------------------------------------------------


def test_a_confirmed_order_event_becomes_one_pointer_and_a_duplicate_none(make_world: Callable[..., World]) -> None:
    world = make_world()
    number = fo_order(world)
    [event] = fo_events(world)
    first = accept_fo(world, event)
    again = accept_fo(world, [event])
    assert (first.status, first.body["accepted"], again.status, again.body["duplicates"]) == (202, 1, 202, 1)
    [pointer] = world.take(orders.TRANSFORM_QUEUE)
    assert pointer.type == "order.created" and pointer.idempotency_key == f"fo:usmf:{event['EventId']}"
    assert pointer.data["order"] == number and pointer.data["control_number"] == event["ControlNumber"]
    assert ("intake.fo", "accepted") in world.audit() and ("intake.fo", "duplicate") in world.audit()


def test_other_business_events_are_answered_202_and_audited_as_ignored(make_world: Callable[..., World]) -> None:
    world = make_world()
    event = world.fo.emit_event("CustomerPaymentJournalPostedBusinessEvent", {"JournalBatchNumber": "00001"})
    answer = accept_fo(world, event)
    assert (answer.status, answer.body["ignored"], answer.body["accepted"]) == (202, 1, 0)
    assert world.take(orders.TRANSFORM_QUEUE) == []
    [record] = [r for r in world.services.audit.records(datetime.now(UTC).date()) if r["Step"] == "intake.fo"]
    assert record["Outcome"] == "ignored" and str(event["ControlNumber"]) in str(record["Detail"])


def test_fo_intake_rejects_bad_input_with_a_reason_and_enqueues_nothing(make_world: Callable[..., World]) -> None:
    world = make_world()
    fo_order(world)
    [event] = fo_events(world)
    raw = orjson.dumps(event, default=str)
    assert orders_intake.accept_fo_events(world.services, raw[:-5], {"content-type": "application/json"}).status == 400
    assert accept_fo(world, []).status == 400
    assert accept_fo(world, event, "text/xml").status == 415
    huge = {**event, "Padding": "x" * 300_000}
    assert accept_fo(world, huge).status == 413
    missing = accept_fo(world, [event, {k: v for k, v in event.items() if k != "EventId"}])
    assert missing.status == 422 and "event 1" in missing.reason and "EventId" in missing.reason
    no_order = accept_fo(world, {k: v for k, v in event.items() if k != "SalesOrderNumber"})
    assert no_order.status == 422 and "names no sales order" in no_order.reason
    assert world.take(orders.TRANSFORM_QUEUE) == []


def test_card_data_in_an_event_is_refused_alerted_and_audited_masked(make_world: Callable[..., World]) -> None:
    world = make_world()
    fo_order(world)
    [event] = fo_events(world)
    answer = accept_fo(world, {**event, "CustomersOrderReference": f"card {PAN}"})
    assert answer.status == 422 and PAN not in answer.reason
    assert world.take(orders.TRANSFORM_QUEUE) == []
    assert world.alerts.kinds() == ["card_data_rejected"]
    [record] = [r for r in world.services.audit.records(datetime.now(UTC).date()) if r["Step"] == "intake.fo"]
    assert record["Outcome"] == "rejected_card_data" and "411111******1111" in str(record["Detail"])
    assert PAN not in json.dumps(dict(record.data), default=str)


def test_dynamics_identifiers_that_look_like_card_numbers_are_not_card_data(make_world: Callable[..., World]) -> None:
    world = make_world()
    fo_order(world)
    [event] = fo_events(world)
    stamped = {**event, "EventTime": "/Date(1795783821246)/",
               "InitiatingUserAADObjectId": "{00000000-0000-0000-0000-000000000000}"}
    assert accept_fo(world, stamped).status == 202
    answer = accept_fo(world, {**stamped, "Note": "1795783821246"})
    assert answer.status == 422 and "$.Note" in answer.reason


# -- Business Central intake --------------------------------------------------------------------------------


def notification(world: World, change: str = "created", *, order_id: str = "5f0c2a9e-4b1d-4c8e-9a3f-0d6b7e2c1a44",
                 state: str = CLIENT_STATE, resource: str | None = None) -> dict[str, Any]:
    return {"subscriptionId": "a" * 32, "clientState": state, "expirationDateTime": "2026-12-01T09:00:00Z",
            "resource": resource or f"api/v2.0/companies({world.company})/salesOrders({order_id})",
            "changeType": change, "lastModifiedDateTime": "2026-11-28T09:00:04.123Z"}


def accept_bc(world: World, *items: dict[str, Any], params: dict[str, str] | None = None) -> Answer:
    answer = orders_intake.accept_bc_notifications(world.services, orjson.dumps({"value": list(items)}),
                                                   {"content-type": "application/json"}, params or {})
    assert isinstance(answer, Answer)
    return answer


def test_the_bc_handshake_echoes_the_token_and_refuses_junk(make_world: Callable[..., World]) -> None:
    world = make_world("bc")
    shake = orders_intake.accept_bc_notifications(world.services, b"", {"content-type": "text/plain"},
                                                  {"validationToken": "abc-123"})
    assert shake == orders_intake.Handshake("abc-123")
    junk = orders_intake.accept_bc_notifications(world.services, b"", {}, {"validationToken": "x\n" * 600})
    assert isinstance(junk, Answer) and junk.status == 400


def test_one_forged_client_state_rejects_the_whole_batch(make_world: Callable[..., World]) -> None:
    world = make_world("bc")
    answer = accept_bc(world, notification(world), notification(world, "updated", state="guess"))
    assert answer.status == 401 and "clientState" in answer.reason
    assert world.take(orders.TRANSFORM_QUEUE) == []


def test_bc_notifications_become_pointers_re_queries_or_audit_records(make_world: Callable[..., World]) -> None:
    world = make_world("bc")
    collection = (f"api/v2.0/companies({world.company})/salesOrders"
                  "?$filter=lastModifiedDateTime%20gt%202026-11-28T09:00:00Z")
    customer = f"api/v2.0/companies({world.company})/customers(66666666-6666-4666-8666-666666666666)"
    answer = accept_bc(world, notification(world, "created"),
                       notification(world, "deleted", order_id="11111111-2222-4333-8444-555555555555"),
                       notification(world, "collection", resource=collection),
                       notification(world, resource=customer))
    assert (answer.status, answer.body["accepted"], answer.body["ignored"]) == (202, 2, 2)
    pointers = {e.type: e for e in world.take(orders.TRANSFORM_QUEUE)}
    assert set(pointers) == {"order.created", "order.requery"}
    assert pointers["order.created"].data["order"] == "5f0c2a9e-4b1d-4c8e-9a3f-0d6b7e2c1a44"
    assert pointers["order.requery"].data["filter"] == "lastModifiedDateTime gt 2026-11-28T09:00:00Z"
    assert all(len(e.idempotency_key) <= 128 for e in pointers.values())
    assert ("intake.bc", "deleted") in world.audit() and ("intake.bc", "ignored") in world.audit()
    again = accept_bc(world, notification(world, "created"))
    assert again.body["duplicates"] == 1 and world.take(orders.TRANSFORM_QUEUE) == []


def test_bc_intake_without_a_client_state_setting_asks_bc_to_retry(make_world: Callable[..., World]) -> None:
    world = make_world("bc")
    world.services.settings = world.services.settings.model_copy(update={"bc_webhook_client_state": None})
    answer = accept_bc(world, notification(world))
    assert answer.status == 503 and answer.headers["Retry-After"]


# -- F&O: transform and charge ------------------------------------------------------------------------------


def test_an_approved_fo_order_is_charged_once_handed_to_the_post_step_and_marked(
    make_world: Callable[..., World],
) -> None:
    world = make_world()
    number = fo_order(world)
    accept_fo(world, fo_events(world))
    [validated] = through_transform(world)
    assert validated.type == "order.validated" and validated.idempotency_key == f"HLO-USMF-{number}"
    assert TOKEN not in validated.model_dump_json()
    transaction_id = charge(world, validated)
    gp_record = world.gp.transaction(transaction_id)
    assert (gp_record["amount"], gp_record["reference"], gp_record["status"]) == ("4000", number, "CAPTURED")
    assert world.gp.state()["idempotency_keys"][f"HLO-USMF-{number}"]["resource_id"] == transaction_id
    [posting] = world.take(payments.POST_QUEUE)
    payment = Payment.model_validate(posting.data)
    assert posting.type == "payment.normalised" and posting.idempotency_key == f"HPY-{transaction_id}"
    assert (payment.reference, str(payment.amount), payment.status) == (number, "40.00 USD", PaymentStatus.CAPTURED)
    assert payment.merchant_id == world.gp.merchant_id and payment.card_last4 is not None
    assert world.fo.sales_order(number)["HL365PaymentStatus"] == f"APPROVED {transaction_id}"  # type: ignore[index]
    assert charge(world, validated) == transaction_id
    assert world.charges() == 1 and world.take(payments.POST_QUEUE) == []
    assert ("charge.order", "approved") in world.audit() and ("charge.order", "already_charged") in world.audit()


def test_authorise_mode_preauthorises_and_says_so_on_the_order(make_world: Callable[..., World]) -> None:
    world = make_world(capture="authorise")
    number = fo_order(world)
    accept_fo(world, fo_events(world))
    [validated] = through_transform(world)
    transaction_id = charge(world, validated)
    assert world.gp.transaction(transaction_id)["status"] == "PREAUTHORIZED"
    [posting] = world.take(payments.POST_QUEUE)
    assert Payment.model_validate(posting.data).status is PaymentStatus.PREAUTHORIZED
    assert world.fo.sales_order(number)["HL365PaymentStatus"] == f"AUTHORISED {transaction_id}"  # type: ignore[index]


def test_a_declined_fo_order_is_written_back_alerted_and_never_charged_again(make_world: Callable[..., World]) -> None:
    world = make_world()
    number = fo_order(world, price="100.51", quantity="1")
    accept_fo(world, fo_events(world))
    [validated] = through_transform(world)
    charge(world, validated)
    status = world.fo.sales_order(number)["HL365PaymentStatus"]  # type: ignore[index]
    assert status.startswith("DECLINED 51")
    [alert] = world.alerts.sent
    assert alert.kind == "payment_declined" and number in alert.message
    assert world.take(payments.POST_QUEUE) == [] and list(world.services.dead_letters.list(days=1)) == []
    charge(world, validated)
    orders.transform_order(world.services, to_message(Envelope(
        type="order.changed", source="test", subject=number, idempotency_key="fo:usmf:again",
        data={"erp": "fo", "company": "usmf", "order": number})).body)
    assert world.take(orders.CHARGE_QUEUE) == []
    assert world.charges() == 1 and len(world.alerts.sent) == 1


@pytest.mark.parametrize(("case", "reason"), [
    ("on_hold", "CustomerOnHold"), ("no_token", "NoPaymentToken"), ("zero_total", "InvalidTotal"),
    ("other_currency", "InvalidCurrency"), ("no_lines", "NoLines")])
def test_an_order_that_fails_validation_is_dead_lettered_with_the_reason_and_never_charged(
    make_world: Callable[..., World], case: str, reason: str,
) -> None:
    world = make_world()
    if case == "on_hold":
        world.fo.add_customer("US-090", "Held", OnHoldStatus="All")
        number = fo_order(world, customer="US-090")
    elif case == "no_token":
        number = fo_order(world, token=None)
    elif case == "zero_total":
        number = fo_order(world, line={"LineDiscountAmount": Decimal("40.00")})
    elif case == "other_currency":
        number = fo_order(world, CurrencyCode="EUR")
    else:
        orders.set_payment_token(world.services, erp="fo", company="usmf", customer="US-001", token=TOKEN)
        number = str(world.fo.add_sales_order("US-001", [])["SalesOrderNumber"])
    accept_fo(world, fo_events(world))
    [pointer] = world.take(orders.TRANSFORM_QUEUE)
    with pytest.raises(FatalError) as caught:
        orders.transform_order(world.services, to_message(pointer).body)
    assert caught.value.reason == reason and number in caught.value.description
    assert world.charges() == 0 and world.take(orders.CHARGE_QUEUE) == []


def test_a_missing_token_names_the_command_that_fixes_it(make_world: Callable[..., World]) -> None:
    world = make_world()
    fo_order(world, token=None)
    accept_fo(world, fo_events(world))
    [pointer] = world.take(orders.TRANSFORM_QUEUE)
    with pytest.raises(FatalError, match="hl365 tokens set --erp fo --company usmf --customer US-001"):
        orders.transform_order(world.services, to_message(pointer).body)


def test_an_event_of_another_legal_entity_is_refused(make_world: Callable[..., World]) -> None:
    world = make_world()
    pointer = Envelope(type="order.created", source="test", subject="000001", idempotency_key="fo:demf:x",
                       data={"erp": "fo", "company": "demf", "order": "000001"})
    with pytest.raises(FatalError) as caught:
        orders.transform_order(world.services, to_message(pointer).body)
    assert caught.value.reason == "OtherCompany" and "demf" in caught.value.description


def test_a_lost_gp_answer_is_retried_with_the_same_key_and_charges_once(make_world: Callable[..., World]) -> None:
    world = make_world()
    number = fo_order(world)
    accept_fo(world, fo_events(world))
    [validated] = through_transform(world)
    world.gp_app.faults.rules = [FaultRule("POST /ucp/transactions", "lost", 1.0)]
    with pytest.raises(RetriableError):
        charge(world, validated)
    world.gp_app.faults.rules = []
    transaction_id = charge(world, validated)
    assert [t["reference"] for t in world.gp.state()["transactions"].values()] == [number]
    assert world.gp.state()["counts"]["duplicates_refused"] == 1
    assert world.fo.sales_order(number)["HL365PaymentStatus"] == f"APPROVED {transaction_id}"  # type: ignore[index]
    assert len(world.take(payments.POST_QUEUE)) == 1


def test_a_changed_order_that_was_paid_is_not_charged_again_and_a_new_total_is_alerted(
    make_world: Callable[..., World],
) -> None:
    world = make_world()
    number = fo_order(world)
    accept_fo(world, fo_events(world))
    [validated] = through_transform(world)
    charge(world, validated)
    world.fo.add("SalesOrderLines", {"dataAreaId": "usmf", "SalesOrderNumber": number, "ItemNumber": "T0001",
                                     "OrderedSalesQuantity": Decimal(1)})
    world.fo.confirm_sales_order(number)
    accept_fo(world, fo_events(world))
    assert through_transform(world) == []
    assert world.charges() == 1
    [alert] = world.alerts.sent
    assert alert.kind == "order_changed_after_payment" and "60.00 USD" in alert.message


# -- Business Central: transform and charge -----------------------------------------------------------------


def bc_order(world: World, *, customer: str = "20000", item: str = "1900-S", token: str | None = TOKEN) -> str:
    if token is not None:
        orders.set_payment_token(world.services, erp="bc", company=world.company, customer=customer, token=token)
    return str(world.bc.add_sales_order(customer, [{"lineObjectNumber": item, "quantity": Decimal(1)}])["id"])


def bc_pointer(world: World, order_id: str) -> Envelope:
    return Envelope(type="order.created", source="test", subject=order_id, idempotency_key=f"bc:test:{order_id}",
                    data={"erp": "bc", "company": world.company, "order": order_id})


def test_an_approved_bc_order_is_charged_and_recorded_in_hl365(make_world: Callable[..., World]) -> None:
    world = make_world("bc")
    order_id = bc_order(world)
    orders.transform_order(world.services, to_message(bc_pointer(world, order_id)).body)
    [validated] = world.take(orders.CHARGE_QUEUE)
    order = Order.model_validate(validated.data)
    assert order.number.startswith("S-ORD") and (str(order.amount), order.customer) == ("192.80 USD", "20000")
    transaction_id = charge(world, validated)
    [posting] = world.take(payments.POST_QUEUE)
    assert Payment.model_validate(posting.data).reference == order.number
    recorded = orders.order_result(world.services, order)
    assert recorded is not None and (recorded["Status"], recorded["TransactionId"]) == ("APPROVED", transaction_id)


def test_a_declined_bc_order_is_recorded_alerted_and_not_retried(make_world: Callable[..., World]) -> None:
    world = make_world("bc", decline_tokens=[TOKEN])
    order_id = bc_order(world)
    orders.transform_order(world.services, to_message(bc_pointer(world, order_id)).body)
    [validated] = world.take(orders.CHARGE_QUEUE)
    charge(world, validated)
    charge(world, validated)
    recorded = orders.order_result(world.services, Order.model_validate(validated.data))
    assert recorded is not None and (recorded["Status"], recorded["Result"]) == ("DECLINED", "05")
    assert world.alerts.kinds() == ["payment_declined"] and world.charges() == 1
    assert ("charge.order", "declined") in world.audit()


def test_a_blocked_bc_customer_is_not_charged(make_world: Callable[..., World]) -> None:
    world = make_world("bc")
    order_id = bc_order(world, customer="40000")
    world.bc.update("customers", world.bc.records("customers", number="40000")[0]["id"], {"blocked": "Invoice"})
    with pytest.raises(FatalError) as caught:
        orders.transform_order(world.services, to_message(bc_pointer(world, order_id)).body)
    assert caught.value.reason == "CustomerOnHold" and world.charges() == 0


def test_a_collection_notification_fans_out_one_pointer_per_changed_order(make_world: Callable[..., World]) -> None:
    world = make_world("bc")
    since = world.bc.now() - timedelta(seconds=1)
    made = {bc_order(world, item=item) for item in ("1900-S", "1906-S", "1908-S")}
    requery = Envelope(type="order.requery", source="test", subject="collection", idempotency_key="bc:collection",
                       data={"erp": "bc", "company": world.company,
                             "filter": f"lastModifiedDateTime gt {since.strftime('%Y-%m-%dT%H:%M:%SZ')}"})
    orders.transform_order(world.services, to_message(requery).body)
    pointers = world.take(orders.TRANSFORM_QUEUE)
    assert {p.data["order"] for p in pointers} == made and {p.type for p in pointers} == {"order.changed"}


# -- Tokens -------------------------------------------------------------------------------------------------


def test_a_card_number_is_never_stored_as_a_token(make_world: Callable[..., World]) -> None:
    world = make_world()
    for bad in (PAN, "4111 1111 1111 1111", "", "PMT with space"):
        with pytest.raises(ValueError):
            orders.set_payment_token(world.services, erp="fo", company="usmf", customer="US-001", token=bad)
    assert orders.payment_token(world.services, "fo", "usmf", "US-001") is None
    orders.set_payment_token(world.services, erp="fo", company="USMF", customer="US-001", token=TOKEN)
    assert orders.payment_token(world.services, "fo", "usmf", "US-001") == TOKEN
    assert TOKEN not in json.dumps([dict(r.data) for r in world.services.audit.records(datetime.now(UTC).date())],
                                   default=str)


# -- Business Central subscriptions -------------------------------------------------------------------------


def keeper(world: World, state: str = CLIENT_STATE) -> SubscriptionKeeper:
    return SubscriptionKeeper(world.services.bc, world.services.tables.table(orders.CHECKPOINTS),
                              notification_url=world.hook.url + "/api/webhooks/bc", client_state=state,
                              clock=world.bc.now)


def test_the_subscription_is_created_then_left_alone_then_renewed_within_a_day_of_expiry(
    make_world: Callable[..., World],
) -> None:
    world = make_world("bc")
    created = keeper(world).ensure()
    assert created.action == "created" and len(world.hook.handshakes) == 1
    [held] = world.bc.subscriptions
    assert (held["subscriptionId"], held["clientState"]) == (created.subscription_id, CLIENT_STATE)
    assert keeper(world).ensure().action == "current" and len(world.hook.handshakes) == 1
    world.bc.advance(timedelta(days=2, hours=1))
    renewed = keeper(world).ensure()
    assert (renewed.action, renewed.subscription_id) == ("renewed", created.subscription_id)
    assert renewed.expires > created.expires + timedelta(days=2) and len(world.hook.handshakes) == 2
    world.bc.advance(timedelta(days=1, hours=1))
    assert [s["subscriptionId"] for s in world.bc.subscriptions] == [created.subscription_id]


def test_a_lost_subscription_is_recreated_and_the_gap_re_read(make_world: Callable[..., World]) -> None:
    world = make_world("bc")
    first = orders.ensure_bc_subscription(world.services)
    assert first is not None
    world.bc.webhooks.delete(world.bc.webhooks.get(first.subscription_id), "the notification URL answered 410")
    second = orders.ensure_bc_subscription(world.services)
    assert second is not None and second.action == "recreated" and second.lost_since is not None
    assert second.subscription_id != first.subscription_id
    [requery] = world.take(orders.TRANSFORM_QUEUE)
    assert requery.type == "order.requery" and requery.data["filter"].startswith("lastModifiedDateTime gt ")
    assert world.alerts.kinds() == ["bc_subscription_recreated"]


def test_without_a_checkpoint_the_existing_subscription_is_adopted_not_duplicated(
    make_world: Callable[..., World],
) -> None:
    world = make_world("bc")
    created = keeper(world).ensure()
    world.services.tables.table(orders.CHECKPOINTS).delete("bc-subscriptions", f"{world.company}-salesOrders")
    adopted = keeper(world).ensure()
    assert adopted.subscription_id == created.subscription_id and len(world.bc.subscriptions) == 1


def test_a_new_client_state_is_pushed_to_the_subscription(make_world: Callable[..., World]) -> None:
    world = make_world("bc")
    keeper(world).ensure()
    updated = keeper(world, state="rotated-secret").ensure()
    assert updated.action == "updated"
    assert [s["clientState"] for s in world.bc.subscriptions] == ["rotated-secret"]


def test_a_subscription_notifies_the_hook_of_a_new_order(make_world: Callable[..., World]) -> None:
    world = make_world("bc")
    keeper(world).ensure()
    order_id = bc_order(world)
    items = wait_for(lambda: [i for n in world.hook.notifications for i in n["value"]])
    assert any(order_id in item["resource"] and item["clientState"] == CLIENT_STATE for item in items)


def test_the_keeper_does_nothing_unless_the_target_is_bc(make_world: Callable[..., World]) -> None:
    world = make_world("fo")
    assert orders.ensure_bc_subscription(world.services) is None
    assert orders.subscription_answer(world.services).body["action"] == "none"


def test_order_settings_name_what_is_wrong(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HL365_SETTINGS_FILE", str(tmp_path / "absent.json"))
    with pytest.raises(ValueError, match="HL365_PUBLIC_URL"):
        Settings(HL365_PUBLIC_URL="hl365.azurewebsites.net")
    assert Settings(HL365_ORDER_CAPTURE="Authorize").order_capture == "authorise"
    assert Settings().order_capture == "charge"
