"""The Dataverse simulator over real loopback HTTP: what a client of the Web API would notice."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from sandbox.simulators.base import SimulatorApp
from sandbox.simulators.dataverse import DEFAULT_TENANT, Dataverse, create, simulator
from tests.loopback import Swap

SCOPE = "https://hl365.crm.dynamics.com/.default"
NEW_ID = "0f8fad5b-d9cb-469f-a165-70867728950e"


@dataclass
class Dv:
    app: SimulatorApp
    sim: Dataverse
    base: str
    http: httpx.Client

    @property
    def root(self) -> str:
        return f"{self.base}/api/data/v9.2"

    def token(self, scope: str = SCOPE) -> str:
        form = {"grant_type": "client_credentials", "client_id": "hl365-local-client",
                "client_secret": "hl365-local-secret", "scope": scope}
        answer = self.http.post(f"{self.base}/{DEFAULT_TENANT}/oauth2/v2.0/token", data=form)
        assert answer.status_code == 200, answer.text
        return str(answer.json()["access_token"])

    def authorise(self) -> None:
        self.http.headers["Authorization"] = f"Bearer {self.token()}"

    def call(self, method: str, path: str, **kw: Any) -> httpx.Response:
        url = path if path.startswith("http") else f"{self.root}/{path}"
        return self.http.request(method, url, **kw)


@pytest.fixture
def start(served: tuple[Swap, int]) -> Iterator[Callable[..., Dv]]:
    swap, port = served
    clients: list[httpx.Client] = []

    def make(seed: int = 4, **options: Any) -> Dv:
        app = create(seed=seed, **options)
        swap.app = app
        http = httpx.Client(timeout=5)
        clients.append(http)
        dv = Dv(app, simulator(app), f"http://127.0.0.1:{port}", http)
        dv.authorise()
        return dv

    yield make
    for http in clients:
        http.close()


@pytest.fixture
def dv(start: Callable[..., Dv]) -> Dv:
    return start()


def error_code(answer: httpx.Response) -> str:
    return str(answer.json()["error"]["code"])


def all_pages(dv: Dv, path: str, prefer: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every page of a read (each asked with the same Prefer) and the last page's document."""
    pages = [dv.call("GET", path, headers={"Prefer": prefer}).json()]
    while "@odata.nextLink" in pages[-1]:
        pages.append(dv.call("GET", pages[-1]["@odata.nextLink"], headers={"Prefer": prefer}).json())
    return [row for page in pages for row in page["value"]], pages


# -- writes --------------------------------------------------------------------------------------------------------

def test_create_answers_204_with_the_new_records_url_and_no_body(dv: Dv) -> None:
    answer = dv.call("POST", "accounts", json={"name": "Heartland Cafe", "telephone1": "555-0100"})
    assert answer.status_code == 204 and answer.content == b""
    url = answer.headers["OData-EntityId"]
    assert url.startswith(f"{dv.root}/accounts(") and url.endswith(")")
    record = dv.call("GET", url).json()
    assert record["name"] == "Heartland Cafe" and url.endswith(f"({record['accountid']})")
    assert record["@odata.etag"].startswith('W/"') and record["createdon"].endswith("Z")


def test_create_with_return_representation_answers_201_and_the_record(dv: Dv) -> None:
    answer = dv.call("POST", "contacts?$select=firstname,lastname", json={"firstname": "Ada", "lastname": "Byron"},
                     headers={"Prefer": "return=representation"})
    assert answer.status_code == 201
    body = answer.json()
    assert body["@odata.context"] == f"{dv.root}/$metadata#contacts(firstname,lastname)/$entity"
    assert set(body) == {"@odata.context", "@odata.etag", "firstname", "lastname", "contactid"}
    assert answer.headers["OData-EntityId"].endswith(f"contacts({body['contactid']})")


def test_a_contact_binds_to_its_account_and_reads_it_back_as_the_lookup_value(dv: Dv) -> None:
    account = dv.sim.records("accounts")[0]["accountid"]
    answer = dv.call("POST", "contacts", headers={"Prefer": "return=representation"},
                     json={"lastname": "Lovelace", "parentcustomerid_account@odata.bind": f"/accounts({account})"})
    assert answer.status_code == 201 and answer.json()["_parentcustomerid_value"] == account
    missing = dv.call("POST", "contacts", json={"lastname": "X", "parentcustomerid_account@odata.bind":
                                                f"/accounts({NEW_ID})"})
    assert missing.status_code == 404 and error_code(missing) == "0x80040217"


def test_a_body_with_an_unknown_or_too_long_value_is_refused(dv: Dv) -> None:
    unknown = dv.call("POST", "accounts", json={"name": "A", "colour": "red"})
    assert unknown.status_code == 400 and error_code(unknown) == "0x80048d19" and "colour" in unknown.text
    long = dv.call("POST", "contacts", json={"firstname": "x" * 51})
    assert long.status_code == 400 and error_code(long) == "0x80044331"
    assert not [c for c in dv.sim.records("contacts") if c["firstname"] == "x" * 51]


def test_patch_creates_a_missing_record_then_updates_it(dv: Dv) -> None:
    created = dv.call("PATCH", f"accounts({NEW_ID})", json={"name": "Upserted"})
    assert created.status_code == 204 and created.headers["OData-EntityId"] == f"{dv.root}/accounts({NEW_ID})"
    first = dv.call("GET", f"accounts({NEW_ID})").json()
    updated = dv.call("PATCH", f"accounts({NEW_ID})", json={"telephone1": "555-0199"},
                      headers={"Prefer": "return=representation"})
    assert updated.status_code == 200
    assert updated.json()["name"] == "Upserted" and updated.json()["telephone1"] == "555-0199"
    assert updated.json()["@odata.etag"] != first["@odata.etag"]
    assert dv.call("PATCH", f"accounts({'1' * 8}-1111-4111-8111-{'1' * 12})", json={"name": "New"},
                   headers={"Prefer": "return=representation"}).status_code == 201


def test_if_match_with_a_stale_etag_is_412_and_changes_nothing(dv: Dv) -> None:
    record = dv.sim.records("contacts")[0]
    url = f"contacts({record['contactid']})"
    etag = dv.call("GET", url).json()["@odata.etag"]
    assert dv.call("PATCH", url, json={"firstname": "First"}, headers={"If-Match": etag}).status_code == 204
    stale = dv.call("PATCH", url, json={"firstname": "Second"}, headers={"If-Match": etag})
    assert stale.status_code == 412 and error_code(stale) == "0x80060882"
    assert dv.call("GET", url).json()["firstname"] == "First"
    deleted = dv.call("DELETE", url, headers={"If-Match": etag})
    assert deleted.status_code == 412 and dv.sim.record("contacts", record["contactid"]) is not None


def test_if_none_match_star_refuses_an_existing_record_and_if_match_star_a_missing_one(dv: Dv) -> None:
    record = dv.sim.records("accounts")[0]
    exists = dv.call("PATCH", f"accounts({record['accountid']})", json={"name": "Overwritten"},
                     headers={"If-None-Match": "*"})
    assert exists.status_code == 412 and error_code(exists) == "0x80040237"
    assert dv.sim.record("accounts", record["accountid"])["name"] == record["name"]
    missing = dv.call("PATCH", f"accounts({NEW_ID})", json={"name": "Nope"}, headers={"If-Match": "*"})
    assert missing.status_code == 404 and error_code(missing) == "0x80040217"
    assert dv.sim.record("accounts", NEW_ID) is None
    assert dv.call("PATCH", f"accounts({NEW_ID})", json={"name": "Yes"},
                   headers={"If-None-Match": "*"}).status_code == 204
    assert dv.sim.record("accounts", NEW_ID)["name"] == "Yes"


def test_delete_answers_204_then_the_record_is_gone(dv: Dv) -> None:
    record = dv.sim.records("contacts")[0]
    assert dv.call("DELETE", f"contacts({record['contactid']})").status_code == 204
    gone = dv.call("GET", f"contacts({record['contactid']})")
    assert gone.status_code == 404 and error_code(gone) == "0x80040217"


# -- reads ---------------------------------------------------------------------------------------------------------

def test_maxpagesize_pages_the_collection_with_next_links_and_no_row_twice(dv: Dv) -> None:
    first = dv.call("GET", "accounts?$select=name", headers={"Prefer": "odata.maxpagesize=3"})
    assert first.headers["Preference-Applied"] == "odata.maxpagesize=3"
    assert first.json()["@odata.context"] == f"{dv.root}/$metadata#accounts(name)"
    rows, pages = all_pages(dv, "accounts?$select=name", "odata.maxpagesize=3")
    assert [len(p["value"]) for p in pages] == [3, 3, 2]
    assert "$skiptoken=" in pages[0]["@odata.nextLink"] and "@odata.deltaLink" not in pages[-1]
    assert sorted(r["accountid"] for r in rows) == sorted(a["accountid"] for a in dv.sim.records("accounts"))
    assert all(set(r) == {"@odata.etag", "name", "accountid"} for r in rows)


def test_filter_orderby_top_and_select(dv: Dv) -> None:
    found = dv.call("GET", "accounts?$filter=name eq 'FOURTH COFFEE'&$select=name").json()["value"]
    assert [r["name"] for r in found] == ["Fourth Coffee"]  # strings compare without regard to case
    ordered = dv.call("GET", "accounts?$select=name&$orderby=name desc&$top=3").json()["value"]
    names = sorted((a["name"] for a in dv.sim.records("accounts")), key=str.casefold, reverse=True)
    assert [r["name"] for r in ordered] == names[:3]
    skip = dv.call("GET", "accounts?$skip=2")
    assert skip.status_code == 400 and error_code(skip) == "0x80060888"
    unknown = dv.call("GET", "contacts?$select=nickname")
    assert unknown.status_code == 400 and error_code(unknown) == "0x80060888"


def test_the_same_seed_gives_the_same_crm_and_planted_records_keep_their_ids(start: Callable[..., Dv]) -> None:
    one = [(c["contactid"], c["lastname"]) for c in start(seed=9).sim.records("contacts")]
    assert one == [(c["contactid"], c["lastname"]) for c in start(seed=9).sim.records("contacts")]
    assert one != [(c["contactid"], c["lastname"]) for c in start(seed=10).sim.records("contacts")]
    dv = start(seed=9)
    twins = [{"contactid": NEW_ID, "firstname": "Jon", "lastname": "Smith", "emailaddress1": "jon@example.com"},
             {"firstname": "John", "lastname": "Smith", "emailaddress1": "JON@example.com"}]
    planted = dv.http.post(f"{dv.base}/_dataverse/records/contacts", json={"value": twins})
    assert planted.status_code == 201
    found = dv.call("GET", "contacts?$filter=lastname eq 'Smith' and startswith(firstname,'Jo')").json()["value"]
    assert NEW_ID in {r["contactid"] for r in found} and len(found) == 2


# -- change tracking -----------------------------------------------------------------------------------------------

def test_delta_round_trip_returns_exactly_the_changed_row_and_the_delete(dv: Dv) -> None:
    path = "contacts?$select=firstname,lastname"
    rows, pages = all_pages(dv, path, "odata.track-changes,odata.maxpagesize=7")
    assert len(pages) == 3 and len(rows) == len(dv.sim.records("contacts"))
    delta_link = pages[-1]["@odata.deltaLink"]
    assert delta_link.startswith(f"{dv.root}/contacts?$select=firstname,lastname&$deltatoken=")
    changed, removed = rows[3]["contactid"], rows[5]["contactid"]
    assert dv.call("PATCH", f"contacts({changed})", json={"firstname": "Renamed"}).status_code == 204
    assert dv.call("DELETE", f"contacts({removed})").status_code == 204

    delta = dv.call("GET", delta_link).json()
    assert delta["@odata.context"] == f"{dv.root}/$metadata#contacts(firstname,lastname)/$delta"
    assert delta["value"] == [
        {"@odata.etag": dv.call("GET", f"contacts({changed})").json()["@odata.etag"], "firstname": "Renamed",
         "lastname": rows[3]["lastname"], "contactid": changed},
        {"@odata.context": f"{dv.root}/$metadata#contacts/$deletedEntity", "id": removed, "reason": "deleted"}]
    again = dv.call("GET", delta["@odata.deltaLink"]).json()
    assert again["value"] == [] and again["@odata.deltaLink"]


def test_a_tracked_read_of_a_table_without_change_tracking_is_400_0x80060888(dv: Dv) -> None:
    switched = dv.http.put(f"{dv.base}/_dataverse/change-tracking/contacts", json={"enabled": False})
    assert switched.status_code == 200
    refused = dv.call("GET", "contacts?$select=lastname", headers={"Prefer": "odata.track-changes"})
    assert refused.status_code == 400 and error_code(refused) == "0x80060888"
    assert "change tracking" in refused.json()["error"]["message"].lower()
    assert dv.call("GET", "contacts?$select=lastname").status_code == 200
    assert dv.call("GET", "accounts?$select=name", headers={"Prefer": "odata.track-changes"}).status_code == 200


def test_an_expired_or_unknown_delta_token_is_refused(dv: Dv) -> None:
    link = dv.call("GET", "accounts?$select=name", headers={"Prefer": "odata.track-changes"}).json()[
        "@odata.deltaLink"]
    unknown = dv.call("GET", "accounts?$select=name&$deltatoken=not-a-token")
    assert unknown.status_code == 400 and error_code(unknown) == "0x80060888"
    assert dv.call("GET", link).status_code == 200
    dv.sim.advance(8 * 24 * 3600)
    dv.authorise()  # the access token expired with the clock too
    expired = dv.call("GET", link)
    assert expired.status_code == 400 and error_code(expired) == "0x80044352"


# -- the gate ------------------------------------------------------------------------------------------------------

def test_no_token_or_a_token_for_another_resource_is_401_with_a_challenge(dv: Dv) -> None:
    bare = httpx.get(f"{dv.root}/accounts", timeout=5)
    assert bare.status_code == 401 and bare.content == b""
    assert "resource_id=https://hl365.crm.dynamics.com/" in bare.headers["WWW-Authenticate"]
    graph = httpx.get(f"{dv.root}/accounts", timeout=5,
                      headers={"Authorization": f"Bearer {dv.token('https://graph.microsoft.com/.default')}"})
    assert graph.status_code == 401 and 'error="invalid_token"' in graph.headers["WWW-Authenticate"]
    dv.sim.expire_tokens()
    assert dv.call("GET", "accounts").status_code == 401


def test_the_service_protection_budget_answers_429_with_retry_after(dv: Dv) -> None:
    dv.http.put(f"{dv.base}/_dataverse/throttle", json={"requests": 2, "window_seconds": 10})
    assert [dv.call("GET", "accounts?$top=1").status_code for _ in range(2)] == [200, 200]
    throttled = dv.call("GET", "accounts?$top=1")
    assert throttled.status_code == 429 and error_code(throttled) == "0x80072322"
    assert 1 <= int(throttled.headers["Retry-After"]) <= 10
    dv.sim.advance(int(throttled.headers["Retry-After"]))
    assert dv.call("GET", "accounts?$top=1").status_code == 200


def test_injected_faults_answer_with_dataverses_body(dv: Dv) -> None:
    dv.http.put(f"{dv.base}/_sim/faults", json={"rules": [{"route": "GET /api/data/*", "kind": "throttle",
                                                          "rate": 1.0, "retry_after": 3}]})
    answer = dv.call("GET", "accounts")
    assert answer.status_code == 429 and answer.headers["Retry-After"] == "3" and error_code(answer) == "0x80072322"
    assert dv.http.get(f"{dv.base}/_sim/state").json()["tables"]["accounts"]
