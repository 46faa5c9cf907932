"""The Business Central simulator over real loopback HTTP: what a client of BC v2.0 would notice."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from xml.etree import ElementTree as ET

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from sandbox.host import run_in_background, stop_background
from sandbox.simulators import jsonio
from sandbox.simulators.base import FaultRule, SimulatorApp
from sandbox.simulators.bc import BusinessCentral, create
from tests.loopback import Swap, wait_for

SCOPE = "https://api.businesscentral.dynamics.com/.default"
FORM = {"grant_type": "client_credentials", "client_id": "hl365-local-client", "client_secret": "hl365-local-secret",
        "scope": SCOPE}


@dataclass
class Bc:
    app: SimulatorApp
    sim: BusinessCentral
    base: str
    root: str
    http: httpx.Client
    token: str

    @property
    def company(self) -> str:
        return f"{self.root}/companies({self.sim.company_id})"

    def headers(self, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", **extra}

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.http.get(f"{self.company}/{path}", headers=self.headers(**kw.pop("headers", {})), **kw)

    def post(self, path: str, data: Any = None, **headers: str) -> httpx.Response:
        content = None if data is None else jsonio.dumps(data)
        return self.http.post(f"{self.company}/{path}", content=content,
                              headers=self.headers(**{"Content-Type": "application/json", **headers}))

    def patch(self, path: str, data: Any, **headers: str) -> httpx.Response:
        return self.http.patch(f"{self.company}/{path}", content=json.dumps(data),
                               headers=self.headers(**{"Content-Type": "application/json", **headers}))

    def renew_token(self) -> None:
        """A fresh bearer, for tests that move the clock past the token's lifetime."""
        self.token = self.http.post(f"{self.base}/{self.sim.options.tenant}/oauth2/v2.0/token",
                                    data=FORM).json()["access_token"]

    def json(self, response: httpx.Response) -> Any:
        return json.loads(response.content, parse_float=Decimal)


@pytest.fixture
def bc_factory(served: tuple[Swap, int]) -> Iterator[Callable[..., Bc]]:
    swap, port = served
    running: list[tuple[BusinessCentral, httpx.Client]] = []

    def make(**options: Any) -> Bc:
        settings = {"notification_delay": 0.05, "notification_retry_interval": 0.05, "handshake_timeout": 1.0,
                    **options}
        app = create(seed=7, **settings)
        swap.app = app
        sim = app.simulated
        assert isinstance(sim, BusinessCentral)
        base = f"http://127.0.0.1:{port}"
        http = httpx.Client(timeout=5)
        token = http.post(f"{base}/{sim.options.tenant}/oauth2/v2.0/token", data=FORM).json()["access_token"]
        running.append((sim, http))
        return Bc(app, sim, base, sim.api_root(base), http, token)

    yield make
    for sim, http in running:
        http.close()
        sim.close()


@pytest.fixture
def bc(bc_factory: Callable[..., Bc]) -> Bc:
    return bc_factory()


@dataclass
class Receiver:
    """A webhook subscriber on loopback: echoes (or botches) the handshake, records notifications."""

    handshake: str = "echo"
    statuses: list[int] = field(default_factory=list)
    validations: list[str] = field(default_factory=list)
    notifications: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""

    async def hook(self, request: Request) -> Response:
        token = request.query_params.get("validationToken")
        if token is not None:
            self.validations.append(token)
            if self.handshake == "slow":
                await asyncio.sleep(1.5)
            return PlainTextResponse("not the token" if self.handshake == "wrong" else token)
        self.notifications.append(json.loads(await request.body()))
        return Response(status_code=self.statuses.pop(0) if self.statuses else 202)

    def values(self) -> list[dict[str, Any]]:
        return [item for n in self.notifications for item in n["value"]]


@pytest.fixture(scope="module")
def hooks() -> Iterator[tuple[Swap, int]]:
    swap = Swap()
    server, thread, port = run_in_background(swap)
    yield swap, port
    stop_background(server, thread)


@pytest.fixture
def receiver(hooks: tuple[Swap, int]) -> Receiver:
    swap, port = hooks
    hook = Receiver(url=f"http://127.0.0.1:{port}/hook")
    swap.app = Starlette(routes=[Route("/hook", hook.hook, methods=["POST"])])
    return hook


DEPOSIT = [
    {"accountType": "Bank Account", "accountNumber": "CHECKING", "postingDate": "2025-03-31",
     "documentNumber": "HPY-4471-0331", "externalDocumentNumber": "BATCH4471", "amount": Decimal("9850.00"),
     "description": "Heartland deposit"},
    {"accountType": "G/L Account", "accountNumber": "8620", "postingDate": "2025-03-31",
     "documentNumber": "HPY-4471-0331", "amount": Decimal("150.00"), "description": "Card fees"},
    {"accountType": "G/L Account", "accountNumber": "2910", "postingDate": "2025-03-31",
     "documentNumber": "HPY-4471-0331", "amount": Decimal("-10000.00"), "description": "Card clearing"},
]


def new_journal(bc: Bc, code: str) -> str:
    answer = bc.post("journals", {"code": code, "displayName": f"test {code}"})
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


# -- Entra token endpoint ------------------------------------------------------------------------------------------


def test_token_handshake_issues_a_bearer_that_the_api_accepts(bc: Bc) -> None:
    answer = bc.http.post(f"{bc.base}/{bc.sim.options.tenant}/oauth2/v2.0/token", data=FORM)
    assert answer.status_code == 200
    document = answer.json()
    assert document["token_type"] == "Bearer" and document["expires_in"] == 3599
    companies = bc.http.get(f"{bc.root}/companies", headers={"Authorization": f"Bearer {document['access_token']}"})
    assert companies.status_code == 200
    assert [c["name"] for c in companies.json()["value"]] == ["CRONUS USA, Inc."]


@pytest.mark.parametrize(("change", "status", "error", "code"), [
    ({"scope": "https://contoso.operations.dynamics.com/.default"}, 400, "invalid_resource", "AADSTS500011"),
    ({"client_secret": "guess"}, 401, "invalid_client", "AADSTS7000215"),
    ({"client_id": "someone-else"}, 400, "unauthorized_client", "AADSTS700016"),
    ({"grant_type": "password"}, 400, "unsupported_grant_type", "AADSTS70003"),
])
def test_token_endpoint_refuses_wrong_requests_as_entra_does(bc: Bc, change: dict[str, str], status: int, error: str,
                                                            code: str) -> None:
    answer = bc.http.post(f"{bc.base}/{bc.sim.options.tenant}/oauth2/v2.0/token", data={**FORM, **change})
    assert answer.status_code == status
    assert answer.json()["error"] == error and answer.json()["error_description"].startswith(code)


def test_missing_or_expired_bearer_gets_401_authentication_invalid_credentials(bc: Bc) -> None:
    anonymous = bc.http.get(f"{bc.root}/companies")
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"] == "Authentication_InvalidCredentials"
    assert "Bearer" in anonymous.headers["www-authenticate"]
    assert bc.get("customers").status_code == 200
    bc.sim.advance(timedelta(hours=1))
    expired = bc.get("customers")
    assert expired.status_code == 401 and "CorrelationId:" in expired.json()["error"]["message"]


# -- journals and posting ------------------------------------------------------------------------------------------


def test_post_writes_general_ledger_entries_for_every_line_and_empties_the_batch(bc: Bc) -> None:
    journal = new_journal(bc, "HPY0331")
    for line in DEPOSIT:
        assert bc.post(f"journals({journal})/journalLines", line).status_code == 201
    posted = bc.post(f"journals({journal})/Microsoft.NAV.post")
    assert posted.status_code == 204 and posted.content == b""
    assert bc.json(bc.get(f"journals({journal})/journalLines"))["value"] == []
    entries = bc.json(bc.get("generalLedgerEntries", params={"$filter": "documentNumber eq 'HPY-4471-0331'"}))["value"]
    assert [(e["accountNumber"], e["debitAmount"], e["creditAmount"]) for e in entries] == [
        ("10100", Decimal("9850"), 0), ("8620", Decimal("150"), 0), ("2910", 0, Decimal("10000"))]
    assert bc.sim.account_balance("2910") == Decimal("-10000.00")
    truth = bc.sim.state()
    assert [p["journalCode"] for p in truth["postedJournals"]] == ["HPY0331"]
    assert len(truth["postedJournals"][0]["lines"]) == 3


def test_post_takes_every_line_in_the_batch_including_ones_left_by_an_earlier_run(bc: Bc) -> None:
    journal = new_journal(bc, "ORPHANS")
    bc.post(f"journals({journal})/journalLines", {"accountNumber": "8620", "documentNumber": "OLD-1", "amount": 5})
    bc.post(f"journals({journal})/journalLines", {"accountNumber": "2910", "documentNumber": "OLD-1", "amount": -5})
    for line in DEPOSIT:
        bc.post(f"journals({journal})/journalLines", line)
    assert bc.post(f"journals({journal})/Microsoft.NAV.post").status_code == 204
    assert {e["documentNumber"] for e in bc.sim.gl_entries()} == {"OLD-1", "HPY-4471-0331"}


def test_an_empty_batch_has_nothing_to_post(bc: Bc) -> None:
    journal = new_journal(bc, "EMPTY")
    answer = bc.post(f"journals({journal})/Microsoft.NAV.post")
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "Application_DialogException"
    assert answer.json()["error"]["message"].startswith("There is nothing to post.")


def test_an_unbalanced_document_is_refused_and_nothing_is_posted(bc: Bc) -> None:
    journal = new_journal(bc, "UNBAL")
    for line in DEPOSIT[:2]:
        bc.post(f"journals({journal})/journalLines", line)
    answer = bc.post(f"journals({journal})/Microsoft.NAV.post")
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"].startswith("Application_")
    assert "HPY-4471-0331 is out of balance by 10,000.00" in error["message"]
    assert len(bc.json(bc.get(f"journals({journal})/journalLines"))["value"]) == 2
    assert bc.sim.gl_entries() == []


def test_exact_decimals_balance_where_floats_would_not(bc: Bc) -> None:
    journal = new_journal(bc, "CENTS")
    for amount in ("0.10", "0.20", "-0.30"):
        line = f'{{"accountNumber":"8620","documentNumber":"C-1","amount":{amount}}}'
        answer = bc.http.post(f"{bc.company}/journals({journal})/journalLines", content=line,
                              headers=bc.headers(**{"Content-Type": "application/json"}))
        assert answer.status_code == 201
    assert bc.post(f"journals({journal})/Microsoft.NAV.post").status_code == 204
    assert bc.sim.account_balance("8620") == Decimal(0)


def test_journal_lines_need_their_journal(bc: Bc) -> None:
    listed = bc.get("journalLines")
    assert listed.status_code == 400
    assert "You must specify a journal batch ID or a journal ID" in listed.json()["error"]["message"]
    journal = new_journal(bc, "KEYED")
    bc.post(f"journals({journal})/journalLines", {**DEPOSIT[0], "externalDocumentNumber": "hl-m1-b7"})
    flt = f"journalId eq {journal} and externalDocumentNumber eq 'HL-M1-B7'"
    found = bc.get("journalLines", params={"$filter": flt})
    assert [line["externalDocumentNumber"] for line in found.json()["value"]] == ["HL-M1-B7"]


def test_customer_payment_applied_to_an_invoice_reduces_it_then_pays_it(bc: Bc) -> None:
    invoice = bc.sim.add_sales_invoice("10000", [{"lineObjectNumber": "1900-S", "quantity": 1,
                                                  "unitPrice": Decimal("245.10")}])
    assert invoice["status"] == "Open" and invoice["remainingAmount"] == Decimal("245.10")
    journal = bc.sim.records("customerPaymentJournals")[0]["id"]
    missing = bc.post("customerPayments", {"customerNumber": "10000", "amount": -1})
    assert "You must specify a journal batch ID" in missing.json()["error"]["message"]
    for amount in ("-100.00", "-145.10"):
        answer = bc.post(f"customerPaymentJournals({journal})/customerPayments", {
            "documentNumber": "HPY-RCPT-0001", "externalDocumentNumber": "HPY-TXN-88412093",
            "amount": Decimal(amount), "appliesToInvoiceNumber": invoice["number"]})
        assert answer.status_code == 201, answer.text
        assert answer.json()["customerNumber"] == "10000"
        assert bc.post(f"journals({journal})/Microsoft.NAV.post").status_code == 204
        state = bc.json(bc.get(f"salesInvoices({invoice['id']})"))
        if amount == "-100.00":
            assert (state["remainingAmount"], state["status"]) == (Decimal("145.1"), "Open")
    assert (state["remainingAmount"], state["status"]) == (0, "Paid")
    assert bc.sim.account_balance("10100") == Decimal("245.10")


def test_a_positive_customer_payment_cannot_be_posted(bc: Bc) -> None:
    journal = bc.sim.records("customerPaymentJournals")[0]["id"]
    bc.post(f"customerPaymentJournals({journal})/customerPayments", {"customerNumber": "10000", "amount": 50})
    answer = bc.post(f"journals({journal})/Microsoft.NAV.post")
    assert answer.status_code == 400 and "Amount must be negative" in answer.json()["error"]["message"]


def test_sales_invoice_post_opens_it_and_ship_and_invoice_turns_an_order_into_one(bc: Bc) -> None:
    created = bc.post("salesInvoices", {"customerNumber": "50000",
                                        "salesInvoiceLines": [{"lineObjectNumber": "1906-S", "quantity": 2}]})
    assert created.status_code == 201, created.text
    draft = bc.json(created)
    assert (draft["status"], draft["totalAmountIncludingTax"]) == ("Draft", Decimal("562.8"))
    assert bc.post(f"salesInvoices({draft['id']})/Microsoft.NAV.post").status_code == 204
    posted = bc.json(bc.get(f"salesInvoices({draft['id']})"))
    assert posted["status"] == "Open" and posted["number"] != draft["number"]
    assert posted["remainingAmount"] == Decimal("562.8")
    assert "already been posted" in bc.post(f"salesInvoices({draft['id']})/Microsoft.NAV.post").json()["error"][
        "message"]
    assert bc.patch(f"salesInvoices({draft['id']})", {"externalDocumentNumber": "X"}, **{"If-Match": "*"}
                    ).status_code == 400
    order = bc.sim.add_sales_order("50000", [{"lineObjectNumber": "1896-S", "quantity": 1}])
    assert bc.post(f"salesOrders({order['id']})/Microsoft.NAV.shipAndInvoice").status_code == 204
    assert bc.get(f"salesOrders({order['id']})").status_code == 404
    invoiced = bc.json(bc.get("salesInvoices", params={"$filter": f"orderNumber eq '{order['number']}'"}))["value"]
    assert [(i["status"], i["totalAmountIncludingTax"]) for i in invoiced] == [("Open", Decimal("1000.8"))]
    assert bc.sim.account_balance("13100") == Decimal("1563.60")
    assert bc.sim.account_balance("40100") == Decimal("-1563.60")


# -- ETags ---------------------------------------------------------------------------------------------------------


def test_if_match_is_required_stale_is_a_conflict_and_star_overwrites(bc: Bc) -> None:
    customer = bc.get("customers", params={"$filter": "number eq '20000'"}).json()["value"][0]
    path = f"customers({customer['id']})"
    missing = bc.patch(path, {"displayName": "x"})
    assert missing.status_code == 400 and missing.json()["error"]["code"] == "BadRequest_InvalidToken"
    fresh = bc.patch(path, {"displayName": "Trey Research Ltd"}, **{"If-Match": customer["@odata.etag"]})
    assert fresh.status_code == 200 and fresh.json()["displayName"] == "Trey Research Ltd"
    assert fresh.json()["@odata.etag"] != customer["@odata.etag"]
    stale = bc.patch(path, {"displayName": "lost update"}, **{"If-Match": customer["@odata.etag"]})
    assert stale.status_code == 409 and stale.json()["error"]["code"] == "Request_EntityChanged"
    assert bc.patch(path, {"displayName": "forced"}, **{"If-Match": "*"}).status_code == 200
    deleted = bc.http.delete(f"{bc.company}/{path}", headers=bc.headers())
    assert deleted.status_code == 400 and deleted.json()["error"]["code"] == "BadRequest_InvalidToken"
    patch_collection = bc.patch("customers", {"displayName": "all"}, **{"If-Match": "*"})
    assert patch_collection.status_code == 405
    assert patch_collection.json()["error"]["code"] == "BadRequest_MethodNotAllowed"


# -- $batch --------------------------------------------------------------------------------------------------------


def batch_of(bc: Bc, journal: str, lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"id": str(i), "method": "POST", "url": f"companies({bc.sim.company_id})/journals({journal})/journalLines",
             "headers": {"Content-Type": "application/json"}, "body": line} for i, line in enumerate(lines, 1)]


def send_batch(bc: Bc, requests: list[dict[str, Any]], *, atomic: bool) -> httpx.Response:
    headers = bc.headers(**{"Content-Type": "application/json"})
    if atomic:
        headers["Isolation"] = "snapshot"
    return bc.http.post(f"{bc.root}/$batch", content=jsonio.dumps({"requests": requests}), headers=headers)


def test_isolated_batch_rolls_everything_back_when_one_operation_fails(bc: Bc) -> None:
    journal = new_journal(bc, "ATOMIC")
    lines = [DEPOSIT[0], {**DEPOSIT[1], "accountNumber": "9999"}, DEPOSIT[2]]
    answer = send_batch(bc, batch_of(bc, journal, lines), atomic=True)
    assert answer.status_code == 200
    statuses = [r["status"] for r in answer.json()["responses"]]
    assert statuses == [201, 400, 424]
    assert 'does not match to an Account' in answer.json()["responses"][1]["body"]["error"]["message"]
    assert bc.sim.journal_lines("ATOMIC") == []


def test_batch_without_isolation_applies_the_operations_that_succeed(bc: Bc) -> None:
    journal = new_journal(bc, "LOOSE")
    lines = [DEPOSIT[0], {**DEPOSIT[1], "accountNumber": "9999"}, DEPOSIT[2]]
    answer = send_batch(bc, batch_of(bc, journal, lines), atomic=False)
    assert [r["status"] for r in answer.json()["responses"]] == [201, 400, 201]
    assert [line["lineNumber"] for line in bc.sim.journal_lines("LOOSE")] == [10000, 20000]


def test_batch_references_and_dependencies(bc: Bc) -> None:
    requests: list[dict[str, Any]] = [
        {"id": "j", "method": "POST", "url": f"companies({bc.sim.company_id})/journals", "body": {"code": "REFS"}},
        {"id": "l", "method": "POST", "url": "$j/journalLines", "dependsOn": ["j"], "body": DEPOSIT[0]},
        {"id": "bad", "method": "POST", "url": "journals", "headers": {"Company": "No Such Company"},
         "body": {"code": "X"}},
        {"id": "after", "method": "GET", "url": "journals", "dependsOn": ["bad"]},
    ]
    answers = {r["id"]: r for r in send_batch(bc, requests, atomic=False).json()["responses"]}
    assert answers["j"]["status"] == 201 and answers["l"]["status"] == 201
    assert answers["l"]["body"]["journalDisplayName"] == "REFS"
    assert answers["bad"]["status"] == 400 and answers["after"]["status"] == 424


def test_batch_of_more_than_100_operations_is_refused_whole(bc: Bc) -> None:
    journal = new_journal(bc, "BIG")
    answer = send_batch(bc, batch_of(bc, journal, [DEPOSIT[0]] * 101), atomic=False)
    assert answer.status_code == 400 and "maximum is 100" in answer.json()["error"]["message"]
    assert bc.sim.journal_lines("BIG") == []
    assert send_batch(bc, batch_of(bc, journal, [{"amount": 1}] * 100), atomic=True).status_code == 200
    assert len(bc.sim.journal_lines("BIG")) == 100


# -- reading: paging and query options -----------------------------------------------------------------------------


def test_skiptoken_paging_returns_every_customer_once_in_key_order(bc: Bc) -> None:
    for n in range(11):
        bc.sim.add_customer(f"9{n:04d}", f"Paged {n}")
    numbers: list[str] = []
    url: str | None = f"{bc.company}/customers?$select=number"
    pages = 0
    while url:
        page = bc.http.get(url, headers=bc.headers(Prefer="odata.maxpagesize=4")).json()
        pages += 1
        numbers += [c["number"] for c in page["value"]]
        url = page.get("@odata.nextLink")
        if url:
            assert "$skiptoken=" in url and "$select=number" in url
    assert pages == 4
    assert numbers == sorted(numbers) and len(numbers) == len(set(numbers)) == 16


def test_top_switches_paging_off_and_silently_truncates(bc: Bc) -> None:
    page = bc.get("customers", params={"$top": "3"}, headers={"Prefer": "odata.maxpagesize=2"}).json()
    assert len(page["value"]) == 2
    assert "@odata.nextLink" not in page


def test_default_page_size_is_configurable(bc_factory: Callable[..., Bc]) -> None:
    small = bc_factory(max_page_size=3)
    page = small.get("customers").json()
    assert len(page["value"]) == 3 and "$skiptoken='30000'" in page["@odata.nextLink"]


def test_filter_orderby_select_and_expand(bc: Bc) -> None:
    bc.sim.add_sales_order("30000", [{"lineObjectNumber": "1896-S", "quantity": 2},
                                     {"lineObjectNumber": "1908-S", "quantity": 1, "unitPrice": Decimal("100.005")}])
    orders = bc.json(bc.get("salesOrders", params={"$expand": "salesOrderLines($select=lineObjectNumber,quantity)",
                                                  "$filter": "totalAmountIncludingTax gt 2000.5"}))["value"]
    assert len(orders) == 1
    assert orders[0]["totalAmountIncludingTax"] == Decimal("2101.61")
    assert [(line["lineObjectNumber"], line["quantity"]) for line in orders[0]["salesOrderLines"]] == [
        ("1896-S", 2), ("1908-S", 1)]
    names = bc.get("customers", params={"$filter": "contains(displayName,'Re') and number ne '20000'",
                                        "$orderby": "displayName desc", "$select": "displayName"}).json()["value"]
    assert [c["displayName"] for c in names] == ["Relecloud"]
    assert set(names[0]) == {"@odata.etag", "displayName"}
    bad = bc.get("customers", params={"$filter": "colour eq 'red'"})
    assert bad.status_code == 400 and "colour" in bad.json()["error"]["message"]


def test_metadata_is_well_formed_edmx_describing_sets_keys_and_types(bc: Bc) -> None:
    answer = bc.http.get(f"{bc.root}/$metadata", headers=bc.headers())
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("application/xml")
    ns = {"edmx": "http://docs.oasis-open.org/odata/ns/edmx", "edm": "http://docs.oasis-open.org/odata/ns/edm"}
    document = ET.fromstring(answer.content)  # noqa: S314 - the simulator's own $metadata
    schema = document.find("edmx:DataServices/edm:Schema", ns)
    assert schema is not None and schema.get("Namespace") == "Microsoft.NAV"
    types = {t.get("Name"): t for t in schema.findall("edm:EntityType", ns)}
    line = types["journalLine"]
    key = line.find("edm:Key/edm:PropertyRef", ns)
    assert key is not None and key.get("Name") == "id"
    props = {p.get("Name"): p.get("Type") for p in line.findall("edm:Property", ns)}
    assert props["amount"] == "Edm.Decimal" and props["postingDate"] == "Edm.Date" and props["id"] == "Edm.Guid"
    company_navs = {n.get("Name") for n in types["company"].findall("edm:NavigationProperty", ns)}
    assert {"journals", "customerPayments", "salesInvoices", "generalLedgerEntries"} <= company_navs
    actions = {(a.get("Name"), a.find("edm:Parameter", ns).get("Type"))  # type: ignore[union-attr]
               for a in schema.findall("edm:Action", ns)}
    assert ("post", "Microsoft.NAV.journal") in actions


# -- webhooks ------------------------------------------------------------------------------------------------------


def subscribe(bc: Bc, url: str, resource: str = "customers", state: str = "s3cret") -> httpx.Response:
    return bc.http.post(f"{bc.root}/subscriptions", headers=bc.headers(**{"Content-Type": "application/json"}),
                        content=json.dumps({"notificationUrl": url, "clientState": state,
                                            "resource": f"/api/v2.0/companies({bc.sim.company_id})/{resource}"}))


def test_subscription_handshake_echoes_the_token_and_lasts_three_days(bc: Bc, receiver: Receiver) -> None:
    answer = subscribe(bc, receiver.url)
    assert answer.status_code == 201, answer.text
    created = answer.json()
    assert receiver.validations and len(receiver.validations[0]) >= 16
    expires = datetime.fromisoformat(created["expirationDateTime"])
    assert abs((expires - bc.sim.now()) - timedelta(days=3)) < timedelta(seconds=5)
    assert created["clientState"] == "s3cret" and created["@odata.etag"]


@pytest.mark.parametrize("behaviour", ["wrong", "slow"])
def test_subscription_is_refused_when_the_handshake_fails(bc_factory: Callable[..., Bc], receiver: Receiver,
                                                          behaviour: str) -> None:
    bc = bc_factory(handshake_timeout=0.5)
    receiver.handshake = behaviour
    answer = subscribe(bc, receiver.url)
    assert answer.status_code == 400
    assert "could not be validated" in answer.json()["error"]["message"]
    assert bc.http.get(f"{bc.root}/subscriptions", headers=bc.headers()).json()["value"] == []


def test_notification_after_the_debounce_carries_client_state_and_the_resource(bc_factory: Callable[..., Bc],
                                                                               receiver: Receiver) -> None:
    bc = bc_factory(notification_delay=0.3)
    subscription = subscribe(bc, receiver.url).json()
    customer = bc.sim.records("customers", number="40000")[0]
    bc.sim.update("customers", customer["id"], {"displayName": "Alpine Ski House Inc."})
    bc.sim.update("customers", customer["id"], {"displayName": "Alpine Ski House Ltd."})
    time.sleep(0.1)
    assert receiver.notifications == []
    wait_for(lambda: receiver.notifications)
    time.sleep(0.3)
    assert len(receiver.notifications) == 1
    [item] = receiver.notifications[0]["value"]
    assert item["subscriptionId"] == subscription["subscriptionId"] and item["clientState"] == "s3cret"
    assert item["changeType"] == "updated"
    assert item["resource"] == f"api/v2.0/companies({bc.sim.company_id})/customers({customer['id']})"
    assert item["expirationDateTime"] == subscription["expirationDateTime"]


def test_many_changes_become_one_collection_notification(bc_factory: Callable[..., Bc], receiver: Receiver) -> None:
    bc = bc_factory(collection_threshold=3, notification_delay=0.2)
    subscribe(bc, receiver.url)
    for n in range(5):
        bc.sim.add_customer(f"7{n:04d}", f"Bulk {n}")
    wait_for(lambda: receiver.notifications)
    [item] = receiver.values()
    assert item["changeType"] == "collection"
    assert "customers?$filter=lastModifiedDateTime%20gt%20" in item["resource"]
    since = item["resource"].rsplit("%20", 1)[1]
    listed = bc.get("customers", params={"$filter": f"lastModifiedDateTime gt {since}"}).json()["value"]
    assert {c["number"] for c in listed} >= {f"7{n:04d}" for n in range(5)}


def test_subscription_expires_after_three_days_unless_renewed(bc: Bc, receiver: Receiver) -> None:
    keep = subscribe(bc, receiver.url, state="kept").json()
    subscribe(bc, receiver.url, state="lapsed")
    bc.sim.advance(timedelta(days=2))
    bc.renew_token()
    url = f"{bc.root}/subscriptions('{keep['subscriptionId']}')"
    missing = bc.http.patch(url, content="{}", headers=bc.headers(**{"Content-Type": "application/json"}))
    assert missing.status_code == 400
    renewed = bc.http.patch(url, content="{}", headers=bc.headers(**{"Content-Type": "application/json",
                                                                      "If-Match": keep["@odata.etag"]}))
    assert renewed.status_code == 200 and len(receiver.validations) == 3
    assert renewed.json()["expirationDateTime"] > keep["expirationDateTime"]
    bc.sim.advance(timedelta(days=1, seconds=1))
    bc.renew_token()
    listed = bc.http.get(f"{bc.root}/subscriptions", headers=bc.headers()).json()["value"]
    assert [s["clientState"] for s in listed] == ["kept"]
    bc.sim.add_customer("60000", "After expiry")
    wait_for(lambda: receiver.notifications)
    assert {item["clientState"] for item in receiver.values()} == {"kept"}
    assert {r["reason"] for r in bc.sim.state()["removedSubscriptions"]} == {"expired"}


def test_notifications_are_retried_on_5xx_and_the_subscription_deleted_on_other_4xx(bc: Bc,
                                                                                  receiver: Receiver) -> None:
    subscribe(bc, receiver.url)
    receiver.statuses = [503, 429]
    bc.sim.add_customer("61000", "Retried")
    wait_for(lambda: len(receiver.notifications) == 3)
    delivered = wait_for(lambda: [n for n in bc.sim.notifications if n["status"] == "delivered"])
    assert delivered[0]["attempts"] == 3
    receiver.statuses = [410]
    bc.sim.add_customer("62000", "Gone")
    wait_for(lambda: bc.sim.subscriptions == [])
    assert "410" in bc.sim.state()["removedSubscriptions"][0]["reason"]


# -- fault injection and ground truth ------------------------------------------------------------------------------


def test_a_lost_response_still_applied_the_write(bc: Bc) -> None:
    journal = new_journal(bc, "LOST")
    bc.app.faults.rules = [FaultRule("POST */journalLines", "lost", 1.0)]
    with pytest.raises(httpx.RemoteProtocolError):
        bc.post(f"journals({journal})/journalLines", DEPOSIT[0])
    bc.app.faults.rules = []
    assert [line["documentNumber"] for line in bc.sim.journal_lines("LOST")] == ["HPY-4471-0331"]


def test_throttling_knob_answers_429_with_retry_after(bc_factory: Callable[..., Bc]) -> None:
    bc = bc_factory(requests_per_minute=2)
    assert bc.get("customers").status_code == 200
    assert bc.get("customers").status_code == 200
    throttled = bc.get("customers")
    assert throttled.status_code == 429 and int(throttled.headers["retry-after"]) >= 1


def test_state_is_json_ground_truth_and_restores(bc: Bc, tmp_path: Any) -> None:
    journal = new_journal(bc, "SNAP")
    for line in DEPOSIT:
        bc.post(f"journals({journal})/journalLines", line)
    truth = json.loads(json.dumps(bc.sim.state()))
    assert [len(j["lines"]) for j in truth["journals"] if j["code"] == "SNAP"] == [3]
    snapshot = tmp_path / "bc.json"
    snapshot.write_text(json.dumps(truth))
    restored = create(seed=7, snapshot=snapshot).simulated
    assert isinstance(restored, BusinessCentral)
    assert [line["amount"] for line in restored.journal_lines("SNAP")] == [Decimal("9850"), Decimal("150"),
                                                                          Decimal("-10000")]
    known = {r["id"] for c in truth["companies"] for rows in c["tables"].values() for r in rows}
    assert restored.add_customer("99999", "After restore")["id"] not in known
    restored.close()
