"""Orders into Heartland payments (U4) end to end: the simulators and the local Functions host on loopback.

F&O delivers its business events over HTTP to ``/api/webhooks/fo``; Business Central runs its handshake
and sends its notifications to ``/api/webhooks/bc``; the host's queue triggers charge through the GP API
simulator and write back to the ERP simulator.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from sandbox.host import LocalHost
from sandbox.simulators import bc as bc_sim
from sandbox.simulators import fo as fo_sim
from sandbox.simulators import gp as gp_sim
from sandbox.simulators.base import FaultRule, Served, SimulatorApp, serve
from sandbox.simulators.bc import BusinessCentral
from sandbox.simulators.fo import FinanceOperations
from sandbox.simulators.gp import GpSimulator
from sandbox.simulators.tls import SandboxCA
from shared import wiring
from shared.canonical.envelope import Envelope
from shared.canonical.payments import Payment
from shared.flows import orders, payments, pipeline
from shared.flows.orders import tokens
from shared.messaging.embedded import EmbeddedBus
from shared.messaging.messages import OutgoingMessage
from tests.e2e.conftest import AlertReceiver
from tests.loopback import Swap, wait_for

ROOT = Path(__file__).parents[2]
TENANT = "00000000-0000-0000-0000-000000000365"
FUNCTION_KEY = "e2e-orders-function-key"
MASTER_KEY = "e2e-orders-master-key"
CLIENT_STATE = "e2e-orders-client-state"
TOKEN = "PMT_e2eordercustomer1"


@dataclass
class Stack:
    host: LocalHost
    http: httpx.Client
    services: wiring.Services
    alerts: AlertReceiver
    gp_app: SimulatorApp
    erp_app: SimulatorApp
    url: str

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
        assert isinstance(self.host.bus, EmbeddedBus)
        return self.host.bus

    def charge_requests(self) -> int:
        """Charge attempts GP received (``POST /ucp/transactions``), whatever it answered."""
        return self.gp_app.requests["POST /ucp/transactions"]

    def run_orders(self) -> int:
        """Run the two order queues, as their triggers would, until neither has a visible message."""
        handled, total = 1, 0
        while handled:
            handled = sum(self.host.process_queue(q) for q in orders.QUEUES)
            total += handled
        return total

    def waiting(self, queue: str) -> list[Envelope]:
        """Messages on ``queue`` (received, read, and put back)."""
        messages = self.bus.receive(queue, max_messages=50)
        for message in messages:
            self.bus.abandon(message)
        return [Envelope.from_body(m.body) for m in messages]

    def alert_kinds(self) -> list[str]:
        return [a["kind"] for a in self.alerts.alerts]


@pytest.fixture
def stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
          alert_receiver: AlertReceiver) -> Iterator[Callable[..., Stack]]:
    running: list[Served] = []
    authorities: list[SandboxCA] = []
    sims: list[SimulatorApp] = []

    def start(erp: str, *, bc_options: dict[str, Any] | None = None, **gp_options: Any) -> Stack:
        gp_app = gp_sim.create(seed=11, **gp_options)
        erp_app = fo_sim.create(seed=11, event_interval=None, event_retry_delay=0.05) if erp == "fo" else \
            bc_sim.create(seed=11, **{"notification_delay": 0.05, "notification_retry_interval": 0.05,
                                      "handshake_timeout": 3.0, **(bc_options or {})})
        sims.append(erp_app)
        tls = SandboxCA()  # azure-identity asks an HTTPS authority only
        authorities.append(tls)
        servers = {"gp": serve(gp_app), "erp": serve(erp_app, tls=tls)}
        host_swap = Swap()
        host_server = serve(host_swap)
        running.extend([*servers.values(), host_server])
        erp_url = servers["erp"].url
        url = host_server.url
        for name in ("HL365_STORAGE", "HL365_BUS", "D365_BC_COMPANY", "HL365_MERCHANT_ID", "HL365_ORDER_CAPTURE"):
            monkeypatch.delenv(name, raising=False)
        for name, value in {
            "HL365_SETTINGS_FILE": str(tmp_path / "absent.json"), "HL365_DATA_DIR": str(tmp_path / "data"),
            "HL365_MAPPING_FILE": str(ROOT / "mapping.yaml"), "HL365_ALERT_WEBHOOK_URL": alert_receiver.url,
            "HL365_FUNCTION_KEY": FUNCTION_KEY, "HL365_MASTER_KEY": MASTER_KEY, "HL365_PUBLIC_URL": url,
            "BC_WEBHOOK_CLIENT_STATE": CLIENT_STATE, "GP_API_URL": f"{servers['gp'].url}/ucp",
            "GP_APP_ID": "hl365-local-app", "GP_APP_KEY": "hl365-local-app-key", "D365_TARGET": erp,
            "D365_FO_URL": erp_url, "D365_BC_URL": erp_url, "D365_AUTHORITY_URL": erp_url, "D365_TENANT_ID": TENANT,
            "D365_CLIENT_ID": "hl365-local-client", "D365_CLIENT_SECRET": "hl365-local-secret",
            "D365_LEGAL_ENTITY": "USMF", "D365_CA_BUNDLE": str(tls.ca_bundle),
        }.items():
            monkeypatch.setenv(name, value)
        wiring.reset()
        services = wiring.services()
        host = LocalHost.from_wiring()
        host_swap.app = host.asgi()
        http = httpx.Client(base_url=url, timeout=10)
        return Stack(host, http, services, alert_receiver, gp_app, erp_app, url)

    yield start
    for served in reversed(running):
        served.stop()
    for tls in authorities:
        tls.close()
    for app in sims:
        if isinstance(app.simulated, BusinessCentral):
            app.simulated.close()
    wiring.reset()


def fo_endpoint(stack: Stack) -> None:
    """Bind F&O's business events to the host's endpoint, the Functions key in the URL as F&O sends it, and
    set up what the mapping names (card payment methods, clearing accounts), as finance does before go-live."""
    from shared.mapping.loader import load

    stack.fo.add_event_endpoint(f"{stack.url}/api/webhooks/fo?code={FUNCTION_KEY}")
    existing = {row["MainAccountId"] for row in stack.fo.rows("MainAccounts")}
    for rule in load(ROOT / "mapping.yaml").payment_types.values():
        if rule.clearing_account not in existing:
            stack.fo.add_main_account(rule.clearing_account, f"clearing {rule.clearing_account}")
            existing.add(rule.clearing_account)
        stack.fo.add_payment_method(rule.method, account_type="Ledger", account=rule.clearing_account)


def fo_order(stack: Stack, price: str, quantity: str = "1", customer: str = "US-002") -> str:
    tokens.set_payment_token(stack.services, erp="fo", company="usmf", customer=customer, token=TOKEN)
    created = stack.fo.add_sales_order(customer, [{"ItemNumber": "T0001", "OrderedSalesQuantity": Decimal(quantity),
                                                   "SalesPrice": Decimal(price)}])
    return str(created["SalesOrderNumber"])


def test_a_declined_fo_charge_is_written_back_alerted_and_not_retried_even_when_redelivered(
    stack: Callable[..., Stack],
) -> None:
    system = stack("fo")
    fo_endpoint(system)
    number = fo_order(system, "100.51")
    [sent] = system.fo.deliver_events()
    assert sent["status"] == 202
    [pointer] = system.waiting(orders.TRANSFORM_QUEUE)
    assert pointer.data["control_number"] == sent["ControlNumber"]
    system.host.process_queue(orders.TRANSFORM_QUEUE)
    [charge] = system.bus.receive(orders.CHARGE_QUEUE)
    system.bus.abandon(charge)
    system.run_orders()
    status = system.fo.sales_order(number)["HL365PaymentStatus"]  # type: ignore[index]
    assert status.startswith("DECLINED 51")
    assert system.charge_requests() == 1
    [declined] = [a for a in system.alerts.alerts if a["kind"] == "payment_declined"]
    assert number in declined["text"] and "51" in declined["text"]
    # The bus redelivers the charge (a lock lost after the work was done), F&O re-sends the event.
    system.bus.send(orders.CHARGE_QUEUE, [OutgoingMessage(charge.body, "redelivered-charge")])
    [event] = [e for e in system.fo.events.emitted if e["SalesOrderNumber"] == number]
    again = system.http.post(f"/api/webhooks/fo?code={FUNCTION_KEY}", content=orjson.dumps(event, default=str),
                             headers={"Content-Type": "application/json"})
    assert again.status_code == 202 and again.json()["duplicates"] == 1
    system.run_orders()
    assert system.charge_requests() == 1
    assert system.alert_kinds().count("payment_declined") == 1
    assert list(system.services.dead_letters.list(days=1)) == []
    assert system.waiting(payments.POST_QUEUE) == []
    assert system.bus.counts(orders.CHARGE_QUEUE).scheduled == 0


def test_an_approved_fo_order_is_charged_once_and_recorded_against_the_order(stack: Callable[..., Stack]) -> None:
    system = stack("fo")
    fo_endpoint(system)
    number = fo_order(system, "20.00", "3")
    system.fo.deliver_events()
    system.run_orders()
    [transaction] = system.gp.state()["transactions"].values()
    assert (transaction["amount"], transaction["reference"], transaction["status"]) == ("6000", number, "CAPTURED")
    assert system.fo.sales_order(number)["HL365PaymentStatus"] == f"APPROVED {transaction['id']}"  # type: ignore[index]
    [posting] = system.waiting(payments.POST_QUEUE)
    payment = Payment.model_validate(posting.data)
    assert (payment.transaction_id, payment.reference, str(payment.amount)) == (transaction["id"], number,
                                                                                "60.00 USD")
    system.host.drain()
    [line] = [p for p in system.fo.state()["customer_payments"] if p["PaymentReference"] == f"HPY-{transaction['id']}"]
    assert (line["customer"], line["amount"]) == ("US-002", "60.00")
    assert system.fo.sales_order(number)["SalesOrderStatus"] == "Invoiced"  # type: ignore[index]
    assert system.charge_requests() == 1


def test_a_transient_gp_failure_is_rescheduled_and_charges_once(stack: Callable[..., Stack],
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    system = stack("fo")
    fo_endpoint(system)
    monkeypatch.setattr(pipeline, "retry_delay", lambda *_, **__: timedelta(0))
    number = fo_order(system, "20.00")
    system.fo.deliver_events()
    system.host.process_queue(orders.TRANSFORM_QUEUE)
    system.gp_app.faults.rules = [FaultRule("POST /ucp/transactions", "lost", 1.0)]
    system.host.process_queue(orders.CHARGE_QUEUE)
    [retry] = system.waiting(orders.CHARGE_QUEUE)
    assert retry.attempt == 1
    system.gp_app.faults.rules = []
    system.run_orders()
    [transaction] = system.gp.state()["transactions"].values()
    assert transaction["reference"] == number and system.charge_requests() == 2
    assert system.fo.sales_order(number)["HL365PaymentStatus"] == f"APPROVED {transaction['id']}"  # type: ignore[index]
    assert list(system.services.dead_letters.list(days=1)) == []


def test_the_fo_endpoint_needs_the_function_key(stack: Callable[..., Stack]) -> None:
    system = stack("fo")
    answer = system.http.post("/api/webhooks/fo", content=b"{}", headers={"Content-Type": "application/json"})
    assert answer.status_code == 401
    assert system.waiting(orders.TRANSFORM_QUEUE) == []


def test_a_business_central_subscription_survives_renewal_and_keeps_orders_coming(
    stack: Callable[..., Stack], monkeypatch: pytest.MonkeyPatch,
) -> None:
    system = stack("bc")
    monkeypatch.setattr(orders, "utcnow", system.bc.now)
    system.host.run_timer("bc_subscriptions")
    [created] = system.bc.subscriptions
    assert created["notificationUrl"] == f"{system.url}/api/webhooks/bc"
    assert [h["ok"] for h in system.bc.state()["handshakes"]] == [True]
    system.bc.advance(timedelta(days=2, hours=6))
    system.host.run_timer("bc_subscriptions")
    [renewed] = system.bc.subscriptions
    assert renewed["subscriptionId"] == created["subscriptionId"]
    assert renewed["expirationDateTime"] > created["expirationDateTime"]
    assert [h["ok"] for h in system.bc.state()["handshakes"]] == [True, True]
    system.bc.advance(timedelta(days=1))
    assert [s["subscriptionId"] for s in system.bc.subscriptions] == [created["subscriptionId"]]
    tokens.set_payment_token(system.services, erp="bc", company=system.bc.company_id, customer="10000",
                             token=TOKEN)
    order = system.bc.add_sales_order("10000", [{"lineObjectNumber": "1906-S", "quantity": Decimal(2)}])
    wait_for(lambda: system.bus.counts(orders.TRANSFORM_QUEUE).active, timeout=5)
    system.run_orders()
    [transaction] = system.gp.state()["transactions"].values()
    assert (transaction["reference"], transaction["amount"]) == (order["number"], "56280")
    [posting] = system.waiting(payments.POST_QUEUE)
    assert Payment.model_validate(posting.data).reference == order["number"]
    assert [n["status"] for n in system.bc.notifications] == ["delivered"]
    assert system.bc.state()["removedSubscriptions"] == []


def test_a_bc_collection_notification_is_re_read_and_every_order_in_it_charged_once(
    stack: Callable[..., Stack],
) -> None:
    system = stack("bc", bc_options={"collection_threshold": 2, "notification_delay": 0.3})
    system.host.run_timer("bc_subscriptions")
    for customer in ("10000", "20000", "30000"):
        tokens.set_payment_token(system.services, erp="bc", company=system.bc.company_id, customer=customer,
                                 token=f"{TOKEN}{customer}")
    made = {system.bc.add_sales_order(c, [{"lineObjectNumber": "1900-S", "quantity": Decimal(1)}])["number"]
            for c in ("10000", "20000", "30000")}
    wait_for(lambda: system.bus.counts(orders.TRANSFORM_QUEUE).active, timeout=5)
    [notified] = [item for n in system.bc.notifications for item in n["value"]]
    assert notified["changeType"] == "collection"
    system.run_orders()
    charged = sorted(t["reference"] for t in system.gp.state()["transactions"].values())
    assert charged == sorted(made) and system.charge_requests() == 3


def test_a_forged_bc_notification_is_refused(stack: Callable[..., Stack]) -> None:
    system = stack("bc")
    forged = {"value": [{"subscriptionId": "x", "clientState": "guess", "changeType": "created",
                         "resource": f"api/v2.0/companies({system.bc.company_id})/salesOrders(00000000-0000-4000"
                                     "-8000-000000000001)", "lastModifiedDateTime": "2026-11-28T09:00:00Z"}]}
    answer = system.http.post("/api/webhooks/bc", json=forged)
    assert answer.status_code == 401
    shake = system.http.post("/api/webhooks/bc", params={"validationToken": "tok-1"})
    assert (shake.status_code, shake.text, shake.headers["content-type"].split(";")[0]) == (200, "tok-1",
                                                                                          "text/plain")
    assert system.waiting(orders.TRANSFORM_QUEUE) == []
