"""Card payments into the F&O customer ledger, over loopback HTTP: GP simulator → intake → queues →
F&O simulator, checked against both simulators' ground truth."""

import os
import random
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from sandbox.demo import Options, Simulators, _configure, _prepare_erp
from sandbox.host import LocalHost, load_app, run_in_background, stop_background
from sandbox.scenario.orders import PaymentTruth, pay_orders, prepare_customer_ledger, seed_orders
from sandbox.simulators.base import FaultRule
from shared import wiring
from shared.flows.payments import POST_QUEUE, TRANSFORM_QUEUE
from shared.flows.replay import replay
from shared.mapping.loader import load
from shared.messaging.embedded import EmbeddedBus

ROOT = Path(__file__).parents[2]
DAY = date(2026, 11, 26)


@dataclass
class World:
    sims: Simulators
    host: LocalHost
    url: str
    http: httpx.Client
    mapping_file: Path

    @property
    def gp(self) -> Any:
        return self.sims.apps["gp"].simulated

    @property
    def fo(self) -> Any:
        return self.sims.apps["fo"].simulated

    @property
    def services(self) -> wiring.Services:
        return wiring.services()

    def lines(self) -> list[dict[str, Any]]:
        return list(self.fo.rows("CustomerPaymentJournalLines"))

    def intake(self) -> str:
        return f"{self.url}/api/webhooks/gp"

    def settle_queues(self) -> None:
        """Transform everything first, then post, as a backlog reaches a batch trigger."""
        while self.host.process_queue(TRANSFORM_QUEUE):
            pass
        self.host.drain()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    saved = dict(os.environ)
    sims = Simulators(Options(day=DAY, erp="fo", transactions=0, out=tmp_path))
    mapping_file = tmp_path / "mapping.yaml"
    mapping_file.write_text((ROOT / "mapping.yaml").read_text())
    _prepare_erp("fo", sims.apps["fo"])
    prepare_customer_ledger("fo", sims.apps["fo"].simulated, load(mapping_file), bank="110110")
    _configure(Options(day=DAY, erp="fo", out=tmp_path), sims, tmp_path / "data")
    os.environ["HL365_MAPPING_FILE"] = str(mapping_file)
    wiring.reset()
    host = LocalHost.from_wiring()
    server, thread, port = run_in_background(host.asgi())
    url = f"http://127.0.0.1:{port}"
    with httpx.Client(base_url=url, timeout=30) as http:
        yield World(sims, host, url, http, mapping_file)
    stop_background(server, thread)
    sims.stop()
    wiring.reset()
    os.environ.clear()
    os.environ.update(saved)


def by_reference(lines: list[dict[str, Any]]) -> Counter[str]:
    return Counter(str(line["PaymentReference"]) for line in lines)


def net_by_transaction(lines: list[dict[str, Any]]) -> dict[str, Decimal]:
    net: dict[str, Decimal] = {}
    for line in lines:
        transaction = str(line["PaymentReference"]).removeprefix("HPY-").removesuffix("-REV")
        net[transaction] = net.get(transaction, Decimal(0)) + line["CreditAmount"] - line["DebitAmount"]
    return net


def test_a_thousand_notifications_duplicated_and_shuffled_post_each_payment_once(world: World) -> None:
    rng = random.Random(1000)
    truth = PaymentTruth()
    orders = seed_orders("fo", world.fo, rng, 560, customers=40)
    unique = pay_orders(world.gp, orders, rng, truth, refund_rate=0.1, reversal_rate=0.1)
    for n in range(800 - len(unique)):  # POS sales: settled by the day's journal, never a customer payment
        sale = world.gp.add_transaction(rng.randrange(100, 20_000), reference=f"HR-20261126-T{n:05d}")
        truth.pos.add(sale["id"])
        unique.append((sale["id"], sale["status"]))
    deliveries = unique + rng.sample(unique, 200)
    shuffled = rng.sample(range(len(deliveries)), len(deliveries) // 10)
    for source, target in zip(shuffled, rng.sample(shuffled, len(shuffled)), strict=True):
        deliveries[source], deliveries[target] = deliveries[target], deliveries[source]
    assert len(deliveries) == 1000

    answers = [world.gp.notify(transaction, world.intake(), status=status)[0] for transaction, status in deliveries]
    assert Counter(a.status_code for a in answers) == Counter({202: 1000})
    world.settle_queues()

    lines = world.lines()
    assert max(by_reference(lines).values()) == 1, "a payment was posted twice"
    net = net_by_transaction(lines)
    for transaction in truth.sales:
        assert net.get(transaction, Decimal(0)) == truth.net(transaction), transaction
    for refund in truth.refunds:
        assert net[refund] == -truth.amounts[refund]
    assert not set(net) & truth.pos, "a POS sale reached the customer ledger"
    assert set(net) <= set(truth.sales) | set(truth.refunds)
    orders_paid = {o.number for t, o in truth.sales.items() if truth.net(t)}
    assert {str(line["DocumentNumber"]) for line in lines} >= orders_paid
    invoiced = {row["SalesOrderNumber"] for row in world.fo.rows("SalesOrderHeadersV2")
                if row["SalesOrderStatus"] == "Invoiced"}
    assert invoiced >= {o.number for t, o in truth.sales.items() if t not in truth.reversed}
    assert list(world.services.dead_letters.list(days=2)) == []


def test_an_fo_refusal_is_dead_lettered_with_the_infolog_and_replays_once_the_mapping_is_fixed(world: World) -> None:
    rng = random.Random(7)
    truth = PaymentTruth()
    [order] = seed_orders("fo", world.fo, rng, 1)
    world.mapping_file.write_text(world.mapping_file.read_text().replace("VISA: {method: VISA,",
                                                                         "VISA: {method: VISACARD,"))
    sale = world.gp.add_transaction(int(order.amount.scaleb(2)), reference=order.number, brand="VISA")
    truth.sales[sale["id"]] = order
    world.gp.notify(sale["id"], world.intake())
    world.settle_queues()

    assert world.lines() == []
    [parked] = world.services.dead_letters.list(days=2)
    assert parked["Queue"] == POST_QUEUE
    assert "VISACARD" in parked["Description"] and "Method of payment" in parked["Description"]

    world.mapping_file.write_text(world.mapping_file.read_text().replace("method: VISACARD,", "method: VISA,"))
    [result] = replay(world.services, reason=str(parked["Reason"])).replayed
    assert result.ok
    world.settle_queues()
    [line] = world.lines()
    assert (line["PaymentReference"], line["CreditAmount"], line["PaymentMethodName"]) == (
        f"HPY-{sale['id']}", order.amount, "VISA")
    replay(world.services, reason=str(parked["Reason"]))
    world.settle_queues()
    assert len(world.lines()) == 1


def test_a_reversal_before_its_capture_posts_nothing_and_the_capture_after_it_nothing_either(world: World) -> None:
    rng = random.Random(11)
    [order] = seed_orders("fo", world.fo, rng, 1)
    sale = world.gp.add_transaction(int(order.amount.scaleb(2)), reference=order.number, brand="AMEX")
    world.gp.reverse_transaction(sale["id"])
    world.gp.notify(sale["id"], world.intake(), status="REVERSED")
    world.settle_queues()
    world.gp.notify(sale["id"], world.intake(), status="CAPTURED")
    world.settle_queues()
    assert world.lines() == []
    outcomes = [r["Outcome"] for r in world.services.audit.records(date.today()) if r["Step"] == "post.payment"]
    assert sorted(outcomes) == ["duplicate", "reversed_before_capture"]


def test_a_post_worker_killed_after_the_erp_write_does_not_post_twice_after_a_restart(world: World) -> None:
    rng = random.Random(5)
    orders = seed_orders("fo", world.fo, rng, 3)
    truth = PaymentTruth()
    for transaction, status in pay_orders(world.gp, orders, rng, truth, refund_rate=0, reversal_rate=0):
        world.gp.notify(transaction, world.intake(), status=status)
    while world.host.process_queue(TRANSFORM_QUEUE):
        pass
    # The read of the orders passes; the journal write is applied, then its answer is held back.
    world.sims.apps["fo"].faults.rules = [FaultRule("POST /data/$batch", "hang", 1.0, delay=60, skip=1)]
    env = {**os.environ, "HL365_IDEMPOTENCY_LEASE_SECONDS": "1",
           "AzureFunctionsJobHost__extensions__serviceBus__minMessageBatchSize": "1"}
    worker = subprocess.Popen([sys.executable, "-c", "from sandbox.host import run_triggers; run_triggers(False)"],
                              cwd=ROOT, env=env)
    try:
        deadline = time.monotonic() + 30
        while len(world.lines()) < 3:
            assert time.monotonic() < deadline, "the worker never wrote the journal"
            time.sleep(0.05)
    finally:
        worker.kill()
        worker.wait(timeout=10)
    world.sims.apps["fo"].faults.rules = []
    assert world.host.bus.counts(POST_QUEUE).locked == 3, "the messages were completed before the crash"

    time.sleep(1.2)  # the dead worker's key leases run out
    # The restarted worker sees the dead one's message locks expired, as it would a minute later.
    restarted = EmbeddedBus(world.services.settings.data_dir / "bus.sqlite", clock=lambda: time.time() + 120)
    LocalHost(load_app(), bus=restarted, settings=world.services.settings).drain()

    assert sorted(by_reference(world.lines()).values()) == [1, 1, 1]
    outcomes = [r["Outcome"] for r in world.services.audit.records(date.today()) if r["Step"] == "post.payment"]
    assert outcomes == ["found_after_uncertain_attempt"] * 3
    assert restarted.counts(POST_QUEUE).active == 0


def test_the_polling_fallback_posts_what_was_never_notified_and_only_that(world: World) -> None:
    rng = random.Random(3)
    orders = seed_orders("fo", world.fo, rng, 4)
    truth = PaymentTruth()
    notifications = pay_orders(world.gp, orders, rng, truth, refund_rate=0, reversal_rate=0)
    world.gp.notify(notifications[0][0], world.intake())  # only the first notification ever arrives
    world.settle_queues()
    assert len(world.lines()) == 1

    world.host.run_timer("payments_poll")
    world.settle_queues()
    assert sorted(by_reference(world.lines())) == sorted(f"HPY-{t}" for t in truth.sales)
    assert max(by_reference(world.lines()).values()) == 1
    world.host.run_timer("payments_poll")
    assert world.host.bus.counts(TRANSFORM_QUEUE).active == 0
    [checkpoint] = world.services.tables.table("Checkpoints").query("gp-poll")
    newest = max(datetime.fromisoformat(world.gp.transaction(t)["time_created"]) for t in truth.sales)
    assert checkpoint["Watermark"] == newest
