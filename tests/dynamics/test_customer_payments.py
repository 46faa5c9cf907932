"""The customer-ledger adapters against the F&O and Business Central simulators over HTTPS: a whole
micro-batch is found again in a few requests, whether its lines are still in the journal or already posted."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sandbox.demo import TENANT, _prepare_erp
from sandbox.scenario.orders import prepare_customer_ledger, seed_orders
from sandbox.simulators import create
from sandbox.simulators.base import Served
from shared.canonical.money import Money
from shared.canonical.payments import Payment, PaymentKind, PaymentStatus
from shared.dynamics.odata import LOOKUP_CHUNK
from shared.mapping.loader import load
from shared.settings import Settings
from shared.wiring import Services
from tests.loopback import Swap

ROOT = Path(__file__).parents[2]


@pytest.fixture(params=["fo", "bc"])
def ledger_of(request: pytest.FixtureRequest, served_https: tuple[Swap, Served], tls: object,
              tmp_path: Path) -> Iterator[tuple[str, Services, object, list[Payment]]]:
    erp = str(request.param)
    swap, served = served_https
    app = create(erp, seed=5)
    swap.app = app
    _prepare_erp(erp, app)
    mapping = load(ROOT / "mapping.yaml")
    prepare_customer_ledger(erp, app.simulated, mapping, bank="110110")
    orders = seed_orders(erp, app.simulated, random.Random(5), LOOKUP_CHUNK + 5, customers=10)
    payments = [Payment(transaction_id=f"TRN_{n:04d}", merchant_id="MER_T", kind=PaymentKind.SALE,
                        status=PaymentStatus.CAPTURED, amount=Money.of(order.amount, "USD"), reference=order.number,
                        card_brand="VISA", occurred_at=datetime(2026, 11, 26, 15, tzinfo=UTC))
                for n, order in enumerate(orders)]
    settings = Settings(HL365_DATA_DIR=str(tmp_path / "data"), HL365_SETTINGS_FILE=str(tmp_path / "none.json"),
                        HL365_MAPPING_FILE=str(ROOT / "mapping.yaml"), D365_TARGET=erp, D365_FO_URL=served.url,
                        D365_BC_URL=served.url, D365_AUTHORITY_URL=served.url, D365_TENANT_ID=TENANT,
                        D365_CLIENT_ID="hl365-local-client", D365_CLIENT_SECRET="hl365-local-secret",
                        D365_LEGAL_ENTITY="USMF", D365_CA_BUNDLE=str(tls.ca_bundle))  # type: ignore[attr-defined]
    services = Services(settings)
    yield erp, services, app, payments
    services.close()


def test_a_micro_batch_is_found_again_in_a_few_requests(ledger_of: tuple[str, Services, object, list[Payment]]
                                                        ) -> None:
    _, services, app, payments = ledger_of
    posted = services.ledger.post(payments)
    assert all(isinstance(document, str) for document in posted.values()), posted
    keys = [p.external_key for p in payments]
    before = sum(app.requests.values())  # type: ignore[attr-defined]
    found = services.ledger.find([*keys, "HPY-TRN_NEVER"])
    asked = sum(app.requests.values()) - before  # type: ignore[attr-defined]
    assert found == {key: posted[key] for key in keys}, "a posted payment was not found, or found wrongly"
    # two $filter chunks (BC also asks the G/L entries for what is not in the journal): not one per payment
    assert asked <= 4, f"{asked} requests to find {len(keys)} payments"


@pytest.mark.parametrize("ledger_of", ["bc"], indirect=True)
def test_business_central_finds_payments_a_person_has_posted(
        ledger_of: tuple[str, Services, object, list[Payment]]) -> None:
    _, services, _, payments = ledger_of
    batch = payments[:3]
    posted = services.ledger.post(batch)
    assert all(isinstance(d, str) for d in posted.values()), posted
    keys = [p.external_key for p in batch]
    journal = services.ledger.journal_id()  # type: ignore[attr-defined]
    services.bc.post_journal(journal)  # the accountant posts the receipts: the lines leave the journal
    assert services.bc.find_customer_payments(journal, *keys) == [], "the journal was not posted"
    assert services.ledger.find(keys) == posted, "a posted payment survives only on its G/L entries"
