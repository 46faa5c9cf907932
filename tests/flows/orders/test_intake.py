"""Order intake (the ``FO`` and ``BC`` sources of the one intake pipeline), against the simulators."""


from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson

from shared import presenter
from shared.flows import intake, orders
from shared.flows.intake import Handshake
from shared.flows.orders.intake import BC, FO
from shared.presenter import HttpAnswer
from tests.flows.orders.world import (
    CLIENT_STATE,
    PAN,
    World,
    accept_fo,
    fo_events,
    fo_order,
)


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
    cut = presenter.respond(lambda: intake.accept(world.services, FO, raw[:-5], {"content-type": "application/json"}))
    assert cut.status == 400
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
    timestamp = accept_fo(world, {**stamped, "Note": "1795783821246"})  # no card brand starts with 1
    assert timestamp.status == 202 and "card" not in timestamp.reason
    answer = accept_fo(world, {**stamped, "Note": "4111 1111 1111 1111"})
    assert answer.status == 422 and "$.Note" in answer.reason


def notification(world: World, change: str = "created", *, order_id: str = "5f0c2a9e-4b1d-4c8e-9a3f-0d6b7e2c1a44",
                 state: str = CLIENT_STATE, resource: str | None = None) -> dict[str, Any]:
    return {"subscriptionId": "a" * 32, "clientState": state, "expirationDateTime": "2026-12-01T09:00:00Z",
            "resource": resource or f"api/v2.0/companies({world.company})/salesOrders({order_id})",
            "changeType": change, "lastModifiedDateTime": "2026-11-28T09:00:04.123Z"}


def accept_bc(world: World, *items: dict[str, Any], params: dict[str, str] | None = None) -> HttpAnswer:
    body = orjson.dumps({"value": list(items)})
    return presenter.respond(lambda: intake.accept(world.services, BC, body, {"content-type": "application/json"},
                                                   params or {}))


def test_the_bc_handshake_echoes_the_token_and_refuses_junk(make_world: Callable[..., World]) -> None:
    world = make_world("bc")
    shake = intake.accept(world.services, BC, b"", {"content-type": "text/plain"}, {"validationToken": "abc-123"})
    assert shake == Handshake("abc-123")
    answered = presenter.respond(lambda: shake)
    assert (answered.status, answered.content(), answered.content_type) == (200, b"abc-123", "text/plain")
    junk = presenter.respond(lambda: intake.accept(world.services, BC, b"", {}, {"validationToken": "x\n" * 600}))
    assert junk.status == 400


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

