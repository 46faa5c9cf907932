"""The admin calls: request parameters checked before any work, and the same calls the timers make."""

from __future__ import annotations

from datetime import date

import pytest

from shared import wiring
from shared.errors import InvalidRequest
from shared.flows import admin


@pytest.mark.parametrize(("text", "day"), [("2026-11-30", date(2026, 11, 30)), ("", None), (None, None)])
def test_a_business_day_is_an_iso_date_or_the_default(text: str | None, day: date | None) -> None:
    assert admin.business_day(text) == day


@pytest.mark.parametrize("text", ["30/11/2026", "2026-13-01", "yesterday"])
def test_a_bad_date_is_refused_before_anything_is_closed(ports: wiring.Services, text: str) -> None:
    with pytest.raises(InvalidRequest, match=f"date {text!r} is not YYYY-MM-DD"):
        admin.close_day(ports, text)
    assert "settlement_source" not in ports.__dict__  # no source was even built


def test_parked_lists_rows_a_person_can_act_on(ports: wiring.Services) -> None:
    ports.dead_letters.park(queue="payments-post", body=b"{}", message_id="HPY-1", reason="CustomerOnHold",
                            description="customer US-009 is on hold (All)")
    [row] = admin.parked(ports, "1", None).rows
    assert (row["queue"], row["reason"], row["message_id"], row["replays"]) == (
        "payments-post", "CustomerOnHold", "HPY-1", 0)
    assert row["description"] == "customer US-009 is on hold (All)" and "/" in str(row["id"])
    assert admin.parked(ports, None, "OtherReason").rows == []


@pytest.mark.parametrize("days", ["0", "367", "seven", "-1"])
def test_parked_refuses_a_span_it_cannot_list(ports: wiring.Services, days: str) -> None:
    with pytest.raises(InvalidRequest, match="from 1 to 366"):
        admin.parked(ports, days, None)


def test_no_subscription_is_kept_unless_the_target_is_business_central(ports: wiring.Services) -> None:
    result = admin.keep_subscription(ports)
    assert isinstance(result, admin.NoSubscriptionNeeded) and "D365_TARGET is not bc" in result.reason
