from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from shared.anomalies.detector import Location
from shared.anomalies.rows import Row

T0 = datetime.fromisoformat("2026-11-03T12:00:00-06:00")
LOCATIONS = {
    "CHI01": Location(metro="CHI", opens=T0.time().replace(hour=8), closes=T0.time().replace(hour=21)),
    "CHI02": Location(metro="CHI", opens=T0.time().replace(hour=7), closes=T0.time().replace(hour=22)),
    "NYC01": Location(metro="NYC", opens=T0.time().replace(hour=9), closes=T0.time().replace(hour=21)),
    "ECOM": Location(online=True),
}


@pytest.fixture
def row() -> Callable[..., Row]:
    """A row ``minutes`` after noon in Chicago; fields overridable."""
    counter = iter(range(1, 10**6))

    def make(minutes: float = 0, **fields: Any) -> Row:
        values: dict[str, Any] = {
            "id": f"r{next(counter)}", "time": T0 + timedelta(minutes=minutes), "location": "CHI01",
            "cashier": "C1", "type": "SALE", "amount": Decimal("25.00"), "result": "APPROVED",
            "masked_card": "411111******1234", "card_fingerprint": "fp_a", "entry_mode": "CHIP", "reference": "",
        }
        values.update(fields)
        if isinstance(values["amount"], str):
            values["amount"] = Decimal(values["amount"])
        return Row(**values)

    return make
