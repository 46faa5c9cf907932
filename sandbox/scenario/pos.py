"""Point-of-sale scenarios for the Heartland Retail simulator: the lines and tenders a ticket is rung up with,
and a seeded, realistic business day of tickets."""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from sandbox.scenario.transactions import BRANDS

if TYPE_CHECKING:
    from sandbox.simulators.retail import RetailSimulator

CENTRAL = timezone(timedelta(hours=-6), "CST")
"""The stores' time zone unless a scenario says otherwise."""

Record = dict[str, Any]


@dataclass(frozen=True)
class Line:
    """One line to put on a seeded ticket.

    Discounts and explicit taxes are given as magnitudes; a return line (negative ``qty``) turns
    them negative with it. Taxes default to the location's rates on the discounted amount.
    """

    item_id: int | None = None
    qty: int = 1
    unit_price: Decimal | str | int | None = None
    discounts: Mapping[str, Decimal | str | int] = field(default_factory=dict)
    taxes: Mapping[str, Decimal | str | int] | None = None
    gift_card_last4: str | None = None
    description: str | None = None

    @classmethod
    def gift_card(cls, amount: Decimal | str | int, last4: str) -> Line:
        """A gift card sold (or loaded): deferred revenue, never taxed or discounted."""
        return cls(qty=1, unit_price=amount, gift_card_last4=last4, description="Gift card")


@dataclass(frozen=True)
class Tender:
    """One payment to put on a seeded ticket; ``amount`` is negative for a refund."""

    kind: Literal["cash", "card", "gift_card", "custom"]
    amount: Decimal | str | int
    tip: Decimal | str | int = 0
    brand: str | None = None
    last4: str | None = None
    auth_code: str | None = None
    transaction_id: str | None = None
    reference: str | None = None
    payment_type_id: int | None = None

    @classmethod
    def cash(cls, amount: Decimal | str | int) -> Tender:
        return cls("cash", amount)

    @classmethod
    def card(cls, amount: Decimal | str | int, *, brand: str = "VISA", last4: str = "4242",
             tip: Decimal | str | int = 0, auth_code: str | None = None, transaction_id: str | None = None,
             reference: str | None = None) -> Tender:
        return cls("card", amount, tip=tip, brand=brand, last4=last4, auth_code=auth_code,
                   transaction_id=transaction_id, reference=reference)

    @classmethod
    def gift_card(cls, amount: Decimal | str | int, last4: str) -> Tender:
        return cls("gift_card", amount, last4=last4)


def seed_business_day(retail: RetailSimulator, day: date, *, tickets: int = 200, seed: int | None = None,
                      tz: tzinfo = CENTRAL, refund_rate: float = 0.03, gift_card_rate: float = 0.04,
                      tip_rate: float = 0.25, void_rate: float = 0.01) -> list[Record]:
    """The day ``RetailSimulator.seed_business_day`` makes (see there); the simulator holds its lock around it."""
    rng = random.Random(seed if seed is not None else retail.seed)
    if len(retail.records("locations")) < 2:
        retail.add_location("Riverside", tax_rates={"State": "0.0625", "County": "0.0075"})
    if len(retail.records("items")) < 10:
        _seed_catalogue(retail, rng)
    if len(retail.records("customers")) < 20:
        for n in range(20):
            retail.add_customer(f"Guest{n}", f"Shopper{n}", email=f"guest{n}@example.com")
    locations = sorted(r["id"] for r in retail.records("locations"))
    items = [i for i in retail.records("items") if i["active"]]
    stocked = {(r["item_id"], r["location_id"]) for r in retail.records("inventory")}
    for location_id in locations:
        for item in items:
            if (item["id"], location_id) not in stocked:
                retail.set_inventory(item["id"], location_id, on_hand=rng.randrange(50, 500) + tickets)
    customers = sorted(r["id"] for r in retail.records("customers"))
    start = datetime.combine(day, time(8), tz)
    moments = sorted(start + timedelta(seconds=rng.randrange(13 * 3600)) for _ in range(tickets))
    return [_seed_ticket(retail, rng, moment, locations, items, customers, refund_rate, gift_card_rate, tip_rate,
                         void_rate) for moment in moments]


def _seed_catalogue(retail: RetailSimulator, rng: random.Random) -> None:
    departments = {"Apparel": ("Hoodie", "Cap", "Socks"), "Housewares": ("Candle", "Tea towel", "Vase"),
                   "Grocery": ("Coffee beans", "Chocolate", "Honey"), "Stationery": ("Pen set", "Planner")}
    for department, names in departments.items():
        for name in names:
            price = Decimal(rng.randrange(299, 6_999)) / 100
            retail.add_item(name, price=price, cost=(price * Decimal("0.45")).quantize(Decimal("0.01")),
                            department=department, taxable=department != "Grocery")


def _seed_ticket(retail: RetailSimulator, rng: random.Random, moment: datetime, locations: list[int],
                 items: list[Record], customers: list[int], refund_rate: float, gift_card_rate: float,
                 tip_rate: float, void_rate: float) -> Record:
    location_id = rng.choice(locations)
    customer_id = rng.choice(customers) if rng.random() < 0.4 else None
    refund = rng.random() < refund_rate
    lines: list[Line] = []
    for item in rng.sample(items, rng.randint(1, 1 if refund else 4)):
        qty = rng.randint(1, 3) * (-1 if refund else 1)
        discounts = {"Promo 10%": (Decimal(item["price"]) * abs(qty) / 10).quantize(Decimal("0.01"))} \
            if rng.random() < 0.15 else {}
        lines.append(Line(item_id=item["id"], qty=qty, discounts=discounts))
    if not refund and rng.random() < gift_card_rate:
        lines.append(Line.gift_card(rng.choice((25, 50, 100)), f"{rng.randrange(10_000):04d}"))
    draft = retail.price(location_id, lines)
    status: Literal["complete", "voided"] = "voided" if rng.random() < void_rate else "complete"
    payments: list[Tender] = []
    if refund:
        payments.append(Tender.card(draft, brand=rng.choice(BRANDS), last4=f"{rng.randrange(10_000):04d}"))
    else:
        remaining = draft
        if rng.random() < 0.05:
            redeemed = min(remaining, Decimal(rng.choice((10, 25))))
            payments.append(Tender.gift_card(redeemed, f"{rng.randrange(10_000):04d}"))
            remaining -= redeemed
        if remaining and rng.random() < 0.25:
            payments.append(Tender.cash(remaining))
        elif remaining:
            tip = (remaining * Decimal(rng.choice((10, 15, 20))) / 100).quantize(Decimal("0.01")) \
                if rng.random() < tip_rate else Decimal(0)
            payments.append(Tender.card(remaining, brand=rng.choice(BRANDS), tip=tip,
                                        last4=f"{rng.randrange(10_000):04d}"))
    return retail.add_ticket(location_id=location_id, lines=lines, payments=payments, customer_id=customer_id,
                             completed_at=moment, status=status)
