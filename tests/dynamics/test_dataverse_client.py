"""DataverseClient against the Dataverse simulator over loopback HTTPS, with azure-identity's real credential."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from azure.identity import ClientSecretCredential

from sandbox.simulators.base import Served, SimulatorApp
from sandbox.simulators.dataverse import DEFAULT_TENANT, Dataverse, create, simulator
from sandbox.simulators.tls import SandboxCA
from shared.dynamics.credentials import EntraAuth
from shared.dynamics.dataverse import (
    AlreadyExists,
    DataverseClient,
    DeltaLinkRejected,
    StaleEtag,
    TrackingRefused,
    scope_for,
)
from shared.httpclient import RetryPolicy
from tests.loopback import Swap

ORGANIZATION = "https://hl365.crm.dynamics.com"
NEW_ID = "6f1a2b3c-4d5e-4f60-8a7b-9c0d1e2f3a4b"


@dataclass
class Env:
    app: SimulatorApp
    sim: Dataverse
    client: DataverseClient
    sleeps: list[float] = field(default_factory=list)

    def gets(self) -> int:
        return sum(n for key, n in self.app.requests.items() if key.startswith("GET /api/data/"))


@pytest.fixture
def env(served_https: tuple[Swap, Served], tls: SandboxCA) -> Iterator[Env]:
    swap, served = served_https
    app = create(seed=21)
    swap.app = app
    sim = simulator(app)
    base, ca_bundle = served.url, str(tls.ca_bundle)

    def credential() -> ClientSecretCredential:
        return ClientSecretCredential(DEFAULT_TENANT, "hl365-local-client", "hl365-local-secret", authority=base,
                                      disable_instance_discovery=True, connection_verify=ca_bundle)

    credentials = EntraAuth(credential, scope_for(ORGANIZATION))
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        """The client's backoff passes on the simulator's clock: no real waiting."""
        sleeps.append(seconds)
        sim.advance(seconds)

    client = DataverseClient.connect(base, credentials=credentials, page_size=6, verify=ca_bundle,
                                     retry=RetryPolicy(jitter=lambda _: 0.0), sleep=sleep)
    yield Env(app, sim, client, sleeps)
    client.close()
    credentials.close()


def test_the_scope_is_the_organisation_url_and_default() -> None:
    assert scope_for("https://contoso.crm.dynamics.com/api/data/v9.2") == "https://contoso.crm.dynamics.com/.default"


def test_create_reads_the_id_from_odata_entityid_and_get_finds_it(env: Env) -> None:
    created = env.client.create("accounts", {"name": "Heartland Cafe", "accountnumber": "HL-1"})
    assert created.record is None and env.sim.record("accounts", created.id)["name"] == "Heartland Cafe"
    assert env.client.get("accounts", created.id, select=["name"])["name"] == "Heartland Cafe"
    shown = env.client.create("contacts", {"lastname": "Byron",
                                           "parentcustomerid_account@odata.bind": f"/accounts({created.id})"},
                              representation=True)
    assert shown.record is not None and shown.record["_parentcustomerid_value"] == created.id
    assert env.client.get("accounts", NEW_ID) is None


def test_upsert_creates_then_updates_and_a_stale_etag_writes_nothing(env: Env) -> None:
    first = env.client.upsert("contacts", NEW_ID, {"firstname": "Ada", "lastname": "Lovelace"})
    assert first.created and first.id == NEW_ID and first.etag.startswith('W/"')
    second = env.client.upsert("contacts", NEW_ID, {"emailaddress1": "ada@example.com"}, if_match=first.etag)
    assert not second.created and second.etag != first.etag
    assert second.record["firstname"] == "Ada" and second.record["emailaddress1"] == "ada@example.com"
    with pytest.raises(StaleEtag) as stale:
        env.client.upsert("contacts", NEW_ID, {"firstname": "Augusta"}, if_match=first.etag)
    assert stale.value.status == 412 and env.sim.record("contacts", NEW_ID)["firstname"] == "Ada"
    with pytest.raises(AlreadyExists):
        env.client.upsert("contacts", NEW_ID, {"firstname": "Augusta"}, create_only=True)
    assert env.sim.record("contacts", NEW_ID)["firstname"] == "Ada"


def test_changes_round_trip_follows_pages_and_returns_exactly_what_changed(env: Env) -> None:
    select = ["firstname", "lastname", "emailaddress1"]
    before = env.gets()
    rows, deleted, link = env.client.changes("contacts", select)
    assert env.gets() - before == 4  # 20 contacts, 6 a page: every nextLink followed
    assert sorted(r["contactid"] for r in rows) == sorted(c["contactid"] for c in env.sim.records("contacts"))
    assert deleted == [] and "$deltatoken=" in link
    changed, removed = rows[2], rows[7]
    env.client.upsert("contacts", changed["contactid"], {"emailaddress1": "changed@example.com"},
                      if_match=changed["@odata.etag"])
    env.client.delete("contacts", removed["contactid"])

    rows, deleted, link = env.client.changes("contacts", select, link)
    assert [(r["contactid"], r["emailaddress1"]) for r in rows] == [(changed["contactid"], "changed@example.com")]
    assert deleted == [removed["contactid"]]
    assert env.client.changes("contacts", select, link)[:2] == ([], [])


def test_a_table_without_change_tracking_and_an_expired_delta_link_are_named(env: Env) -> None:
    link = env.client.changes("accounts", ["name"]).delta_link
    env.sim.set_change_tracking("contacts", False)
    with pytest.raises(TrackingRefused) as refused:
        env.client.changes("contacts", ["lastname"])
    assert "0x80060888" in (refused.value.body or "")
    env.sim.advance(8 * 24 * 3600)
    with pytest.raises(DeltaLinkRejected) as expired:
        env.client.changes("accounts", ["name"], link)
    assert "0x80044352" in (expired.value.body or "")


def test_a_throttled_call_is_retried_after_retry_after_and_succeeds(env: Env) -> None:
    env.client.get("accounts", NEW_ID)  # the token is fetched before the budget starts counting
    env.sim.set_throttle(2, window_seconds=7)
    created = env.client.create("accounts", {"name": "One"})
    assert env.client.get("accounts", created.id)["name"] == "One"
    assert env.client.get("accounts", created.id, select=["name"])["name"] == "One"  # the third call: 429 first
    assert env.sleeps == [7.0]
    assert env.app.requests[f"GET /api/data/v9.2/accounts({created.id})"] == 3


def test_an_ended_token_is_refreshed_once_and_the_call_goes_through(env: Env) -> None:
    assert env.client.get("accounts", NEW_ID) is None
    issued = env.sim.tokens_issued
    env.sim.expire_tokens()
    assert env.client.create("accounts", {"name": "After refresh"}).id
    assert env.sim.tokens_issued == issued + 1
