"""The F&O simulator over real loopback HTTP: what an integrator would see from a real environment."""

from __future__ import annotations

import json
import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.host import run_in_background, stop_background
from sandbox.simulators.base import FaultRule, SimulatorApp
from sandbox.simulators.fo import DEFAULT_TENANT, FinanceOperations, create, simulator
from shared.dynamics.odata import dumps

TOKEN_PATH = f"/{DEFAULT_TENANT}/oauth2/v2.0/token"
WRITE_EXCEPTION = "Microsoft.Dynamics.Platform.Integration.Services.OData.AxODataWriteException"
NOYES = "Microsoft.Dynamics.DataEntities.NoYes"


@dataclass
class Env:
    app: SimulatorApp
    sim: FinanceOperations
    base: str
    http: httpx.Client

    def token(self, **overrides: str) -> httpx.Response:
        form = {"grant_type": "client_credentials", "client_id": "hl365-local-client",
                "client_secret": "hl365-local-secret", "scope": f"{self.base}/.default", **overrides}
        return httpx.post(self.base + TOKEN_PATH, data=form, timeout=5)

    def authorise(self) -> None:
        self.http.headers["Authorization"] = "Bearer " + self.token().json()["access_token"]

    def key(self, entity_set: str, **keys: Any) -> str:
        parts = ",".join(f"{k}='{v}'" if isinstance(v, str) else f"{k}={v}" for k, v in keys.items())
        return f"/data/{entity_set}({parts})"


@pytest.fixture
def start() -> Iterator[Callable[..., Env]]:
    running: list[tuple[Any, threading.Thread, httpx.Client]] = []

    def _start(authorise: bool = True, **options: Any) -> Env:
        options.setdefault("event_interval", None)
        app = create(seed=5, **options)
        server, thread, port = run_in_background(app)
        base = f"http://127.0.0.1:{port}"
        http = httpx.Client(base_url=base, timeout=5)
        running.append((server, thread, http))
        env = Env(app, simulator(app), base, http)
        if authorise:
            env.authorise()
        return env

    yield _start
    for server, thread, http in running:
        http.close()
        stop_background(server, thread)


@pytest.fixture
def env(start: Callable[..., Env]) -> Env:
    return start()


def journal(env: Env, lines: list[dict[str, Any]], **header: Any) -> str:
    answer = env.http.post("/data/LedgerJournalHeaders", json={"dataAreaId": "usmf", "JournalName": "GenJrn", **header})
    assert answer.status_code == 201, answer.text
    number = str(answer.json()["JournalBatchNumber"])
    for line in lines:
        amounts = {k: Decimal(v) for k, v in line.items() if k in ("DebitAmount", "CreditAmount")}
        created = env.http.post("/data/LedgerJournalLines", content=dumps(
            {"dataAreaId": "usmf", "JournalBatchNumber": number, "CurrencyCode": "USD", **line, **amounts}))
        assert created.status_code == 201, created.text
    return number


def infolog(answer: httpx.Response) -> str:
    assert answer.status_code == 500, answer.text
    error = answer.json()["error"]
    assert error["message"] == "An error has occurred."
    return str(error["innererror"]["message"])


# -- Entra token endpoint ---------------------------------------------------------------------------------------------


def test_client_credentials_token_opens_data_and_nothing_else_does(start: Callable[..., Env]) -> None:
    env = start(authorise=False)
    assert env.http.get("/data/CustomersV3").status_code == 401
    env.http.headers["Authorization"] = "Bearer made-up"
    assert env.http.get("/data/CustomersV3").status_code == 401
    issued = env.token()
    assert issued.status_code == 200
    assert issued.json()["token_type"] == "Bearer" and issued.json()["expires_in"] == 3599
    env.http.headers["Authorization"] = "Bearer " + issued.json()["access_token"]
    assert env.http.get("/data/CustomersV3").status_code == 200


def test_token_requests_with_the_wrong_scope_secret_or_tenant_get_aadsts_errors(env: Env) -> None:
    other_environment = env.token(scope="https://contoso.operations.dynamics.com/.default")
    assert other_environment.status_code == 400
    assert other_environment.json()["error"] == "invalid_resource"
    assert "AADSTS500011" in other_environment.json()["error_description"]
    no_default = env.token(scope=env.base)
    assert no_default.status_code == 400 and "AADSTS1002012" in no_default.json()["error_description"]
    trailing_slash = env.token(scope=f"{env.base}//.default")
    assert trailing_slash.status_code == 400
    wrong_secret = env.token(client_secret="guess")
    assert wrong_secret.status_code == 401 and wrong_secret.json()["error"] == "invalid_client"
    unknown_app = env.token(client_id="someone-else")
    assert unknown_app.status_code == 400 and "AADSTS700016" in unknown_app.json()["error_description"]
    other_tenant = httpx.post(env.base + "/contoso.onmicrosoft.com/oauth2/v2.0/token",
                              data={"grant_type": "client_credentials"})
    assert other_tenant.status_code == 400 and "AADSTS90002" in other_tenant.json()["error_description"]


def test_an_expired_token_gets_401_and_a_fresh_one_works(start: Callable[..., Env]) -> None:
    now = [1000.0]
    env = start(clock=lambda: now[0], token_lifetime=60)
    assert env.http.get("/data/MainAccounts").status_code == 200
    now[0] += 61
    expired = env.http.get("/data/MainAccounts")
    assert expired.status_code == 401 and "expired" in expired.json()["error"]["message"]
    env.authorise()
    assert env.http.get("/data/MainAccounts").status_code == 200
    env.sim.expire_tokens()
    assert env.http.get("/data/MainAccounts").status_code == 401


def test_an_app_missing_from_entra_id_applications_gets_401(start: Callable[..., Env]) -> None:
    env = start(registered_apps=[])
    answer = env.http.get("/data/CustomersV3")
    assert answer.status_code == 401 and "not registered" in answer.json()["error"]["message"]


# -- addressing, companies, query options -----------------------------------------------------------------------------


def test_compound_keys_address_one_line_and_a_missing_key_part_is_400(env: Env) -> None:
    number = journal(env, [{"AccountDisplayValue": "110110", "DebitAmount": "5"},
                           {"AccountDisplayValue": "401100", "CreditAmount": "5"}])
    line = env.http.get(env.key("LedgerJournalLines", dataAreaId="usmf", JournalBatchNumber=number, LineNumber=2))
    assert line.status_code == 200
    assert line.json()["AccountDisplayValue"] == "401100" and line.json()["LineNumber"] == 2
    partial = env.http.get(env.key("LedgerJournalLines", dataAreaId="usmf", JournalBatchNumber=number))
    assert partial.status_code == 400 and "number of keys" in partial.json()["error"]["message"]
    missing = env.http.get(env.key("LedgerJournalLines", dataAreaId="usmf", JournalBatchNumber=number, LineNumber=9))
    assert missing.status_code == 404
    unquoted = env.http.get(f"/data/LedgerJournalHeaders(dataAreaId=usmf,JournalBatchNumber={number})")
    assert unquoted.status_code == 400


def test_reads_see_the_default_company_unless_cross_company(env: Env) -> None:
    written = env.http.post("/data/CustomersV3", json={"dataAreaId": "usrt", "CustomerAccount": "RT-1",
                                                       "OrganizationName": "Retail only", "CustomerGroupId": "30"})
    assert written.status_code == 201 and written.json()["dataAreaId"] == "usrt"
    default = [c["CustomerAccount"] for c in env.http.get("/data/CustomersV3").json()["value"]]
    assert "RT-1" not in default and "US-001" in default
    everywhere = env.http.get("/data/CustomersV3", params={"cross-company": "true"}).json()["value"]
    assert {c["dataAreaId"] for c in everywhere} == {"usmf", "usrt"}
    narrowed = env.http.get("/data/CustomersV3", params={"cross-company": "true", "$filter": "dataAreaId eq 'usrt'"})
    assert [c["CustomerAccount"] for c in narrowed.json()["value"]] == ["RT-1"]
    by_key = env.key("CustomersV3", dataAreaId="usrt", CustomerAccount="RT-1")
    assert env.http.get(by_key).status_code == 404
    assert env.http.get(by_key, params={"cross-company": "true"}).status_code == 200


def test_filter_select_orderby_top_skip_and_count(env: Env) -> None:
    for account, name, limit in (("C-1", "Alpha Retail", "100.50"), ("C-2", "Beta Wholesale", "2500"),
                                 ("C-3", "Gamma retail", "75.25")):
        env.sim.add_customer(account, name, CreditLimit=Decimal(limit))

    def accounts(**params: str) -> list[str]:
        answer = env.http.get("/data/CustomersV3", params=params)
        assert answer.status_code == 200, answer.text
        return [c["CustomerAccount"] for c in answer.json()["value"]]

    assert accounts(**{"$filter": "OrganizationName eq '*retail*' and CreditLimit gt 0"}) == ["C-1", "C-3"]
    assert accounts(**{"$filter": "CreditLimit ge 100.5 and CreditLimit lt 2500"}) == ["C-1"]
    assert accounts(**{"$filter": "CustomerAccount eq 'c-2'"}) == ["C-2"]  # F&O compares case-insensitively
    assert accounts(**{"$filter": "not (CreditLimit eq 0)", "$orderby": "CreditLimit desc"}) == ["C-2", "C-1", "C-3"]
    assert accounts(**{"$orderby": "CustomerAccount desc", "$top": "2", "$skip": "1"}) == ["US-004", "US-003"]
    selected = env.http.get("/data/CustomersV3", params={"$select": "CustomerAccount,CreditLimit", "$top": "1",
                                                         "$count": "true"}).json()
    assert set(selected["value"][0]) == {"@odata.etag", "CustomerAccount", "CreditLimit"}
    assert selected["@odata.count"] == 8
    counted = env.http.get("/data/CustomersV3/$count", params={"$filter": "CreditLimit gt 100"})
    assert counted.text == "2"
    assert env.http.get("/data/CustomersV3", params={"$filter": "contains(OrganizationName,'x')"}).status_code == 400
    assert env.http.get("/data/CustomersV3", params={"$filter": "Nope eq 1"}).status_code == 400
    assert env.http.get("/data/CustomersV3", params={"$filter": "CreditLimit eq 'x'"}).status_code == 400
    assert env.http.get("/data/CustomersV3", params={"$top": "-1"}).status_code == 400


def test_enums_filter_only_as_typed_literals(env: Env) -> None:
    number = journal(env, [], IntegrationKey="HL-9")
    typed = env.http.get("/data/LedgerJournalHeaders", params={"$filter": f"IsPosted eq {NOYES}'No'"})
    assert [h["JournalBatchNumber"] for h in typed.json()["value"]] == [number]
    plain = env.http.get("/data/LedgerJournalHeaders", params={"$filter": "IsPosted eq 'No'"})
    assert plain.status_code == 400 and "incompatible types" in plain.json()["error"]["message"]


def test_pages_are_capped_and_continue_through_next_links(start: Callable[..., Env]) -> None:
    env = start(page_size=3)
    for n in range(5):
        env.sim.add_customer(f"P-{n}")
    seen: list[str] = []
    url: str | None = "/data/CustomersV3?$count=true"
    pages = 0
    while url:
        page = env.http.get(url).json()
        assert len(page["value"]) <= 3 and page["@odata.count"] == 10
        seen += [c["CustomerAccount"] for c in page["value"]]
        url = page.get("@odata.nextLink")
        pages += 1
    assert pages == 4 and len(seen) == 10 and len(set(seen)) == 10
    topped = env.http.get("/data/CustomersV3", params={"$top": "4"}).json()
    following = env.http.get(topped["@odata.nextLink"]).json()
    assert len(topped["value"]) == 3 and len(following["value"]) == 1 and "@odata.nextLink" not in following


def test_number_sequences_fill_blank_keys_across_both_journal_sets(env: Env) -> None:
    first = env.http.post("/data/LedgerJournalHeaders", json={"JournalName": "GenJrn"}).json()
    second = env.http.post("/data/CustomerPaymentJournalHeaders", json={"JournalName": "CustPay"}).json()
    assert (first["JournalBatchNumber"], second["JournalBatchNumber"]) == ("00001", "00002")
    assert first["dataAreaId"] == "usmf" and first["IsPosted"] == "No"
    order = env.http.post("/data/SalesOrderHeadersV2", json={"OrderingCustomerAccountNumber": "US-002"}).json()
    assert order["SalesOrderNumber"] == "000001" and order["CurrencyCode"] == "USD"
    line = env.http.post("/data/SalesOrderLines", json={"SalesOrderNumber": "000001", "ItemNumber": "T0001",
                                                        "OrderedSalesQuantity": 3}).json()
    assert line["InventoryLotId"] == "USMF-000001" and line["LineAmount"] == 60


def test_etags_change_on_every_write_and_a_stale_if_match_is_refused(env: Env) -> None:
    number = journal(env, [])
    url = env.key("LedgerJournalHeaders", dataAreaId="usmf", JournalBatchNumber=number)
    etag = env.http.get(url).json()["@odata.etag"]
    assert etag.startswith('W/"')
    assert env.http.patch(url, json={"Description": "first"}, headers={"If-Match": etag}).status_code == 204
    fresh = env.http.get(url).json()["@odata.etag"]
    assert fresh != etag
    stale = env.http.patch(url, json={"Description": "second"}, headers={"If-Match": etag})
    assert stale.status_code == 412
    assert env.http.patch(url, json={"Description": "third"}).status_code == 204
    assert env.http.patch(url, json={"Description": "fourth"}, headers={"If-Match": "*"}).status_code == 204
    assert env.http.get(url).json()["Description"] == "fourth"


# -- validation as AxODataWriteException ------------------------------------------------------------------------------


def test_business_rule_failures_are_500_with_the_infolog(env: Env) -> None:
    number = journal(env, [{"AccountDisplayValue": "110110", "DebitAmount": "1"}])
    line = {"dataAreaId": "usmf", "JournalBatchNumber": number, "CurrencyCode": "USD"}
    unknown_account = env.http.post("/data/LedgerJournalLines", json={**line, "AccountDisplayValue": "999999-001",
                                                                      "CreditAmount": 1})
    assert "999999" in infolog(unknown_account) and "MainAccount" in infolog(unknown_account)
    assert unknown_account.json()["error"]["innererror"]["type"] == WRITE_EXCEPTION
    unknown_customer = env.http.post("/data/LedgerJournalLines", json={
        **line, "AccountType": "Cust", "AccountDisplayValue": "US-999", "CreditAmount": 1})
    assert "US" in infolog(unknown_customer) and "Customers" in infolog(unknown_customer)
    both_sides = env.http.post("/data/LedgerJournalLines", json={**line, "AccountDisplayValue": "110110",
                                                                 "DebitAmount": 1, "CreditAmount": 1})
    assert "both a debit amount and a credit amount" in infolog(both_sides)
    duplicate = env.http.post("/data/LedgerJournalLines", json={**line, "LineNumber": 1,
                                                                "AccountDisplayValue": "401100", "CreditAmount": 1})
    assert "The record already exists" in infolog(duplicate)
    bad_group = env.http.post("/data/CustomersV3", json={"CustomerAccount": "X-1", "CustomerGroupId": "Local"})
    assert "'Local' in field 'Customer group'" in infolog(bad_group)
    unknown_name = env.http.post("/data/LedgerJournalHeaders", json={"JournalName": "Nope"})
    assert "Journal names" in infolog(unknown_name)
    assert [j["lines"].__len__() for j in env.sim.journals()] == [1]


def test_customer_accounts_need_an_escaped_hyphen(env: Env) -> None:
    number = journal(env, [])
    line = {"dataAreaId": "usmf", "JournalBatchNumber": number, "AccountType": "Cust", "CreditAmount": 5,
            "CurrencyCode": "USD"}
    unescaped = env.http.post("/data/LedgerJournalLines", json={**line, "AccountDisplayValue": "US-001"})
    assert "hyphen" in infolog(unescaped)
    escaped = env.http.post("/data/LedgerJournalLines", json={**line, "AccountDisplayValue": "US\\-001"})
    assert escaped.status_code == 201


def test_a_posted_journal_refuses_every_write(env: Env) -> None:
    number = journal(env, [{"AccountDisplayValue": "110110", "DebitAmount": "10"},
                           {"AccountDisplayValue": "401100", "CreditAmount": "10"}])
    env.sim.post_journal(number)
    header = env.key("LedgerJournalHeaders", dataAreaId="usmf", JournalBatchNumber=number)
    line_url = env.key("LedgerJournalLines", dataAreaId="usmf", JournalBatchNumber=number, LineNumber=1)
    more = env.http.post("/data/LedgerJournalLines", json={"dataAreaId": "usmf", "JournalBatchNumber": number,
                                                           "AccountDisplayValue": "110110", "DebitAmount": 1})
    assert "is posted" in infolog(more)
    assert "is posted" in infolog(env.http.patch(line_url, json={"DebitAmount": 11}))
    assert "is posted" in infolog(env.http.patch(header, json={"Description": "changed"}))
    assert "is posted" in infolog(env.http.delete(header))
    assert env.http.patch(header, json={"IsPosted": "No"}).status_code == 500
    assert env.sim.journals()[0]["IsPosted"] == "Yes" and len(env.sim.journals()[0]["lines"]) == 2


# -- $batch -----------------------------------------------------------------------------------------------------------


def batch_body(requests: list[tuple[str, str, dict[str, Any] | None]], changeset: bool = True) -> tuple[str, bytes]:
    parts = []
    for index, (method, url, body) in enumerate(requests, start=1):
        text = (f"Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\nContent-ID: {index}\r\n\r\n"
                f"{method} {url} HTTP/1.1\r\nContent-Type: application/json\r\n\r\n")
        parts.append(text + (json.dumps(body) if body is not None else ""))
    if changeset:
        inner = "".join(f"--changeset_c1\r\n{p}\r\n" for p in parts) + "--changeset_c1--\r\n"
        body_text = f"--batch_b1\r\nContent-Type: multipart/mixed; boundary=changeset_c1\r\n\r\n{inner}--batch_b1--\r\n"
    else:
        body_text = "".join(f"--batch_b1\r\n{p}\r\n" for p in parts) + "--batch_b1--\r\n"
    return "multipart/mixed; boundary=batch_b1", body_text.encode()


def test_a_batch_changeset_applies_header_and_lines_with_content_id_references(env: Env) -> None:
    content_type, body = batch_body([
        ("POST", "/data/LedgerJournalHeaders", {"dataAreaId": "usmf", "JournalName": "GenJrn",
                                                "IntegrationKey": "HL-42"}),
        ("POST", "$1/JournalLines", {"AccountDisplayValue": "110110", "DebitAmount": 12.5, "CurrencyCode": "USD"}),
        ("POST", "LedgerJournalLines", {"JournalHeader@odata.bind": "$1", "AccountDisplayValue": "401100",
                                        "CreditAmount": 12.5, "CurrencyCode": "USD"}),
    ])
    answer = env.http.post("/data/$batch", content=body, headers={"Content-Type": content_type})
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("multipart/mixed")
    assert answer.text.count("HTTP/1.1 201 Created") == 3 and "changesetresponse_" in answer.text
    [created] = env.sim.journals()
    assert created["IntegrationKey"] == "HL-42" and created["balanced"]
    assert [line["LineNumber"] for line in created["lines"]] == ["1", "2"]


def test_a_failing_changeset_answers_200_with_an_inner_500_and_applies_nothing(env: Env) -> None:
    content_type, body = batch_body([
        ("POST", "/data/LedgerJournalHeaders", {"dataAreaId": "usmf", "JournalName": "GenJrn"}),
        ("POST", "$1/JournalLines", {"AccountDisplayValue": "110110", "DebitAmount": 7, "CurrencyCode": "USD"}),
        ("POST", "$1/JournalLines", {"AccountDisplayValue": "777777", "CreditAmount": 7, "CurrencyCode": "USD"}),
    ])
    answer = env.http.post("/data/$batch", content=body, headers={"Content-Type": content_type})
    assert answer.status_code == 200
    assert "HTTP/1.1 500 Internal Server Error" in answer.text and "HTTP/1.1 201" not in answer.text
    assert "777777" in answer.text and "AxODataWriteException" in answer.text
    assert env.sim.journals() == [] and env.sim.rows("LedgerJournalLines") == []
    retried = env.http.post("/data/LedgerJournalHeaders", json={"JournalName": "GenJrn"}).json()
    assert retried["JournalBatchNumber"] == "00002"  # the rolled-back number stays consumed: a gap


def test_requests_outside_a_changeset_run_independently(env: Env) -> None:
    content_type, body = batch_body([
        ("POST", "/data/LedgerJournalHeaders", {"JournalName": "Nope"}),
        ("GET", "/data/CustomersV3?$top=1", None),
    ], changeset=False)
    answer = env.http.post("/data/$batch", content=body, headers={"Content-Type": content_type})
    assert answer.status_code == 200
    assert "HTTP/1.1 500" in answer.text and "HTTP/1.1 200 OK" in answer.text and "US-001" in answer.text


# -- posting ----------------------------------------------------------------------------------------------------------


def test_posting_accepts_only_balanced_journals(env: Env) -> None:
    number = journal(env, [{"AccountDisplayValue": "110110", "DebitAmount": "100.00"},
                           {"AccountDisplayValue": "618160-001-022", "DebitAmount": "1.50"},
                           {"AccountDisplayValue": "401100", "CreditAmount": "100.00"}])
    action = env.key("LedgerJournalHeaders", dataAreaId="usmf", JournalBatchNumber=number) + \
        "/Microsoft.Dynamics.DataEntities.Post"
    refused = env.http.post(action)
    assert "do not balance in currency USD" in infolog(refused) and "difference 1.50" in infolog(refused)
    assert env.sim.journals()[0]["IsPosted"] == "No"
    fix = env.http.post("/data/LedgerJournalLines", json={"dataAreaId": "usmf", "JournalBatchNumber": number,
                                                          "AccountDisplayValue": "130500", "CreditAmount": 1.5})
    assert fix.status_code == 201
    assert env.http.post(action).status_code == 204
    [posted] = env.sim.journals()
    assert posted["IsPosted"] == "Yes" and posted["totals"] == {"USD": {"debit": "101.50", "credit": "101.50"}}
    header = env.http.get(env.key("LedgerJournalHeaders", dataAreaId="usmf", JournalBatchNumber=number)).json()
    assert header["IsPosted"] == "Yes" and header["JournalTotalDebit"] == 101.5
    assert "already posted" in infolog(env.http.post(action))


def test_balance_is_per_currency_and_offset_lines_balance_themselves(env: Env) -> None:
    mixed = journal(env, [{"AccountDisplayValue": "110110", "DebitAmount": "10"},
                          {"AccountDisplayValue": "401100", "CreditAmount": "10", "CurrencyCode": "EUR"}])
    with pytest.raises(Exception, match="do not balance in currency EUR"):
        env.sim.post_journal(mixed)
    offset = journal(env, [{"AccountDisplayValue": "110110", "DebitAmount": "25",
                            "OffsetAccountType": "Ledger", "OffsetAccountDisplayValue": "401100"}])
    assert env.sim.post_journal(offset)["IsPosted"] == "Yes"


# -- business events --------------------------------------------------------------------------------------------------


@pytest.fixture
def subscriber() -> Iterator[tuple[str, list[dict[str, Any]], list[int]]]:
    received: list[dict[str, Any]] = []
    failures: list[int] = []

    async def receive(request: Request) -> Response:
        if failures:
            return JSONResponse({}, failures.pop())
        received.append(json.loads(await request.body()))
        return JSONResponse({}, 202)

    server, thread, port = run_in_background(Starlette(routes=[Route("/api/webhooks/fo", receive, methods=["POST"])]))
    yield f"http://127.0.0.1:{port}/api/webhooks/fo", received, failures
    stop_background(server, thread)


def test_business_events_carry_the_envelope_and_a_rising_control_number(
        start: Callable[..., Env], subscriber: tuple[str, list[dict[str, Any]], list[int]]) -> None:
    url, received, _ = subscriber
    env = start()
    env.sim.add_event_endpoint(url)
    number = journal(env, [{"AccountDisplayValue": "110110", "DebitAmount": "3"},
                           {"AccountDisplayValue": "401100", "CreditAmount": "3"}], IntegrationKey="HL-E1")
    env.http.post(env.key("LedgerJournalHeaders", dataAreaId="usmf", JournalBatchNumber=number) +
                  "/Microsoft.Dynamics.DataEntities.Post")
    order = env.sim.add_sales_order("US-003", [{"ItemNumber": "T0001", "OrderedSalesQuantity": Decimal(2)}])
    env.sim.emit_event("CustomerPaymentPostedBusinessEvent", {"PaymentReference": "HPY-1"})
    assert received == []  # nothing leaves before the batch job runs
    env.sim.deliver_events()
    assert [e["BusinessEventId"] for e in received] == [
        "LedgerJournalPostedBusinessEvent", "SalesOrderConfirmedBusinessEvent", "CustomerPaymentPostedBusinessEvent"]
    first = received[0]
    assert first["IntegrationKey"] == "HL-E1" and first["JournalBatchNumber"] == number
    assert first["LegalEntity"] == "usmf" == first["BusinessEventLegalEntity"]
    assert first["EventTime"].startswith("/Date(") and len(first["EventId"]) == 36
    assert received[1]["SalesOrderNumber"] == order["SalesOrderNumber"] and received[1]["TotalAmount"] == 40
    controls = [e["ControlNumber"] for e in received]
    assert controls == sorted(controls) and len(set(controls)) == 3
    assert env.sim.state()["business_events"]["sent"][0]["status"] == 202


def test_duplicate_and_out_of_order_delivery_modes(
        start: Callable[..., Env], subscriber: tuple[str, list[dict[str, Any]], list[int]]) -> None:
    url, received, _ = subscriber
    env = start(event_mode="duplicate", event_endpoints=[url])
    sent = [env.sim.emit_event("TestEvent", {"n": n})["ControlNumber"] for n in range(3)]
    env.sim.deliver_events()
    assert [e["ControlNumber"] for e in received] == [c for c in sent for _ in (0, 1)]
    received.clear()
    env.sim.events.mode = "out_of_order"
    later = [env.sim.emit_event("TestEvent", {"n": n})["ControlNumber"] for n in range(3)]
    env.sim.deliver_events()
    assert [e["ControlNumber"] for e in received] == sorted(later, reverse=True)
    assert min(later) > max(sent)
    steps = [b - a for a, b in zip(sent + later, (sent + later)[1:], strict=False)]
    assert all(step > 0 for step in steps) and any(step > 1 for step in steps)  # rising, with gaps


def test_a_failed_delivery_is_retried_three_times_then_recorded(
        start: Callable[..., Env], subscriber: tuple[str, list[dict[str, Any]], list[int]]) -> None:
    url, received, failures = subscriber
    env = start(event_endpoints=[url], event_retry_delay=0.0)
    failures.extend([503, 500])
    env.sim.emit_event("TestEvent")
    env.sim.deliver_events()
    assert len(received) == 1 and env.sim.state()["business_events"]["sent"][0]["attempts"] == 3
    failures.extend([500] * 4)
    lost = env.sim.emit_event("TestEvent")
    env.sim.deliver_events()
    [failed] = env.sim.state()["business_events"]["failed"]
    assert failed["ControlNumber"] == lost["ControlNumber"] and failed["attempts"] == 4 and len(received) == 1
    env.sim.events.resend(lost["ControlNumber"])
    env.sim.deliver_events()
    assert [e["ControlNumber"] for e in received][-1] == lost["ControlNumber"]


def test_the_background_batch_job_delivers_on_its_own(
        start: Callable[..., Env], subscriber: tuple[str, list[dict[str, Any]], list[int]]) -> None:
    url, received, _ = subscriber
    env = start(event_endpoints=[url], event_interval=0.05)
    env.sim.emit_event("TestEvent")
    for _ in range(100):
        if received:
            break
        threading.Event().wait(0.02)
    assert len(received) == 1


# -- $metadata, faults, ground truth ----------------------------------------------------------------------------------


def test_metadata_is_edmx_naming_every_set_its_keys_and_the_post_action(env: Env) -> None:
    answer = env.http.get("/data/$metadata")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("application/xml")
    root = ET.fromstring(answer.text)  # noqa: S314  (our own simulator's output)
    edm = "{http://docs.oasis-open.org/odata/ns/edm}"
    sets = {s.get("Name"): s.get("EntityType") for s in root.iter(f"{edm}EntitySet")}
    assert set(sets) >= {"LedgerJournalHeaders", "LedgerJournalLines", "CustomerPaymentJournalHeaders",
                         "CustomerPaymentJournalLines", "CustomersV3", "SalesOrderHeadersV2", "SalesOrderLines",
                         "ReleasedProductsV2", "WarehousesOnHandV2", "ExchangeRates", "CustomerPaymentMethods",
                         "MainAccounts"}
    types = {t.get("Name"): t for t in root.iter(f"{edm}EntityType")}
    line = types[str(sets["LedgerJournalLines"]).rsplit(".", 1)[1]]
    assert [k.get("Name") for k in line.iter(f"{edm}PropertyRef")] == ["dataAreaId", "JournalBatchNumber",
                                                                      "LineNumber"]
    properties = {p.get("Name"): p.get("Type") for p in line.iter(f"{edm}Property")}
    assert properties["LineNumber"] == "Edm.Decimal" and properties["TransDate"] == "Edm.DateTimeOffset"
    assert properties["AccountType"] == "Microsoft.Dynamics.DataEntities.LedgerJournalACType"
    sales_line = types[str(sets["SalesOrderLines"]).rsplit(".", 1)[1]]
    assert [k.get("Name") for k in sales_line.iter(f"{edm}PropertyRef")] == ["dataAreaId", "InventoryLotId"]
    actions = {a.get("Name") for a in root.iter(f"{edm}Action")}
    assert actions == {"Post"}
    assert {e.get("Name") for e in root.iter(f"{edm}EnumType")} >= {"NoYes", "LedgerJournalACType"}


def test_a_lost_response_still_applies_the_batch(env: Env) -> None:
    env.app.faults.rules = [FaultRule("POST /data/$batch", "lost", 1.0)]
    content_type, body = batch_body([
        ("POST", "/data/LedgerJournalHeaders", {"JournalName": "GenJrn", "IntegrationKey": "HL-LOST"}),
        ("POST", "$1/JournalLines", {"AccountDisplayValue": "110110", "DebitAmount": 1, "CurrencyCode": "USD"}),
    ])
    with pytest.raises(httpx.RemoteProtocolError):
        env.http.post("/data/$batch", content=body, headers={"Content-Type": content_type})
    [applied] = env.sim.journals()
    assert applied["IntegrationKey"] == "HL-LOST" and len(applied["lines"]) == 1
    assert env.app.requests["POST /data/$batch"] == 1


def test_state_is_json_and_a_snapshot_restores_it(tmp_path: Path) -> None:
    first = simulator(create(event_interval=None))
    first.add_customer("SNAP-1", "Snapshot Ltd", CreditLimit=Decimal("1234.56"))
    first.store.create("LedgerJournalHeaders", {"JournalName": "GenJrn", "IntegrationKey": "HL-S"})
    snapshot = tmp_path / "fo.json"
    snapshot.write_text(json.dumps(first.state()), encoding="utf-8")
    restored = simulator(create(snapshot=snapshot, event_interval=None))
    customer = next(c for c in restored.rows("CustomersV3") if c["CustomerAccount"] == "SNAP-1")
    assert customer["CreditLimit"] == Decimal("1234.56") and isinstance(customer["CreditLimit"], Decimal)
    assert [j["IntegrationKey"] for j in restored.journals()] == ["HL-S"]
    again = restored.store.create("LedgerJournalHeaders", {"JournalName": "GenJrn"})
    assert again["JournalBatchNumber"] == "00002"
