"""The GP API client against the GP simulator over real loopback HTTP."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from sandbox.host import run_in_background, stop_background
from sandbox.simulators.base import FaultRule, SimulatorApp
from sandbox.simulators.gp import DEFAULT_APP_ID, DEFAULT_APP_KEY, GpSimulator, create
from shared.canonical.money import Money
from shared.canonical.payments import PaymentStatus
from shared.errors import DuplicateAction, PermanentApiError, UncertainOutcome
from shared.heartland.gp import GP_API_VERSION, GpApiClient
from shared.httpclient import RetryPolicy

DAY = date(2025, 3, 1)
TOKEN = "PMT_d365customer"


class RecordingTransport(httpx.HTTPTransport):
    """The real network transport, keeping each request's method, path, headers and body."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.sent.append(request)
        return super().handle_request(request)

    def to(self, method: str, path: str) -> list[httpx.Request]:
        return [r for r in self.sent if r.method == method and r.url.path == path]


@dataclass
class Clock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Harness:
    sim: GpSimulator
    app: SimulatorApp
    client: GpApiClient
    transport: RecordingTransport
    clock: Clock
    base_url: str
    sleeps: list[float] = field(default_factory=list)

    def transactions(self, **match: str) -> list[dict[str, Any]]:
        rows = self.sim.state()["transactions"].values()
        return [r for r in rows if all(r.get(k) == v for k, v in match.items())]


@pytest.fixture
def gp() -> Iterator[Harness]:
    app = create(seed=21)
    sim = app.simulated
    assert isinstance(sim, GpSimulator)
    server, thread, port = run_in_background(app)
    transport, clock = RecordingTransport(), Clock()
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        """Backoff is recorded, not slept; the fault plan is lifted so the retry gets through."""
        sleeps.append(seconds)
        app.faults.rules = []

    base_url = f"http://127.0.0.1:{port}/ucp"
    client = GpApiClient(base_url, DEFAULT_APP_ID, DEFAULT_APP_KEY, transport=transport,
                         sleep=sleep, clock=clock, retry=RetryPolicy(max_attempts=4, jitter=lambda d: d),
                         timeout=httpx.Timeout(5.0))
    try:
        yield Harness(sim, app, client, transport, clock, base_url, sleeps)
    finally:
        client.close()
        stop_background(server, thread)


def usd(amount: str) -> Money:
    return Money.of(amount, "USD")


def test_sign_in_proves_the_key_without_sending_it_and_every_call_names_the_version(gp: Harness) -> None:
    charged = gp.client.charge(usd("14.00"), reference="SO-1", token=TOKEN, idempotency_key="SO-1:charge")
    assert charged.status is PaymentStatus.CAPTURED
    [sign_in] = gp.transport.to("POST", "/ucp/accesstoken")
    body = json.loads(sign_in.content)
    assert DEFAULT_APP_KEY.encode() not in sign_in.content
    assert datetime.fromisoformat(body["nonce"]).tzinfo is not None, "the nonce is an RFC 3339 time"
    assert body["secret"] == hashlib.sha512(f"{body['nonce']}{DEFAULT_APP_KEY}".encode()).hexdigest()
    assert {r.headers["x-gp-version"] for r in gp.transport.sent} == {GP_API_VERSION}
    [posted] = gp.transport.to("POST", "/ucp/transactions")
    assert json.loads(posted.content)["account_name"] == "Transaction_Processing"
    assert json.loads(posted.content)["payment_method"] == {"id": TOKEN, "entry_mode": "ECOM"}


def test_a_token_that_expires_mid_run_is_renewed_once_and_nothing_is_charged_twice(gp: Harness) -> None:
    for n in range(3):
        gp.client.charge(usd("10.00"), reference=f"SO-{n}", token=TOKEN, idempotency_key=f"SO-{n}")
    gp.sim.advance(700)
    after = gp.client.charge(usd("10.00"), reference="SO-3", token=TOKEN, idempotency_key="SO-3")
    assert after.status is PaymentStatus.CAPTURED
    assert gp.client.sign_ins == 2 and gp.sim.state()["counts"]["tokens_issued"] == 2
    answers = [r.headers["authorization"] for r in gp.transport.to("POST", "/ucp/transactions")]
    assert len(answers) == 5 and answers[3] != answers[4], "one refused with the stale token, retried with the new"
    assert sorted(r["reference"] for r in gp.transactions()) == ["SO-0", "SO-1", "SO-2", "SO-3"]


def test_the_token_is_renewed_before_it_expires_without_a_refused_call(gp: Harness) -> None:
    gp.client.get_transaction(gp.sim.add_transaction(100)["id"])
    gp.clock.now += 545
    gp.client.get_transaction(gp.sim.add_transaction(100)["id"])
    assert gp.client.sign_ins == 2
    assert gp.app.requests["POST /ucp/accesstoken"] == 2
    assert sum(n for route, n in gp.app.requests.items() if route.startswith("GET /ucp/transactions/")) == 2


@pytest.mark.parametrize(("kind", "status"), [("throttle", 429), ("error", 503)])
def test_a_charge_retried_after_a_fault_reuses_its_key_and_charges_once(gp: Harness, kind: str, status: int) -> None:
    gp.app.faults.rules = [FaultRule("POST /ucp/transactions", kind, 1.0, status=status, retry_after=3)]  # type: ignore[arg-type]
    charged = gp.client.charge(usd("54.10"), reference="SO-77", token=TOKEN, idempotency_key="SO-77:charge")
    assert charged.status is PaymentStatus.CAPTURED and not charged.replayed
    attempts = gp.transport.to("POST", "/ucp/transactions")
    assert [r.headers["x-gp-idempotency"] for r in attempts] == ["SO-77:charge", "SO-77:charge"]
    assert len(gp.sleeps) == 1 and (kind != "throttle" or gp.sleeps[0] >= 3.0)
    [truth] = gp.transactions(reference="SO-77")
    assert truth["id"] == charged.id and truth["amount"] == "5410"
    assert list(gp.sim.state()["idempotency_keys"]) == ["SO-77:charge"]


def test_a_lost_answer_is_uncertain_and_a_lookup_by_reference_finds_the_charge(gp: Harness) -> None:
    gp.app.faults.rules = [FaultRule("POST /ucp/transactions", "lost", 1.0)]
    with pytest.raises(UncertainOutcome):
        gp.client.charge(usd("25.00"), reference="SO-9", token=TOKEN, idempotency_key="SO-9:charge")
    assert len(gp.transport.to("POST", "/ucp/transactions")) == 1, "an uncertain write is never blindly resent"
    gp.app.faults.rules = []
    [found] = gp.client.find_transactions(reference="SO-9")
    assert found.status is PaymentStatus.CAPTURED and found.amount == usd("25.00")
    again = gp.client.charge(usd("25.00"), reference="SO-9", token=TOKEN, idempotency_key="SO-9:charge")
    assert again.replayed and again.id == found.id
    assert len(gp.transactions(reference="SO-9")) == 1


def test_a_key_replayed_for_a_different_action_is_a_duplicate_action(gp: Harness) -> None:
    first = gp.client.charge(usd("5.00"), reference="SO-1", token=TOKEN, idempotency_key="K")
    with pytest.raises(DuplicateAction) as caught:
        gp.client.charge(usd("6.00"), reference="SO-2", token=TOKEN, idempotency_key="K")
    assert caught.value.resource_id == first.id and caught.value.resource_status == "CAPTURED"
    assert caught.value.idempotency_key == "K" and caught.value.status == 409
    batch = str(gp.sim.transaction(first.id)["batch_id"])
    gp.client.close_batch(batch, idempotency_key="close-1")
    with pytest.raises(DuplicateAction) as closed_again:
        gp.client.close_batch(batch, idempotency_key="close-1")
    assert closed_again.value.resource_id == batch
    assert len(gp.transactions()) == 1


def test_a_decline_is_a_result_not_an_exception(gp: Harness) -> None:
    declined = gp.client.charge(usd("20.51"), reference="SO-5", token=TOKEN, idempotency_key="SO-5")
    assert declined.status is PaymentStatus.DECLINED and not declined.approved and declined.declined
    assert declined.payment_method is not None and declined.payment_method.result == "51"
    assert len(gp.transport.to("POST", "/ucp/transactions")) == 1
    assert gp.sim.transaction(declined.id)["status"] == "DECLINED"


def test_authorise_capture_refund_reverse_and_close_the_batch(gp: Harness) -> None:
    authorised = gp.client.charge(usd("30.00"), reference="SO-8", token=TOKEN, capture=False, idempotency_key="a")
    assert authorised.status is PaymentStatus.PREAUTHORIZED and authorised.approved
    captured = gp.client.capture(authorised.id, "b", amount=usd("28.00"))
    assert captured.status is PaymentStatus.CAPTURED and captured.amount == usd("28.00")
    refund = gp.client.refund(captured.id, usd("8.00"), "c")
    assert refund.type == "REFUND" and refund.parent_resource_id == captured.id and refund.amount == usd("8.00")
    assert gp.client.reverse(refund.id, "d").status is PaymentStatus.REVERSED
    replayed = gp.client.refund(captured.id, usd("8.00"), "c")
    assert replayed.replayed and replayed.id == refund.id
    with pytest.raises(PermanentApiError) as refused:
        gp.client.capture(captured.id, "e")
    assert refused.value.description.startswith("INVALID_TRANSACTION_ACTION/40042: ")
    assert not isinstance(refused.value, DuplicateAction)

    closed = gp.client.close_batch(str(captured.batch_id))
    assert closed.status == "CLOSED" and closed.transaction_count == 1
    assert closed.amount == usd("28.00") and closed.refunds.amount == usd("0")
    assert isinstance(closed.amount.amount, Decimal)
    assert [(b.brand, b.count) for b in closed.brand_breakdown] == [
        (str(captured.payment_method.card.brand), 1)]  # type: ignore[union-attr]
    assert gp.client.get_transaction(captured.id).status is PaymentStatus.BATCHED


def test_paging_through_a_thousand_settlement_rows_yields_each_row_once(gp: Harness) -> None:
    made = gp.sim.seed_day(DAY, transactions=1100, refunds=30, batches=2, fund=True)
    gp.sim.seed_day(DAY + timedelta(days=2), transactions=7, fund=True)
    rows = gp.client.iter_settlement_transactions(DAY, DAY, page_size=97)
    first = next(rows)
    assert len(gp.transport.to("GET", "/ucp/settlement/transactions")) == 1, "pages are fetched as they are read"
    seen = [first, *rows]
    assert len(seen) == 1130 and len({r.id for r in seen}) == 1130
    assert [r.time_created for r in seen] == sorted(r.time_created for r in seen), "oldest first"
    assert {r.id for r in seen} == set(made["transaction_ids"])
    assert len(gp.transport.to("GET", "/ucp/settlement/transactions")) == math.ceil(1130 / 97)
    assert all(r.status is PaymentStatus.FUNDED and r.deposit_id in made["deposit_ids"] for r in seen)
    assert all(isinstance(r.amount.amount, Decimal) for r in seen)

    deposits = list(gp.client.iter_deposits(DAY, DAY + timedelta(days=1), page_size=1))
    assert sorted(d.id for d in deposits) == sorted(made["deposit_ids"])
    for deposit in deposits:
        members = [r for r in seen if r.deposit_id == deposit.id]
        sales = sum((r.amount for r in members if r.type == "SALE"), usd("0"))
        refunds = sum((r.amount for r in members if r.type == "REFUND"), usd("0"))
        assert deposit.sales.amount == sales and deposit.refunds.amount == -refunds
        assert deposit.fees.amount < 0 and deposit.discounts.amount == usd("0")
        assert deposit.amount == deposit.sales.amount + deposit.refunds.amount + deposit.fees
        assert gp.client.get_deposit(deposit.id) == deposit


def test_wrong_credentials_fail_at_once_naming_gps_error(gp: Harness) -> None:
    with GpApiClient(gp.base_url, DEFAULT_APP_ID, "not-the-key", sleep=gp.sleeps.append) as wrong:
        with pytest.raises(PermanentApiError) as refused:
            wrong.get_transaction("TRN_any")
    assert refused.value.description.startswith("ACTION_NOT_AUTHORIZED/40004: ")
    assert gp.sleeps == [] and gp.app.requests["POST /ucp/accesstoken"] == 1
