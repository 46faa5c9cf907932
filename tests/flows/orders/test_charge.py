"""The order charge: one gateway charge per order, written back, handed to the post step, never twice."""


from __future__ import annotations

from collections.abc import Callable

import pytest

from sandbox.simulators.base import FaultRule
from shared.canonical.envelope import Envelope
from shared.canonical.orders import Order
from shared.canonical.payments import Payment, PaymentStatus
from shared.errors import RetriableError
from shared.flows import orders, payments
from shared.flows.orders import results, transform
from shared.messaging.envelope import to_message
from tests.flows.orders.world import (
    TOKEN,
    World,
    accept_fo,
    bc_order,
    bc_pointer,
    charge,
    fo_events,
    fo_order,
    through_transform,
)


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
    transform.transform_order(world.services, to_message(Envelope(
        type="order.changed", source="test", subject=number, idempotency_key="fo:usmf:again",
        data={"erp": "fo", "company": "usmf", "order": number})).body)
    assert world.take(orders.CHARGE_QUEUE) == []
    assert world.charges() == 1 and len(world.alerts.sent) == 1


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


def test_an_approved_bc_order_is_charged_and_recorded_in_hl365(make_world: Callable[..., World]) -> None:
    world = make_world("bc")
    order_id = bc_order(world)
    transform.transform_order(world.services, to_message(bc_pointer(world, order_id)).body)
    [validated] = world.take(orders.CHARGE_QUEUE)
    order = Order.model_validate(validated.data)
    assert order.number.startswith("S-ORD") and (str(order.amount), order.customer) == ("192.80 USD", "20000")
    transaction_id = charge(world, validated)
    [posting] = world.take(payments.POST_QUEUE)
    assert Payment.model_validate(posting.data).reference == order.number
    recorded = results.order_result(world.services, order)
    assert recorded is not None and (recorded["Status"], recorded["TransactionId"]) == ("APPROVED", transaction_id)


def test_a_declined_bc_order_is_recorded_alerted_and_not_retried(make_world: Callable[..., World]) -> None:
    world = make_world("bc", decline_tokens=[TOKEN])
    order_id = bc_order(world)
    transform.transform_order(world.services, to_message(bc_pointer(world, order_id)).body)
    [validated] = world.take(orders.CHARGE_QUEUE)
    charge(world, validated)
    charge(world, validated)
    recorded = results.order_result(world.services, Order.model_validate(validated.data))
    assert recorded is not None and (recorded["Status"], recorded["Result"]) == ("DECLINED", "05")
    assert world.alerts.kinds() == ["payment_declined"] and world.charges() == 1
    assert ("charge.order", "declined") in world.audit()

