"""Sales orders in an ERP simulator and the card payments that pay them in the GP simulator.

The ground truth the payment tests, the demo and the benchmark check the customer ledger against:
which transaction pays which order, for how much, and which were refunded or reversed.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sandbox.scenario.transactions import BRANDS
from shared.mapping.schema import MappingConfig

ITEM = "HL-ITEM"


@dataclass(frozen=True)
class Order:
    number: str
    customer: str
    amount: Decimal


@dataclass
class PaymentTruth:
    """What the gateway did; ``expected`` is the net each order's customer payments must come to."""

    sales: dict[str, Order] = field(default_factory=dict)  # transaction id → the order it pays
    amounts: dict[str, Decimal] = field(default_factory=dict)  # transaction id → amount
    refunds: dict[str, str] = field(default_factory=dict)  # refund id → the sale it refunds
    reversed: set[str] = field(default_factory=set)
    declined: set[str] = field(default_factory=set)
    pos: set[str] = field(default_factory=set)  # POS sales: booked by the settlement journal, never here

    def net(self, transaction_id: str) -> Decimal:
        """What the customer ledger must hold for one transaction once every notification is in."""
        if transaction_id in self.reversed or transaction_id in self.declined or transaction_id in self.pos:
            return Decimal(0)
        amount = self.amounts[transaction_id]
        return -amount if transaction_id in self.refunds else amount


def prepare_customer_ledger(erp: str, sim: Any, mapping: MappingConfig, *, bank: str) -> None:
    """Payment methods, the payment journal and the item orders use, as set up before go-live."""
    rules = mapping.customer_payments
    if erp == "fo":
        sim.add_journal_name(rules.journal_name, "CustPayment", voucher_series="CPAY")
        existing = {row["Name"] for row in sim.rows("CustomerPaymentMethods")}
        for rule in {r.method: r for r in mapping.payment_types.values()}.values():
            if rule.method not in existing:
                sim.add_payment_method(rule.method, account_type="Ledger", account=rule.clearing_account)
        if not any(row["ItemNumber"] == ITEM for row in sim.rows("ReleasedProductsV2")):
            sim.add_product(ITEM, "Web order", price=Decimal("1.00"))
    else:
        sim.add_journal(rules.journal_name.upper(), "Heartland card payments", customer_payments=True,
                        balancing_account=bank)


def seed_orders(erp: str, sim: Any, rng: random.Random, count: int, *, customers: int = 20) -> list[Order]:
    """``count`` orders over ``customers`` customers, amounts 5.00 to 500.00; in BC, posted invoices."""
    accounts = [f"WEB-{n:04d}" for n in range(1, customers + 1)]
    for account in accounts:
        if erp == "fo":
            sim.add_customer(account, f"Web customer {account}", currency="USD")
        else:
            sim.add_customer(account, f"Web customer {account}")
    orders = []
    for _ in range(count):
        customer = rng.choice(accounts)
        amount = Decimal(rng.randrange(500, 50_000)).scaleb(-2)
        if amount.as_tuple().digits[-2:] == (5, 1):  # the GP simulator declines amounts ending in 51
            amount += Decimal("0.01")
        if erp == "fo":
            order = sim.add_sales_order(customer, [{"ItemNumber": ITEM, "OrderedSalesQuantity": Decimal(1),
                                                    "SalesPrice": amount, "LineAmount": amount}], confirm=False)
            orders.append(Order(str(order["SalesOrderNumber"]), customer, amount))
        else:
            invoice = sim.add_sales_invoice(customer, [{"lineType": "Account", "lineObjectNumber": "40100",
                                                        "quantity": Decimal(1), "unitPrice": amount}])
            orders.append(Order(str(invoice["number"]), customer, amount))
    return orders


def pay_orders(gp: Any, orders: list[Order], rng: random.Random, truth: PaymentTruth, *,
               refund_rate: float = 0.1, reversal_rate: float = 0.1,
               at: datetime | None = None) -> list[tuple[str, str]]:
    """Charge every order in the GP simulator, refund and reverse some; returns the ``(id, status)``
    notifications GP sends for them, in the order it would. ``at`` dates the charges (default: now)."""
    notifications: list[tuple[str, str]] = []
    for order in orders:
        sale = gp.add_transaction(int(order.amount.scaleb(2)), reference=order.number, brand=rng.choice(BRANDS),
                                  channel="CNP", entry_mode="ECOM", time_created=at)
        truth.sales[sale["id"]] = order
        truth.amounts[sale["id"]] = order.amount
        notifications.append((sale["id"], "CAPTURED"))
        roll = rng.random()
        if roll < reversal_rate:
            gp.reverse_transaction(sale["id"])
            truth.reversed.add(sale["id"])
            notifications.append((sale["id"], "REVERSED"))
        elif roll < reversal_rate + refund_rate:
            part = max(Decimal("0.01"), (order.amount * Decimal(rng.choice((25, 50, 100))) / 100).quantize(
                Decimal("0.01")))
            refund = gp.add_transaction(int(part.scaleb(2)), kind="REFUND", reference=order.number,
                                        parent_resource_id=sale["id"], brand="VISA", channel="CNP",
                                        entry_mode="ECOM", time_created=at)
            truth.refunds[refund["id"]] = sale["id"]
            truth.amounts[refund["id"]] = part
            notifications.append((refund["id"], "CAPTURED"))
    return notifications


def customer_ledger(erp: str, sim: Any) -> list[tuple[str, Decimal]]:
    """``(external key, amount received)`` of every customer payment line the ERP simulator holds."""
    if erp == "fo":
        return [(str(line["PaymentReference"]).upper(), line["CreditAmount"] - line["DebitAmount"])
                for line in sim.rows("CustomerPaymentJournalLines")]
    return [(str(line["externalDocumentNumber"]).upper(), -Decimal(str(line["amount"])))
            for line in sim.records("customerPayments")]


def ledger_check(truth: PaymentTruth, ledger: list[tuple[str, Decimal]]) -> tuple[list[dict[str, str]],
                                                                               list[dict[str, str]]]:
    """The order payments the ledger got wrong, against the gateway's ground truth: ``(lost, double_posted)``,
    each entry a key with the net the gateway says and the net the ledger holds (USD, the orders' currency).

    Lost: a transaction whose lines do not net to what the gateway did (missing, or a reversal without its
    reverse entry). Double-posted: a key written more than once."""
    keys = Counter(key for key, _ in ledger)
    net: dict[str, Decimal] = {}
    for key, amount in ledger:
        transaction = key.removeprefix("HPY-").removesuffix("-REV")
        net[transaction] = net.get(transaction, Decimal(0)) + amount
    upper = {t.upper(): t for t in set(truth.sales) | set(truth.refunds)}

    def entry(key: str, transaction: str) -> dict[str, str]:
        expected = truth.net(upper[transaction]) if transaction in upper else Decimal(0)
        return {"key": key, "expected": str(expected), "posted": str(net.get(transaction, Decimal(0))),
                "currency": "USD"}

    lost = [entry(f"HPY-{t}", t) for t in sorted(upper) if net.get(t, Decimal(0)) != truth.net(upper[t])]
    doubled = [entry(k, k.removeprefix("HPY-").removesuffix("-REV")) | {"times": str(n)}
               for k, n in sorted(keys.items()) if n > 1]
    return lost, doubled
