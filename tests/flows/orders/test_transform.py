"""The order transform: orders read again, validated, fanned out; nothing charged for an order that fails."""


from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

import pytest

from shared.canonical.envelope import Envelope
from shared.errors import FatalError
from shared.flows import orders
from shared.flows.orders import tokens, transform
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
        tokens.set_payment_token(world.services, erp="fo", company="usmf", customer="US-001", token=TOKEN)
        number = str(world.fo.add_sales_order("US-001", [])["SalesOrderNumber"])
    accept_fo(world, fo_events(world))
    [pointer] = world.take(orders.TRANSFORM_QUEUE)
    with pytest.raises(FatalError) as caught:
        transform.transform_order(world.services, to_message(pointer).body)
    assert caught.value.reason == reason and number in caught.value.description
    assert world.charges() == 0 and world.take(orders.CHARGE_QUEUE) == []


def test_a_missing_token_names_the_command_that_fixes_it(make_world: Callable[..., World]) -> None:
    world = make_world()
    fo_order(world, token=None)
    accept_fo(world, fo_events(world))
    [pointer] = world.take(orders.TRANSFORM_QUEUE)
    with pytest.raises(FatalError, match="hl365 tokens set --erp fo --company usmf --customer US-001"):
        transform.transform_order(world.services, to_message(pointer).body)


def test_an_event_of_another_legal_entity_is_refused(make_world: Callable[..., World]) -> None:
    world = make_world()
    pointer = Envelope(type="order.created", source="test", subject="000001", idempotency_key="fo:demf:x",
                       data={"erp": "fo", "company": "demf", "order": "000001"})
    with pytest.raises(FatalError) as caught:
        transform.transform_order(world.services, to_message(pointer).body)
    assert caught.value.reason == "OtherCompany" and "demf" in caught.value.description


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


def test_a_blocked_bc_customer_is_not_charged(make_world: Callable[..., World]) -> None:
    world = make_world("bc")
    order_id = bc_order(world, customer="40000")
    world.bc.update("customers", world.bc.records("customers", number="40000")[0]["id"], {"blocked": "Invoice"})
    with pytest.raises(FatalError) as caught:
        transform.transform_order(world.services, to_message(bc_pointer(world, order_id)).body)
    assert caught.value.reason == "CustomerOnHold" and world.charges() == 0


def test_a_collection_notification_fans_out_one_pointer_per_changed_order(make_world: Callable[..., World]) -> None:
    world = make_world("bc")
    since = world.bc.now() - timedelta(seconds=1)
    made = {bc_order(world, item=item) for item in ("1900-S", "1906-S", "1908-S")}
    requery = Envelope(type="order.requery", source="test", subject="collection", idempotency_key="bc:collection",
                       data={"erp": "bc", "company": world.company,
                             "filter": f"lastModifiedDateTime gt {since.strftime('%Y-%m-%dT%H:%M:%SZ')}"})
    transform.transform_order(world.services, to_message(requery).body)
    pointers = world.take(orders.TRANSFORM_QUEUE)
    assert {p.data["order"] for p in pointers} == made and {p.type for p in pointers} == {"order.changed"}



def test_an_fo_order_the_warehouse_cannot_meet_is_dead_lettered_not_charged(make_world: Callable[..., World]) -> None:
    """The mapping's site 1 / warehouse 11 (POS location MAIN) holds 3 of T0001: an order for 5 from it is not
    charged; one for 2 from it, or for 5 from a warehouse hl365 does not count, is."""
    world = make_world()
    world.fo.set_on_hand("T0001", "11", Decimal(3), site="1")
    number = fo_order(world, quantity="5", line={"ShippingSiteId": "1", "ShippingWarehouseId": "11"})
    accept_fo(world, fo_events(world))
    [pointer] = world.take(orders.TRANSFORM_QUEUE)
    with pytest.raises(FatalError) as caught:
        transform.transform_order(world.services, to_message(pointer).body)
    assert caught.value.reason == "InsufficientStock"
    assert f"order {number}" in caught.value.description
    assert "item T0001 needs 5 at 1/11, 3 available" in caught.value.description
    assert world.charges() == 0 and world.take(orders.CHARGE_QUEUE) == []
    world.fo.events.emitted.clear()
    fo_order(world, quantity="2", line={"ShippingSiteId": "1", "ShippingWarehouseId": "11"})
    fo_order(world, quantity="5", line={"ShippingSiteId": "2", "ShippingWarehouseId": "21"})
    accept_fo(world, fo_events(world))
    assert len(through_transform(world)) == 2


def test_a_bc_order_beyond_the_items_inventory_is_dead_lettered(make_world: Callable[..., World]) -> None:
    world = make_world("bc")
    world.bc.set_inventory("1900-S", Decimal(0))
    order_id = bc_order(world)
    with pytest.raises(FatalError, match="item 1900-S needs 1 at MAIN, 0 available") as caught:
        transform.transform_order(world.services, to_message(bc_pointer(world, order_id)).body)
    assert caught.value.reason == "InsufficientStock" and world.take(orders.CHARGE_QUEUE) == []
    world.bc.set_inventory("1900-S", Decimal(4))
    transform.transform_order(world.services, to_message(bc_pointer(world, order_id)).body)
    assert len(world.take(orders.CHARGE_QUEUE)) == 1
