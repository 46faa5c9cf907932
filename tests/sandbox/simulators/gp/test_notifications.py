"""``status_url`` notifications: signatures, duplicates, order, unreachable receivers."""

from __future__ import annotations

import json

from sandbox.simulators.gp import DEFAULT_APP_KEY
from shared.security.signatures import verify_gp_signature
from tests.sandbox.simulators.gp.client import Gp, Receiver, sale

# Notifications ---------------------------------------------------------------------------------------------


def test_a_notification_is_signed_with_sha512_of_body_and_app_key(gp: Gp, receiver: Receiver) -> None:
    transaction = sale(gp.http, "5410").json()
    sent = gp.http.post("/_gp/notify", json={"transaction_id": transaction["id"], "url": receiver.url})
    assert sent.status_code == 200 and [d["status_code"] for d in sent.json()["deliveries"]] == [200]
    [(body, headers)] = receiver.received
    assert headers["content-type"] == "application/json"
    assert verify_gp_signature(body, headers["x-gp-signature"], DEFAULT_APP_KEY)
    assert not verify_gp_signature(body + b" ", headers["x-gp-signature"], DEFAULT_APP_KEY)
    assert json.loads(body)["id"] == transaction["id"] and json.loads(body)["status"] == "CAPTURED"


def test_bad_signature_mode_fails_verification(gp: Gp, receiver: Receiver) -> None:
    transaction = sale(gp.http).json()
    [delivery] = gp.sim.notify(transaction["id"], receiver.url, mode="bad_signature")
    [(body, headers)] = receiver.received
    assert len(headers["x-gp-signature"]) == 128 and delivery.signature == headers["x-gp-signature"]
    assert not verify_gp_signature(body, headers["x-gp-signature"], DEFAULT_APP_KEY)


def test_duplicate_mode_delivers_the_same_bytes_twice(gp: Gp, receiver: Receiver) -> None:
    transaction = sale(gp.http).json()
    deliveries = gp.sim.notify(transaction["id"], receiver.url, mode="duplicate")
    assert [d.status_code for d in deliveries] == [200, 200]
    assert len(receiver.received) == 2 and receiver.received[0] == receiver.received[1]
    assert all(verify_gp_signature(b, h["x-gp-signature"], DEFAULT_APP_KEY) for b, h in receiver.received)
    assert gp.sim.state()["counts"]["notifications_sent"] == 2


def test_out_of_order_sends_earlier_statuses_after_later_ones(gp: Gp, receiver: Receiver) -> None:
    authorised = sale(gp.http, "900", capture_mode="LATER").json()
    gp.http.post(f"/ucp/transactions/{authorised['id']}/capture", json={})
    other = sale(gp.http, "1200").json()
    items: list[str | tuple[str, str]] = [(authorised["id"], "PREAUTHORIZED"), (authorised["id"], "CAPTURED"),
                                          other["id"]]
    deliveries = gp.sim.out_of_order(items, receiver.url, seed=3)
    sent = [(d.transaction_id, d.status) for d in deliveries]
    expected = [(authorised["id"], "PREAUTHORIZED"), (authorised["id"], "CAPTURED"), (other["id"], "CAPTURED")]
    assert sorted(sent) == sorted(expected) and sent != expected
    received = [(json.loads(b)["id"], json.loads(b)["status"]) for b, _ in receiver.received]
    assert received == sent, "delivered in the shuffled order, each as it was at that status"
    assert all(verify_gp_signature(b, h["x-gp-signature"], DEFAULT_APP_KEY) for b, h in receiver.received)
    assert [(d.transaction_id, d.status) for d in gp.sim.out_of_order(items, receiver.url, seed=3)] == sent
    pair = [authorised["id"], other["id"]]
    for seed in range(4):
        assert [d.transaction_id for d in gp.sim.out_of_order(pair, receiver.url, seed=seed)] == pair[::-1], seed


def test_an_unreachable_status_url_is_reported_not_raised(gp: Gp) -> None:
    transaction = sale(gp.http).json()
    [delivery] = gp.sim.notify(transaction["id"], "http://127.0.0.1:9/status")
    assert delivery.status_code is None and delivery.error
