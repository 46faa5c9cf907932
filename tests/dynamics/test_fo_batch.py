"""OData v4 multipart ``$batch`` as hl365 writes and reads it, against the F&O simulator over HTTPS.

F&O answers a ``$batch`` with 200 whatever happened inside: each changeset is its own all-or-nothing
transaction, and a failed one answers with a single part carrying the failing request's error. These
tests send what ``build_batch`` builds and read every inner answer with ``parse_batch_response``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
import pytest
from azure.identity import ClientSecretCredential

from sandbox.simulators.base import Served, SimulatorApp
from sandbox.simulators.fo import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_TENANT, FinanceOperations
from sandbox.simulators.fo import create as create_fo
from sandbox.simulators.tls import SandboxCA
from shared.dynamics.credentials import EntraAuth
from shared.dynamics.fo_batch import (
    BatchFormatError,
    BatchRequest,
    BatchResponse,
    boundary_of,
    build_batch,
    loads,
    parse_batch_response,
)
from tests.loopback import Swap

HEADER = {"dataAreaId": "usmf", "JournalName": "GenJrn", "Description": "Heartland settlement 2025-03-31"}


def line(account: str, *, debit: str = "0", credit: str = "0", kind: str = "Ledger") -> dict[str, Any]:
    return {"AccountType": kind, "AccountDisplayValue": account, "DebitAmount": Decimal(debit),
            "CreditAmount": Decimal(credit), "CurrencyCode": "USD", "TransDate": "2025-03-31T12:00:00Z",
            "Text": f"line {account}"}


BALANCED = [line("USMF OPER", debit="9850.00", kind="Bank"), line("618160", debit="150.00"),
            line("130500", credit="10000.00")]


def journal(key: str, lines: list[dict[str, Any]]) -> list[BatchRequest]:
    """One journal as one changeset: the header, then its lines under it by Content-ID reference."""
    return [BatchRequest("POST", "LedgerJournalHeaders", {**HEADER, "IntegrationKey": key}, content_id="1"),
            *(BatchRequest("POST", "$1/JournalLines", body, content_id=str(n))
              for n, body in enumerate(lines, start=2))]


@dataclass
class Fo:
    app: SimulatorApp
    sim: FinanceOperations
    http: httpx.Client

    def send(self, changesets: list[list[BatchRequest]], reads: list[BatchRequest] | None = None
             ) -> tuple[httpx.Response, list[BatchResponse]]:
        content_type, body = build_batch(changesets, root="/data/", reads=reads or [])
        answer = self.http.post("/data/$batch", content=body, headers={"Content-Type": content_type})
        return answer, parse_batch_response(answer.headers.get("content-type", ""), answer.content)

    def journals(self) -> dict[str, dict[str, Any]]:
        return {j["IntegrationKey"]: j for j in self.sim.journals("ledger")}


@pytest.fixture
def fo(served_https: tuple[Swap, Served], tls: SandboxCA) -> Iterator[Fo]:
    swap, served = served_https
    app = create_fo(seed=5, event_interval=None)
    sim = app.simulated
    assert isinstance(sim, FinanceOperations)
    swap.app = app

    def credential() -> ClientSecretCredential:
        return ClientSecretCredential(DEFAULT_TENANT, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, authority=served.url,
                                      disable_instance_discovery=True, connection_verify=str(tls.ca_bundle))

    credentials = EntraAuth(credential, f"{served.url}/.default")
    http = httpx.Client(base_url=served.url, verify=tls.client_context(), timeout=10.0,
                        headers={**credentials(), "Accept": "application/json", "OData-Version": "4.0"})
    yield Fo(app, sim, http)
    http.close()
    credentials.close()


def test_a_changeset_lands_whole_and_each_request_answers_in_order(fo: Fo) -> None:
    answer, parts = fo.send([journal("HL-OK", BALANCED)])
    assert answer.status_code == 200 and boundary_of(answer.headers["content-type"])
    assert [(p.status, p.content_id, p.changeset) for p in parts] == [(201, "1", 0), (201, "2", 0), (201, "3", 0),
                                                                       (201, "4", 0)]
    header, *lines = (p.json() for p in parts)
    assert header["IntegrationKey"] == "HL-OK" and header["JournalBatchNumber"] == "00001"
    assert [row["JournalBatchNumber"] for row in lines] == ["00001"] * 3, "lines joined the header made before them"
    assert [row["CreditAmount"] for row in lines] == [Decimal(0), Decimal(0), Decimal("10000.00")]
    assert all(p.ok for p in parts)
    truth = fo.journals()["HL-OK"]
    assert truth["balanced"] and len(truth["lines"]) == 3


def test_a_failing_request_fails_its_whole_changeset_behind_an_outer_200(fo: Fo) -> None:
    bad = [*BALANCED[:2], line("999999", credit="10000.00")]
    answer, parts = fo.send([journal("HL-BAD", bad)])
    assert answer.status_code == 200, "F&O hides a failed changeset behind a 200"
    [failure] = parts
    assert (failure.status, failure.ok, failure.changeset) == (500, False, 0)
    assert failure.content_id == "4", "the part names the request that failed"
    error = failure.json()["error"]["innererror"]["message"]
    assert "Value '999999' for dimension 'MainAccount' does not exist" in error
    assert "HL-BAD" not in fo.journals(), "the header and the good lines were rolled back with the bad one"
    assert fo.sim.rows("LedgerJournalLines") == []


def test_each_changeset_is_its_own_transaction(fo: Fo) -> None:
    bad = [BALANCED[0], {**BALANCED[1], "AccountDisplayValue": "NOPE"}, BALANCED[2]]
    answer, parts = fo.send([journal("HL-FIRST", BALANCED), journal("HL-SECOND", bad), journal("HL-THIRD", BALANCED)])
    assert answer.status_code == 200
    by_changeset: dict[int | None, list[int]] = {}
    for part in parts:
        by_changeset.setdefault(part.changeset, []).append(part.status)
    assert by_changeset == {0: [201] * 4, 1: [500], 2: [201] * 4}
    assert "NOPE" in parts[4].json()["error"]["innererror"]["message"]
    assert sorted(fo.journals()) == ["HL-FIRST", "HL-THIRD"]
    assert all(len(j["lines"]) == 3 for j in fo.journals().values())


def test_reads_outside_changesets_are_answered_one_by_one_missing_ones_as_404(fo: Fo) -> None:
    reads = [BatchRequest("GET", "CustomersV3(dataAreaId='usmf',CustomerAccount='US-002')?cross-company=true"),
             BatchRequest("GET", "CustomersV3(dataAreaId='usmf',CustomerAccount='US-999')?cross-company=true"),
             BatchRequest("GET", "MainAccounts?$filter=MainAccountId%20eq%20'130500'")]
    answer, parts = fo.send([journal("HL-WITH-READS", BALANCED)], reads=reads)
    assert answer.status_code == 200
    assert [(p.status, p.changeset) for p in parts[:3]] == [(200, None), (404, None), (200, None)]
    assert parts[0].json()["OrganizationName"] == "Contoso Retail Los Angeles"
    assert parts[1].json()["error"], "a missing entity is an error part, not an empty answer"
    assert [row["MainAccountId"] for row in parts[2].json()["value"]] == ["130500"]
    assert [(p.status, p.changeset) for p in parts[3:]] == [(201, 0)] * 4
    assert "HL-WITH-READS" in fo.journals()


def test_a_read_inside_a_changeset_is_refused_and_nothing_of_it_lands(fo: Fo) -> None:
    requests = [*journal("HL-GET", BALANCED), BatchRequest("GET", "CustomersV3")]
    _, parts = fo.send([requests])
    [failure] = parts
    assert failure.status == 400 and "changeset can contain only data modification" in failure.body.decode()
    assert "HL-GET" not in fo.journals()


def test_a_reference_to_an_unknown_content_id_fails_the_changeset(fo: Fo) -> None:
    requests = [BatchRequest("POST", "LedgerJournalHeaders", {**HEADER, "IntegrationKey": "HL-REF"}, content_id="1"),
                BatchRequest("POST", "$7/JournalLines", BALANCED[0], content_id="2")]
    _, parts = fo.send([requests])
    [failure] = parts
    assert failure.status == 400 and failure.content_id == "2"
    assert "$7" in failure.json()["error"]["message"]
    assert fo.journals() == {}


def test_money_crosses_the_batch_exactly_both_ways(fo: Fo) -> None:
    big = Decimal("12345678901.23")
    lines = [line("USMF OPER", debit=str(big), kind="Bank"), line("130500", credit=str(big - Decimal("0.01"))),
             line("618160", credit="0.01")]
    _, parts = fo.send([journal("HL-BIG", lines)])
    amounts = [p.json()["DebitAmount"] for p in parts[1:]]
    assert amounts == [big, 0, 0] and all(type(a) is Decimal for a in amounts)
    assert [p.json()["CreditAmount"] for p in parts[1:]] == [0, Decimal("12345678901.22"), Decimal("0.01")]
    assert fo.journals()["HL-BIG"]["totals"] == {"USD": {"debit": "12345678901.23", "credit": "12345678901.23"}}


def test_a_float_never_leaves_for_the_erp(fo: Fo) -> None:
    before = fo.app.requests["POST /data/$batch"]
    with pytest.raises(TypeError, match="float"):
        build_batch([[BatchRequest("POST", "LedgerJournalHeaders", {**HEADER, "Amount": 0.1})]])
    assert fo.app.requests["POST /data/$batch"] == before


def test_an_answer_that_is_not_the_multipart_it_claims_is_refused() -> None:
    with pytest.raises(BatchFormatError, match="not multipart/mixed"):
        parse_batch_response("application/json", b'{"error": {}}')
    with pytest.raises(BatchFormatError, match="no part delimited"):
        parse_batch_response("multipart/mixed; boundary=b1", b"nothing here")
    cut = (b"--b1\r\nContent-Type: application/http\r\n\r\nHTTP/1.1 201 Created\r\n"
           b"Content-Type: application/json\r\n\r\n{}\r\n")  # the close delimiter never came: the answer was cut
    with pytest.raises(BatchFormatError, match="close delimiter"):
        parse_batch_response('multipart/mixed; boundary="b1"', cut)
    with pytest.raises(BatchFormatError, match="no HTTP status line"):
        parse_batch_response("multipart/mixed; boundary=b1",
                             b"--b1\r\nContent-Type: application/http\r\n\r\nnot a response\r\n--b1--\r\n")


def test_json_numbers_are_decimals_and_blank_bodies_are_none() -> None:
    parsed = loads(b'{"a": 0.1, "b": 10000, "c": [1e2]}')
    assert parsed == {"a": Decimal("0.1"), "b": Decimal(10000), "c": [Decimal("1E+2")]}
    assert all(type(v) is Decimal for v in (parsed["a"], parsed["b"], parsed["c"][0]))
    assert BatchResponse(204, {}, b"  ").json() is None


def test_an_answer_shaped_as_real_fo_sends_it_is_read_part_by_part() -> None:
    """The shape of reference/dynamics.md §1.5: a changesetresponse part inside the batchresponse, here with bare
    LF line endings and a quoted boundary, as proxies sometimes rewrite them."""
    infolog = ('{"error":{"code":"","message":"An error has occurred.","innererror":{"message":"Write failed for '
               "table row of type 'LedgerJournalTransEntity'. Infolog: Error: Account 999999 does not exist.\","
               '"type":"Microsoft.Dynamics.Platform.Integration.Services.OData.AxODataWriteException"}}}')
    body = ("--batchresponse_77a\n"
            "Content-Type: application/http\nContent-Transfer-Encoding: binary\n\n"
            "HTTP/1.1 200 OK\nContent-Type: application/json; odata.metadata=minimal\n\n"
            '{"MainAccountId":"130500","Rate":1.0850}\n'
            "--batchresponse_77a\n"
            "Content-Type: multipart/mixed; boundary=changesetresponse_a9c\n\n"
            "--changesetresponse_a9c\n"
            "Content-Type: application/http\nContent-Transfer-Encoding: binary\nContent-ID: 3\n\n"
            "HTTP/1.1 500 Internal Server Error\nContent-Type: application/json; odata.metadata=minimal\n\n"
            f"{infolog}\n"
            "--changesetresponse_a9c--\n"
            "--batchresponse_77a--\n").encode()
    read, failed = parse_batch_response('multipart/mixed; boundary="batchresponse_77a"', body)
    assert (read.status, read.changeset, read.ok) == (200, None, True)
    assert read.json() == {"MainAccountId": "130500", "Rate": Decimal("1.0850")}
    assert (failed.status, failed.changeset, failed.content_id, failed.ok) == (500, 0, "3", False)
    assert failed.headers["content-type"].startswith("application/json")
    assert "Account 999999 does not exist" in failed.json()["error"]["innererror"]["message"]
