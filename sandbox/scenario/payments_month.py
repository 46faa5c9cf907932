"""A labelled month of card payments for the anomaly detector: every pattern planted, every look-alike beside it.

Stores in several metros trade within their opening hours on their own clocks (with the month's daylight-saving
change where it falls), busier at lunch and in the evening; an online store trades around the clock. The month is
made to be hard rather than clean:

* amounts are heavy-tailed (log-normal with a scale mixture, never clipped) and repeat: a café's fixed menu prices,
  a regular's usual order, common basket totals (4.50, 9.99, 19.99, ...), so the same amount happens by chance on
  one card (a regular's second coffee hours later) and at one store within minutes on different cards; some
  stores take big baskets (catering, bulk orders) as part of their ordinary trade;
* the online store sells small digital goods (0.99 to 9.99) and declines small amounts for ordinary reasons
  (insufficient funds, an expired card) from unrelated cards all day;
* ordinary refunds come days or weeks after their sale (within the month), some partial (some in two parts), some
  with no reference (a return matched only by the card);
* look-alikes are drawn across and near the thresholds, and the frauds near them too (a 5-probe burst, a duplicate
  ten minutes after the first, six voids in an hour, a flight just faster than an airliner).

Into that month go the frauds ``shared.anomalies`` must find, each several times, and the legitimate events that
look like them, each several times, which it must leave alone.

What is labelled, and so what counts as a true positive:

* ``card_testing``: every attempt of the burst (all of one card's probes; all of the many cards' probes).
* ``duplicate_charge``: the second and later charges; the first is a real sale.
* ``refund_without_sale``, ``refund_to_new_card``, ``off_hours_refund``: the refund.
* ``void_spike``: every void of the spike (the sales rung before them are ordinary).
* ``amount_outlier``: the sale.
* ``impossible_travel``: the second sighting, in the other metro.

Each planted fraud is one incident (one burst, one duplicate pair or triple, one spike, one refund, one outlier,
one trip), named in the truth. A look-alike's rows are labelled pattern ``none`` with their kind, so a flag on one
is a false alarm of that kind.

Two figures are printed. Row level (micro): a flag is a true positive only when its row is planted with the flag's
pattern; any other flag is a false positive of its pattern, and a planted row without its pattern's flag is a false
negative. Incident level: an incident is detected when any of its rows is flagged with its pattern; a false alarm
is a row flagged with a pattern it is not planted with, counted once per row (per pattern in the per-pattern
table); precision is detected incidents over detected incidents plus false alarms.

``python -m sandbox.scenario.payments_month --month 2026-11 --seed 7 --out DIR`` writes ``rows.jsonl``,
``truth.jsonl`` and ``locations.json``, runs the detector and prints the figures.
"""

from __future__ import annotations

import argparse
import math
import random
import string
import sys
import time
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import msgspec

from shared.anomalies.detector import METROS, PATTERNS, Flag, detect, load_locations
from shared.anomalies.rows import Reader

LOOK_ALIKES = ("decline_retry", "second_purchase", "same_amount_later", "recharge_after_void",
               "two_stores_one_metro", "store_and_online", "small_refund_after_close", "closeout_refund",
               "trainee_voids", "big_basket", "traveller")


@dataclass(frozen=True)
class Store:
    code: str
    metro: str | None
    zone: str
    opens: str | None
    closes: str | None
    median: float
    """Median sale amount: a coffee bar's differs from an electronics store's."""
    weight: float
    online: bool = False
    menu: float = 0.0
    """Share of sales at one of the store's fixed menu prices (a café's)."""
    big: float = 0.0
    """Share of sales that are big baskets, 5 to 25 times the median (catering, bulk orders)."""
    small: float = 0.0
    """Share of sales of small digital goods, 0.99 to 9.99 (online)."""

    def location(self) -> dict[str, Any]:
        if self.online:
            return {"online": True}
        return {"metro": self.metro, "opens": self.opens, "closes": self.closes}


STORES = (
    Store("CHI01", "CHI", "America/Chicago", "08:00", "21:00", 45.0, 1.2, big=0.004),
    Store("CHI02", "CHI", "America/Chicago", "07:00", "22:00", 9.0, 1.0, menu=0.6),
    Store("NYC01", "NYC", "America/New_York", "09:00", "21:00", 80.0, 1.0),
    Store("NYC02", "NYC", "America/New_York", "10:00", "20:00", 150.0, 0.6, big=0.003),
    Store("DAL01", "DAL", "America/Chicago", "08:00", "22:00", 40.0, 0.9, menu=0.15, big=0.002),
    Store("LAX01", "LAX", "America/Los_Angeles", "09:00", "21:00", 60.0, 0.9),
    Store("ECOM", None, "America/Chicago", None, None, 70.0, 1.0, online=True, small=0.2),
)
SIGMA = 0.6
"""Spread of log sale amounts around a store's median."""
TAIL, TAIL_SIGMA = 0.06, 1.1
"""The heavy tail: this share of sales is drawn with the wider spread (a scale mixture, so no cut-off)."""
COMMON = tuple(Decimal(a) for a in ("4.50", "9.99", "14.99", "19.99", "24.99", "29.99", "49.99", "99.99", "199.99"))
"""Basket totals that recur anywhere (price points and round sums)."""
COMMON_SHARE = 0.06
DIGITAL = tuple(Decimal(a) for a in ("0.99", "1.99", "2.99", "4.99", "9.99"))
DECLINE_RATE, SMALL_DECLINE_RATE, VOID_RATE, REFUND_RATE = 0.03, 0.06, 0.012, 0.025
ENTRY_MODES = (("CHIP", 0.6), ("CONTACTLESS", 0.3), ("SWIPE", 0.08), ("MANUAL", 0.02))
BRANDS = (("VISA", "4"), ("MC", "5"), ("AMEX", "3"), ("DISCOVER", "6"))
_FP_ALPHABET = string.ascii_lowercase + "23456789"
_ENDINGS = ("00", "25", "49", "50", "75", "95", "99")


def _km(a: str, b: str) -> float:
    lat1, lon1, lat2, lon2 = map(math.radians, (*METROS[a], *METROS[b]))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(h))


@dataclass(frozen=True)
class Label:
    """What a planted row is: a pattern and its incident, or ``none`` with the look-alike it is."""

    pattern: str
    look_alike: str = ""
    incident: str = ""


@dataclass(frozen=True)
class Card:
    fingerprint: str
    masked: str
    brand: str


@dataclass
class _Month:
    rng: random.Random
    first: date
    days: int
    stores: Sequence[Store]
    rows_per_day: int
    rows: list[dict[str, Any]] = field(default_factory=list)
    truth: dict[str, Label] = field(default_factory=dict)
    seq: int = 0
    incidents: int = 0
    voids: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        metros = sorted({s.metro for s in self.stores if s.metro})
        total = sum(s.weight for s in self.stores)
        self.share = {s.code: self.rows_per_day * s.weight / total for s in self.stores}
        size = max(300, self.rows_per_day * self.days // (4 * max(1, len(metros))))
        self.pools = {m: [self.card() for _ in range(size)] for m in metros}
        self.cashiers = {s.code: [f"{s.code}-C{i + 1}" for i in range(max(4, round(self.share[s.code] / 150)))]
                         for s in self.stores if not s.online}
        self.trainee = {s.code: f"{s.code}-T1" for s in self.stores if not s.online}
        self.by_code = {s.code: s for s in self.stores}
        self.zones = {s.code: ZoneInfo(s.zone) for s in self.stores}
        self.menus = {s.code: self._menu(s) for s in self.stores if s.menu}
        self.commons = {s.code: [a for a in COMMON if s.median / 6 <= float(a) <= s.median * 6] for s in self.stores}

    def _menu(self, store: Store) -> tuple[list[Decimal], list[float]]:
        """The store's fixed prices and how often each is bought (a few favourites, a long list of others)."""
        prices: set[Decimal] = set()
        while len(prices) < 18:
            whole = max(1, math.floor(store.median * math.exp(0.45 * self.rng.gauss(0, 1))))
            prices.add(Decimal(f"{whole}.{self.rng.choice(_ENDINGS)}"))
        ordered = sorted(prices)
        self.rng.shuffle(ordered)
        return ordered, [1 / (i + 1) for i in range(len(ordered))]

    def incident(self, pattern: str) -> Label:
        self.incidents += 1
        return Label(pattern, incident=f"{pattern}#{self.incidents}")

    # -- building blocks ---------------------------------------------------------------------------------

    def card(self) -> Card:
        brand, head = self.rng.choice(BRANDS)
        fingerprint = "fp_" + "".join(self.rng.choices(_FP_ALPHABET, k=14))
        bin_ = head + "".join(self.rng.choices(string.digits, k=5))
        return Card(fingerprint, f"{bin_}******{self.rng.randrange(10_000):04d}", brand)

    def regular(self, store: Store) -> Card:
        """A card of the store's metro, regulars drawn more often (the most regular about once a day);
        online, a card of any metro."""
        metro = store.metro if store.metro in self.pools else self.rng.choice(sorted(self.pools))
        pool = self.pools[metro]
        return pool[int(len(pool) * self.rng.random() ** 1.3)]

    def amount(self, store: Store, card: Card | None = None) -> Decimal:
        """A sale amount as the store's trade draws it: menu prices (a regular's usual order among them), common
        totals, small digital goods, big baskets, else heavy-tailed log-normal around the median."""
        rng = self.rng
        r = rng.random()
        if r < store.menu:
            prices, weights = self.menus[store.code]
            if card is not None and rng.random() < 0.5:
                return prices[zlib.crc32(f"{card.fingerprint}{store.code}".encode()) % 4]
            return rng.choices(prices, weights)[0]
        r -= store.menu
        if r < store.small:
            return rng.choice(DIGITAL) if rng.random() < 0.7 else Decimal(f"{rng.uniform(1, 10):.2f}")
        r -= store.small
        if r < store.big:
            return Decimal(f"{store.median * math.exp(rng.uniform(math.log(5), math.log(25))):.2f}")
        r -= store.big
        commons = self.commons[store.code]
        if commons and r < COMMON_SHARE:
            return rng.choice(commons)
        spread = TAIL_SIGMA if rng.random() < TAIL else SIGMA
        return Decimal(f"{max(0.5, store.median * math.exp(spread * rng.gauss(0, 1))):.2f}")

    def local(self, store: Store, day: int, minute: float) -> datetime:
        """The store's local time ``minute`` minutes after midnight of the month's ``day`` (may run past it)."""
        naive = datetime(self.first.year, self.first.month, self.first.day) + timedelta(days=day, minutes=minute)
        return naive.replace(tzinfo=self.zones[store.code])

    def hours(self, store: Store) -> tuple[int, int]:
        if store.online or not store.opens or not store.closes:
            return 6 * 60, 24 * 60
        o, c = (int(x[:2]) * 60 + int(x[3:]) for x in (store.opens, store.closes))
        return o, c

    def open_minute(self, store: Store, margin: int = 20) -> float:
        opens, closes = self.hours(store)
        return self.rng.uniform(opens + margin, closes - margin)

    def busy_minute(self, store: Store) -> float:
        """A minute of the store's day, busier at lunch and in the evening."""
        opens, closes = self.hours(store)
        r = self.rng.random()
        if r < 0.5:
            return self.rng.uniform(opens, closes)
        peak = (12.5 * 60, 45) if r < 0.75 else ((20.5 if store.online else 17.75) * 60, 75)
        minute = self.rng.gauss(*peak)
        return minute if opens <= minute < closes else self.rng.uniform(opens, closes)

    def cashier(self, store: Store) -> str:
        if store.online:
            return ""
        if self.rng.random() < 0.05:
            return self.trainee[store.code]
        return self.rng.choice(self.cashiers[store.code])

    def emit(self, store: Store, when: datetime, kind: str, amount: Decimal, card: Card, *, result: str = "APPROVED",
             cashier: str | None = None, reference: str | None = None, label: Label | None = None,
             entry_mode: str | None = None) -> dict[str, Any]:
        self.seq += 1
        if entry_mode is None:
            entry_mode = "ECOM" if store.online else self._mode()
        row = {
            "id": f"p{self.seq:08d}", "time": when.isoformat(timespec="seconds"), "location": store.code,
            "cashier": self.cashier(store) if cashier is None else cashier, "type": kind, "amount": str(amount),
            "currency": "USD", "brand": card.brand, "masked_card": card.masked, "card_fingerprint": card.fingerprint,
            "entry_mode": entry_mode, "result": result,
            "reference": f"{store.code}-{self.seq:08d}" if reference is None else reference,
        }
        self.rows.append(row)
        if label is not None:
            self.truth[row["id"]] = label
        return row

    def _mode(self) -> str:
        r = self.rng.random()
        for mode, p in ENTRY_MODES:
            if r < p:
                return mode
            r -= p
        return "CHIP"

    def later(self, row: dict[str, Any], seconds: float) -> datetime:
        return datetime.fromisoformat(row["time"]) + timedelta(seconds=seconds)

    # -- the ordinary month ------------------------------------------------------------------------------

    def background(self) -> None:
        for day in range(self.days):
            for store in self.stores:
                count = round(self.share[store.code] * self.rng.uniform(0.9, 1.1))
                for _ in range(count):
                    self.ordinary(store, day, self.busy_minute(store))

    def ordinary(self, store: Store, day: int, minute: float) -> None:
        card = self.regular(store)
        cashier = self.cashier(store)
        when = self.local(store, day, minute)
        amount = self.amount(store, card)
        rate = SMALL_DECLINE_RATE if store.online and amount <= 10 else DECLINE_RATE
        if self.rng.random() < rate:  # insufficient funds, an expired card: the customer pays otherwise
            self.emit(store, when, "SALE", amount, card, result="DECLINED", cashier=cashier)
            return
        sale = self.emit(store, when, "SALE", amount, card, cashier=cashier)
        r = self.rng.random()
        if r < VOID_RATE:
            void = self.emit(store, self.later(sale, self.rng.uniform(15, 120)), "VOID", amount, card,
                             cashier=cashier, reference=sale["reference"])
            self.voids.setdefault(cashier, []).append(void)
        elif r < VOID_RATE + REFUND_RATE:
            self.ordinary_refund(store, day, sale, card)

    def ordinary_refund(self, store: Store, day: int, sale: dict[str, Any], card: Card) -> None:
        """A return days or weeks later (within the month), whole or in part, sometimes in two parts, sometimes
        with no reference (matched by the card alone)."""
        r = self.rng.random()
        back = day + (self.rng.randint(0, 3) if r < 0.5 else self.rng.randint(4, 13) if r < 0.85
                      else self.rng.randint(14, 27))
        if back >= self.days:
            return
        amount = Decimal(sale["amount"])
        parts = [amount]
        if self.rng.random() < 0.35:
            first = Decimal(f"{float(amount) * self.rng.uniform(0.2, 0.9):.2f}")
            parts = [first] if self.rng.random() < 0.7 else [first, Decimal(f"{float(amount - first) * 0.8:.2f}")]
        reference = "" if self.rng.random() < 0.25 else sale["reference"]
        when = datetime.fromisoformat(sale["time"])
        for part in parts:
            if part <= 0:
                continue
            later = self.local(store, back, self.open_minute(store))
            if later <= when:  # a same-day return drawn before its sale: the customer did not come back
                return
            when = later
            self.emit(store, when, "REFUND", part, card, reference=reference)

    # -- the frauds --------------------------------------------------------------------------------------

    def pick(self, *, online: bool | None = None, first_day: int = 0,
             stores: Iterable[Store] | None = None) -> tuple[Store, int]:
        choices = [s for s in (stores or self.stores) if online is None or s.online == online]
        return self.rng.choice(choices), self.rng.randrange(min(first_day, self.days - 1), self.days)

    def card_testing_one_card(self) -> None:
        """5 to 9 probes on one stolen card within 2 to 10 minutes; amounts mostly odd cents, some round ones
        (which may repeat)."""
        store, day = self.pick()
        card, start = self.card(), self.local(store, day, self.open_minute(store))
        label = self.incident("card_testing")
        n = self.rng.randint(5, 9)
        spread = self.rng.uniform(120, 600)
        for i in range(n):
            when = start + timedelta(seconds=spread * i / (n - 1) + self.rng.uniform(0, 8))
            amount = Decimal(f"{self.rng.uniform(0.5, 9.5):.2f}") if self.rng.random() < 0.75 else \
                self.rng.choice((Decimal("1.00"), Decimal("0.50"), Decimal("2.00"), Decimal("5.00")))
            self.emit(store, when, "SALE", amount, card,
                      result="DECLINED" if self.rng.random() < 0.7 else "APPROVED",
                      entry_mode="ECOM" if store.online else "MANUAL", label=label)

    def card_testing_many_cards(self) -> None:
        """6 to 16 stolen cards tried online at one or two small probe amounts within 2.5 to 10 minutes."""
        store = next(s for s in self.stores if s.online)
        day = self.rng.randrange(self.days)
        start = self.local(store, day, self.rng.uniform(0, 1380))
        probes = self.rng.sample((Decimal("0.50"), Decimal("1.00"), Decimal("1.01"), Decimal("2.00"),
                                  Decimal("4.99")), k=self.rng.choice((1, 1, 2)))
        n = self.rng.randint(6, 16)
        declined = set(self.rng.sample(range(n), k=max(6, round(n * self.rng.uniform(0.6, 0.9)))))
        spread = self.rng.uniform(150, 600)
        label = self.incident("card_testing")
        for i in range(n):
            self.emit(store, start + timedelta(seconds=spread * i / n), "SALE", self.rng.choice(probes), self.card(),
                      result="DECLINED" if i in declined else "APPROVED", label=label)

    def duplicate_charge(self) -> None:
        """The same charge again 30 s to 10 min later (a double submit, a till that retried), once or twice."""
        store, day = self.pick()
        card = self.regular(store)
        first = self.emit(store, self.local(store, day, self.busy_minute(store)), "SALE", self.amount(store, card),
                          card)
        label = self.incident("duplicate_charge")
        gap = 0.0
        for _ in range(self.rng.choice((1, 1, 2))):
            gap += self.rng.uniform(30, 600)
            self.emit(store, self.later(first, gap), "SALE", Decimal(first["amount"]), card,
                      cashier=first["cashier"], entry_mode=first["entry_mode"], label=label)

    def refund_without_sale(self) -> None:
        """A refund more than its sale left: above the sale named (by 5 % to 3 times), a second refund of a sale
        refunded already, or, with no reference, above what the card ever bought there."""
        store, day = self.pick(online=False)
        card = self.card()  # a card seen once there: a regular's many sales would cover it by card
        price = Decimal(f"{self.rng.uniform(8, 120):.2f}")
        sale = self.emit(store, self.local(store, day, self.open_minute(store)), "SALE", price, card)
        when = self.local(store, min(self.days - 1, day + self.rng.randint(0, 12)), self.open_minute(store))
        if when <= datetime.fromisoformat(sale["time"]):
            when = self.later(sale, self.rng.uniform(600, 3600))
        r = self.rng.random()
        label = self.incident("refund_without_sale")
        if r < 0.3:
            self.emit(store, when, "REFUND", price, card, reference=sale["reference"])
            self.emit(store, when + timedelta(minutes=self.rng.uniform(2, 600)), "REFUND", price, card,
                      reference=sale["reference"], label=label)
            return
        amount = Decimal(f"{float(price) * self.rng.uniform(1.05, 3.0):.2f}")
        reference = sale["reference"] if r < 0.65 else ""
        self.emit(store, when, "REFUND", amount, card, reference=reference, label=label)

    def refund_to_new_card(self) -> None:
        store, day = self.pick()
        card = self.regular(store)
        sale = self.emit(store, self.local(store, day, self.open_minute(store)), "SALE", self.amount(store, card),
                         card)
        when = self.local(store, min(self.days - 1, day + self.rng.randint(0, 3)), self.open_minute(store))
        if when <= datetime.fromisoformat(sale["time"]):  # within opening hours, so it is no off-hours refund too
            when = self.later(sale, self.rng.uniform(300, 600))
        amount = Decimal(sale["amount"]) if self.rng.random() < 0.7 else \
            Decimal(f"{float(sale['amount']) * self.rng.uniform(0.3, 0.9):.2f}")
        self.emit(store, when, "REFUND", amount, self.card(), reference=sale["reference"],
                  label=self.incident("refund_to_new_card"))

    def off_hours_refund(self) -> None:
        """A refund of 200.00 to 900.00 of a real sale, 12 minutes to 2.5 hours outside the store's hours."""
        store, day = self.pick(stores=[s for s in self.stores if not s.online and s.median >= 40])
        card = self.regular(store)
        big = Decimal(f"{200 * math.exp(self.rng.uniform(0, math.log(4.5))):.2f}")
        sale = self.emit(store, self.local(store, day, self.open_minute(store)), "SALE", big, card)
        opens, closes = self.hours(store)
        after = self.rng.random() < 0.6
        minute = closes + self.rng.uniform(12, 150) if after else opens - self.rng.uniform(12, 150)
        back = min(self.days - 1, day + self.rng.randint(1, 3))
        when = self.local(store, back, minute)
        if when <= datetime.fromisoformat(sale["time"]):
            when = self.local(store, day, closes + self.rng.uniform(12, 150))
        self.emit(store, when, "REFUND", big, card, reference=sale["reference"],
                  label=self.incident("off_hours_refund"))

    def void_spike(self) -> None:
        """6 to 10 voids by one cashier within 20 to 55 minutes."""
        store, day = self.pick(online=False)
        cashier = self.rng.choice(self.cashiers[store.code])
        start = self.local(store, day, self.open_minute(store, 60))
        n = self.rng.randint(6, 10)
        spread = self.rng.uniform(1200, 3300)
        others = [c for c in self.cashiers[store.code] if c != cashier]
        for void in self.voids.get(cashier, []):  # the spike's voids alone are the cashier's near it
            if abs((datetime.fromisoformat(void["time"]) - start).total_seconds()) < 3 * 3600:
                void["cashier"] = self.rng.choice(others)
        label = self.incident("void_spike")
        for i in range(n):
            card = self.regular(store)
            sale = self.emit(store, start + timedelta(seconds=spread * i / n), "SALE", self.amount(store, card),
                             card, cashier=cashier)
            self.emit(store, self.later(sale, self.rng.uniform(20, 90)), "VOID", Decimal(sale["amount"]), card,
                      cashier=cashier, reference=sale["reference"], label=label)

    def amount_outlier(self) -> None:
        """A sale 30 to 150 times the store's median (a gift-card run, a keyed amount with extra digits)."""
        store, day = self.pick(first_day=2)
        amount = Decimal(f"{store.median * math.exp(self.rng.uniform(math.log(30), math.log(150))):.2f}")
        card = self.regular(store)
        self.emit(store, self.local(store, day, self.open_minute(store)), "SALE", amount, card,
                  label=self.incident("amount_outlier"))

    def _two_metros(self) -> tuple[Store, Store]:
        physical = [s for s in self.stores if not s.online and s.metro]
        while True:
            a, b = self.rng.sample(physical, 2)
            if a.metro != b.metro:
                return a, b

    def impossible_travel(self) -> None:
        """A cloned card used in another metro at 900 to 5,000 km/h from the first sighting."""
        a, b = self._two_metros()
        day = self.rng.randrange(self.days)
        card = self.card()
        first = self.emit(a, self.local(a, day, self.rng.uniform(11 * 60, 15 * 60)), "SALE", self.amount(a), card)
        km = _km(a.metro or "", b.metro or "")
        then = self.later(first, km / self.rng.uniform(900, 5000) * 3600).astimezone(self.zones[b.code])
        self.emit(b, then, "SALE", self.amount(b), card, label=self.incident("impossible_travel"))

    # -- the look-alikes ---------------------------------------------------------------------------------

    def decline_retry(self) -> None:
        """A decline retried 3 or 4 times at the same amount, 20 to 90 s apart, until approved or given up."""
        store, day = self.pick()
        card = self.regular(store)
        amount = self.amount(store, card)
        label = Label("none", "decline_retry")
        row = self.emit(store, self.local(store, day, self.busy_minute(store)), "SALE", amount, card,
                        result="DECLINED", label=label)
        for _ in range(self.rng.randint(3, 4)):
            row = self.emit(store, self.later(row, self.rng.uniform(20, 90)), "SALE", amount, card,
                            result="APPROVED" if self.rng.random() < 0.3 else "DECLINED",
                            cashier=row["cashier"], label=label)
            if row["result"] == "APPROVED":
                return

    def second_purchase(self) -> None:
        """Another purchase of another amount 2 to 10 minutes later."""
        store, day = self.pick()
        card = self.regular(store)
        first = self.emit(store, self.local(store, day, self.busy_minute(store)), "SALE", self.amount(store, card),
                          card)
        amount = self.amount(store, card)
        while amount == Decimal(first["amount"]):
            amount = self.amount(store)
        self.emit(store, self.later(first, self.rng.uniform(120, 600)), "SALE", amount, card,
                  label=Label("none", "second_purchase"))

    def same_amount_later(self) -> None:
        """The same amount on the same card at the same store 20 to 60 minutes later: a genuine second order."""
        store, day = self.pick()
        card = self.regular(store)
        first = self.emit(store, self.local(store, day, self.busy_minute(store)), "SALE", self.amount(store, card),
                          card)
        self.emit(store, self.later(first, self.rng.uniform(20, 60) * 60), "SALE", Decimal(first["amount"]), card,
                  label=Label("none", "same_amount_later"))

    def recharge_after_void(self) -> None:
        store, day = self.pick(online=False)
        card = self.regular(store)
        amount = self.amount(store, card)
        sale = self.emit(store, self.local(store, day, self.open_minute(store)), "SALE", amount, card)
        void = self.emit(store, self.later(sale, self.rng.uniform(20, 60)), "VOID", amount, card,
                         cashier=sale["cashier"], reference=sale["reference"])
        self.emit(store, self.later(void, self.rng.uniform(30, 120)), "SALE", amount, card, cashier=sale["cashier"],
                  label=Label("none", "recharge_after_void"))

    def two_stores_one_metro(self) -> None:
        physical = [s for s in self.stores if not s.online and s.metro]
        metros = sorted({s.metro for s in physical if s.metro and sum(t.metro == s.metro for t in physical) > 1})
        if not metros:
            return
        metro = self.rng.choice(metros)
        a, b = self.rng.sample([s for s in physical if s.metro == metro], 2)
        day, card = self.rng.randrange(self.days), self.regular(a)
        first = self.emit(a, self.local(a, day, self.rng.uniform(11 * 60, 17 * 60)), "SALE", self.amount(a), card)
        self.emit(b, self.later(first, self.rng.uniform(8, 40) * 60).astimezone(self.zones[b.code]), "SALE",
                  self.amount(b), card, label=Label("none", "two_stores_one_metro"))

    def store_and_online(self) -> None:
        store, day = self.pick(online=False)
        online = next(s for s in self.stores if s.online)
        card = self.regular(store)
        first = self.emit(store, self.local(store, day, self.open_minute(store)), "SALE", self.amount(store), card)
        self.emit(online, self.later(first, self.rng.uniform(3, 30) * 60).astimezone(self.zones[online.code]),
                  "SALE", self.amount(online), card, label=Label("none", "store_and_online"))

    def small_refund_after_close(self) -> None:
        """A refund of its sale under 200.00, 12 to 90 minutes after closing (the manager stayed late)."""
        store, day = self.pick(online=False)
        card = self.regular(store)
        sale = self.emit(store, self.local(store, day, self.open_minute(store)), "SALE",
                         Decimal(f"{self.rng.uniform(20, 199.99):.2f}"), card)
        _, closes = self.hours(store)
        self.emit(store, self.local(store, day, closes + self.rng.uniform(12, 90)), "REFUND", Decimal(sale["amount"]),
                  card, reference=sale["reference"], label=Label("none", "small_refund_after_close"))

    def closeout_refund(self) -> None:
        """A large refund of its sale in the minutes after closing, while the tills are closed out (at a store whose
        sales run that large)."""
        store, day = self.pick(stores=[s for s in self.stores if not s.online and s.median >= 40])
        card = self.regular(store)
        sale = self.emit(store, self.local(store, day, self.open_minute(store)), "SALE",
                         Decimal(f"{self.rng.uniform(200, 600):.2f}"), card)
        _, closes = self.hours(store)
        self.emit(store, self.local(store, day, closes + self.rng.uniform(0, 9.5)), "REFUND", Decimal(sale["amount"]),
                  card, reference=sale["reference"], label=Label("none", "closeout_refund"))

    def trainee_voids(self, day: int) -> None:
        """A trainee's 4 to 6 voids over a morning (2.5 to 4 hours)."""
        store = self.rng.choice([s for s in self.stores if not s.online])
        cashier = self.trainee[store.code]
        opens, _ = self.hours(store)
        start = self.local(store, day, opens + self.rng.uniform(15, 60))
        n = self.rng.randint(4, 6)
        span = self.rng.uniform(150, 240) * 60
        moments = sorted(self.rng.uniform(0, span) for _ in range(n))
        for moment in moments:
            card = self.regular(store)
            sale = self.emit(store, start + timedelta(seconds=moment), "SALE", self.amount(store, card), card,
                             cashier=cashier)
            self.emit(store, self.later(sale, self.rng.uniform(20, 90)), "VOID", Decimal(sale["amount"]), card,
                      cashier=cashier, reference=sale["reference"], label=Label("none", "trainee_voids"))

    def big_basket(self) -> None:
        """A big but legitimate basket, 8 to 25 times the median, at a store where big baskets happen."""
        store, day = self.pick(first_day=2, stores=[s for s in self.stores if s.big])
        amount = Decimal(f"{store.median * math.exp(self.rng.uniform(math.log(8), math.log(25))):.2f}")
        self.emit(store, self.local(store, day, self.open_minute(store)), "SALE", amount, self.regular(store),
                  label=Label("none", "big_basket"))

    def traveller(self) -> None:
        """A card holder who flies between metros: 1 to 2.5 hours door to door on top of the flight at 750 km/h
        (Chicago to New York in 2.5 to 4 hours)."""
        a, b = self._two_metros()
        day, card = self.rng.randrange(self.days), self.card()
        first = self.emit(a, self.local(a, day, self.rng.uniform(8 * 60, 10 * 60)), "SALE", self.amount(a), card)
        hours = _km(a.metro or "", b.metro or "") / 750 + self.rng.uniform(1.0, 2.5)
        self.emit(b, self.later(first, hours * 3600).astimezone(self.zones[b.code]), "SALE", self.amount(b), card,
                  label=Label("none", "traveller"))


def generate(month: date, seed: int, *, stores: Sequence[Store] = STORES, rows_per_day: int = 4000,
             days: int | None = None, plants: int | None = None) -> tuple[list[dict[str, Any]], dict[str, Label]]:
    """The rows of ``month`` (its first ``days`` days if given) in no particular order, and the planted truth.

    Each pattern and each look-alike is planted ``plants`` times (default: one every two or three days).
    """
    first = month.replace(day=1)
    length = ((first + timedelta(days=32)).replace(day=1) - first).days
    span = length if days is None else min(days, length)
    m = _Month(random.Random(seed), first, span, stores, rows_per_day)
    m.background()
    times = plants if plants is not None else max(4, span // 2)
    frauds = (m.card_testing_one_card, m.card_testing_many_cards, m.duplicate_charge, m.refund_without_sale,
              m.refund_to_new_card, m.off_hours_refund, m.void_spike, m.amount_outlier, m.impossible_travel)
    alikes = (m.decline_retry, m.second_purchase, m.same_amount_later, m.recharge_after_void, m.two_stores_one_metro,
              m.store_and_online, m.small_refund_after_close, m.closeout_refund, m.big_basket, m.traveller)
    for _ in range(times):
        for plant in (*frauds, *alikes):
            plant()
    for day in m.rng.sample(range(span), k=min(span, times)):
        m.trainee_voids(day)
    m.rng.shuffle(m.rows)
    return m.rows, m.truth


def locations(stores: Sequence[Store] = STORES) -> dict[str, dict[str, Any]]:
    """The ``--locations`` file of the month's stores."""
    return {s.code: s.location() for s in stores}


def write(rows: Iterable[dict[str, Any]], truth: dict[str, Label], rows_path: Path, truth_path: Path) -> None:
    """Rows as ``hl365 anomalies`` reads them; truth one ``{"id", "pattern", "look_alike", "incident"}`` a line."""
    encode = msgspec.json.encode
    with rows_path.open("wb") as sink:
        for row in rows:
            sink.write(encode(row) + b"\n")
    with truth_path.open("wb") as sink:
        for row_id, label in sorted(truth.items()):
            sink.write(encode({"id": row_id, "pattern": label.pattern, "look_alike": label.look_alike,
                               "incident": label.incident}) + b"\n")


def read_truth(path: Path) -> dict[str, Label]:
    out: dict[str, Label] = {}
    for line in path.read_bytes().splitlines():
        if line.strip():
            raw = msgspec.json.decode(line)
            out[raw["id"]] = Label(raw["pattern"], raw.get("look_alike", ""), raw.get("incident", ""))
    return out


@dataclass
class Score:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass
class Figures:
    overall: Score
    """Row level (micro) over every pattern."""
    patterns: dict[str, Score]
    """Row level per pattern."""
    incidents: Score
    """Incident level: ``tp`` incidents detected, ``fn`` missed, ``fp`` rows falsely flagged (once a row)."""
    incident_patterns: dict[str, Score]
    """Incident level per pattern (``fp`` rows falsely flagged with that pattern)."""
    look_alikes: dict[str, tuple[int, int]]
    """Per look-alike kind: (rows of that kind, those flagged under any pattern)."""
    ordinary_flagged: int
    """Rows neither planted nor look-alike that carry a flag."""
    wrong: list[tuple[str, str, str]]
    """(id, flagged pattern, what the row really is) of each false positive, for a person tuning thresholds."""
    missed: list[tuple[str, str]]
    """(id, pattern) of each planted row its pattern did not flag."""
    missed_incidents: list[str] = field(default_factory=list)
    """Incidents none of whose rows was flagged with their pattern."""


def evaluate(flags: Iterable[Flag], truth: dict[str, Label]) -> Figures:
    """Precision, recall and F1 of ``flags`` against the planted truth, per row and per incident, overall and
    per pattern (the rules are the module's), and the false alarms on each kind of look-alike."""
    patterns = {p: Score() for p in PATTERNS}
    by_incident = {p: Score() for p in PATTERNS}
    found: set[tuple[str, str]] = set()
    flagged_ids: set[str] = set()
    false_rows: set[str] = set()
    false_by_pattern: dict[str, set[str]] = {p: set() for p in PATTERNS}
    wrong: list[tuple[str, str, str]] = []
    for flag in flags:
        found.add((flag.id, flag.pattern))
        flagged_ids.add(flag.id)
        label = truth.get(flag.id)
        score = patterns.setdefault(flag.pattern, Score())
        if label is not None and label.pattern == flag.pattern:
            score.tp += 1
        else:
            score.fp += 1
            false_rows.add(flag.id)
            false_by_pattern.setdefault(flag.pattern, set()).add(flag.id)
            wrong.append((flag.id, flag.pattern, "ordinary" if label is None else label.look_alike or label.pattern))
    kinds: dict[str, list[int]] = {k: [0, 0] for k in LOOK_ALIKES}
    missed: list[tuple[str, str]] = []
    incidents: dict[str, tuple[str, bool]] = {}
    for row_id, label in truth.items():
        if label.pattern == "none":
            counts = kinds.setdefault(label.look_alike, [0, 0])
            counts[0] += 1
            counts[1] += row_id in flagged_ids
            continue
        hit = (row_id, label.pattern) in found
        if not hit:
            patterns.setdefault(label.pattern, Score()).fn += 1
            missed.append((row_id, label.pattern))
        name = label.incident or row_id
        incidents[name] = (label.pattern, incidents.get(name, (label.pattern, False))[1] or hit)
    for pattern, hit in incidents.values():
        score = by_incident.setdefault(pattern, Score())
        if hit:
            score.tp += 1
        else:
            score.fn += 1
    for pattern, rows in false_by_pattern.items():
        by_incident.setdefault(pattern, Score()).fp = len(rows)
    overall = Score(sum(s.tp for s in patterns.values()), sum(s.fp for s in patterns.values()),
                    sum(s.fn for s in patterns.values()))
    incident_overall = Score(sum(s.tp for s in by_incident.values()), len(false_rows),
                             sum(s.fn for s in by_incident.values()))
    ordinary = len({i for i in flagged_ids if i not in truth})
    return Figures(overall, patterns, incident_overall, by_incident, {k: (v[0], v[1]) for k, v in kinds.items()},
                   ordinary, wrong, sorted(missed), sorted(n for n, (_, hit) in incidents.items() if not hit))


def table(figures: Figures) -> str:
    """The figures as a plain-text table: per row and per incident, then the look-alikes."""
    head = (f"{'':<22}{'rows (micro)':^54}|{'incidents':^46}\n"
            f"{'pattern':<22}{'planted':>8}{'flagged':>8}{'TP':>6}{'FP':>6}{'FN':>6}{'prec':>7}{'recall':>7}"
            f"{'F1':>6} |{'planted':>8}{'found':>7}{'false':>7}{'prec':>8}{'recall':>8}{'F1':>7}")
    lines = head.splitlines()
    rows = [(name, s, figures.incident_patterns.get(name, Score())) for name, s in figures.patterns.items()]
    for name, s, i in [*rows, ("overall", figures.overall, figures.incidents)]:
        if name == "overall":
            lines.append("-" * len(lines[1]))
        lines.append(f"{name:<22}{s.tp + s.fn:>8}{s.tp + s.fp:>8}{s.tp:>6}{s.fp:>6}{s.fn:>6}"
                     f"{s.precision:>7.3f}{s.recall:>7.3f}{s.f1:>6.3f} |{i.tp + i.fn:>8}{i.tp:>7}{i.fp:>7}"
                     f"{i.precision:>8.3f}{i.recall:>8.3f}{i.f1:>7.3f}")
    lines.append("(incident false = rows flagged with a pattern they are not planted with, once a row; "
                 f"{figures.ordinary_flagged} of them ordinary rows, the rest look-alikes or planted rows)")
    lines.append("")
    lines.append(f"{'look-alike':<26}{'rows':>6}{'flagged':>9}")
    for kind, (count, flagged) in figures.look_alikes.items():
        lines.append(f"{kind:<26}{count:>6}{flagged:>9}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--month", default="2026-11", help="YYYY-MM")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rows-per-day", type=int, default=4000)
    parser.add_argument("--days", type=int, default=None, help="only the month's first N days")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    month = date.fromisoformat(f"{args.month}-01")
    args.out.mkdir(parents=True, exist_ok=True)
    rows, truth = generate(month, args.seed, rows_per_day=args.rows_per_day, days=args.days)
    rows_path, truth_path = args.out / "rows.jsonl", args.out / "truth.jsonl"
    write(rows, truth, rows_path, truth_path)
    (args.out / "locations.json").write_bytes(msgspec.json.encode(locations()))
    started = time.perf_counter()
    reader = Reader(str(rows_path))
    flags = detect(reader.read(rows_path), load_locations(args.out / "locations.json"))
    seconds = time.perf_counter() - started
    (args.out / "flags.jsonl").write_bytes(b"".join(msgspec.json.encode(f) + b"\n" for f in flags))
    figures = evaluate(flags, truth)
    print(f"{args.month}, seed {args.seed}: {len(rows):,} rows, {len(flags):,} flags in {seconds:.1f} s "
          f"(read and detect); {reader.malformed} malformed")
    print(table(figures))
    for row_id, pattern, really in figures.wrong[:20]:
        print(f"false positive: {row_id} flagged {pattern}, really {really}", file=sys.stderr)
    for row_id, pattern in figures.missed[:20]:
        print(f"missed: {row_id} planted {pattern}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
