"""Settlement close at volume: ``python -m bench.settlement [--transactions N] [--mode M]``.

The real GP and Retail clients read pages served by an ``httpx.MockTransport`` from templates, so
the figure is the product's own decoding and building, not a simulator's. Modes, each run in a
fresh process so its peak memory is its own, each printing one JSON line:

* ``generate``: only render the pages;
* ``floor``: decode the same pages with msgspec into structs of only the fields a journal reads, with
  no HTTP and no normalising: what reading the day cannot go below in Python;
* ``parse``: stream both sources through the clients' settlement reads, discarding the rows;
* ``build``: the same streams normalised and folded by the settlement builder, journals proven balanced.

Every mode times its page rendering (``render_seconds``) so the ratio of build to floor can leave it out.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import msgspec

from shared.canonical.settlement import business_day_window
from shared.flows.settlement_builder import SettlementBuilder
from shared.heartland.gp import GpApiClient
from shared.heartland.retail import RetailClient
from shared.heartland.sources import GpSettlement, RetailTickets
from shared.mapping.loader import load

DAY = date(2026, 11, 26)
PAGE = 1000
BATCHES = 8
LETTERS = "abcdefghijklmnopqrstuvwxyz"
MODES = ("generate", "floor", "parse", "build")
AIM_RATIO, AIM_PEAK_MB = 3.0, 300.0


def code(number: int, width: int) -> str:
    out = []
    for _ in range(width):
        number, digit = divmod(number, 26)
        out.append(LETTERS[digit])
    return "".join(reversed(out))


GP_ROW = (
    '{"id":"TRN_%(id)s","time_created":"2026-11-26T18:02:05.235Z","type":"SALE","status":"FUNDED","channel":"CP",'
    '"capture_mode":"AUTO","amount":"1063","currency":"USD","country":"US","merchant_id":"MER_bench",'
    '"account_id":"TRA_bench","account_name":"Transaction_Processing","reference":"HR-%(id)s","batch_id":"%(batch)s",'
    '"payment_method":{"result":"00","message":"APPROVAL","entry_mode":"CHIP","card":{"brand":"VISA",'
    '"masked_number_first6last4":"411111XXXXXX1111","authcode":"123456","brand_reference":"brf","arn":"arn",'
    '"funding":"CREDIT"}},"deposit_id":"DEP_%(batch)s","deposit_status":"FUNDED","deposit_time_created":"2026-11-27",'
    '"deposit_amount":"100","batch_time_created":"2026-11-27T05:00:00Z",'
    '"time_created_reference":"2026-11-26T18:02:05.235Z","order":{"reference":"HR-%(id)s"},'
    '"system":{"mid":"1","hierarchy":"h","name":"n","dba":"d","tid":"t"},'
    '"action":{"id":"ACT_x","type":"TRANSACTION_SINGLE","result_code":"SUCCESS"}}'
)
TICKET = (
    '{"id":%(number)d,"status":"complete","location_id":1,"station_id":101,"total":"10.63",'
    '"completed_at":"2026-11-26T12:02:05-06:00","lines":['
    '{"id":%(number)d,"type":"ItemLine","department":"Apparel","qty":1,"unit_price":"10.00","extended_price":"10.00",'
    '"discounts":[],"discount_total":"0.00","net_amount":"10.00","taxes":[{"name":"State","rate":"0.0625",'
    '"amount":"0.63"}],"tax_total":"0.63"}],'
    '"payments":[{"id":%(number)d,"payment_type_id":2,"type":"CreditCardPayment","amount":"10.63","tip":"0.00",'
    '"card_brand":"VISA","card_last4":"1111","auth_code":"123456","gateway_transaction_id":"TRN_%(id)s",'
    '"gateway_reference":"HR-%(id)s"}]}'
)


def gp_page(page: int, total: int) -> bytes:
    first = (page - 1) * PAGE
    rows = [GP_ROW % {"id": code(n, 6), "batch": f"BAT_{code(n % BATCHES, 2)}"}
            for n in range(first, min(first + PAGE, total))]
    return (f'{{"paging":{{"page":{page},"page_size":{PAGE}}},"total_record_count":{total},'
            f'"transactions":[{",".join(rows)}]}}').encode()


def ticket_page(page: int, total: int) -> bytes:
    first = (page - 1) * PAGE
    rows = [TICKET % {"number": n + 1, "id": code(n, 6)} for n in range(first, min(first + PAGE, total))]
    pages = -(-total // PAGE)
    return f'{{"results":[{",".join(rows)}],"total":{total},"pages":{pages}}}'.encode()


def deposits(total: int) -> bytes:
    per_batch = {b: 0 for b in range(BATCHES)}
    for n in range(total):
        per_batch[n % BATCHES] += 1063
    rows = [{"id": f"DEP_BAT_{code(b, 2)}", "time_created": "2026-11-27", "status": "FUNDED",
             "amount": str(v - v // 40), "currency": "USD", "sales": {"count": 1, "amount": str(v)},
             "refunds": {"count": 0, "amount": ""},
             "discounts": {"count": 0, "amount": ""}, "tax": {"count": 0, "amount": ""},
             "disputes": {"chargebacks": {"count": 0, "amount": ""}, "reversals": {"count": 0, "amount": ""}},
             "fees": {"amount": str(-(v // 40))}} for b, v in per_batch.items()]
    return json.dumps({"paging": {"page": 1}, "total_record_count": len(rows), "deposits": rows}).encode()


class Pages:
    """The bench's pages for a day of ``total`` transactions, keeping the time spent rendering them."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.count = -(-total // PAGE)
        self.seconds = 0.0

    def _timed(self, render: Callable[..., bytes], *args: int) -> bytes:
        started = time.perf_counter()
        try:
            return render(*args)
        finally:
            self.seconds += time.perf_counter() - started

    def settled(self, page: int) -> bytes:
        if page > self.count:
            return b'{"paging":{},"total_record_count":%d,"transactions":[]}' % self.total
        return self._timed(gp_page, page, self.total)

    def tickets(self, page: int) -> bytes:
        return self._timed(ticket_page, page, self.total)

    def deposits(self) -> bytes:
        return self._timed(deposits, self.total)


def transport(pages: Pages) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        page = int(request.url.params.get("page", "1"))
        if path.endswith("/accesstoken"):
            return httpx.Response(200, json={"token": "t", "seconds_to_expire": 86400, "scope": {
                "merchant_id": "MER_bench", "accounts": [{"id": "TRA_x", "name": "Transaction_Processing"},
                                                         {"id": "DAA_x", "name": "Settlement_Reporting"}]}})
        if path.endswith("/settlement/transactions"):
            return httpx.Response(200, content=pages.settled(page))
        if path.endswith("/settlement/deposits"):
            return httpx.Response(200, content=pages.deposits() if page == 1 else b'{"deposits":[]}')
        if path.endswith("/sales/tickets"):
            return httpx.Response(200, content=pages.tickets(page))
        return httpx.Response(404, json={"message": "not in the bench"})

    return httpx.MockTransport(handler)


# The floor's structs: the fields a journal reads from each page, typed, nothing else.


class _Card(msgspec.Struct):
    brand: str | None = None
    authcode: str | None = None


class _Method(msgspec.Struct):
    card: _Card | None = None


class _Settled(msgspec.Struct):
    id: str
    time_created: datetime
    type: str
    status: str
    amount: str
    currency: str
    batch_id: str | None = None
    deposit_id: str | None = None
    reference: str | None = None
    payment_method: _Method | None = None


class _SettledPage(msgspec.Struct):
    transactions: list[_Settled]
    total_record_count: int = 0


class _Fees(msgspec.Struct):
    amount: str = ""


class _Deposit(msgspec.Struct):
    id: str
    time_created: date
    status: str
    amount: str
    currency: str
    fees: _Fees


class _DepositPage(msgspec.Struct):
    deposits: list[_Deposit]


class _Tax(msgspec.Struct):
    name: str
    amount: Decimal


class _Line(msgspec.Struct):
    type: str
    department: str | None
    qty: Decimal
    extended_price: Decimal
    discount_total: Decimal
    taxes: list[_Tax]


class _Payment(msgspec.Struct):
    payment_type_id: int
    type: str
    amount: Decimal
    tip: Decimal | None = None
    card_brand: str | None = None
    auth_code: str | None = None
    gateway_transaction_id: str | None = None
    gateway_reference: str | None = None


class _Ticket(msgspec.Struct):
    id: int
    status: str
    location_id: int | None
    completed_at: datetime
    lines: list[_Line]
    payments: list[_Payment]


class _TicketPage(msgspec.Struct):
    results: list[_Ticket]
    pages: int


def floor(pages: Pages) -> int:
    """The decode floor: the bench's pages into structs of only what a journal reads, nothing else."""
    decoded = 0
    settled, tickets = msgspec.json.Decoder(_SettledPage), msgspec.json.Decoder(_TicketPage)
    for page in range(1, pages.count + 1):
        decoded += len(settled.decode(pages.settled(page)).transactions)
        decoded += len(tickets.decode(pages.tickets(page)).results)
    return decoded + len(msgspec.json.decode(pages.deposits(), type=_DepositPage).deposits)


def run(mode: str, total: int) -> dict[str, Any]:
    pages = Pages(total)
    mock = transport(pages)
    gp = GpApiClient("http://gp.bench/ucp", "app", "key", transport=mock)
    retail = RetailClient("http://retail.bench/api", "token", transport=mock)
    settlement = GpSettlement(gp, timezone="America/Chicago", page_size=PAGE)
    tickets = RetailTickets(retail, timezone="America/Chicago", per_page=PAGE)
    started = time.perf_counter()
    journals = 0
    if mode == "generate":
        for page in range(1, pages.count + 1):
            pages.settled(page)
            pages.tickets(page)
        pages.deposits()
    elif mode == "floor":
        floor(pages)
    elif mode == "parse":
        start, end = business_day_window(DAY, "America/Chicago")
        for _ in gp.iter_settled_rows(DAY, DAY + timedelta(days=1), page_size=PAGE):
            pass
        for _ in gp.iter_deposits(DAY, DAY, page_size=PAGE):
            pass
        for _ in retail.iter_ticket_rows(completed_from=start, completed_to=end, per_page=PAGE):
            pass
    else:
        mapping = load(Path(__file__).resolve().parents[1] / "mapping.yaml")
        builder = SettlementBuilder(mapping, merchant_id="MER_bench", business_date=DAY)
        for transaction in settlement.settled(DAY):
            builder.add_settled(transaction)
        for deposit in settlement.deposits(DAY, DAY):
            builder.add_deposit(deposit)
        for ticket in tickets.tickets(DAY):
            builder.add_ticket(ticket)
        journals = len(builder.journals())
        if builder.failures:
            raise SystemExit(f"batches failed: {builder.failures}")
    elapsed = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"mode": mode, "transactions": total, "seconds": round(elapsed, 2),
            "render_seconds": round(pages.seconds, 2), "peak_mb": round(peak_mb, 1), "journals": journals}


def measure(transactions: int) -> dict[str, dict[str, Any]]:
    """Every mode, each in a fresh process, by mode: the figures for a table of the benches."""
    results = {}
    for mode in MODES:
        out = subprocess.run([sys.executable, "-m", "bench.settlement", "--mode", mode, "--transactions",
                              str(transactions)], capture_output=True, text=True, check=True)
        results[mode] = json.loads(out.stdout)
    return results


def ratio(results: dict[str, dict[str, Any]], *, rendering: bool = False) -> float:
    """Build over floor seconds; page rendering subtracted from both unless ``rendering``."""
    build, floor_ = results["build"], results["floor"]
    if rendering:
        return float(build["seconds"]) / max(float(floor_["seconds"]), 1e-9)
    return (build["seconds"] - build["render_seconds"]) / max(floor_["seconds"] - floor_["render_seconds"], 1e-9)


def summary(results: dict[str, dict[str, Any]]) -> str:
    transactions = results["build"]["transactions"]
    net = ratio(results)
    peak = max(float(r["peak_mb"]) for r in results.values())
    met = net <= AIM_RATIO and peak <= AIM_PEAK_MB

    def row(mode: str, text: str) -> str:
        r = results[mode]
        return (f"  {text:<56} {r['seconds']:6.1f} s ({r['render_seconds']:.1f} s rendering), "
                f"peak {r['peak_mb']:.0f} MB")

    return "\n".join([
        f"settlement close, {transactions:,} card transactions and as many POS tickets, pages of {PAGE:,}:",
        f"  {'render pages only':<56} {results['generate']['seconds']:6.1f} s",
        row("floor", "floor (msgspec structs of the journal's fields)"),
        row("parse", "parse (the clients' settlement reads)"),
        row("build", "build (parse + normalise + fold + balanced journals)")
        + f", {results['build']['journals']} journals",
        f"  build / floor, page rendering subtracted from both: {net:.2f} "
        f"(with it in both: {ratio(results, rendering=True):.2f})",
        f"  aims: build <= {AIM_RATIO:g} x floor (rendering subtracted), peak <= {AIM_PEAK_MB:g} MB: "
        f"{'met' if met else 'NOT met'}",
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--transactions", type=int, default=1_000_000)
    parser.add_argument("--mode", choices=MODES)
    args = parser.parse_args()
    if args.mode:
        print(json.dumps(run(args.mode, args.transactions)))
        return
    print(summary(measure(args.transactions)))


if __name__ == "__main__":
    main()
