"""The world the order flows run in: the GP and ERP simulators over loopback HTTPS, a hook standing in for
hl365's public BC webhook, and the wiring's services over embedded storage."""


from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
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
from sandbox.simulators.base import SimulatorApp, serve
from sandbox.simulators.bc import BusinessCentral
from sandbox.simulators.fo import FinanceOperations
from sandbox.simulators.gp import GpSimulator
from sandbox.simulators.tls import SandboxCA
from shared import presenter
from shared.canonical.envelope import Envelope
from shared.flows import intake, orders
from shared.flows.orders import charge as charging
from shared.flows.orders import tokens, transform
from shared.flows.orders.intake import FO
from shared.messaging.embedded import EmbeddedBus
from shared.messaging.envelope import to_message
from shared.ops.alerts import Alert
from shared.presenter import HttpAnswer
from shared.settings import Settings
from shared.wiring import Services
from tests.flows.conftest import take
from tests.loopback import Swap

ROOT = Path(__file__).parents[3]


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
        return [Envelope.from_body(message.body) for message in take(self.bus, queue)]

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
        tokens.set_payment_token(world.services, erp="fo", company="usmf", customer=customer, token=token)
    order = world.fo.add_sales_order(customer, [{"ItemNumber": "T0001", "OrderedSalesQuantity": Decimal(quantity),
                                                 "SalesPrice": Decimal(price), **(line or {})}], **fields)
    return str(order["SalesOrderNumber"])


def fo_events(world: World) -> list[dict[str, Any]]:
    return [e for e in world.fo.events.emitted if e["BusinessEventId"] == "SalesOrderConfirmedBusinessEvent"]


def accept_fo(world: World, payload: Any, content_type: str = "application/json") -> HttpAnswer:
    body = orjson.dumps(payload, default=str)
    return presenter.respond(lambda: intake.accept(world.services, FO, body, {"content-type": content_type}))


def through_transform(world: World) -> list[Envelope]:
    world.run(orders.TRANSFORM_QUEUE, transform.transform_order)
    return world.take(orders.CHARGE_QUEUE)


def charge(world: World, envelope: Envelope) -> str:
    return charging.charge_order(world.services, to_message(envelope).body)


def bc_order(world: World, *, customer: str = "20000", item: str = "1900-S", token: str | None = TOKEN) -> str:
    if token is not None:
        tokens.set_payment_token(world.services, erp="bc", company=world.company, customer=customer, token=token)
    return str(world.bc.add_sales_order(customer, [{"lineObjectNumber": item, "quantity": Decimal(1)}])["id"])


def bc_pointer(world: World, order_id: str) -> Envelope:
    return Envelope(type="order.created", source="test", subject=order_id, idempotency_key=f"bc:test:{order_id}",
                    data={"erp": "bc", "company": world.company, "order": order_id})
