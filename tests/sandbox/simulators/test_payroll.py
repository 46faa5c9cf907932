"""The Heartland Payroll simulator over real loopback HTTP, driven by hand-written requests (not by the project's
client), so what is checked is the wire: the envelope, the sessions, the field encryption and the payroll rules."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from sandbox.simulators.base import FaultRule, SimulatorApp
from sandbox.simulators.payroll import (
    DEFAULT_API_KEY,
    DEFAULT_CLIENT_CODE,
    DEFAULT_FEDERAL_EIN,
    DEFAULT_PASSWORD,
    DEFAULT_USERNAME,
    FieldCipher,
    PayrollSimulator,
    create,
    simulator,
)
from tests.loopback import Swap

SSN = "123456789"
PREFIX = "/PosWebUI/Test/Test"


@dataclass
class Wire:
    app: SimulatorApp
    sim: PayrollSimulator
    http: httpx.Client
    cipher: FieldCipher
    token: str = ""

    def sign_in(self, username: str = DEFAULT_USERNAME, password: str = DEFAULT_PASSWORD,
                cipher: FieldCipher | None = None) -> httpx.Response:
        encrypted = (cipher or self.cipher).encrypt(password)
        return self.http.post(f"{PREFIX}/api/pos/session/signin", json={"Username": username, "Password": encrypted})

    def auth(self, token: str | None = None, username: str = DEFAULT_USERNAME) -> dict[str, str]:
        raw = f"{token if token is not None else self.token}|{username}".encode()
        return {"Authorization": "Basic " + base64.b64encode(raw).decode()}

    def call(self, endpoint: str, body: Any, **headers: str) -> httpx.Response:
        return self.http.post(f"{PREFIX}/api/pos/{endpoint}", json=body, headers=headers or self.auth())

    def enc(self, text: str) -> str:
        return self.cipher.encrypt(text)

    def employee(self, **overrides: Any) -> dict[str, Any]:
        """An AddEmployee body as the SDK writes one, encrypted fields encrypted."""
        body: dict[str, Any] = {
            "ClientCode": self.enc(DEFAULT_CLIENT_CODE), "EmploymentStatus": "A", "HireDate": "03/01/2024",
            "EmployeeNumber": "E100", "EmploymentCategory": "FT", "TimeClockId": 7, "FirstName": "Ana",
            "LastName": self.enc("Ruiz"), "SSN": self.enc(SSN), "Address1": self.enc("1 Elm St"), "City": "Springfield",
            "StateCode": "IL", "ZipCode": self.enc("62701"), "MaritalStatus": "S", "BirthDate": self.enc("05/17/1990"),
            "Gender": "F", "PayGroupId": 201, "PayTypeCode": "H", "HourlyRate": self.enc("15.50"),
            "WorkLocationId": 101}
        body.update(overrides)
        return {k: v for k, v in body.items() if v is not None}


@pytest.fixture
def wire(served: tuple[Swap, int]) -> Iterator[Wire]:
    swap, port = served
    app = create(seed=3)
    swap.app = app
    sim = simulator(app)
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:
        w = Wire(app, sim, http, sim.cipher())
        answer = w.sign_in()
        w.token = answer.json()["Results"][0]["SessionToken"]
        yield w


def envelope(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"StatusCode", "ResponseMessage", "TotalRecords", "Results"}, body
    return dict(body)


# Sign-in, sessions, envelope ----------------------------------------------------------------------------------------


def test_sign_in_answers_a_session_token_in_the_envelope_and_basic_auth_opens_the_api(wire: Wire) -> None:
    answer = envelope(wire.sign_in())
    assert answer["StatusCode"] == 200 and answer["TotalRecords"] == 1
    assert answer["Results"][0]["SessionToken"] and answer["Results"][0]["ErrorMessage"] is None
    groups = envelope(wire.call("payGroup/GetPayGroups", {"ClientCode": wire.enc(DEFAULT_CLIENT_CODE)}))
    assert groups["StatusCode"] == 200 and groups["TotalRecords"] == 2
    assert groups["Results"][0] == {"PayGroupId": 201, "PayGroupName": "Bi-Weekly Hourly", "PayFrequency": 26}


def test_routes_match_without_the_prefix_and_ignore_case_an_unknown_one_is_404(wire: Wire) -> None:
    body = {"ClientCode": wire.enc(DEFAULT_CLIENT_CODE)}
    assert wire.http.post("/api/pos/PAYGROUP/getpaygroups", json=body, headers=wire.auth()).status_code == 200
    missing = wire.call("payGroup/Nothing", body)
    assert missing.status_code == 404 and envelope(missing)["StatusCode"] == 404


@pytest.mark.parametrize(("username", "password", "status", "message"), [
    (DEFAULT_USERNAME, "wrong-password", 401, "Invalid username or password"),
    ("someone.else", DEFAULT_PASSWORD, 401, "Invalid username or password"),
])
def test_a_bad_sign_in_is_refused_with_the_error_message(wire: Wire, username: str, password: str, status: int,
                                                         message: str) -> None:
    answer = wire.sign_in(username, password)
    assert answer.status_code == status
    body = envelope(answer)
    assert body["StatusCode"] == status and message in body["ResponseMessage"]
    assert body["Results"][0]["SessionToken"] is None and message in body["Results"][0]["ErrorMessage"]


def test_a_password_encrypted_with_a_wrong_api_key_or_not_at_all_does_not_decrypt(wire: Wire) -> None:
    wrong = wire.sign_in(cipher=FieldCipher(DEFAULT_USERNAME, "not-the-api-key"))
    assert wrong.status_code == 400 and "Password could not be decrypted" in envelope(wrong)["ResponseMessage"]
    clear = wire.http.post("/api/pos/session/signin", json={"Username": DEFAULT_USERNAME, "Password": DEFAULT_PASSWORD})
    assert clear.status_code == 400 and "could not be decrypted" in clear.json()["ResponseMessage"]
    other_salt = wire.sign_in(cipher=FieldCipher("another.user", DEFAULT_API_KEY))
    assert other_salt.status_code == 400, "the username is the salt: another one derives another key"


@pytest.mark.parametrize("authorization", [None, "Bearer abc", "Basic not-base64!", "Basic " +
                                           base64.b64encode(b"no-such-token|hl365.payroll.api").decode()])
def test_calls_without_a_live_session_are_401(wire: Wire, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization else {"X-None": "1"}
    answer = wire.call("payGroup/GetPayGroups", {"ClientCode": wire.enc(DEFAULT_CLIENT_CODE)}, **headers)
    assert answer.status_code == 401 and "Authorization has been denied" in envelope(answer)["ResponseMessage"]


def test_the_token_belongs_to_its_username(wire: Wire) -> None:
    answer = wire.call("payGroup/GetPayGroups", {"ClientCode": wire.enc(DEFAULT_CLIENT_CODE)},
                       **wire.auth(username="someone.else"))
    assert answer.status_code == 401


def test_an_idle_session_expires_and_each_use_renews_it(wire: Wire) -> None:
    body = {"ClientCode": wire.enc(DEFAULT_CLIENT_CODE)}
    wire.sim.clock.advance(timedelta(minutes=15))
    assert wire.call("payItem/GetPayItems", body).status_code == 200
    wire.sim.clock.advance(timedelta(minutes=15))
    assert wire.call("payItem/GetPayItems", body).status_code == 200, "renewed by the previous call"
    wire.sim.clock.advance(timedelta(minutes=21))
    expired = wire.call("payItem/GetPayItems", body)
    assert expired.status_code == 401 and "expired" in envelope(expired)["ResponseMessage"]
    assert wire.call("payItem/GetPayItems", body).status_code == 401, "an expired token stays dead"


def test_sign_out_ends_the_session(wire: Wire) -> None:
    assert wire.http.post("/api/pos/session/signout", headers=wire.auth()).status_code == 200
    assert wire.call("payItem/GetPayItems", {"ClientCode": wire.enc(DEFAULT_CLIENT_CODE)}).status_code == 401


def test_errors_in_body_mode_answers_http_200_with_the_status_in_the_envelope(wire: Wire) -> None:
    wire.sim.errors_in_body = True
    answer = wire.call("payItem/GetPayItems", {"ClientCode": "not-encrypted"})
    assert answer.status_code == 200 and envelope(answer)["StatusCode"] == 400


def test_injected_faults_answer_in_the_envelope_with_retry_after(wire: Wire) -> None:
    wire.app.faults.rules = [FaultRule("POST */GetPayItems", "throttle", 1.0, retry_after=3)]
    answer = wire.call("payItem/GetPayItems", {"ClientCode": wire.enc(DEFAULT_CLIENT_CODE)})
    assert answer.status_code == 429 and answer.headers["retry-after"] == "3"
    assert envelope(answer)["StatusCode"] == 429


# Encryption of fields -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["ClientCode", "LastName", "SSN", "Address1", "ZipCode", "BirthDate", "HourlyRate"])
def test_every_encrypted_field_sent_in_clear_is_refused_by_name(wire: Wire, field: str) -> None:
    clear = {"ClientCode": DEFAULT_CLIENT_CODE, "LastName": "Ruiz", "SSN": SSN, "Address1": "1 Elm St",
             "ZipCode": "62701", "BirthDate": "05/17/1990", "HourlyRate": "15.50"}[field]
    answer = wire.call("employee/AddEmployee", wire.employee(**{field: clear}))
    assert answer.status_code == 400
    message = envelope(answer)["ResponseMessage"]
    assert f"{field} could not be decrypted" in message and SSN not in message
    assert wire.sim.employee_record("E100") is None


def test_a_field_encrypted_under_another_api_key_is_refused(wire: Wire) -> None:
    other = FieldCipher(DEFAULT_USERNAME, "another-key")
    answer = wire.call("employee/AddEmployee", wire.employee(SSN=other.encrypt(SSN)))
    assert answer.status_code == 400 and "SSN could not be decrypted" in answer.json()["ResponseMessage"]


def test_get_clients_by_federal_ein_answers_the_code_and_ein_encrypted(wire: Wire) -> None:
    answer = envelope(wire.call("client/getclients", {"FederalEin": wire.enc(str(int(DEFAULT_FEDERAL_EIN)))}))
    [client] = answer["Results"]
    assert wire.cipher.decrypt(client["ClientCode"]) == DEFAULT_CLIENT_CODE
    assert wire.cipher.decrypt(client["FederalEin"]) == DEFAULT_FEDERAL_EIN
    assert envelope(wire.call("client/getclients", {"FederalEin": wire.enc("111111111")}))["Results"] == []


# Employees ----------------------------------------------------------------------------------------------------------


def test_add_employee_answers_the_employee_with_its_personal_fields_encrypted(wire: Wire) -> None:
    answer = envelope(wire.call("employee/AddEmployee", wire.employee()))
    [employee] = answer["Results"]
    assert employee["EmployeeId"] >= 284001 and employee["EmployeeNumber"] == "E100"
    assert employee["EmploymentStatus"] == "A" and employee["HireDate"] == "2024-03-01T00:00:00"
    assert SSN not in json.dumps(employee)
    assert wire.cipher.decrypt(employee["Ssn"]) == SSN
    assert wire.cipher.decrypt(employee["BirthDay"]) == "1990-05-17T00:00:00"
    assert wire.cipher.decrypt(employee["LastName"]) == "Ruiz"
    assert wire.cipher.decrypt(employee["HourlyRate"]) == "15.50"
    assert employee["FirstName"] == "Ana" and employee["City"] == "Springfield"
    record = wire.sim.employee_record("E100")
    assert record is not None and record["Ssn"] == SSN and record["BirthDay"] == "1990-05-17T00:00:00"


def test_the_java_sdks_iso_hire_date_and_a_dashed_ssn_are_read(wire: Wire) -> None:
    answer = wire.call("employee/AddEmployee", wire.employee(HireDate="2024-03-01T00:00:00.000-05:00",
                                                             SSN=wire.enc("123-45-6789"), EmployeeNumber=None))
    [employee] = envelope(answer)["Results"]
    assert employee["HireDate"] == "2024-03-01T00:00:00" and employee["EmployeeNumber"] == "1004"
    assert wire.cipher.decrypt(employee["Ssn"]) == SSN


@pytest.mark.parametrize(("overrides", "message"), [
    ({"FirstName": None}, "FirstName is required"),
    ({"LastName": None}, "LastName is required"),
    ({"SSN": None}, "SSN is required"),
    ({"SSN": "12345678"}, "SSN must be 9 digits"),
    ({"SSN": "000123456"}, "SSN is not a valid"),
    ({"HireDate": None}, "HireDate is required"),
    ({"HireDate": "2024/03/01"}, "HireDate must be a date as MM/dd/yyyy"),
    ({"HireDate": "02/30/2024"}, "HireDate is not a calendar date"),
    ({"PayGroupId": 999}, "PayGroupId 999 is not a pay group"),
    ({"WorkLocationId": 999}, "WorkLocationId 999 is not a work location"),
    ({"PayTypeCode": "X"}, "PayTypeCode must be one of"),
    ({"HourlyRate": "0"}, "HourlyRate must be above 0 for PayTypeCode H"),
    ({"PayTypeCode": "S", "PerPaySalary": "0"}, "PerPaySalary must be above 0 for PayTypeCode S"),
    ({"HourlyRate": "-1"}, "HourlyRate must be at least 0"),
    ({"Gender": "X"}, "Gender must be one of F, M"),
    ({"StateCode": "Illinois"}, "StateCode must be a two-letter"),
    ({"ZipCode": "6270"}, "ZipCode must be 5 or 9 digits"),
    ({"BirthDate": "05/17/2030"}, "BirthDate must be before the HireDate"),
    ({"EmploymentStatus": "T"}, "use TerminateEmployee"),
    ({"EmployeeNumber": "1001"}, "EmployeeNumber 1001 is already in use"),
])
def test_add_employee_validates_like_a_payroll_system(wire: Wire, overrides: dict[str, Any], message: str) -> None:
    encrypted = {"SSN", "HourlyRate", "PerPaySalary", "ZipCode", "BirthDate"}
    body = wire.employee(**{k: wire.enc(v) if k in encrypted and v is not None else v for k, v in overrides.items()})
    answer = wire.call("employee/AddEmployee", body)
    assert answer.status_code == 400, answer.text
    assert message in envelope(answer)["ResponseMessage"]
    assert envelope(answer)["Results"] is None


def test_a_second_employee_with_the_same_ssn_is_refused_without_saying_it(wire: Wire) -> None:
    assert wire.call("employee/AddEmployee", wire.employee()).status_code == 200
    again = wire.call("employee/AddEmployee", wire.employee(EmployeeNumber="E101"))
    assert again.status_code == 400 and "this SSN already exists" in again.text and SSN not in again.text


def test_unknown_client_code_is_refused(wire: Wire) -> None:
    answer = wire.call("employee/AddEmployee", wire.employee(ClientCode=wire.enc("NOPE0001")))
    assert answer.status_code == 400 and "ClientCode does not name a client" in answer.json()["ResponseMessage"]


def test_update_changes_only_the_fields_given_and_an_unknown_id_is_404(wire: Wire) -> None:
    [added] = wire.call("employee/AddEmployee", wire.employee()).json()["Results"]
    update = {"ClientCode": wire.enc(DEFAULT_CLIENT_CODE), "EmployeeId": added["EmployeeId"], "MaritalStatus": "M",
              "HourlyRate": wire.enc("17.25"), "WorkLocationId": 102}
    [updated] = envelope(wire.call("employee/UpdateEmployee", update))["Results"]
    assert updated["MaritalStatus"] == "M" and updated["WorkLocationId"] == 102
    assert wire.cipher.decrypt(updated["HourlyRate"]) == "17.25" and wire.cipher.decrypt(updated["Ssn"]) == SSN
    assert updated["FirstName"] == "Ana" and updated["EmployeeNumber"] == "E100"
    missing = wire.call("employee/UpdateEmployee", {**update, "EmployeeId": 1})
    assert missing.status_code == 404 and "Employee 1 was not found" in missing.json()["ResponseMessage"]
    taken = wire.call("employee/UpdateEmployee", {**update, "EmployeeNumber": "1001"})
    assert taken.status_code == 400 and "already in use" in taken.text
    bad_group = wire.call("employee/UpdateEmployee", {**update, "PayGroupId": 5})
    assert bad_group.status_code == 400


def test_get_employee_and_get_employees_with_their_filters(wire: Wire) -> None:
    [added] = wire.call("employee/AddEmployee", wire.employee()).json()["Results"]
    client = wire.enc(DEFAULT_CLIENT_CODE)
    [one] = envelope(wire.call("employee/GetEmployee", {"ClientCode": client, "EmployeeId": added["EmployeeId"]}))[
        "Results"]
    assert one == added
    assert wire.call("employee/GetEmployee", {"ClientCode": client, "EmployeeId": 5}).status_code == 404
    everyone = envelope(wire.call("employee/GetEmployees", {"ClientCode": client}))
    assert everyone["TotalRecords"] == 4 and [e["EmployeeId"] for e in everyone["Results"]] == [
        284001, 284002, 284003, added["EmployeeId"]]
    hourly = wire.call("employee/GetEmployees", {"ClientCode": client, "PayTypeCode": "H"}).json()["Results"]
    assert {e["PayTypeCode"] for e in hourly} == {"H"} and len(hourly) == 3
    page = wire.call("employee/GetEmployees", {"ClientCode": client, "EmployeeOffset": 1, "EmployeeCount": 2})
    assert [e["EmployeeId"] for e in page.json()["Results"]] == [284002, 284003]
    assert wire.call("employee/GetEmployees", {"ClientCode": client, "PayTypeCode": "S"}).status_code == 400


def test_terminate_sets_status_date_and_reason_and_refuses_what_a_payroll_would(wire: Wire) -> None:
    [added] = wire.call("employee/AddEmployee", wire.employee()).json()["Results"]
    body = {"ClientCode": wire.enc(DEFAULT_CLIENT_CODE), "EmployeeId": added["EmployeeId"],
            "TerminationDate": "06/30/2024", "TerminationReasonId": "1", "InactivateDirectDepositAccounts": 1}
    for change, message in (({"TerminationDate": "2024-06-30"}, "TerminationDate must be a date as MM/dd/yyyy"),
                            ({"TerminationDate": "02/01/2024"}, "TerminationDate is before the HireDate"),
                            ({"TerminationReasonId": 99}, "TerminationReasonId 99 is not a termination reason"),
                            ({"EmployeeId": 7}, "Employee 7 was not found")):
        refused = wire.call("employee/TerminateEmployee", {**body, **change})
        assert refused.status_code in (400, 404) and message in refused.json()["ResponseMessage"]
    [terminated] = envelope(wire.call("employee/TerminateEmployee", body))["Results"]
    assert terminated["EmploymentStatus"] == "T" and terminated["TerminationDate"] == "2024-06-30T00:00:00"
    assert terminated["TerminationReasonId"] == 1
    record = wire.sim.employee_record("E100")
    assert record is not None and record["DirectDepositInactive"] is True
    again = wire.call("employee/TerminateEmployee", body)
    assert again.status_code == 400 and "already terminated" in again.text
    active = wire.call("employee/GetEmployees", {"ClientCode": wire.enc(DEFAULT_CLIENT_CODE),
                                                 "ActiveEmployeeOnly": True}).json()["Results"]
    assert added["EmployeeId"] not in [e["EmployeeId"] for e in active]


def test_the_lookups_answer_in_the_sdks_field_names(wire: Wire) -> None:
    client = {"ClientCode": wire.enc(DEFAULT_CLIENT_CODE)}
    reasons = wire.call("termination/GetTerminationReasons", client).json()["Results"]
    assert reasons[0] == {"TerminationReasonId": 1, "ReasonDescription": "Voluntary resignation"}
    locations = wire.call("worklocation/GetWorkLocations", client).json()["Results"]
    assert locations[0] == {"WorkLocationId": 101, "WorkLocationDescription": "Main Street"}
    [labor] = wire.call("laborField/GetLaborFields", client).json()["Results"]
    assert labor["LaborFieldTitle"] == "Department" and labor["laborfieldLookups"][0] == {
        "laborFieldValue": "FOH", "laborFieldDescription": "Front of house"}
    items = wire.call("payItem/GetPayItems", client).json()["Results"]
    assert {"PayCode": "61", "PayItemTitle": "Cash Tips"} in items


# Pay data ------------------------------------------------------------------------------------------------------------


def pay(wire: Wire, record_id: int, **overrides: Any) -> dict[str, Any]:
    row = {"RecordId": record_id, "ClientCode": wire.enc(DEFAULT_CLIENT_CODE), "EmployeeId": 284001,
           "PayItemTitle": "Regular", "Hours": "8.00", "PayRate": "15.00"}
    row.update(overrides)
    return {k: v for k, v in row.items() if v is not None}


def test_post_pay_data_stores_each_line_and_answers_no_results(wire: Wire) -> None:
    answer = envelope(wire.call("timeclock/PostPayData", [pay(wire, 1), pay(wire, 2, PayItemTitle="cash tips",
                                                                            Hours=None, Dollars=42.5, PayRate=None)]))
    assert answer["StatusCode"] == 200 and answer["Results"] == []
    rows = wire.sim.pay_data()
    assert [(r["RecordId"], r["PayCode"], r["Hours"], r["Dollars"]) for r in rows] == [
        (1, "01", "8.00", None), (2, "61", None, "42.5")]


def test_a_replay_of_the_same_record_is_not_counted_twice_and_changed_values_are_refused(wire: Wire) -> None:
    assert wire.call("timeclock/PostPayData", [pay(wire, 1)]).status_code == 200
    assert wire.call("timeclock/PostPayData", [pay(wire, 1)]).status_code == 200
    assert len(wire.sim.pay_data()) == 1
    changed = wire.call("timeclock/PostPayData", [pay(wire, 1, Hours="9")])
    assert changed.status_code == 400 and "already posted with other values" in changed.text


@pytest.mark.parametrize(("rows", "message"), [
    ([{"EmployeeId": 1}], "RecordId 2: Employee 1 was not found"),
    ([{"PayItemTitle": "Bonus"}], "RecordId 2: PayItemTitle is not a pay item"),
    ([{"Hours": None}], "RecordId 2: Hours or Dollars is required"),
    ([{"Hours": "abc"}], "RecordId 2: Hours must be a decimal number"),
    ([{"ClientCode": DEFAULT_CLIENT_CODE}], "ClientCode could not be decrypted"),
    ([{"RecordId": 1}], "RecordId appears twice"),
])
def test_a_batch_with_one_bad_record_is_refused_whole(wire: Wire, rows: list[dict[str, Any]], message: str) -> None:
    body = [pay(wire, 1), {**pay(wire, 2), **rows[0]}]
    body[1] = {k: v for k, v in body[1].items() if v is not None}
    answer = wire.call("timeclock/PostPayData", body)
    assert answer.status_code == 400 and message in answer.json()["ResponseMessage"]
    assert wire.sim.pay_data() == [], "nothing of a refused batch is stored"


def test_post_pay_data_takes_an_array(wire: Wire) -> None:
    assert wire.call("timeclock/PostPayData", pay(wire, 1)).status_code == 400
    assert wire.call("timeclock/PostPayData", []).status_code == 400


# Ground truth --------------------------------------------------------------------------------------------------------


def test_state_holds_ssns_and_birth_dates_only_encrypted_and_restores(wire: Wire, tmp_path: Path) -> None:
    wire.call("employee/AddEmployee", wire.employee())
    state = wire.sim.state()
    dumped = json.dumps(state, default=str)
    assert SSN not in dumped and "1990-05-17" not in dumped and "05/17/1990" not in dumped
    for seeded in ("1001", "1002", "1003"):
        record = wire.sim.employee_record(seeded)
        assert record is not None and record["Ssn"] not in dumped
        assert record["BirthDay"][:10] not in dumped
    assert DEFAULT_PASSWORD not in dumped and DEFAULT_API_KEY not in dumped and wire.token not in dumped
    assert "SsnAtRest" in dumped and state["active_sessions"] == 1
    snapshot = tmp_path / "payroll.json"
    snapshot.write_text(dumped, encoding="utf-8")
    again = simulator(create(seed=3, snapshot=snapshot))
    record = again.employee_record("E100")
    assert record is not None and record["Ssn"] == SSN
    assert again.state()["employees"] == state["employees"]


def test_every_seed_makes_a_payroll_simulator_its_own_rules_accept() -> None:
    """The seeded employees' SSNs are drawn at random: none may be one payroll refuses (a 00 group, a 0000 serial),
    or the demo and chaos would fail on the days whose seed draws one."""
    from sandbox.simulators import create

    for seed in range(300):
        create("payroll", seed=seed)
