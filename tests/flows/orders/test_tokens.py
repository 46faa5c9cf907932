"""Customers' payment tokens: stored as the gateway's token, never a card number."""


from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from shared.flows.orders import tokens
from tests.flows.orders.world import (
    PAN,
    TOKEN,
    World,
)


def test_a_card_number_is_never_stored_as_a_token(make_world: Callable[..., World]) -> None:
    world = make_world()
    for bad in (PAN, "4111 1111 1111 1111", "", "PMT with space"):
        with pytest.raises(ValueError):
            tokens.set_payment_token(world.services, erp="fo", company="usmf", customer="US-001", token=bad)
    assert tokens.payment_token(world.services, "fo", "usmf", "US-001") is None
    tokens.set_payment_token(world.services, erp="fo", company="USMF", customer="US-001", token=TOKEN)
    assert tokens.payment_token(world.services, "fo", "usmf", "US-001") == TOKEN
    assert TOKEN not in json.dumps([dict(r.data) for r in world.services.audit.records(datetime.now(UTC).date())],
                                   default=str)

