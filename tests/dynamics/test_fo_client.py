"""The F&O client against the F&O simulator over loopback: atomic journals, hidden batch failures,
lost answers, token renewal, paging, Decimal money."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import httpx
import pytest
from azure.identity import ClientSecretCredential

from sandbox.simulators.base import FaultRule, Served, SimulatorApp, serve
from sandbox.simulators.fo import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_TENANT, FinanceOperations, create
from sandbox.simulators.fo import simulator as fo_simulator
from sandbox.simulators.tls import SandboxCA
from shared.dynamics.credentials import EntraAuth
from shared.dynamics.fo import FinanceOperationsClient, classify, escape_account
from shared.errors import PermanentApiError, TransientApiError, UncertainOutcome
from shared.httpclient import Action, RetryPolicy

HEADER = {"JournalName": "GenJrn", "Description": "Heartland POS settlement 2025-03-31 MID 4471"}
LINES = [
    {"AccountType": "Bank", "AccountDisplayValue": "USMF OPER", "DebitAmount": Decimal("9850.00"),
     "CurrencyCode": "USD", "TransDate": "2025-03-31T12:00:00Z", "Text": "HPY deposit 4471/0331"},
    {"AccountType": "Ledger", "AccountDisplayValue": "618160-001-023", "DebitAmount": Decimal("150.00"),
     "CurrencyCode": "USD", "TransDate": "2025-03-31T12:00:00Z", "Text": "Card processing fees"},
    {"AccountType": "Ledger", "AccountDisplayValue": "130500", "CreditAmount": Decimal("10000.00"),
     "CurrencyCode": "USD", "TransDate": "2025-03-31T12:00:00Z", "Text": "Card clearing"},
]


@dataclass
class Env:
    app: SimulatorApp
    sim: FinanceOperations
    base: str
    credentials: EntraAuth
    fo: FinanceOperationsClient
    tls: SandboxCA

    def batches(self) -> int:
        return self.app.requests["POST /data/$batch"]

    def data_requests(self) -> int:
        return sum(n for route, n in self.app.requests.items() if " /data" in route)


@pytest.fixture
def start(tls: SandboxCA) -> Iterator[Callable[..., Env]]:
    """An F&O simulator over HTTPS and a client whose tokens come from ``ClientSecretCredential``."""
    running: list[tuple[Served, EntraAuth, FinanceOperationsClient]] = []

    def _start(scope: str | None = None, **options: Any) -> Env:
        options.setdefault("event_interval", None)
        app = create(seed=11, **options)
        served = serve(app, tls=tls)
        base = served.url

        def credential() -> ClientSecretCredential:
            return ClientSecretCredential(DEFAULT_TENANT, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, authority=base,
                                          disable_instance_discovery=True, connection_verify=str(tls.ca_bundle))

        credentials = EntraAuth(credential, scope or f"{base}/.default")
        client = FinanceOperationsClient(base, credentials=credentials, legal_entity="USMF",
                                         retry=RetryPolicy(max_attempts=3, jitter=lambda _: 0.0),
                                         timeout=httpx.Timeout(10.0, connect=2.0), sleep=lambda _: None,
                                         verify=str(tls.ca_bundle))
        running.append((served, credentials, client))
        return Env(app, fo_simulator(app), base, credentials, client, tls)

    yield _start
    for served, credentials, client in running:
        client.close()
        credentials.close()
        served.stop()


@pytest.fixture
def env(start: Callable[..., Env]) -> Env:
    return start()


def test_a_journal_created_through_batch_lands_whole_in_one_request(env: Env) -> None:
    journal = env.fo.create_journal(HEADER, LINES, external_key="HL-4471-0331")
    assert journal.batch_number == "00001" and journal.legal_entity == "usmf" and not journal.posted
    assert [line["LineNumber"] for line in journal.lines] == [1, 2, 3]
    assert journal.lines[0]["DebitAmount"] == Decimal("9850.00")
    assert all(isinstance(line["DebitAmount"], Decimal) for line in journal.lines)
    assert env.batches() == 1 and env.data_requests() == 1
    [truth] = env.sim.journals()
    assert truth["IntegrationKey"] == "HL-4471-0331" and truth["balanced"]
    assert truth["totals"] == {"USD": {"debit": "10000.00", "credit": "10000.00"}}
    assert [line["Text"] for line in truth["lines"]] == [line["Text"] for line in LINES]


def test_a_failing_changeset_raises_a_permanent_error_with_the_infolog(env: Env) -> None:
    lines = [*LINES[:2], {**LINES[2], "AccountDisplayValue": "999999"}]
    with pytest.raises(PermanentApiError) as caught:
        env.fo.create_journal(HEADER, lines, external_key="HL-BAD")
    assert "Value '999999' for dimension 'MainAccount' does not exist" in caught.value.description
    assert caught.value.status == 500 and caught.value.source == "fo"
    assert env.sim.journals() == [] and env.batches() == 1  # nothing applied, and not retried
    assert env.fo.find_journal("HL-BAD") is None


def test_debit_and_credit_on_one_line_is_refused_before_anything_lands(env: Env) -> None:
    with pytest.raises(PermanentApiError, match="both a debit amount and a credit amount"):
        env.fo.create_journal(HEADER, [{**LINES[0], "CreditAmount": Decimal("1")}, *LINES[1:]])
    assert env.sim.journals() == []


def test_a_lost_answer_raises_uncertain_outcome_and_find_journal_prevents_a_second_journal(env: Env) -> None:
    env.app.faults.rules = [FaultRule("POST /data/$batch", "lost", 1.0)]
    with pytest.raises(UncertainOutcome):
        env.fo.create_journal(HEADER, LINES, external_key="HL-LOST-1")
    env.app.faults.rules = []
    found = env.fo.find_journal("HL-LOST-1")
    assert found is not None and found.batch_number == "00001" and len(found.lines) == 3
    assert found.lines[2]["CreditAmount"] == Decimal("10000.00")
    if env.fo.find_journal("HL-LOST-1") is None:  # what a retrying caller does: look up, create only if absent
        env.fo.create_journal(HEADER, LINES, external_key="HL-LOST-1")
    assert len(env.sim.journals()) == 1 and env.batches() == 1


def test_find_journal_looks_only_in_the_clients_legal_entity(env: Env) -> None:
    env.fo.create_journal(HEADER, LINES, external_key="HL-CO")
    other = FinanceOperationsClient(env.base, credentials=env.credentials, legal_entity="usrt",
                                    verify=str(env.tls.ca_bundle))
    try:
        assert other.find_journal("HL-CO") is None
    finally:
        other.close()
    assert env.fo.find_journal("hl-co") is not None  # F&O compares without regard to case


def test_posting_a_balanced_journal_and_refusing_an_unbalanced_one(env: Env) -> None:
    balanced = env.fo.create_journal(HEADER, LINES, external_key="HL-P1")
    posted = env.fo.post_journal(balanced.batch_number)
    assert posted.posted and posted.header["JournalTotalDebit"] == Decimal("10000")
    unbalanced = env.fo.create_journal(HEADER, LINES[:2], external_key="HL-P2")
    with pytest.raises(PermanentApiError, match="do not balance in currency USD"):
        env.fo.post_journal(unbalanced.batch_number)
    assert [j["IsPosted"] for j in env.sim.journals()] == ["Yes", "No"]
    with pytest.raises(PermanentApiError, match="already posted"):
        env.fo.post_journal(balanced.batch_number)


def test_a_token_expiring_mid_run_is_renewed(start: Callable[..., Env]) -> None:
    env = start(page_size=4)
    for n in range(10):
        env.sim.add_customer(f"T-{n:02d}")
    seen = []
    for customer in env.fo.iter("CustomersV3", select=["CustomerAccount"]):
        seen.append(customer["CustomerAccount"])
        if len(seen) == 1:
            env.sim.expire_tokens()
    assert len(seen) == 15 and len(set(seen)) == 15
    assert env.credentials.tokens_fetched == 2 and env.sim.tokens_issued == 2


def test_paging_25000_rows_streams_every_row_once(start: Callable[..., Env]) -> None:
    env = start(page_size=10_000)
    for n in range(25_000 - 5):
        env.sim.add_customer(f"B{n:05d}")
    accounts = [c["CustomerAccount"] for c in env.fo.iter("CustomersV3", select="CustomerAccount")]
    assert len(accounts) == 25_000 and len(set(accounts)) == 25_000
    assert env.app.requests["GET /data/CustomersV3"] == 3


def test_reads_are_narrowed_to_the_legal_entity_with_cross_company(start: Callable[..., Env]) -> None:
    env = start(default_company="usrt")  # the integration user's default company is not the client's
    env.sim.add_customer("US-100", "Fabrikam", company="usmf")
    env.sim.add_customer("US-200", "Fabrikam", company="usmf")
    assert len(env.sim.rows("CustomersV3")) == 7  # five demo customers live in usrt
    accounts = {c["CustomerAccount"] for c in env.fo.iter("CustomersV3", "OrganizationName eq 'Fabrikam'")}
    assert accounts == {"US-100", "US-200"}
    assert {c["CustomerAccount"] for c in env.fo.iter("CustomersV3")} == accounts
    customer = env.fo.get_customer("US-100")
    assert customer is not None and customer["dataAreaId"] == "usmf"
    assert env.fo.get_customer("US-001") is None


def test_exchange_rates_honour_the_conversion_factor_and_the_inverse_pair(env: Env) -> None:
    env.sim.add_exchange_rate("EUR", "USD", Decimal("1.1000"), date(2025, 3, 15))
    assert env.fo.exchange_rate("EUR", "USD", date(2025, 3, 1)) == Decimal("1.0850")
    assert env.fo.exchange_rate("EUR", "USD", date(2025, 3, 31)) == Decimal("1.1000")
    assert env.fo.exchange_rate("MXN", "USD", date(2025, 3, 31)) == Decimal("0.058")
    assert env.fo.exchange_rate("USD", "GBP", date(2025, 3, 31)) == Decimal(1) / Decimal("1.2650")
    assert env.fo.exchange_rate("USD", "USD", date(2025, 3, 31)) == 1
    with pytest.raises(PermanentApiError, match="no Default exchange rate"):
        env.fo.exchange_rate("JPY", "CHF", date(2025, 3, 31))
    with pytest.raises(PermanentApiError):
        env.fo.exchange_rate("EUR", "USD", date(2024, 12, 31))


def test_a_customer_payment_journal_escapes_the_account_and_is_found_by_payment_reference(env: Env) -> None:
    journal = env.fo.create_customer_payment_journal(
        {"JournalName": "CustPay", "Description": "Heartland e-comm receipts"},
        [{"AccountDisplayValue": "US-002", "CreditAmount": Decimal("245.10"), "CurrencyCode": "USD",
          "TransactionDate": "2025-03-31T12:00:00Z", "PaymentMethodName": "ELECTRONIC",
          "PaymentReference": "HPY-TXN-88412093", "TransactionText": "Card payment"}])
    assert journal.kind == "customer_payment" and journal.lines[0]["AccountDisplayValue"] == "US\\-002"
    [found] = env.fo.find_customer_payments(["HPY-TXN-88412093", "HPY-TXN-00000001"])
    assert found["CreditAmount"] == Decimal("245.10")
    assert found["OffsetAccountDisplayValue"] == "USMF OPER" and found["CustomerName"] == "Contoso Retail Los Angeles"
    assert env.fo.post_customer_payment_journal(journal.batch_number).posted
    [payment] = env.sim.state()["customer_payments"]
    assert payment == {**payment, "customer": "US-002", "amount": "245.10", "posted": True}
    assert list(env.fo.find_customer_payments(["HPY-TXN-00000000"])) == []


def test_money_never_travels_as_float(env: Env) -> None:
    with pytest.raises(TypeError, match="float"):
        env.fo.create_journal(HEADER, [{**LINES[0], "DebitAmount": 9850.0}])
    assert env.batches() == 0
    with pytest.raises(ValueError, match="wildcard"):
        env.fo.create_journal(HEADER, LINES, external_key="HL-*")


def first_draw_only(route: str, kind: str, rate: float) -> int:
    """A fault seed whose first draw for ``route`` fires and whose second does not (base.Faults draws per n)."""
    return next(seed for seed in range(1000)
                if random.Random(f"{seed}:{route}:{kind}:1").random() < rate
                <= random.Random(f"{seed}:{route}:{kind}:2").random())


def test_a_plain_5xx_is_retried_and_an_outer_throttle_applies_nothing(env: Env) -> None:
    env.app.faults.rules = [FaultRule("POST /data/$batch", "error", 0.5, status=500)]
    env.app.faults.seed = first_draw_only("POST /data/$batch", "error", 0.5)
    journal = env.fo.create_journal(HEADER, LINES, external_key="HL-R")
    assert len(env.sim.journals()) == 1 and env.batches() == 2 and journal.batch_number == "00001"
    env.app.faults.rules = [FaultRule("POST /data/$batch", "throttle", 1.0, retry_after=0)]
    with pytest.raises(TransientApiError):
        env.fo.create_journal(HEADER, LINES, external_key="HL-T")
    assert len(env.sim.journals()) == 1


def test_the_wrong_scope_is_a_permanent_token_error(start: Callable[..., Env]) -> None:
    env = start(scope="https://contoso.operations.dynamics.com/.default")
    with pytest.raises(PermanentApiError, match="AADSTS500011"):
        env.fo.get_customer("US-001")


def test_classify_separates_infolog_failures_from_transient_ones() -> None:
    request = httpx.Request("POST", "https://fo.example/data/$batch")
    infolog = {"error": {"code": "", "message": "An error has occurred.", "innererror": {
        "message": "Write failed for table row of type 'X'. Infolog: Error: nope.",
        "type": "Microsoft.Dynamics.Platform.Integration.Services.OData.AxODataWriteException"}}}
    deadlock = {"error": {"innererror": {"message": "Infolog: Error: Deadlock, where one or more users have "
                                                    "simultaneously locked the whole table.", "type": "X"}}}
    assert classify(httpx.Response(500, json=infolog, request=request)) is Action.FAIL
    assert classify(httpx.Response(500, json=deadlock, request=request)) is Action.RETRY
    assert classify(httpx.Response(500, text="Internal Server Error", request=request)) is None
    assert classify(httpx.Response(504, request=request)) is Action.FAIL
    assert classify(httpx.Response(504, request=httpx.Request("GET", "https://fo.example/data/X"))) is None
    assert escape_account("US-027") == "US\\-027" == escape_account("US\\-027")


def test_the_metadata_document_gives_the_entity_fields_the_mapping_suggester_reads(env: Env) -> None:
    from shared.mapping.suggest import fields_from_metadata

    fields = {f.name: f for f in fields_from_metadata(env.fo.metadata_document(), "CustomersV3")}
    assert fields["CustomerAccount"].key and not fields["AddressZipCode"].read_only
