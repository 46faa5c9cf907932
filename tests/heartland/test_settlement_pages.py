"""The end-of-day close's hot reads: GP settlement rows and Retail tickets decoded straight from their pages,
through the real clients and sources over a mock transport. What the ledger gets must be exact to the cent,
signed the way it books, and a row or page that does not fit must say which one and why."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import httpx
import pytest

from shared.canonical.money import Money
from shared.canonical.payments import PaymentKind, PaymentStatus
from shared.canonical.settlement import LineKind, SettledTransaction, Ticket
from shared.errors import PermanentApiError, TransientApiError
from shared.heartland.gp import GpApiClient
from shared.heartland.retail import RetailClient
from shared.heartland.sources import GpSettlement, RetailTickets

DAY = date(2026, 11, 26)
CST = timezone(timedelta(hours=-6))
NOON = datetime(2026, 11, 26, 12, tzinfo=CST)

# -- GP settlement rows -------------------------------------------------------------------------------------------


def gp_row(id: str, amount: Any = "1063", **fields: Any) -> dict[str, Any]:
    return {"id": id, "time_created": "2026-11-26T18:02:05.235Z", "type": "SALE", "status": "FUNDED",
            "amount": amount, "currency": "USD", "batch_id": "BAT_1", "deposit_id": "DEP_1",
            "reference": f"HR-{id}", "account_name": "Transaction_Processing",
            "payment_method": {"result": "00", "card": {"brand": "VISA", "authcode": "123456",
                                                        "masked_number_first6last4": "411111XXXXXX1111"}},
            **fields}


def gp_client(body: Callable[[int], bytes]) -> GpApiClient:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/accesstoken"):
            return httpx.Response(200, json={"token": "t", "seconds_to_expire": 600, "scope": {
                "accounts": [{"id": "DAA_1", "name": "Settlement_Reporting"}]}})
        return httpx.Response(200, content=body(int(request.url.params["page"])))

    return GpApiClient("http://gp.test/ucp", "app", "key", transport=httpx.MockTransport(handler))


def gp_page(*rows: dict[str, Any]) -> Callable[[int], bytes]:
    document = {"paging": {"page_size": 100}, "total_record_count": len(rows), "transactions": list(rows)}
    return lambda _page: json.dumps(document).encode()


def settled(*rows: dict[str, Any]) -> list[SettledTransaction]:
    with gp_client(gp_page(*rows)) as client:
        return list(GpSettlement(client, timezone="UTC").settled(DAY))


def test_settled_amounts_are_exact_minor_units_refunds_negative() -> None:
    found = {t.id: t for t in settled(
        gp_row("TRN_sale"), gp_row("TRN_refund", "250", type="REFUND"), gp_row("TRN_yen", "1999", currency="JPY"),
        gp_row("TRN_int", 5), gp_row("TRN_big", "123456789012345"))}
    assert found["TRN_sale"].amount == Money.of("10.63", "USD") and found["TRN_sale"].kind is PaymentKind.SALE
    assert found["TRN_refund"].amount == Money.of("-2.50", "USD") and found["TRN_refund"].kind is PaymentKind.REFUND
    assert found["TRN_yen"].amount == Money.of("1999", "JPY")
    assert found["TRN_int"].amount == Money.of("0.05", "USD")
    assert found["TRN_big"].amount.amount == Decimal("1234567890123.45")
    assert all(type(t.amount.amount) is Decimal for t in found.values())


def test_a_settled_row_keeps_what_the_ledger_and_reconciliation_read() -> None:
    [row] = settled(gp_row("TRN_a", payment_method={"card": {"brand": "American Express", "authcode": "A1B2"}}))
    assert (row.batch_id, row.deposit_id, row.reference, row.auth_code) == ("BAT_1", "DEP_1", "HR-TRN_a", "A1B2")
    assert row.brand == "AMERICAN_EXPRESS" and row.status is PaymentStatus.FUNDED
    assert row.time_created == datetime(2026, 11, 26, 18, 2, 5, 235000, tzinfo=UTC)


def test_rows_outside_the_merchants_day_are_left_out() -> None:
    rows = [gp_row("TRN_first", time_created="2026-11-26T00:00:00Z"),
            gp_row("TRN_last", time_created="2026-11-26T23:59:59.999Z"),
            gp_row("TRN_next", time_created="2026-11-27T00:00:00Z"),
            gp_row("TRN_before", time_created="2026-11-25T23:59:59.999+00:00")]
    assert [t.id for t in settled(*rows)] == ["TRN_first", "TRN_last"]


@pytest.mark.parametrize(("fields", "field"), [
    ({"amount": 10.63}, "amount"),
    ({"amount": "10.63"}, "amount"),
    ({"currency": "XXY"}, "currency"),
    ({"time_created": "2026-11-26T18:02:05"}, "time_created"),
    ({"status": "MISLAID"}, "status"),
    ({"type": None}, "type"),
    ({"payment_method": {"card": {"brand": 7}}}, "payment_method.card.brand"),
    ({"batch_id": None}, "batch_id"),
])
def test_a_row_that_does_not_fit_names_the_transaction_and_the_field(fields: dict[str, Any], field: str) -> None:
    with pytest.raises(PermanentApiError) as caught:
        settled(gp_row("TRN_good"), gp_row("TRN_bad", **fields))
    assert caught.value.reason == "InvalidRecord" and caught.value.source == "gp"
    assert "TRN_bad" in caught.value.description and f"{field}: " in caught.value.description


def test_a_row_without_an_id_is_named_by_its_place() -> None:
    nameless = {k: v for k, v in gp_row("x").items() if k != "id"}
    with pytest.raises(PermanentApiError) as caught:
        settled(gp_row("TRN_good"), nameless)
    assert "row 2" in caught.value.description and "`id`" in caught.value.description


@pytest.mark.parametrize(("body", "says"), [
    (b"<html>gateway timeout</html>", "not JSON"),
    (b'{"transactions": {"id": "TRN_a"}}', "transactions"),
    (b"[]", "object"),
])
def test_a_page_that_is_not_a_page_of_transactions_is_an_invalid_response(body: bytes, says: str) -> None:
    with gp_client(lambda _page: body) as client, pytest.raises(TransientApiError) as caught:
        list(client.iter_settled_rows(DAY, DAY))
    assert caught.value.reason == "InvalidResponse"
    assert "settlement/transactions page 1" in caught.value.description and says in caught.value.description


# -- Retail tickets -----------------------------------------------------------------------------------------------


def ticket(id: int = 1, **fields: Any) -> dict[str, Any]:
    return {"id": id, "status": "complete", "location_id": 1, "total": "10.63",
            "completed_at": "2026-11-26T12:02:05-06:00",
            "lines": [{"id": 1, "type": "ItemLine", "department": "Apparel", "qty": 1, "unit_price": "10.00",
                       "extended_price": "10.00", "discounts": [], "discount_total": "0.00", "net_amount": "10.00",
                       "taxes": [{"name": "State", "rate": "0.0625", "amount": "0.63"}], "tax_total": "0.63"}],
            "payments": [{"id": 1, "payment_type_id": 2, "type": "CreditCardPayment", "amount": "10.63",
                          "tip": "0.00", "card_brand": "VISA", "card_last4": "1111", "auth_code": "123456",
                          "gateway_transaction_id": "TRN_a", "gateway_reference": "HR-a"}],
            **fields}


def retail_client(body: bytes) -> RetailClient:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/payment_types"):
            return httpx.Response(200, json={"results": [{"id": 9, "name": "House Account"}], "total": 1, "pages": 1})
        return httpx.Response(200, content=body)

    return RetailClient("http://retail.test/api", "token", transport=httpx.MockTransport(handler))


def tickets(*rows: dict[str, Any], raw: bytes | None = None) -> list[Ticket]:
    body = raw if raw is not None else json.dumps({"results": list(rows), "total": len(rows), "pages": 1}).encode()
    with retail_client(body) as client:
        return list(RetailTickets(client, timezone="America/Chicago").tickets(DAY))


def usd(amount: str) -> Money:
    return Money.of(amount, "USD")


def test_a_tickets_lines_taxes_and_payments_come_through_exactly() -> None:
    lines = [{"id": 1, "type": "ItemLine", "department": "Home Goods", "qty": 3, "extended_price": "59.97",
              "discount_total": "5.97", "taxes": [{"name": "State", "amount": "3.38"},
                                                  {"name": "City Tax", "amount": "0.54"}]},
             {"id": 2, "type": "GiftCardLine", "qty": 1, "extended_price": "50.00", "discount_total": "0.00",
              "gift_card_last4": "0042"}]
    payments = [{"id": 1, "payment_type_id": 3, "type": "GiftCardPayment", "amount": "10.00",
                 "gift_card_last4": "7788"},
                {"id": 2, "payment_type_id": 9, "type": "CustomPayment", "amount": "5.00"},
                {"id": 3, "payment_type_id": 2, "type": "CreditCardPayment", "amount": "92.92", "tip": "4.00",
                 "card_brand": "MasterCard", "card_last4": "5454", "auth_code": "OK1234",
                 "gateway_transaction_id": "TRN_fixed", "gateway_reference": "HR-SALE1"}]
    [sale] = tickets(ticket(7, lines=lines, payments=payments))
    assert (sale.id, sale.location_id, sale.completed_at) == ("7", "1", datetime(2026, 11, 26, 12, 2, 5, tzinfo=CST))
    item, gift = sale.lines
    assert (item.kind, item.department, item.amount, item.discount) == (LineKind.SALE, "HOME_GOODS", usd("59.97"),
                                                                        usd("5.97"))
    assert item.taxes == {"STATE": usd("3.38"), "CITY_TAX": usd("0.54")}
    assert (gift.kind, gift.amount, gift.discount, gift.taxes) == (LineKind.GIFT_CARD_SALE, usd("50.00"), None, {})
    assert [(p.payment_type, p.amount, p.tip) for p in sale.payments] == [
        ("GIFT_CARD", usd("10.00"), None), ("HOUSE_ACCOUNT", usd("5.00"), None),
        ("MASTERCARD", usd("92.92"), usd("4.00"))]
    card = sale.payments[2]
    assert (card.gateway_transaction_id, card.reference, card.auth_code) == ("TRN_fixed", "HR-SALE1", "OK1234")


def test_a_return_books_magnitudes_by_kind_and_its_refund_negative() -> None:
    line = {"id": 1, "type": "ItemLine", "department": "Apparel", "qty": -1, "extended_price": "-19.99",
            "discount_total": "-2.00", "taxes": [{"name": "State", "amount": "-1.12"}]}
    refund = {"id": 1, "payment_type_id": 2, "type": "CreditCardPayment", "amount": "-19.11", "card_brand": "VISA"}
    [returned] = tickets(ticket(lines=[line], payments=[refund]))
    [canonical] = returned.lines
    assert canonical.kind is LineKind.RETURN
    assert (canonical.amount, canonical.discount) == (usd("19.99"), usd("2.00"))
    assert canonical.taxes == {"STATE": usd("1.12")}
    assert returned.payments[0].amount == usd("-19.11")


def test_json_number_amounts_keep_every_cent() -> None:
    raw = (b'{"results":[{"id":1,"status":"complete","location_id":1,"completed_at":"2026-11-26T12:00:00-06:00",'
           b'"lines":[{"type":"ItemLine","qty":1,"extended_price":1234567890123.45,"discount_total":0.1,'
           b'"taxes":[{"name":"State","amount":0.07}]}],'
           b'"payments":[{"payment_type_id":1,"type":"CashPayment","amount":54.10}]}],"pages":1}')
    [found] = tickets(raw=raw)
    assert found.lines[0].amount.amount == Decimal("1234567890123.45")
    assert found.lines[0].discount == usd("0.10") and found.lines[0].taxes["STATE"] == usd("0.07")
    assert found.payments[0].amount.amount == Decimal("54.10") and found.payments[0].payment_type == "CASH"


def test_voided_and_other_days_tickets_are_left_out() -> None:
    rows = [ticket(1), ticket(2, status="voided")]
    assert [t.id for t in tickets(*rows)] == ["1"]


def test_a_card_number_in_a_ticket_is_refused_without_being_repeated() -> None:
    row = ticket(7)
    row["payments"][0]["card_last4"] = "4111111111111111"
    with pytest.raises(PermanentApiError) as caught:
        tickets(row)
    assert "Ticket 7" in caught.value.description and "payments[0].card_last4" in caught.value.description
    assert "4111111111111111" not in str(caught.value) and "411111" not in str(caught.value)


@pytest.mark.parametrize(("change", "field"), [
    (lambda t: t["lines"][0].update(extended_price=True), "lines[0].extended_price"),
    (lambda t: t["lines"][0]["taxes"][0].update(amount="a lot"), "lines[0].taxes[0].amount"),
    (lambda t: t["payments"][0].update(amount="NaN"), "payments[0].amount"),
    (lambda t: t["payments"][0].update(tip="Infinity"), "payments[0].tip"),
    (lambda t: t.update(completed_at="2026-11-26T12:02:05"), "completed_at"),
    (lambda t: t.pop("status"), "status"),
    (lambda t: t.pop("completed_at"), "completed_at"),
])
def test_a_ticket_that_does_not_fit_names_the_ticket_and_the_field(change: Callable[[dict[str, Any]], Any],
                                                                    field: str) -> None:
    row = ticket(42)
    change(row)
    with pytest.raises(PermanentApiError) as caught:
        tickets(ticket(41), row)
    assert caught.value.reason == "InvalidRecord" and caught.value.source == "retail"
    assert "Ticket 42" in caught.value.description and field in caught.value.description


@pytest.mark.parametrize("body", [b"<html>busy</html>", b'{"results": {"id": 1}}', b'{"pages": 1}'])
def test_a_page_that_is_not_a_page_of_tickets_is_a_malformed_response(body: bytes) -> None:
    with pytest.raises(PermanentApiError) as caught:
        tickets(raw=body)
    assert caught.value.reason == "MalformedResponse" and "sales/tickets page 1" in caught.value.description
