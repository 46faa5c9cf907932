"""Replaying dead letters once their cause is fixed: the same envelope back on its queue under the same key,
the row marked, and a row that cannot be replayed left parked with why."""

from __future__ import annotations

import json

import pytest

from shared import wiring
from shared.canonical.envelope import Envelope
from shared.errors import InvalidRequest, NotFound
from shared.flows.replay import replay
from shared.messaging.envelope import to_message
from shared.ops.deadletters import row_id
from tests.flows.conftest import take

QUEUE = "payments-post"


def park(ports: wiring.Services, key: str, reason: str = "UnmappedCardBrand", body: bytes | None = None) -> str:
    envelope = Envelope(type="payment.normalised", source="heartland.gp", subject=key, idempotency_key=key,
                        data={"external_key": key})
    row = ports.dead_letters.park(queue=QUEUE, body=body or to_message(envelope).body, message_id=key,
                                  reason=reason, description=f"{key} was refused")
    return row_id(row)


def sent_back(ports: wiring.Services) -> list[tuple[str, str]]:
    return [(m.message_id, json.loads(m.body)["idempotency_key"]) for m in take(ports.bus, QUEUE)]


def test_a_row_goes_back_to_its_queue_with_its_key_and_is_marked_replayed(ports: wiring.Services) -> None:
    letter = park(ports, "HPY-TRN_1")
    [result] = replay(ports, row=letter).replayed
    assert (result.ok, result.queue, result.outcome) == (True, QUEUE, f"sent back to {QUEUE}")
    # The bus id carries the replay count so duplicate detection lets it through; the key is unchanged.
    assert sent_back(ports) == [("HPY-TRN_1:replay:1", "HPY-TRN_1")]
    assert list(ports.dead_letters.list(days=1)) == []
    row = ports.dead_letters.find(letter)
    assert row is not None and (row["Status"], row["Replays"]) == ("replayed", 1)


def test_every_row_of_a_reason_is_replayed_and_others_stay(ports: wiring.Services) -> None:
    park(ports, "HPY-A")
    park(ports, "HPY-B")
    park(ports, "HPY-C", reason="CustomerOnHold")
    replays = replay(ports, reason="UnmappedCardBrand")
    assert len(replays.replayed) == 2 and replays.failed == []
    assert sorted(key for _, key in sent_back(ports)) == ["HPY-A", "HPY-B"]
    assert [row["Reason"] for row in ports.dead_letters.list(days=1)] == ["CustomerOnHold"]


def test_a_truncated_body_is_never_replayed_and_stays_parked(ports: wiring.Services) -> None:
    letter = park(ports, "HPY-BIG", body=b"x" * 40_000)
    result = replay(ports, row=letter)
    assert [(r.ok, "truncated" in r.outcome) for r in result.replayed] == [(False, True)]
    assert sent_back(ports) == [] and [row_id(r) for r in ports.dead_letters.list(days=1)] == [letter]


def test_a_body_that_is_not_an_envelope_fails_alone_with_why(ports: wiring.Services) -> None:
    park(ports, "HPY-OK")
    park(ports, "HPY-JUNK", body=b"not json")
    result = replay(ports, reason="UnmappedCardBrand")
    assert sorted((r.ok, r.outcome.split(":")[0]) for r in result.replayed) == [
        (False, "ValidationError"), (True, f"sent back to {QUEUE}")]
    assert [row["MessageId"] for row in ports.dead_letters.list(days=1)] == ["HPY-JUNK"]


@pytest.mark.parametrize(("row", "reason", "error"), [
    (None, None, InvalidRequest), ("a/b", "UnmappedCardBrand", InvalidRequest), ("dl-20000101/none", None, NotFound),
])
def test_a_replay_names_exactly_one_existing_row_or_one_reason(
    ports: wiring.Services, row: str | None, reason: str | None, error: type[Exception],
) -> None:
    with pytest.raises(error):
        replay(ports, row=row, reason=reason)
