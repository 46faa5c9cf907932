"""The Heartland Payroll client: its encoder against a known answer, its wire format, and the client against the
payroll simulator over real loopback HTTP (sessions, errors, retries, and personal data kept out of sight)."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from sandbox.simulators.base import FaultRule, SimulatorApp
from sandbox.simulators.payroll import (
    DEFAULT_API_KEY,
    DEFAULT_CLIENT_CODE,
    DEFAULT_FEDERAL_EIN,
    DEFAULT_PASSWORD,
    DEFAULT_USERNAME,
    PayrollSimulator,
    create,
    simulator,
)
from shared.errors import ConfigError, PermanentApiError, TransientApiError, UncertainOutcome
from shared.heartland.payroll import (
    EmploymentStatus,
    HeartlandPayrollClient,
    MaritalStatus,
    PayData,
    PayrollDecodeError,
    PayrollEmployee,
    PayrollEncoder,
    PayTypeCode,
)
from shared.httpclient import RetryPolicy
from tests.loopback import Swap

PREFIX = "/PosWebUI/Test/Test"
SSN = "123456789"
SDK_USER = "testapiuser.russell"
SDK_KEY = "iGF9UtaLc526poWWNgUpiCoO3BckcZUKNF3nhyKul8A="
"""The java-sdk test suite's (public, test-only) user and key: a vector anyone can recompute."""


def new_hire(**overrides: Any) -> PayrollEmployee:
    fields: dict[str, Any] = {
        "first_name": "Ana", "last_name": "Ruiz", "ssn": "123-45-6789", "hire_date": date(2024, 3, 1),
        "birth_date": date(1990, 5, 17), "employee_number": "E100", "pay_group_id": 201,
        "pay_type_code": PayTypeCode.HOURLY, "hourly_rate": Decimal("15.50"), "work_location_id": 101,
        "address1": "1 Elm St", "city": "Springfield", "state_code": "IL", "zip_code": "62701"}
    fields.update(overrides)
    return PayrollEmployee(**fields)


# The encoder --------------------------------------------------------------------------------------------------------


def test_the_encoder_matches_a_known_answer_computed_step_by_step() -> None:
    derived = hashlib.pbkdf2_hmac("sha1", SDK_KEY.encode("utf-8"), SDK_USER.encode("utf-8"), 1000, 48)
    assert derived.hex().upper() == (  # the same derivation by `openssl kdf ... PBKDF2` (SHA1, 1000 iterations)
        "A6E45EED59D83A0A97D7E8B01E537962BBB84F25C54090C94F22021462788696E71071BEE8A849AE7F9838261A1F7D93")
    key, iv = derived[:32], derived[32:]
    clear = b"payroll2!"
    padded = clear + bytes([16 - len(clear)]) * (16 - len(clear))  # PKCS#5/7 to one block
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    expected = base64.b64encode(encryptor.update(padded) + encryptor.finalize()).decode()
    assert expected == "DLUiGaXnt4GJVMnnVFd2Vw=="
    encoder = PayrollEncoder(SDK_USER, SDK_KEY)
    assert encoder.encode("payroll2!") == expected
    assert encoder.encode(SSN) == "wG08VzUlgng9k91lSbdsbQ=="
    assert encoder.decode(expected) == "payroll2!"


def test_the_encoder_round_trips_text_and_refuses_what_it_cannot_decrypt() -> None:
    encoder = PayrollEncoder(DEFAULT_USERNAME, DEFAULT_API_KEY)
    for text in ("", "Ruiz", "Zoë Ñúñez", "x" * 100):
        assert encoder.decode(encoder.encode(text)) == text
    assert encoder.encode("16") != encoder.encode("16 "), "padding is always added"
    with pytest.raises(PayrollDecodeError):
        encoder.decode(PayrollEncoder(DEFAULT_USERNAME, "another key").encode("Ruiz"))
    with pytest.raises(PayrollDecodeError, match="base64"):
        encoder.decode("Ruiz!")
    with pytest.raises(PayrollDecodeError, match="blocks"):
        encoder.decode(base64.b64encode(b"short").decode())
    assert "key" in repr(encoder) and DEFAULT_API_KEY not in repr(encoder)


def test_the_employee_never_shows_its_ssn_birth_date_address_or_rates() -> None:
    employee = new_hire(per_pay_salary=Decimal("1875.00"))
    for shown in (repr(employee), str(employee), f"{employee}", repr([employee])):
        for secret in (SSN, "123-45-6789", "1990", "15.50", "1875", "1 Elm St", "62701"):
            assert secret not in shown, secret
        assert "***-**-6789" in shown and "Ana" in shown
    assert employee.ssn == SSN, "kept as nine digits"


def test_the_employee_and_pay_data_check_what_they_are_given() -> None:
    with pytest.raises(ValueError, match="nine digits") as bad:
        new_hire(ssn="12345678")
    assert "12345678" not in str(bad.value)
    with pytest.raises(TypeError, match="Decimal"):
        new_hire(hourly_rate=15.5)
    assert new_hire(hourly_rate="15.50").hourly_rate == Decimal("15.50")
    with pytest.raises(ValueError, match="hours or dollars"):
        PayData(record_id=1, employee_id="1", pay_item_title="Regular")


def test_the_wire_carries_personal_fields_encrypted_and_dates_as_mm_dd_yyyy() -> None:
    """What AddEmployee sends, captured below the client: nothing personal in clear."""
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path.endswith("/signin"):
            results: list[Any] = [{"SessionToken": "tok", "ErrorMessage": None}]
        else:
            results = [{"EmployeeId": 284999, "EmployeeNumber": "E100"}]
        return httpx.Response(200, json={"StatusCode": 200, "ResponseMessage": "Success", "TotalRecords": 1,
                                         "Results": results})

    encoder = PayrollEncoder(DEFAULT_USERNAME, DEFAULT_API_KEY)
    with HeartlandPayrollClient("https://payroll.test" + PREFIX, username=DEFAULT_USERNAME, password="pw",
                                api_key=DEFAULT_API_KEY, client_code="0140HL65",
                                transport=httpx.MockTransport(answer)) as client:
        assert client.requests_sent == 0, "signs in lazily"
        assert client.add_employee(new_hire()) == "284999"
    sign_in, add, sign_out = seen
    assert sign_in.url.path == PREFIX + "/api/pos/session/signin"
    assert json.loads(sign_in.content) == {"Username": DEFAULT_USERNAME, "Password": encoder.encode("pw")}
    assert add.headers["authorization"] == "Basic " + base64.b64encode(f"tok|{DEFAULT_USERNAME}".encode()).decode()
    body = json.loads(add.content)
    raw = add.content.decode()
    for secret in (SSN, "6789", "Ruiz", "1 Elm St", "62701", "15.50", "1990", "0140HL65"):
        assert secret not in raw, secret
    assert encoder.decode(body["SSN"]) == SSN and encoder.decode(body["BirthDate"]) == "05/17/1990"
    assert encoder.decode(body["ClientCode"]) == "0140HL65" and encoder.decode(body["HourlyRate"]) == "15.50"
    assert body["HireDate"] == "03/01/2024" and body["PayTypeCode"] == "H" and body["FirstName"] == "Ana"
    assert "EmployeeId" not in body and "PerPaySalary" not in body
    assert sign_out.url.path == PREFIX + "/api/pos/session/signout" and sign_out.headers["authorization"]


# Against the simulator ------------------------------------------------------------------------------------------------


@dataclass
class Harness:
    app: SimulatorApp
    sim: PayrollSimulator
    base_url: str
    sleeps: list[float] = field(default_factory=list)
    client: HeartlandPayrollClient = field(init=False)

    def connect(self, **overrides: Any) -> HeartlandPayrollClient:
        options: dict[str, Any] = {"username": DEFAULT_USERNAME, "password": DEFAULT_PASSWORD,
                                   "api_key": DEFAULT_API_KEY, "client_code": DEFAULT_CLIENT_CODE,
                                   "sleep": self.sleeps.append, "timeout": httpx.Timeout(5.0),
                                   "retry": RetryPolicy(max_attempts=3, jitter=lambda d: d)}
        options.update(overrides)
        return HeartlandPayrollClient(self.base_url, **options)


@pytest.fixture
def payroll(served: tuple[Swap, int]) -> Iterator[Harness]:
    swap, port = served
    app = create(seed=7)
    swap.app = app
    harness = Harness(app, simulator(app), f"http://127.0.0.1:{port}{PREFIX}")

    def sleep(seconds: float) -> None:
        """Backoff is recorded, not slept; the fault plan is lifted so the retry gets through."""
        harness.sleeps.append(seconds)
        app.faults.rules = []

    harness.client = harness.connect(sleep=sleep)
    try:
        yield harness
    finally:
        harness.client.close()


def test_clients_and_lookups(payroll: Harness) -> None:
    [found] = payroll.client.clients("57-1234567")
    assert (found.client_code, found.federal_ein) == (DEFAULT_CLIENT_CODE, DEFAULT_FEDERAL_EIN)
    assert payroll.client.clients("111111111") == []
    assert [(g.id, g.name, g.frequency) for g in payroll.client.pay_groups()] == [
        (201, "Bi-Weekly Hourly", 26), (202, "Weekly", 52)]
    assert [w.id for w in payroll.client.work_locations()] == [101, 102]
    assert payroll.client.termination_reasons()[0].description == "Voluntary resignation"
    [labor] = payroll.client.labor_fields()
    assert labor.title == "Department" and labor.values[0] == ("FOH", "Front of house")
    assert [(i.code, i.title) for i in payroll.client.pay_items()][:2] == [("01", "Regular"), ("02", "Overtime")]
    assert payroll.client.sign_ins == 1, "one session for every call"


def test_add_read_update_and_terminate_an_employee(payroll: Harness) -> None:
    client = payroll.client
    employee_id = client.add_employee(new_hire())
    read = client.employee(employee_id)
    assert read is not None and read == new_hire(employee_id=employee_id, employment_status=EmploymentStatus.ACTIVE)
    updated = client.update_employee(PayrollEmployee(employee_id=employee_id, first_name="Ana", last_name="Ruiz-Lee",
                                                     marital_status=MaritalStatus.MARRIED,
                                                     hourly_rate=Decimal("17.25")))
    assert (updated.last_name, updated.marital_status, updated.hourly_rate) == ("Ruiz-Lee", MaritalStatus.MARRIED,
                                                                               Decimal("17.25"))
    assert updated.ssn == SSN and updated.birth_date == date(1990, 5, 17), "fields not sent are kept"
    reason = client.termination_reasons()[0]
    gone = client.terminate_employee(employee_id, date(2024, 6, 30), reason.id)
    assert gone.employment_status is EmploymentStatus.TERMINATED and gone.termination_date == date(2024, 6, 30)
    assert gone.termination_reason_id == reason.id
    record = payroll.sim.employee_record("E100")
    assert record is not None and record["DirectDepositInactive"] is True and record["LastName"] == "Ruiz-Lee"
    assert employee_id not in [e.employee_id for e in client.employees(active_only=True)]
    assert employee_id in [e.employee_id for e in client.employees()]
    assert client.employee("1") is None


def test_post_pay_data(payroll: Harness) -> None:
    employee_id = payroll.client.employees()[0].employee_id
    assert employee_id is not None
    records = [PayData(record_id=1, employee_id=employee_id, pay_item_title="Regular", hours=Decimal("38.50"),
                       pay_rate=Decimal("15.00")),
               PayData(record_id=2, employee_id=employee_id, pay_item_title="Cash Tips", dollars=Decimal("112.40"))]
    assert payroll.client.post_pay_data(records) == 2
    assert [(r["RecordId"], r["PayCode"], r["Hours"], r["Dollars"]) for r in payroll.sim.pay_data()] == [
        (1, "01", "38.50", None), (2, "61", None, "112.40")]
    with pytest.raises(PermanentApiError) as refused:
        payroll.client.post_pay_data([PayData(record_id=3, employee_id="1", pay_item_title="Regular",
                                              hours=Decimal(1))])
    assert "RecordId 3: Employee 1 was not found" in refused.value.description
    with pytest.raises(ValueError, match="unique"):
        payroll.client.post_pay_data(records + records)


def test_a_validation_refusal_is_a_permanent_error_with_the_response_message(payroll: Harness) -> None:
    payroll.client.add_employee(new_hire())
    with pytest.raises(PermanentApiError) as duplicate:
        payroll.client.add_employee(new_hire(employee_number="E101"))
    assert duplicate.value.status == 400 and "this SSN already exists" in duplicate.value.description
    with pytest.raises(PermanentApiError) as unknown_group:
        payroll.client.add_employee(new_hire(employee_number="E102", ssn="223456789", pay_group_id=999))
    assert "PayGroupId 999" in unknown_group.value.description
    assert payroll.app.requests[f"POST {PREFIX}/api/pos/employee/AddEmployee"] == 3, "refusals are not retried"


def test_a_refusal_inside_an_http_200_is_still_an_error(payroll: Harness) -> None:
    payroll.sim.errors_in_body = True
    with pytest.raises(PermanentApiError) as refused:
        payroll.client.update_employee(new_hire(employee_id="1"))
    assert refused.value.status == 404 and "Employee 1 was not found" in refused.value.description
    assert payroll.client.employee("1") is None


@pytest.mark.parametrize("in_body", [False, True])
def test_an_expired_session_is_renewed_once_and_the_call_goes_through(payroll: Harness, in_body: bool) -> None:
    payroll.sim.errors_in_body = in_body
    assert payroll.client.pay_items()
    payroll.sim.clock.advance(timedelta(minutes=30))
    assert payroll.client.work_locations()
    assert payroll.client.sign_ins == 2 and payroll.sim.events["expired"] == 1


def test_close_signs_out(payroll: Harness) -> None:
    with payroll.connect() as client:
        client.pay_items()
        assert payroll.sim.active_sessions == 1
    assert payroll.sim.active_sessions == 0 and payroll.sim.events["session/signout"] == 1
    with payroll.connect():
        pass
    assert payroll.sim.events["sign_ins"] == 1, "a client never used never signs in, nor out"


@pytest.mark.parametrize("in_body", [False, True])
@pytest.mark.parametrize(("overrides", "text"), [
    ({"password": "wrong"}, "Invalid username or password"),
    ({"api_key": "not-the-api-key"}, "Password could not be decrypted"),
    ({"username": "someone.else"}, "Invalid username or password"),
])
def test_a_refused_sign_in_is_permanent_and_names_the_settings(payroll: Harness, overrides: dict[str, Any],
                                                               text: str, in_body: bool) -> None:
    payroll.sim.errors_in_body = in_body
    with payroll.connect(**overrides) as client, pytest.raises(PermanentApiError) as refused:
        client.pay_items()
    assert refused.value.reason == "PayrollSignIn" and text in refused.value.description
    assert "username, password and API key" in refused.value.description
    assert client.requests_sent == 1, "a refused sign-in is not retried"


def test_a_client_code_is_needed_for_client_calls(payroll: Harness) -> None:
    with payroll.connect(client_code=None) as client:
        assert client.clients(DEFAULT_FEDERAL_EIN)
        with pytest.raises(ConfigError, match="client_code"):
            client.employees()


def test_throttling_and_outages_are_retried_then_transient(payroll: Harness) -> None:
    payroll.app.faults.rules = [FaultRule("POST */GetPayGroups", "throttle", 1.0, retry_after=2)]
    assert payroll.client.pay_groups()
    assert payroll.sleeps == [2.0], "Retry-After honoured"
    with payroll.connect() as client:
        payroll.app.faults.rules = [FaultRule("POST */GetPayItems", "error", 1.0, status=503)]
        with pytest.raises(TransientApiError):
            client.pay_items()
    assert payroll.app.requests[f"POST {PREFIX}/api/pos/payItem/GetPayItems"] == 3


def test_a_lost_answer_is_retried_for_a_read_and_uncertain_for_a_write(payroll: Harness) -> None:
    payroll.app.faults.rules = [FaultRule("POST */GetEmployees", "lost", 1.0)]
    assert len(payroll.client.employees()) == 3
    with payroll.connect() as client:
        payroll.app.faults.rules = [FaultRule("POST */AddEmployee", "lost", 1.0)]
        with pytest.raises(UncertainOutcome):
            client.add_employee(new_hire())
    assert payroll.sim.employee_record("E100") is not None, "the write landed; the caller looks it up by number"


def test_an_ssn_never_appears_in_clear_in_state_logs_reprs_or_errors(payroll: Harness,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    for name in ("hl365", "httpx", "httpcore"):
        caplog.set_level(logging.DEBUG, logger=name)
    payroll.app.faults.rules = [FaultRule("POST */AddEmployee", "error", 1.0, status=503)]
    hire = new_hire()
    employee_id = payroll.client.add_employee(hire)
    with pytest.raises(PermanentApiError) as duplicate:
        payroll.client.add_employee(new_hire(employee_number="E101"))
    read = payroll.client.employee(employee_id)
    assert read is not None and read.ssn == SSN
    payroll.client.update_employee(read)
    payroll.client.close()
    secrets = (SSN, "123-45-6789", "05/17/1990", "1990-05-17", "15.50")
    state = json.dumps(payroll.sim.state(), default=str)
    logged = "\n".join(f"{r.name} {r.getMessage()} {r.args!r}" for r in caplog.records)
    assert "AddEmployee" in logged and "HTTP Request" in logged, "the capture saw the client and httpx"
    error = f"{duplicate.value} {duplicate.value.description} {duplicate.value.body}"
    for secret in secrets:
        if secret != "15.50":  # pay rates are payroll's working data, kept in clear at rest; SSNs and birth dates not
            assert secret not in state, f"{secret} in state"
        assert secret not in logged, f"{secret} in a log record"
        assert secret not in repr(hire) and secret not in str(read), f"{secret} in a repr"
        assert secret not in error, f"{secret} in an error"
