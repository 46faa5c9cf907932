"""The Business Central simulator's ``employees`` over HTTP: the API v2.0 fields, ``lastModifiedDateTime`` kept as a
record changes (so ``$filter=lastModifiedDateTime gt …`` reads increments), terminations, and the seeding API."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import httpx
import pytest

from sandbox.host import run_in_background, stop_background
from sandbox.simulators.bc import BusinessCentral, create
from sandbox.simulators.bc.errors import BcError
from shared.dynamics.bc import SCOPE, loads


@pytest.fixture
def bc() -> Iterator[tuple[BusinessCentral, httpx.Client, str]]:
    app = create(seed=5, max_page_size=2)
    sim = app.simulated
    assert isinstance(sim, BusinessCentral)
    sim.add_employee("E0010", "Ana", "Ruiz", employment_date=date(2023, 9, 4), middleName="Lucia",
                     jobTitle="Cashier", addressLine1="80 Harbor Way", city="San Diego", state="CA", country="us",
                     postalCode="92101", phoneNumber="619-555-0101", email="ana.ruiz@cronus.com",
                     personalEmail="ana@example.com", birthDate=date(1996, 7, 30), statisticsGroupCode="hourly")
    sim.add_employee("E0020", "Charlie", "Carson", employment_date=date(2019, 5, 13))
    sim.add_employee("E0030", "Jodi", "Christiansen", employment_date=date(2006, 2, 1))
    server, thread, port = run_in_background(app)
    base = f"http://127.0.0.1:{port}"
    form = {"grant_type": "client_credentials", "client_id": "hl365-local-client",
            "client_secret": "hl365-local-secret", "scope": SCOPE}
    token = httpx.post(f"{base}/{sim.options.tenant}/oauth2/v2.0/token", data=form, timeout=5).json()["access_token"]
    with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=5) as http:
        yield sim, http, f"{sim.api_root(base)}/companies({sim.company_id})/employees"
    stop_background(server, thread)
    sim.close()


def read(http: httpx.Client, url: str, **params: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    next_url: str | None = url
    query: dict[str, str] | None = params or None
    while next_url:
        answer = http.get(next_url, params=query)
        assert answer.status_code == 200, answer.text
        page = loads(answer.content)
        rows += page["value"]
        next_url, query = page.get("@odata.nextLink"), None
    return rows


def test_employees_carry_the_api_fields_and_page(bc: tuple[BusinessCentral, httpx.Client, str]) -> None:
    _, http, employees = bc
    first = loads(http.get(employees).content)
    assert len(first["value"]) == 2 and "$skiptoken" in first["@odata.nextLink"]
    ana = first["value"][0]
    assert list(ana) == ["@odata.etag", "id", "number", "displayName", "givenName", "middleName", "surname",
                         "jobTitle", "addressLine1", "addressLine2", "city", "state", "country", "postalCode",
                         "phoneNumber", "mobilePhone", "email", "personalEmail", "employmentDate", "terminationDate",
                         "status", "birthDate", "statisticsGroupCode", "lastModifiedDateTime"]
    assert {k: ana[k] for k in ("number", "displayName", "middleName", "country", "employmentDate",
                                "terminationDate", "status", "birthDate", "statisticsGroupCode")} == {
        "number": "E0010", "displayName": "Ana Ruiz", "middleName": "Lucia", "country": "US",
        "employmentDate": "2023-09-04", "terminationDate": "0001-01-01", "status": "Active",
        "birthDate": "1996-07-30", "statisticsGroupCode": "HOURLY"}
    assert ana["lastModifiedDateTime"].endswith("Z")
    assert [e["number"] for e in read(http, employees)] == ["E0010", "E0020", "E0030"]
    [found] = read(http, employees, **{"$filter": "number eq 'e0020'", "$select": "number,displayName"})
    assert set(found) == {"@odata.etag", "number", "displayName"}


def test_last_modified_moves_with_each_change_and_filters_increments(bc: tuple[BusinessCentral, httpx.Client, str]
                                                                     ) -> None:
    sim, http, employees = bc
    before = {e["number"]: e for e in read(http, employees)}
    checkpoint = max(e["lastModifiedDateTime"] for e in before.values())
    assert read(http, employees, **{"$filter": f"lastModifiedDateTime gt {checkpoint}"}) == []
    sim.advance(timedelta(seconds=2))
    sim.update_employee("E0020", addressLine1="1 Main St", surname="Carson-Reyes")
    [changed] = read(http, employees, **{"$filter": f"lastModifiedDateTime gt {checkpoint}"})
    assert (changed["number"], changed["displayName"], changed["addressLine1"]) == ("E0020", "Charlie Carson-Reyes",
                                                                                    "1 Main St")
    assert changed["lastModifiedDateTime"] > checkpoint
    assert changed["@odata.etag"] != before["E0020"]["@odata.etag"]


def test_a_termination_is_a_status_and_a_date(bc: tuple[BusinessCentral, httpx.Client, str]) -> None:
    sim, http, employees = bc
    sim.terminate_employee("e0030", date(2026, 2, 27))
    [gone] = read(http, employees, **{"$filter": "status eq 'Terminated'"})
    assert (gone["number"], gone["terminationDate"], gone["status"]) == ("E0030", "2026-02-27", "Terminated")
    assert [e["number"] for e in read(http, employees, **{"$filter": "terminationDate gt 2026-01-01"})] == ["E0030"]


def test_employees_are_read_only_over_http_and_validated_when_seeded(bc: tuple[BusinessCentral, httpx.Client, str]
                                                                      ) -> None:
    sim, http, employees = bc
    refused = http.post(employees, json={"number": "E0040", "givenName": "New", "surname": "Hire"})
    assert refused.status_code == 405 and "BadRequest_MethodNotAllowed" in refused.text
    [ana] = read(http, employees, **{"$filter": "number eq 'E0010'"})
    patched = http.patch(f"{employees}({ana['id']})", json={"jobTitle": "Lead"}, headers={"If-Match": "*"})
    assert patched.status_code == 405
    with pytest.raises(ValueError, match="exists already"):
        sim.add_employee("E0010", "Again", "Ruiz", employment_date=date(2024, 1, 1))
    with pytest.raises(BcError, match="read-only"):
        sim.add_employee("E0050", "Dee", "Name", employment_date=date(2024, 1, 1), displayName="Other")
    with pytest.raises(BcError, match="must be less than or equal to 30"):
        sim.update_employee("E0010", surname="x" * 31)
    with pytest.raises(BcError, match="not an option"):
        sim.update_employee("E0010", status="Retired")
