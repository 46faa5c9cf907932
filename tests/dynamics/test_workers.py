"""The worker adapters against the F&O and Business Central simulators over loopback HTTP: every worker read into
the canonical ``Worker``, increments on Business Central, terminations, and the SSN and birth date present in the
worker yet never in its text or in any log record."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest

from sandbox.host import run_in_background, stop_background
from sandbox.scenario import contoso
from sandbox.simulators.bc import BusinessCentral
from sandbox.simulators.bc import create as create_bc
from sandbox.simulators.fo import DEFAULT_TENANT, FinanceOperations
from sandbox.simulators.fo import create as create_fo
from shared.canonical.workers import Sensitive, Worker, WorkerStatus
from shared.dynamics.bc import SCOPE, BusinessCentralClient
from shared.dynamics.fo import FinanceOperationsClient
from shared.dynamics.workers import BcWorkers, FoWorkers
from shared.httpclient import RetryPolicy
from tests.loopback import EntraToken, Swap

FAST = RetryPolicy(max_attempts=3, jitter=lambda _: 0.0)
TODAY = datetime(2026, 3, 16, 9, 30, tzinfo=UTC)
KEY = b"fingerprint key of the test"
BC_EMPLOYEES = [  # number, given name, surname, hired, born, fields
    ("E0010", "Ana", "Ruiz", date(2023, 9, 4), date(1996, 7, 30),
     {"middleName": "Lucia", "addressLine1": "80 Harbor Way", "addressLine2": "Suite 2", "city": "San Diego",
      "state": "CA", "country": "US", "postalCode": "92101", "mobilePhone": "619-555-0101",
      "personalEmail": "ana@example.com"}),
    ("E0020", "Charlie", "Carson", date(2019, 5, 13), date(1988, 11, 21),
     {"email": "charlie@cronus.com", "phoneNumber": "206-555-0142", "status": "Inactive"}),
    ("E0030", "Jodi", "Christiansen", date(2006, 2, 1), date(1972, 3, 6), {}),
]
SSNS = [ssn for *_, ssn, _ in contoso.EMPLOYEES]
BIRTH_DATES = [born for *_, born, _, _ in contoso.EMPLOYEES] + [born for *_, born, _ in BC_EMPLOYEES]
SECRETS = [*SSNS, *(ssn.replace("-", "") for ssn in SSNS),
           *(form for born in BIRTH_DATES for form in (born.isoformat(), repr(born), f"{born:%m/%d/%Y}"))]
"""Every SSN and birth date the simulators hold, in every form text could take: none may show in a worker's text or a
log record."""


@dataclass
class World:
    erp: str
    fo: FinanceOperations | None
    bc: BusinessCentral | None
    workers: FoWorkers | BcWorkers


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[Swap, int]]:
    swap = Swap()
    started, thread, port = run_in_background(swap)
    yield swap, port
    stop_background(started, thread)


def _fo_world(swap: Swap, base: str) -> Iterator[World]:
    swap.app = create_fo(seed=3, event_interval=None, today=lambda: TODAY)
    sim = swap.app.simulated
    assert isinstance(sim, FinanceOperations)
    client = FinanceOperationsClient(base, credentials=EntraToken(base, DEFAULT_TENANT, f"{base}/.default"),
                                     legal_entity="USMF", retry=FAST, sleep=lambda _: None)
    yield World("fo", sim, None, FoWorkers(client, clock=lambda: TODAY))
    client.close()


def _bc_world(swap: Swap, base: str) -> Iterator[World]:
    swap.app = create_bc(seed=3)
    sim = swap.app.simulated
    assert isinstance(sim, BusinessCentral)
    for number, given, surname, hired, born, fields in BC_EMPLOYEES:
        sim.add_employee(number, given, surname, employment_date=hired, birthDate=born, **fields)
    client = BusinessCentralClient.connect(base, tenant=DEFAULT_TENANT, credentials=EntraToken(base, DEFAULT_TENANT,
                                                                                                SCOPE),
                                           retry=FAST, sleep=lambda _: None)
    yield World("bc", None, sim, BcWorkers(client))
    client.close()
    sim.close()


@pytest.fixture
def fo(server: tuple[Swap, int]) -> Iterator[World]:
    yield from _fo_world(server[0], f"http://127.0.0.1:{server[1]}")


@pytest.fixture
def bc(server: tuple[Swap, int]) -> Iterator[World]:
    yield from _bc_world(server[0], f"http://127.0.0.1:{server[1]}")


@pytest.fixture(params=["fo", "bc"])
def world(request: pytest.FixtureRequest, server: tuple[Swap, int]) -> Iterator[World]:
    make = _fo_world if request.param == "fo" else _bc_world
    yield from make(server[0], f"http://127.0.0.1:{server[1]}")


def by_number(workers: list[Worker]) -> dict[str, Worker]:
    return {w.number: w for w in workers}


# --- reading --------------------------------------------------------------------------------------------------------


def test_fo_workers_of_the_legal_entity_are_read_with_their_fields(fo: World) -> None:
    workers, checkpoint = fo.workers.changes(None)
    assert checkpoint is None, "F&O has no change time: nothing to resume from"
    assert [w.number for w in workers] == ["000001", "000002", "000003"]
    jodi = workers[0]
    assert jodi == Worker(
        number="000001", first_name="Jodi", last_name="Christiansen", address_line1="3219 Oak St", city="Bellevue",
        state="WA", postal_code="98004", country="USA", email="jodi@contoso.com", hire_date=date(2006, 2, 1),
        status=WorkerStatus.ACTIVE, birth_date=Sensitive(date(1972, 3, 6)), ssn=Sensitive("987-65-4320"),
        source="fo", changed_at=TODAY)
    assert jodi.ssn is not None and jodi.ssn.reveal() == "987-65-4320"
    assert workers[1].phone == "206-555-0142" and workers[1].email is None
    assert all(w.changed_at == TODAY and w.termination_date is None for w in workers)


def test_bc_employees_are_read_with_their_fields(bc: World) -> None:
    workers, checkpoint = bc.workers.changes(None)
    assert [w.number for w in workers] == ["E0010", "E0020", "E0030"]
    ana, charlie, _ = workers
    assert (ana.first_name, ana.middle_name, ana.last_name, ana.address_line1, ana.address_line2, ana.city, ana.state,
            ana.postal_code, ana.country, ana.email, ana.phone, ana.hire_date) == (
        "Ana", "Lucia", "Ruiz", "80 Harbor Way", "Suite 2", "San Diego", "CA", "92101", "US", "ana@example.com",
        "619-555-0101", date(2023, 9, 4))
    assert ana.birth_date == Sensitive(date(1996, 7, 30)) and ana.ssn is None  # BC's API carries no SSN
    assert (charlie.email, charlie.phone, charlie.status) == ("charlie@cronus.com", "206-555-0142",
                                                              WorkerStatus.ACTIVE)  # Inactive: still employed
    assert bc.bc is not None
    newest = max(e["lastModifiedDateTime"] for e in bc.bc.records("employees"))
    assert checkpoint == datetime.fromisoformat(newest.replace("Z", "+00:00"))


def test_get_finds_one_worker_or_none(world: World) -> None:
    number = "000002" if world.erp == "fo" else "e0020"
    found = world.workers.get(number)
    assert found is not None and found.number == number.upper() and found.first_name == "Charlie"
    if world.erp == "fo":
        assert found.ssn == Sensitive("987-65-4321")
    assert world.workers.get("NOBODY") is None


def test_fo_reads_only_the_workers_employed_by_its_legal_entity(fo: World) -> None:
    assert fo.fo is not None
    elsewhere = fo.fo.add_employee("Lee", "Moreno", hired=date(2025, 1, 6), company="usrt", ssn="987-65-4326")
    fo.fo.add_employment("000002", hired=date(2025, 6, 1), company="usrt", OfficeLocation="Retail HQ")
    numbers = [w.number for w in fo.workers.changes(None)[0]]
    assert elsewhere["PersonnelNumber"] not in numbers and "000002" in numbers
    assert fo.workers.get(elsewhere["PersonnelNumber"]) is None
    charlie = fo.workers.get("000002")
    assert charlie is not None and charlie.location is None  # the usmf employment, not the usrt one


# --- changes and terminations ---------------------------------------------------------------------------------------


def test_bc_reads_only_what_changed_since_the_checkpoint(bc: World) -> None:
    assert bc.bc is not None
    everyone, checkpoint = bc.workers.changes(None)
    assert len(everyone) == 3 and checkpoint is not None
    assert bc.workers.changes(checkpoint) == ([], checkpoint)
    bc.bc.advance(timedelta(seconds=2))
    bc.bc.update_employee("E0030", addressLine1="1 Main St", city="Redmond")
    changed, following = bc.workers.changes(checkpoint)
    assert [(w.number, w.address_line1, w.city) for w in changed] == [("E0030", "1 Main St", "Redmond")]
    assert following is not None and following > checkpoint and changed[0].changed_at == following
    assert bc.workers.changes(following) == ([], following)


def test_a_termination_is_seen(world: World) -> None:
    if world.fo is not None:
        world.fo.terminate_employee("000003", date(2026, 3, 13), reason="Resigned")
        world.fo.terminate_employee("000001", date(2026, 3, 31))  # notice given: paid until then
        workers = by_number(world.workers.changes(None)[0])
        gone, leaving = workers["000003"], workers["000001"]
    else:
        assert world.bc is not None
        _, checkpoint = world.workers.changes(None)
        world.bc.advance(timedelta(seconds=2))
        world.bc.terminate_employee("E0010", date(2026, 3, 13))
        [gone] = world.workers.changes(checkpoint)[0]
        leaving = None
    assert (gone.status, gone.terminated, gone.termination_date) == (WorkerStatus.TERMINATED, True, date(2026, 3, 13))
    if leaving is not None:
        assert (leaving.status, leaving.termination_date) == (WorkerStatus.ACTIVE, date(2026, 3, 31))


def test_fingerprints_tell_fo_changes_though_every_worker_is_read(fo: World) -> None:
    assert fo.fo is not None
    first = {w.number: w.fingerprint(KEY) for w in fo.workers.changes(None)[0]}
    fo.fo.update_employee("000002", AddressCity="Redmond")
    fo.fo.update_employee("000003", ssn="987-65-4327")  # an SSN corrected in HR: a change payroll must get
    again, checkpoint = fo.workers.changes(TODAY - timedelta(days=1))
    assert checkpoint is None and len(again) == 3, "no modification time: every worker, whatever since says"
    changed = sorted(w.number for w in again if w.fingerprint(KEY) != first[w.number])
    assert changed == ["000002", "000003"]
    ana = by_number(again)["000003"]
    assert ana.fingerprint(KEY) != ana.fingerprint(b"another key")
    assert "987-65-4327" not in ana.fingerprint(KEY)


# --- the SSN and the birth date -------------------------------------------------------------------------------------


def test_ssn_and_birth_date_are_held_but_never_shown_or_logged(world: World, caplog: pytest.LogCaptureFixture
                                                               ) -> None:
    caplog.set_level(logging.DEBUG)
    workers, _ = world.workers.changes(None)
    one = world.workers.get(workers[0].number)
    assert one is not None
    held = [w.ssn.reveal() for w in workers if w.ssn] + [w.birth_date.reveal().isoformat()
                                                         for w in workers if w.birth_date]
    assert held and set(held) <= set(SECRETS)
    if world.erp == "fo":
        assert sorted(w.ssn.reveal() for w in workers if w.ssn) == sorted(SSNS)
    logging.getLogger("hl365.test").info("read %s; first %r; ssn %s, born %s", workers, one, one.ssn, one.birth_date)
    texts = [repr(workers), str(workers), f"{one}", f"{one!r}", f"{one.ssn} {one.birth_date} {one.ssn!r}",
             "%s %r" % (one, one), "{}".format(one.ssn)]  # noqa: UP031, UP032 - every way to make text of it
    for text in texts:
        assert not [secret for secret in SECRETS if secret in text], text
    assert "***" in f"{one.birth_date}"
    records = caplog.records
    assert any(r.name == "hl365.workers" for r in records) and any(r.name.startswith("httpx") for r in records)
    for record in records:
        message = record.getMessage()
        assert not [secret for secret in SECRETS if secret in message], (record.name, message)
