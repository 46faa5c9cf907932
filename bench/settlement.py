"""Settlement build at volume: ``python -m bench.settlement [--transactions N] [--mode M]``.

The real GP and Retail clients read pages served by an ``httpx.MockTransport`` from templates, so
the figure is the product's own parsing and building, not a simulator's. Modes, each run in a
fresh process so its peak memory is its own:

* ``generate``: only render the pages (the cost the other two share and that is subtracted);
* ``parse``: stream both sources through the clients (JSON + model validation), discarding records;
* ``build``: the same streams through the normalisers into the settlement builder, journals proven.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

import httpx

from shared.flows.settlement_builder import SettlementBuilder
from shared.heartland.gp import GpApiClient
from shared.heartland.retail import RetailClient
from shared.heartland.sources import GpSettlement, RetailTickets
from shared.mapping.loader import load

DAY = date(2026, 11, 26)
PAGE = 1000
BATCHES = 8
LETTERS = "abcdefghijklmnopqrstuvwxyz"


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


def transport(total: int) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        page = int(request.url.params.get("page", "1"))
        if path.endswith("/accesstoken"):
            return httpx.Response(200, json={"token": "t", "seconds_to_expire": 86400, "scope": {
                "merchant_id": "MER_bench", "accounts": [{"id": "TRA_x", "name": "Transaction_Processing"},
                                                         {"id": "DAA_x", "name": "Settlement_Reporting"}]}})
        if path.endswith("/settlement/transactions"):
            return httpx.Response(200, content=gp_page(page, total) if (page - 1) * PAGE < total else
                                  b'{"paging":{},"total_record_count":%d,"transactions":[]}' % total)
        if path.endswith("/settlement/deposits"):
            return httpx.Response(200, content=deposits(total) if page == 1 else b'{"deposits":[]}')
        if path.endswith("/sales/tickets"):
            return httpx.Response(200, content=ticket_page(page, total))
        return httpx.Response(404, json={"message": "not in the bench"})

    return httpx.MockTransport(handler)


def run(mode: str, total: int) -> dict[str, Any]:
    mock = transport(total)
    gp = GpApiClient("http://gp.bench/ucp", "app", "key", transport=mock)
    retail = RetailClient("http://retail.bench/api", "token", transport=mock)
    settlement = GpSettlement(gp, timezone="America/Chicago")
    tickets = RetailTickets(retail, timezone="America/Chicago")
    started = time.perf_counter()
    journals = 0
    if mode == "generate":
        for page in range(1, -(-total // PAGE) + 1):
            gp_page(page, total)
            ticket_page(page, total)
    elif mode == "parse":
        for _ in gp.iter_settlement_transactions(DAY, DAY, page_size=PAGE):
            pass
        for _ in gp.iter_deposits(DAY, DAY, page_size=PAGE):
            pass
        for _ in retail.iter_tickets(completed_from=_day()[0], completed_to=_day()[1], per_page=PAGE):
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
    elapsed = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"mode": mode, "transactions": total, "seconds": round(elapsed, 2), "peak_mb": round(peak_mb, 1),
            "journals": journals}


def _day() -> tuple[Any, Any]:
    from shared.heartland.sources import business_day_window

    return business_day_window(DAY, "America/Chicago")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--transactions", type=int, default=1_000_000)
    parser.add_argument("--mode", choices=("generate", "parse", "build"))
    args = parser.parse_args()
    if args.mode:
        print(json.dumps(run(args.mode, args.transactions)))
        return
    results = {}
    for mode in ("generate", "parse", "build"):
        out = subprocess.run([sys.executable, "-m", "bench.settlement", "--mode", mode, "--transactions",
                              str(args.transactions)], capture_output=True, text=True, check=True)
        results[mode] = json.loads(out.stdout)
    generate, parse, build = (results[m]["seconds"] for m in ("generate", "parse", "build"))
    print(f"settlement build, {args.transactions:,} card transactions and as many POS tickets, pages of {PAGE}:")
    print(f"  render pages only: {generate:.1f} s")
    print(f"  parse only (clients' JSON + models): {parse:.1f} s, peak {results['parse']['peak_mb']:.0f} MB")
    print(f"  build (parse + normalise + fold + journals): {build:.1f} s, peak {results['build']['peak_mb']:.0f} MB, "
          f"{results['build']['journals']} journals")
    ratio = (build - generate) / max(parse - generate, 1e-9)
    print(f"  build / parse, page rendering subtracted from both: {ratio:.2f} (target <= 5); "
          f"targets: <= 30 s, <= 300 MB")


if __name__ == "__main__":
    main()
