"""The settlement flow's ledger port on the real ERPs: canonical journals as F&O and Business Central general
journals, against their simulators over HTTPS. A journal lands once, balanced, under its external key; it is
found again by that key before and after posting; a re-run posts nothing twice; a journal the ERP refuses
raises with the ERP's own words."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from azure.identity import ClientSecretCredential

from sandbox.simulators.base import Served, SimulatorApp
from sandbox.simulators.bc import BusinessCentral
from sandbox.simulators.bc import create as create_bc
from sandbox.simulators.fo import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_TENANT, FinanceOperations
from sandbox.simulators.fo import create as create_fo
from sandbox.simulators.tls import SandboxCA
from shared.canonical.journals import AccountType, Journal, JournalLine
from shared.dynamics.bc import SCOPE, BusinessCentralClient
from shared.dynamics.credentials import EntraAuth
from shared.dynamics.fo import FinanceOperationsClient
from shared.dynamics.journals import BcJournals, FoJournals, fo_display_value
from shared.errors import FatalError, PermanentApiError
from shared.httpclient import RetryPolicy
from tests.loopback import Swap

DAY = date(2025, 3, 31)
KEY = "HL-MER_4471-BAT_845001-20250331"

# per ERP: the bank, revenue, fee and card clearing accounts of its chart
ACCOUNTS = {"fo": {"bank": "USMF OPER", "revenue": "401100", "fees": "618160", "clearing": "130500"},
            "bc": {"bank": "CHECKING", "revenue": "40100", "fees": "8620", "clearing": "2910"}}


@dataclass
class Erp:
    name: str
    app: SimulatorApp
    sim: Any
    ledger: FoJournals | BcJournals
    client: FinanceOperationsClient | BusinessCentralClient

    def writes(self) -> int:
        return sum(n for route, n in self.app.requests.items() if route.startswith(("POST", "PATCH")))

    def journal(self, key: str = KEY, *, revenue: str = "10000.00", fees: str = "150.00", currency: str = "USD",
                revenue_account: str | None = None, rate: Decimal | None = None) -> Journal:
        """A settlement journal: the deposit and the fees against card clearing, and the day's revenue."""
        accounts = ACCOUNTS[self.name]
        gross, fee = Decimal(revenue), Decimal(fees)
        lines = (
            JournalLine(account=accounts["bank"], account_type=AccountType.BANK, currency=currency, debit=gross - fee,
                        text="Heartland deposit", exchange_rate=rate),
            JournalLine(account=accounts["fees"], currency=currency, debit=fee, text="Card processing fees",
                        dimensions={"BusinessUnit": "001"}, exchange_rate=rate),
            JournalLine(account=accounts["clearing"], currency=currency, credit=gross, text="Card clearing",
                        exchange_rate=rate),
            JournalLine(account=revenue_account or accounts["revenue"], currency=currency, credit=Decimal("42.10"),
                        dimensions={"BusinessUnit": "001", "Department": "022"}, text="Sales APPAREL",
                        exchange_rate=rate),
            JournalLine(account=accounts["clearing"], currency=currency, debit=Decimal("42.10"),
                        text="Card sales APPAREL", exchange_rate=rate),
        )
        return Journal(external_key=key, merchant_id="MER_4471", batch_id="BAT_845001", business_date=DAY,
                       description=f"Heartland settlement MER_4471 batch BAT_845001 {DAY}", lines=lines)


@pytest.fixture(params=["fo", "bc"])
def erp(request: pytest.FixtureRequest, served_https: tuple[Swap, Served], tls: SandboxCA) -> Iterator[Erp]:
    swap, served = served_https
    name = str(request.param)
    if name == "fo":
        app = create_fo(seed=3, event_interval=None)
        sim: Any = app.simulated
        assert isinstance(sim, FinanceOperations)
        tenant, scope = DEFAULT_TENANT, f"{served.url}/.default"
    else:
        app = create_bc(seed=3)
        sim = app.simulated
        assert isinstance(sim, BusinessCentral)
        tenant, scope = sim.options.tenant, SCOPE
    swap.app = app

    def credential() -> ClientSecretCredential:
        return ClientSecretCredential(tenant, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, authority=served.url,
                                      disable_instance_discovery=True, connection_verify=str(tls.ca_bundle))

    credentials = EntraAuth(credential, scope)
    retry = RetryPolicy(max_attempts=2, jitter=lambda _: 0.0)
    client: FinanceOperationsClient | BusinessCentralClient
    ledger: FoJournals | BcJournals
    if name == "fo":
        client = FinanceOperationsClient(served.url, credentials=credentials, legal_entity="USMF", retry=retry,
                                         sleep=lambda _: None, verify=str(tls.ca_bundle))
        ledger = FoJournals(client, journal_name="GenJrn", legal_entity="usmf")
    else:
        client = BusinessCentralClient(sim.api_root(served.url), credentials=credentials, company_id=sim.company_id,
                                       retry=retry, sleep=lambda _: None, verify=str(tls.ca_bundle))
        ledger = BcJournals(client, base_currency="USD")
    yield Erp(name, app, sim, ledger, client)
    client.close()
    credentials.close()
    if name == "bc":
        sim.close()


def landed(erp: Erp, key: str = KEY) -> list[tuple[str, Decimal]]:
    """The ERP's ground truth: (account, signed amount) of every line written for ``key``, posted or not."""
    if erp.name == "fo":
        return [(line["AccountDisplayValue"], Decimal(line["DebitAmount"]) - Decimal(line["CreditAmount"]))
                for journal in erp.sim.journals("ledger") if journal["IntegrationKey"] == key
                for line in journal["lines"]]
    code = BcJournals.code(key)
    waiting = [(line["accountNumber"], Decimal(line["amount"])) for line in erp.sim.journal_lines(code)]
    document = BcJournals.document_number(key)
    posted = [(entry["accountNumber"], Decimal(entry["debitAmount"]) - Decimal(entry["creditAmount"]))
              for entry in erp.sim.gl_entries(document_number=document)]
    return waiting + posted


def posted(erp: Erp, key: str = KEY) -> bool:
    if erp.name == "fo":
        return [j["IsPosted"] for j in erp.sim.journals("ledger") if j["IntegrationKey"] == key] == ["Yes"]
    return bool(erp.sim.gl_entries(document_number=BcJournals.document_number(key)))


def test_a_balanced_journal_lands_once_and_is_found_by_its_external_key(erp: Erp) -> None:
    journal = erp.journal()
    assert erp.ledger.find_journal(KEY) is None
    document = erp.ledger.create_journal(journal)
    assert erp.ledger.find_journal(KEY) == document
    lines = landed(erp)
    assert len(lines) == 5 and sum(amount for _, amount in lines) == 0, lines
    assert sorted(amount for _, amount in lines) == sorted(line.amount for line in journal.lines)
    assert all(isinstance(amount, Decimal) for _, amount in lines)
    assert not posted(erp), "posting is a separate step"
    assert erp.ledger.find_journal("HL-MER_4471-BAT_845002-20250331") is None, "another batch's key finds nothing"


def test_posting_posts_once_and_the_journal_is_still_found_afterwards(erp: Erp) -> None:
    document = erp.ledger.create_journal(erp.journal())
    erp.ledger.post_journal(document)
    assert posted(erp)
    after = erp.ledger.find_journal(KEY)
    assert after is not None, "a posted journal must still be found, or a retry would write it again"
    entries = landed(erp)
    writes = erp.writes()
    # a re-run after a crash between posting and recording it: look up, then post what was found
    erp.ledger.post_journal(after)
    erp.ledger.post_journal(document if erp.name == "fo" else after)
    assert erp.writes() == writes, "an already posted journal was posted again"
    assert landed(erp) == entries and posted(erp)


def test_posting_one_journal_leaves_another_waiting(erp: Erp) -> None:
    first = erp.ledger.create_journal(erp.journal())
    other_key = "HL-MER_4471-BAT_845002-20250331"
    erp.ledger.create_journal(erp.journal(other_key, revenue="500.00", fees="7.50"))
    erp.ledger.post_journal(first)
    assert posted(erp) and not posted(erp, other_key)
    assert len(landed(erp, other_key)) == 5


def test_a_journal_the_erp_refuses_raises_with_its_text_and_lands_nothing(erp: Erp) -> None:
    unknown = {"fo": "999999", "bc": "9999"}[erp.name]
    with pytest.raises(PermanentApiError) as refused:
        erp.ledger.create_journal(erp.journal(revenue_account=unknown))
    text = {"fo": "Value '999999' for dimension 'MainAccount' does not exist",
            "bc": 'The "accountNumber" does not match to an Account.'}[erp.name]
    assert text in refused.value.description
    assert refused.value.source == erp.name
    assert landed(erp) == [] and erp.ledger.find_journal(KEY) is None, "half a journal landed"
    document = erp.ledger.create_journal(erp.journal())  # fixed and run again: the same key still works
    assert erp.ledger.find_journal(KEY) == document and len(landed(erp)) == 5


@pytest.mark.parametrize("erp", ["fo"], indirect=True)
def test_fo_writes_dimensions_text_and_the_legal_entity_on_every_line(erp: Erp) -> None:
    erp.ledger.create_journal(erp.journal())
    [journal] = erp.sim.journals("ledger")
    assert journal["JournalName"] == "GenJrn" and journal["dataAreaId"] == "usmf"
    assert journal["Description"] == f"Heartland settlement MER_4471 batch BAT_845001 {DAY}"
    accounts = [line["AccountDisplayValue"] for line in journal["lines"]]
    assert accounts == ["USMF OPER", "618160-001", "130500", "401100-001-022", "130500"]
    assert [line["AccountType"] for line in journal["lines"]] == ["Bank", "Ledger", "Ledger", "Ledger", "Ledger"]
    assert all(line["Text"].endswith(KEY) and len(line["Text"]) <= 60 for line in journal["lines"])
    assert {line["TransDate"][:10] for line in journal["lines"]} == {"2025-03-31"}
    assert journal["totals"] == {"USD": {"debit": "10042.10", "credit": "10042.10"}}


@pytest.mark.parametrize("erp", ["fo"], indirect=True)
def test_fo_journal_in_a_foreign_currency_carries_the_days_rate(erp: Erp) -> None:
    assert isinstance(erp.ledger, FoJournals)
    erp.sim.add_exchange_rate("EUR", "USD", Decimal("1.0920"), date(2025, 3, 15))
    rate = erp.ledger.exchange_rate("EUR", "USD", DAY)
    assert rate == Decimal("1.0920") and isinstance(rate, Decimal)
    assert erp.ledger.exchange_rate("EUR", "USD", date(2025, 3, 1)) == Decimal("1.0850"), "the rate valid that day"
    erp.ledger.create_journal(erp.journal(currency="EUR", rate=rate))
    [journal] = erp.sim.journals("ledger")
    assert {line["CurrencyCode"] for line in journal["lines"]} == {"EUR"}
    assert {Decimal(line["ExchRate"]) for line in journal["lines"]} == {Decimal("109.20")}, "F&O rates are per 100"
    with pytest.raises(PermanentApiError, match="no Default exchange rate"):
        erp.ledger.exchange_rate("JPY", "CHF", DAY)


@pytest.mark.parametrize("erp", ["bc"], indirect=True)
def test_bc_takes_the_company_currency_only_and_says_so_before_writing(erp: Erp) -> None:
    before = erp.writes()
    with pytest.raises(FatalError) as refused:
        erp.ledger.create_journal(erp.journal(currency="EUR"))
    assert refused.value.reason == "CurrencyNotSupported" and "EUR" in refused.value.description
    with pytest.raises(FatalError, match="CurrencyNotSupported"):
        erp.ledger.exchange_rate("EUR", "USD", DAY)
    assert erp.writes() == before and landed(erp) == []


@pytest.mark.parametrize("erp", ["bc"], indirect=True)
def test_bc_keys_longer_than_its_field_stay_distinct(erp: Erp) -> None:
    long_a = "HL-MER_4471-BAT_845001-20250331-PART-0001-OF-0002"
    long_b = "HL-MER_4471-BAT_845001-20250331-PART-0002-OF-0002"
    assert long_a[:35] == long_b[:35], "the two keys differ only past externalDocumentNumber's 35 characters"
    first = erp.ledger.create_journal(erp.journal(long_a))
    assert erp.ledger.find_journal(long_b) is None, "one part's journal was taken for the other's"
    second = erp.ledger.create_journal(erp.journal(long_b, revenue="800.00"))
    assert first != second
    assert (erp.ledger.find_journal(long_a), erp.ledger.find_journal(long_b)) == (first, second)
    assert len(BcJournals.key(long_a)) <= 35 and len(BcJournals.code(long_a)) == 10


def test_fo_display_values_follow_the_account_structure() -> None:
    assert fo_display_value("401100", {"BusinessUnit": "001", "Department": "022", "CostCenter": "007"}) == \
        "401100-001-022-007"
    assert fo_display_value("401100", {"Department": "022", "BusinessUnit": "001"}) == "401100-001-022"
    assert fo_display_value("401100", {"Department": "022"}) == "401100--022", "a skipped segment keeps its place"
    assert fo_display_value("130500", {}) == "130500"
    assert fo_display_value("130500", {"Location": "9"}) == "130500", "a dimension outside the structure is dropped"


def test_a_journal_the_erp_will_not_post_raises_with_its_text_and_stays_unposted(erp: Erp) -> None:
    balanced = erp.journal()
    unbalanced = balanced.model_copy(update={"lines": balanced.lines[:-1]})  # the last debit is missing
    document = erp.ledger.create_journal(unbalanced)
    with pytest.raises(PermanentApiError) as refused:
        erp.ledger.post_journal(document)
    text = {"fo": "do not balance in currency USD: debit 10000.00, credit 10042.10, difference -42.10",
            "bc": f"Document No. {BcJournals.document_number(KEY)} is out of balance by -42.10"}[erp.name]
    assert text in refused.value.description
    assert not posted(erp) and len(landed(erp)) == 4
    assert erp.ledger.find_journal(KEY) == document, "the refused journal waits, under its key, for a person"
