"""A seeded business day in the GP gateway simulator: card-present sales (and partial refunds) over a day's
batches, closed at night and funded the next day."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sandbox.simulators.ids import derived_id

if TYPE_CHECKING:
    from sandbox.simulators.gp import GpSimulator


def seed_day(gp: GpSimulator, day: date, *, transactions: int = 100, refunds: int = 0, batches: int = 1,
             currency: str = "USD", close: bool = True, fund: bool = False, fee_rate: Decimal | str = "0.025",
             deposit_date: date | None = None, amount_range: tuple[int, int] = (150, 25_000)) -> dict[str, Any]:
    """The day ``GpSimulator.seed_day`` makes (see there); the simulator holds its lock around it."""
    if transactions < 1 or batches < 1 or refunds < 0 or refunds > transactions:
        raise ValueError("need transactions >= 1, batches >= 1 and 0 <= refunds <= transactions")
    if fund and not close:
        raise ValueError("a batch must be closed before it is funded")
    rng = random.Random(f"{gp.seed}:day:{day.isoformat()}")
    start = datetime.combine(day, datetime.min.time(), UTC)
    made: dict[str, Any] = {"transaction_ids": [], "batch_ids": [], "deposit_ids": []}
    batch_ids = [gp.new_batch(currency, at=start + timedelta(hours=8)) for _ in range(batches)]
    made["batch_ids"] = batch_ids
    times = sorted(start + timedelta(seconds=rng.randrange(8 * 3600, 22 * 3600)) for _ in range(transactions))
    sales = []
    for number, at in enumerate(times, start=1):
        sale = gp.add_transaction(
            rng.randrange(*amount_range), currency=currency, status="CAPTURED",
            token=f"PMT_{derived_id(f'{gp.seed}:{day}:{number}', 16)}", channel="CP",
            entry_mode=rng.choice(("CHIP", "CONTACTLESS_CHIP", "SWIPE")),
            reference=f"HR-{day:%Y%m%d}-T{number:05d}", time_created=at, batch_id=batch_ids[number % batches])
        sales.append(sale)
        made["transaction_ids"].append(sale["id"])
    for parent in rng.sample(sales, refunds):
        amount = max(1, int(parent["amount"]) // rng.choice((1, 2, 4)))
        at = datetime.fromisoformat(parent["time_created"].replace("Z", "+00:00")) + timedelta(minutes=20)
        card = parent["payment_method"]["card"]
        refund = gp.add_transaction(
            amount, currency=currency, kind="REFUND", status="CAPTURED", token=parent["payment_method"]["id"],
            channel="CP", entry_mode=parent["payment_method"]["entry_mode"], reference=parent["reference"],
            time_created=min(at, start + timedelta(hours=22)), parent_resource_id=parent["id"],
            batch_id=parent["batch_id"], brand=card["brand"], last4=card["masked_number_last4"][-4:])
        made["transaction_ids"].append(refund["id"])
    if close:
        for n, batch_id in enumerate(batch_ids):
            gp.close_batch(batch_id, at=start + timedelta(hours=23, minutes=n))
    if fund:
        for batch_id in batch_ids:
            deposit = gp.fund(batch_id, fee_rate, deposit_date or day + timedelta(days=1))
            made["deposit_ids"].append(deposit["id"])
    return made
