"""BusinessCentralClient against the Business Central simulator over loopback HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from azure.identity import ClientSecretCredential
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from sandbox.host import run_in_background, stop_background
from sandbox.simulators.base import FaultRule, Served, SimulatorApp
from sandbox.simulators.bc import BusinessCentral, create
from sandbox.simulators.tls import SandboxCA
from shared.dynamics.bc import SCOPE, AlreadyPosted, BatchError, BusinessCentralClient, JournalNotEmpty, dumps, loads
from shared.dynamics.credentials import EntraAuth
from shared.errors import PermanentApiError, UncertainOutcome
from shared.httpclient import RetryPolicy
from tests.loopback import Swap, wait_for

LINES = [
    {"accountType": "Bank Account", "accountNumber": "CHECKING", "postingDate": "2025-03-31",
     "documentNumber": "HPY-4471-0331", "amount": Decimal("9850.00"), "description": "Heartland deposit"},
    {"accountType": "G/L Account", "accountNumber": "8620", "postingDate": "2025-03-31",
     "documentNumber": "HPY-4471-0331", "amount": Decimal("150.00"), "description": "Card fees"},
    {"accountType": "G/L Account", "accountNumber": "2910", "postingDate": "2025-03-31",
     "documentNumber": "HPY-4471-0331", "amount": Decimal("-10000.00"), "description": "Card clearing"},
]


@dataclass
class Env:
    app: SimulatorApp
    sim: BusinessCentral
    client: BusinessCentralClient
    credentials: EntraAuth
    base: str
    ca_bundle: str

    def requests_to(self, suffix: str, method: str = "POST") -> int:
        return sum(n for key, n in self.app.requests.items() if key.startswith(method) and key.endswith(suffix))


@pytest.fixture
def env(served_https: tuple[Swap, Served], tls: SandboxCA) -> Iterator[Env]:
    swap, served = served_https
    app = create(seed=11, notification_delay=0.05, notification_retry_interval=0.05, handshake_timeout=1.0)
    swap.app = app
    sim = app.simulated
    assert isinstance(sim, BusinessCentral)
    base, ca_bundle = served.url, str(tls.ca_bundle)

    def credential() -> ClientSecretCredential:
        return ClientSecretCredential(sim.options.tenant, "hl365-local-client", "hl365-local-secret", authority=base,
                                      disable_instance_discovery=True, connection_verify=ca_bundle)

    credentials = EntraAuth(credential, SCOPE)
    client = BusinessCentralClient(sim.api_root(base), credentials=credentials, company_id=sim.company_id,
                                   verify=ca_bundle,
                                   retry=RetryPolicy(jitter=lambda _: 0.0), sleep=lambda _: None)
    yield Env(app, sim, client, credentials, base, ca_bundle)
    client.close()
    credentials.close()
    sim.close()


@dataclass
class Receiver:
    validations: list[str] = field(default_factory=list)
    notifications: list[dict[str, Any]] = field(default_factory=list)

    async def hook(self, request: Request) -> Response:
        token = request.query_params.get("validationToken")
        if token is not None:
            self.validations.append(token)
            return PlainTextResponse(token)
        self.notifications.append(json.loads(await request.body()))
        return Response(status_code=202)


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    hook = Receiver()
    server, thread, port = run_in_background(Starlette(routes=[Route("/bc", hook.hook, methods=["POST"])]))
    yield hook, f"http://127.0.0.1:{port}/bc"
    stop_background(server, thread)


def test_journal_and_lines_go_in_one_atomic_batch_and_posting_writes_gl_entries(env: Env) -> None:
    result = env.client.create_journal_with_lines("hpy0331", LINES, external_key="HL-M1-B4471")
    assert result["journal"]["code"] == "HPY0331"
    assert [line["lineNumber"] for line in result["lines"]] == [10000, 20000, 30000]
    assert env.requests_to("/$batch") == 1
    assert {line["externalDocumentNumber"] for line in env.sim.journal_lines("HPY0331")} == {"HL-M1-B4471"}
    assert len(env.client.find_journal_lines("HL-M1-B4471")) == 3

    env.client.post_journal(result["journal"]["id"])
    entries = env.client.find_gl_entries("HPY-4471-0331")
    assert [(e["accountNumber"], e["debitAmount"], e["creditAmount"]) for e in entries] == [
        ("10100", Decimal("9850"), Decimal(0)), ("8620", Decimal("150"), Decimal(0)),
        ("2910", Decimal(0), Decimal("10000"))]
    assert all(isinstance(e["debitAmount"], Decimal) for e in entries)
    assert env.client.find_journal_lines("HL-M1-B4471") == []
    assert env.sim.account_balance("10100") == Decimal("9850.00")
    with pytest.raises(AlreadyPosted, match="HPY-4471-0331 is posted already"):
        env.client.create_journal_with_lines("HPY0331", LINES, external_key="HL-M1-B4471")
    assert env.sim.journal_lines("HPY0331") == []


def test_a_failing_operation_in_an_atomic_batch_leaves_nothing_and_is_named(env: Env) -> None:
    lines = [LINES[0], {**LINES[1], "accountNumber": "9999"}, LINES[2]]
    with pytest.raises(BatchError) as caught:
        env.client.create_journal_with_lines("BAD01", lines, external_key="HL-M1-B9")
    message = str(caught.value)
    assert "operation 2 (POST companies(" in message and "journalLines" in message
    assert 'The "accountNumber" does not match to an Account.' in message
    assert "none of its operations were applied" in message
    assert caught.value.operation["body"]["accountNumber"] == "9999" and caught.value.status == 400
    assert env.sim.journal_lines("BAD01") == []
    assert env.sim.gl_entries() == []


def test_a_lost_batch_response_is_uncertain_and_the_lookup_finds_what_was_applied(env: Env) -> None:
    env.app.faults.rules = [FaultRule("POST */$batch", "lost", 1.0)]
    with pytest.raises(UncertainOutcome):
        env.client.create_journal_with_lines("LOST01", LINES, external_key="hl-m1-b5")
    env.app.faults.rules = []
    found = env.client.find_journal_lines("hl-m1-b5")
    assert [line["amount"] for line in found] == [Decimal("9850"), Decimal("150"), Decimal("-10000")]
    again = env.client.create_journal_with_lines("LOST01", LINES, external_key="hl-m1-b5")
    assert len(again["lines"]) == 3
    assert len(env.sim.journal_lines("LOST01")) == 3
    assert env.requests_to("/$batch") == 1


def test_a_journal_holding_foreign_lines_is_refused(env: Env) -> None:
    journal = env.client.create("journals", {"code": "FOREIGN"})
    env.client.create(f"journals({journal['id']})/journalLines", {**LINES[0], "externalDocumentNumber": "OTHER"})
    with pytest.raises(JournalNotEmpty, match="holds 1 line"):
        env.client.create_journal_with_lines("FOREIGN", LINES, external_key="HL-M1-B6")
    assert len(env.sim.journal_lines("FOREIGN")) == 1


def test_token_is_renewed_mid_run_after_expiry(env: Env) -> None:
    assert len(list(env.client.iter("customers"))) == 5
    env.sim.advance(timedelta(hours=2))
    assert len(list(env.client.iter("customers"))) == 5
    assert env.credentials.tokens_fetched == 2
    assert env.sim.tokens_issued == 2


def test_iter_follows_next_links_one_page_at_a_time(env: Env) -> None:
    for n in range(7):
        env.sim.add_customer(f"8{n:04d}", f"Paged {n}")
    numbers = [c["number"] for c in env.client.iter("customers", select=["number"], page_size=5)]
    assert numbers == sorted(numbers) and len(set(numbers)) == 12
    assert env.requests_to("/customers", "GET") == 3


def test_patch_needs_a_current_etag_or_a_reread(env: Env) -> None:
    customer = next(env.client.iter("customers", "number eq '30000'"))
    env.client.patch("customers", customer["id"], customer["@odata.etag"], {"displayName": "First"})
    with pytest.raises(PermanentApiError) as caught:
        env.client.patch("customers", customer["id"], customer["@odata.etag"], {"displayName": "Second"})
    assert caught.value.status == 409 and "Request_EntityChanged" in str(caught.value)
    updated = env.client.patch("customers", customer["id"], customer["@odata.etag"], {"displayName": "Second"},
                               reread_on_conflict=True)
    assert updated["displayName"] == "Second"


def test_customer_payment_applied_to_an_invoice_pays_it(env: Env) -> None:
    invoice = env.sim.add_sales_invoice("20000", [{"lineObjectNumber": "1900-S", "quantity": 1,
                                                   "unitPrice": Decimal("245.10")}])
    journal = next(env.client.iter("customerPaymentJournals"))
    payment = env.client.create_customer_payment(journal["id"], amount=Decimal("-245.10"), posting_date="2025-03-31",
                                                 external_document_number="hpy-txn-88412093",
                                                 applies_to_invoice_id=invoice["id"])
    assert payment["customerNumber"] == "20000" and payment["amount"] == Decimal("-245.10")
    assert len(env.client.find_customer_payments(journal["id"], "HPY-TXN-88412093")) == 1
    env.client.post_journal(journal["id"])
    paid = env.client.get_sales_invoice(invoice["id"])
    assert (paid["status"], paid["remainingAmount"]) == ("Paid", Decimal(0))
    assert paid["salesInvoiceLines"][0]["amountIncludingTax"] == Decimal("245.1")


def test_get_sales_order_includes_its_lines(env: Env) -> None:
    order = env.sim.add_sales_order("10000", [{"lineObjectNumber": "1896-S", "quantity": 3}])
    read = env.client.get_sales_order(order["id"])
    assert read["number"] == order["number"]
    assert [(line["lineObjectNumber"], line["quantity"], line["amountExcludingTax"])
            for line in read["salesOrderLines"]] == [("1896-S", Decimal(3), Decimal("3002.4"))]


def test_batch_limits_and_partial_batches_are_reported(env: Env) -> None:
    with pytest.raises(ValueError, match="at most 100"):
        env.client.batch([{"method": "GET", "url": "customers"}] * 101)
    journal = env.client.create("journals", {"code": "LOOSE"})
    operations = [{"method": "POST", "url": f"journals({journal['id']})/journalLines", "body": line}
                  for line in (LINES[0], {**LINES[1], "accountNumber": "9999"})]
    with pytest.raises(BatchError, match="1 of 2 operations were applied") as caught:
        env.client.batch(operations, atomic=False)
    assert [a["status"] for a in caught.value.responses] == [201, 400]
    assert len(env.sim.journal_lines("LOOSE")) == 1


def test_money_is_decimal_both_ways_and_floats_are_refused() -> None:
    assert dumps({"amount": Decimal("0.10"), "n": 3, "ok": True}) == b'{"amount":0.10,"n":3,"ok":true}'
    parsed = loads(b'{"amount": 12345678901.23, "debitAmount": 0, "lineNumber": 10000}')
    assert parsed["amount"] == Decimal("12345678901.23")
    assert isinstance(parsed["debitAmount"], Decimal) and isinstance(parsed["lineNumber"], int)
    with pytest.raises(TypeError, match="Decimal"):
        dumps({"amount": 0.1})


def test_a_subscription_made_through_the_handshake_survives_renewal_and_keeps_notifying(
        env: Env, receiver: tuple[Receiver, str]) -> None:
    hook, url = receiver
    subscription = env.client.create_subscription(url, "customers", "hl365-state")
    assert len(hook.validations) == 1
    env.sim.advance(timedelta(days=2))
    renewed = env.client.renew_subscription(subscription["subscriptionId"], subscription["@odata.etag"])
    assert len(hook.validations) == 2
    assert renewed["expirationDateTime"] > subscription["expirationDateTime"]
    env.sim.advance(timedelta(days=2))
    assert [s["subscriptionId"] for s in env.client.list_subscriptions()] == [subscription["subscriptionId"]]
    customer = next(env.client.iter("customers", "number eq '40000'"))
    env.client.patch("customers", customer["id"], customer["@odata.etag"], {"displayName": "Alpine Ski House Inc."})
    wait_for(lambda: hook.notifications)
    [item] = hook.notifications[0]["value"]
    assert item["clientState"] == "hl365-state" and item["changeType"] == "updated"
    assert item["resource"].endswith(f"/customers({customer['id']})")
    assert item["expirationDateTime"] == renewed["expirationDateTime"]
    env.client.delete_subscription(subscription["subscriptionId"], renewed["@odata.etag"])
    assert env.client.list_subscriptions() == []


def test_connect_finds_the_company_by_name_under_the_standard_api_root(env: Env) -> None:
    client = BusinessCentralClient.connect(env.base, tenant=env.sim.options.tenant, credentials=env.credentials,
                                           company="CRONUS USA, Inc.", verify=env.ca_bundle)
    try:
        assert client.company_id == env.sim.company_id
        assert [c["number"] for c in client.iter("customers", "number eq '10000'")] == ["10000"]
    finally:
        client.close()
    with pytest.raises(PermanentApiError, match="no company 'USMF'"):
        BusinessCentralClient.connect(env.base, tenant=env.sim.options.tenant, credentials=env.credentials,
                                      company="USMF", verify=env.ca_bundle)


def test_the_metadata_document_gives_the_entity_fields_the_mapping_suggester_reads(env: Env) -> None:
    from shared.mapping.suggest import fields_from_metadata

    fields = {f.name: f for f in fields_from_metadata(env.client.metadata_document(), "customers")}
    assert fields["id"].read_only and "postalCode" in fields
