"""The F&O simulator's HR entities over HTTP: ``Workers``, ``EmployeesV2`` and ``PersonIdentificationNumbers``,
shared across legal entities, and the seeding API that hires, changes and terminates workers."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest

from sandbox.host import run_in_background, stop_background
from sandbox.scenario import contoso
from sandbox.simulators.fo import DEFAULT_TENANT, FinanceOperations, create, simulator
from shared.dynamics.fo_batch import loads

TODAY = datetime(2026, 3, 16, 9, 30, tzinfo=UTC)
STATUS = "Microsoft.Dynamics.DataEntities.HcmWorkerStatus"


@pytest.fixture
def fo() -> Iterator[tuple[FinanceOperations, httpx.Client]]:
    app = create(seed=5, event_interval=None, page_size=2, today=lambda: TODAY)
    server, thread, port = run_in_background(app)
    base = f"http://127.0.0.1:{port}"
    form = {"grant_type": "client_credentials", "client_id": "hl365-local-client",
            "client_secret": "hl365-local-secret", "scope": f"{base}/.default"}
    token = httpx.post(f"{base}/{DEFAULT_TENANT}/oauth2/v2.0/token", data=form, timeout=5).json()["access_token"]
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=5) as http:
        yield simulator(app), http
    stop_background(server, thread)


def read_all(http: httpx.Client, path: str, params: dict[str, str] | None = None) -> tuple[list[dict[str, Any]], int]:
    rows: list[dict[str, Any]] = []
    pages, url, query = 0, path, params
    while url:
        answer = http.get(url, params=query)
        assert answer.status_code == 200, answer.text
        page = loads(answer.content)
        rows += page["value"]
        pages, url, query = pages + 1, page.get("@odata.nextLink"), None
    return rows, pages


def test_contoso_workers_are_shared_across_legal_entities_and_page(fo: tuple[FinanceOperations, httpx.Client]
                                                                   ) -> None:
    """No ``dataAreaId``, no ``cross-company`` needed: every worker, in personnel number order, two a page."""
    _, http = fo
    workers, pages = read_all(http, "/data/Workers", {"$select": "PersonnelNumber,Name,WorkerStatus,PartyNumber"})
    assert pages == 2
    assert [(w["PersonnelNumber"], w["Name"], w["WorkerStatus"]) for w in workers] == [
        ("000001", "Jodi Christiansen", "Employed"), ("000002", "Charlie Carson", "Employed"),
        ("000003", "Ana Ruiz", "Employed")]
    assert all("dataAreaId" not in w for w in workers)
    assert len({w["PartyNumber"] for w in workers}) == 3
    wrong = http.get("/data/Workers", params={"$filter": "dataAreaId eq 'usmf'", "cross-company": "true"})
    assert wrong.status_code == 400
    one = http.get("/data/Workers('000002')")
    assert one.status_code == 200 and loads(one.content)["FirstName"] == "Charlie"
    employed = read_all(http, "/data/Workers", {"$filter": f"WorkerStatus eq {STATUS}'Employed'"})[0]
    assert len(employed) == len(contoso.EMPLOYEES)


def test_metadata_declares_the_hr_sets_with_their_keys_and_no_modification_time(
        fo: tuple[FinanceOperations, httpx.Client]) -> None:
    _, http = fo
    root = ET.fromstring(http.get("/data/$metadata").text)  # noqa: S314  (our own simulator's output)
    edm = "{http://docs.oasis-open.org/odata/ns/edm}"
    sets = {s.get("Name"): str(s.get("EntityType")).rsplit(".", 1)[1] for s in root.iter(f"{edm}EntitySet")}
    types = {t.get("Name"): t for t in root.iter(f"{edm}EntityType")}
    keys = {name: [k.get("Name") for k in types[sets[name]].iter(f"{edm}PropertyRef")]
            for name in ("Workers", "EmployeesV2", "PersonIdentificationNumbers")}
    assert keys == {"Workers": ["PersonnelNumber"],
                    "EmployeesV2": ["PersonnelNumber", "EmploymentLegalEntityId", "EmploymentId"],
                    "PersonIdentificationNumbers": ["PartyNumber", "IdentificationTypeId", "IdentificationNumber"]}
    for name in keys:
        properties = {p.get("Name"): p.get("Type") for p in types[sets[name]].iter(f"{edm}Property")}
        assert not [p for p in properties if "Modified" in str(p)], name
    worker = {p.get("Name"): p.get("Type") for p in types[sets["Workers"]].iter(f"{edm}Property")}
    assert worker["BirthDate"] == "Edm.DateTimeOffset"
    assert worker["WorkerStatus"] == "Microsoft.Dynamics.DataEntities.HcmWorkerStatus"
    members = {e.get("Name"): [m.get("Name") for m in e.iter(f"{edm}Member")] for e in root.iter(f"{edm}EnumType")}
    assert members["HcmWorkerStatus"] == ["Pending", "Employed", "Terminated"]


def test_a_hire_makes_a_worker_an_employment_and_an_ssn(fo: tuple[FinanceOperations, httpx.Client]) -> None:
    sim, http = fo
    hired = sim.add_employee("Maya", "Okafor", middle_name="J", hired=date(2026, 3, 2), birth_date=date(1994, 8, 17),
                             ssn="987-65-4325", AddressStreet="12 Elm St\nApt 4", AddressCity="Tacoma",
                             AddressState="WA", AddressZipCode="98402", AddressCountryRegionId="USA",
                             PrimaryContactEmail="maya@contoso.com", TitleId="Cashier", OfficeLocation="Store 12")
    number, party = hired["PersonnelNumber"], hired["PartyNumber"]
    assert (number, hired["EmploymentLegalEntityId"], hired["Name"]) == ("000004", "USMF", "Maya J Okafor")
    worker = loads(http.get(f"/data/Workers('{number}')").content)
    assert (worker["PartyNumber"], worker["BirthDate"], worker["WorkerStatus"], worker["OriginalHireDateTime"]) == (
        party, "1994-08-17T12:00:00Z", "Employed", "2026-03-02T12:00:00Z")
    [employment], _ = read_all(http, "/data/EmployeesV2", {"$filter": f"PersonnelNumber eq '{number}'"})
    assert (employment["EmploymentStartDate"], employment["EmploymentEndDate"], employment["AddressStreet"],
            employment["OfficeLocation"]) == ("2026-03-02T12:00:00Z", "2154-12-31T23:59:59Z", "12 Elm St\nApt 4",
                                              "Store 12")
    ids, _ = read_all(http, "/data/PersonIdentificationNumbers",
                      {"$filter": f"PartyNumber eq '{party}' and IdentificationTypeId eq 'SSN'"})
    assert [(r["IdentificationNumber"], r["IsPrimary"]) for r in ids] == [("987-65-4325", "Yes")]
    key = f"PartyNumber='{party}',IdentificationTypeId='SSN',IdentificationNumber='987-65-4325'"
    assert http.get(f"/data/PersonIdentificationNumbers({key})").status_code == 200


def test_one_worker_employed_by_two_legal_entities_has_two_employments(fo: tuple[FinanceOperations, httpx.Client]
                                                                       ) -> None:
    sim, http = fo
    sim.add_employment("000002", hired=date(2025, 6, 1), company="usrt", TitleId="Trainer")
    rows, _ = read_all(http, "/data/EmployeesV2", {"$filter": "PersonnelNumber eq '000002'",
                                                   "$select": "EmploymentLegalEntityId,TitleId,LastName"})
    assert sorted((r["EmploymentLegalEntityId"], r["TitleId"], r["LastName"]) for r in rows) == [
        ("USMF", "Cashier", "Carson"), ("USRT", "Trainer", "Carson")]
    usrt, _ = read_all(http, "/data/EmployeesV2", {"$filter": "EmploymentLegalEntityId eq 'usrt'"})
    assert [r["PersonnelNumber"] for r in usrt] == ["000002"]  # F&O compares without regard to case


def test_a_termination_ends_the_employment_and_the_worker_follows(fo: tuple[FinanceOperations, httpx.Client]) -> None:
    sim, http = fo
    sim.terminate_employee("000003", date(2026, 3, 13), reason="Resigned")
    sim.terminate_employee("000001", TODAY.date() + timedelta(days=14))  # given notice: still employed today
    employments = {r["PersonnelNumber"]: r for r in read_all(http, "/data/EmployeesV2")[0]}
    assert (employments["000003"]["EmploymentEndDate"], employments["000003"]["TerminationDate"],
            employments["000003"]["LastDateWorked"], employments["000003"]["TerminationReasonCodeId"]) == (
        "2026-03-13T12:00:00Z", "2026-03-13T12:00:00Z", "2026-03-13T12:00:00Z", "Resigned")
    status = {w["PersonnelNumber"]: w["WorkerStatus"] for w in read_all(http, "/data/Workers")[0]}
    assert status == {"000001": "Employed", "000002": "Employed", "000003": "Terminated"}
    rehired = sim.add_employment("000003", hired=date(2026, 4, 1))  # rehired: a second employment, future-dated
    assert rehired["EmploymentId"] != employments["000003"]["EmploymentId"]
    assert loads(http.get("/data/Workers('000003')").content)["WorkerStatus"] == "Pending"


def test_a_change_reaches_the_worker_and_every_employment_and_an_ssn_is_replaced(
        fo: tuple[FinanceOperations, httpx.Client]) -> None:
    sim, http = fo
    sim.add_employment("000002", hired=date(2025, 6, 1), company="usrt")
    party = loads(http.get("/data/Workers('000002')").content)["PartyNumber"]
    before = loads(http.get("/data/Workers('000002')").content)["@odata.etag"]
    sim.update_employee("000002", LastName="Carson-Reyes", AddressCity="Redmond", ssn="987-65-4329",
                        DimensionDisplayValue="022")
    worker = loads(http.get("/data/Workers('000002')").content)
    assert (worker["Name"], worker["AddressCity"]) == ("Charlie Carson-Reyes", "Redmond")
    assert worker["@odata.etag"] != before
    rows = read_all(http, "/data/EmployeesV2", {"$filter": "PersonnelNumber eq '000002'"})[0]
    assert sorted((r["EmploymentLegalEntityId"], r["LastName"], r["AddressCity"], r["DimensionDisplayValue"])
                  for r in rows) == [("USMF", "Carson-Reyes", "Redmond", "022"),
                                     ("USRT", "Carson-Reyes", "Redmond", "")]
    ids = read_all(http, "/data/PersonIdentificationNumbers", {"$filter": f"PartyNumber eq '{party}'"})[0]
    assert [r["IdentificationNumber"] for r in ids] == ["987-65-4329"]
    with pytest.raises(ValueError, match="Salary"):
        sim.update_employee("000002", Salary="1")


def test_workers_and_employments_are_read_only_and_identification_numbers_writable(
        fo: tuple[FinanceOperations, httpx.Client]) -> None:
    _, http = fo
    assert http.post("/data/Workers", json={"FirstName": "Nope"}).status_code == 405
    assert http.patch("/data/Workers('000001')", json={"FirstName": "Nope"}).status_code == 405
    key = "PersonnelNumber='000001',EmploymentLegalEntityId='USMF',EmploymentId='000001'"
    assert http.get(f"/data/EmployeesV2({key})").status_code == 200
    assert http.patch(f"/data/EmployeesV2({key})", json={"TitleId": "CEO"}).status_code == 405
    party = loads(http.get("/data/Workers('000001')").content)["PartyNumber"]
    made = http.post("/data/PersonIdentificationNumbers", json={
        "PartyNumber": party, "IdentificationTypeId": "Passport", "IdentificationNumber": "X1234567"})
    assert made.status_code == 201, made.text
