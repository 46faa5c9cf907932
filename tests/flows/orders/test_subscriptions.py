"""Business Central's salesOrders subscription: created, renewed, recreated with the gap re-read."""


from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from shared import presenter
from shared.dynamics.subscriptions import SubscriptionKeeper
from shared.flows import admin, orders
from shared.flows.orders import subscriptions
from shared.settings import Settings
from shared.storage import tables
from tests.flows.orders.world import (
    CLIENT_STATE,
    World,
    bc_order,
)
from tests.loopback import wait_for


def keeper(world: World, state: str = CLIENT_STATE) -> SubscriptionKeeper:
    return SubscriptionKeeper(world.services.bc, world.services.tables.table(tables.CHECKPOINTS),
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
    first = subscriptions.ensure_bc_subscription(world.services)
    assert first is not None
    world.bc.webhooks.delete(world.bc.webhooks.get(first.subscription_id), "the notification URL answered 410")
    second = subscriptions.ensure_bc_subscription(world.services)
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
    world.services.tables.table(tables.CHECKPOINTS).delete("bc-subscriptions", f"{world.company}-salesOrders")
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
    assert subscriptions.ensure_bc_subscription(world.services) is None
    assert presenter.respond(lambda: admin.keep_subscription(world.services)).body["action"] == "none"


def test_order_settings_name_what_is_wrong(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HL365_SETTINGS_FILE", str(tmp_path / "absent.json"))
    with pytest.raises(ValueError, match="HL365_PUBLIC_URL"):
        Settings(HL365_PUBLIC_URL="hl365.azurewebsites.net")
    assert Settings(HL365_ORDER_CAPTURE="Authorize").order_capture == "authorise"
    assert Settings().order_capture == "charge"

