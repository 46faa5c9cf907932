"""Heartland Payroll's partner "POS→Payroll" API (``PosWebUI``): employees in, hours and earnings in, lookups out.

``reference/heartland.md`` §3, and the Global Payments SDKs' ``PayrollConnector`` (java-sdk
``gateways/PayrollConnector.java``, ``entities/payroll/*``) for what the reference leaves out:

* Every call is a ``POST`` of JSON. ``/api/pos/session/signin`` takes ``{Username, Password}`` (the password
  encrypted) and answers the envelope with ``Results[0] = {SessionToken, ErrorMessage}``; every later call
  carries ``Authorization: Basic base64("<SessionToken>|<username>")``. ``/api/pos/session/signout`` ends it.
* Every answer is ``{"StatusCode", "ResponseMessage", "TotalRecords", "Results"}``; a ``StatusCode`` other
  than 200 is an error, whatever the HTTP status.
* Field encryption (``PayrollEncoder``): PBKDF2-HMAC-SHA1 (password = the API key, salt = the UTF-8 username,
  1000 iterations, 48 bytes: the AES-256 key then the IV), AES-256-CBC with PKCS#7 padding, base64. Encrypted
  on the wire: ``Password``, ``ClientCode``, ``FederalEin``, ``LastName``, ``SSN``, ``Address1``, ``ZipCode``,
  ``BirthDate``, ``HourlyRate``, ``PerPaySalary``. The SDKs read an employee's SSN and birth date back as
  ``Ssn`` and ``BirthDay``; both spellings are read here.
* Enumerations go as the SDKs' codes (``EmploymentStatus`` ``A``/``I``/``T``, ``PayTypeCode`` ``H``/``S``/...).
* Dates go as ``MM/dd/yyyy`` (the SDK's ``TerminationDate`` format; it sends ``HireDate`` in ISO form, which
  the service also reads). Dates read back are accepted in either form.

Ids are strings on hl365's side (``EmployeeId`` is an integer on the wire): they are stored and compared as
the opaque keys they are.

Personal data stays out of sight: ``PayrollEmployee`` never shows an SSN (last four at most), a birth date,
an address or a pay rate in its ``repr``; nothing here logs a request or an answer body; and an error's text
has SSN-shaped numbers masked before it is kept. The API has no bank-account fields (direct deposit is only
deactivated, on termination), so none can leak.

Not the official SDK: there is none for Python.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, Literal

import httpx
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from shared.errors import ApiError, ConfigError, PermanentApiError, TransientApiError
from shared.heartland.payroll_models import (
    EmploymentCategory,
    EmploymentStatus,
    Gender,
    LaborField,
    MaritalStatus,
    PayData,
    PayGroup,
    PayItem,
    PayrollClientInfo,
    PayrollEmployee,
    PayTypeCode,
    TerminationReason,
    WorkLocation,
)
from shared.httpclient import Action, ApiClient, RetryPolicy

log = logging.getLogger("hl365.payroll")

SOURCE = "payroll"
TEST_URL = "https://taapi.heartlandpayrollonlinetest.com/PosWebUI/Test/Test"
PRODUCTION_URL = "https://taapi.heartlandpayrollonlinetest.com/PosWebUI"
"""The SDKs' "production" constant; it points at the ``onlinetest`` host and looks like a placeholder (§3)."""
SIGN_IN = "/api/pos/session/signin"
SIGN_OUT = "/api/pos/session/signout"
ITERATIONS = 1000
ENCRYPTED = frozenset({"Password", "ClientCode", "FederalEin", "LastName", "SSN", "Ssn", "Address1", "ZipCode",
                       "BirthDate", "BirthDay", "HourlyRate", "PerPaySalary"})
WIRE_DATE = "%m/%d/%Y"
_SSN_SHAPED = re.compile(r"(?<!\d)\d{3}([- ]?)\d{2}\1(\d{4})(?!\d)")
_ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:[T ].*)?")


# Encryption -------------------------------------------------------------------------------------------------------


class PayrollDecodeError(ValueError):
    """A value that does not decrypt with this username and API key (wrong key, or never encrypted)."""


class PayrollEncoder:
    """The SDKs' ``PayrollEncoder``: AES-256-CBC under a key and IV derived from the API key and the username.

    The IV is fixed per (username, API key), as the SDKs derive it: equal values encrypt equally.
    """

    def __init__(self, username: str, api_key: str) -> None:
        if not username or not api_key:
            raise ValueError("the payroll encoder needs both the username and the API key")
        material = hashlib.pbkdf2_hmac("sha1", api_key.encode("utf-8"), username.encode("utf-8"), ITERATIONS, 48)
        self._key, self._iv = material[:32], material[32:48]

    def __repr__(self) -> str:
        return "PayrollEncoder(<key hidden>)"

    def encode(self, text: str) -> str:
        """``text`` encrypted and base64-encoded, as the service expects an encrypted field."""
        padder = padding.PKCS7(128).padder()
        data = padder.update(text.encode("utf-8")) + padder.finalize()
        encryptor = Cipher(algorithms.AES(self._key), modes.CBC(self._iv)).encryptor()
        return base64.b64encode(encryptor.update(data) + encryptor.finalize()).decode("ascii")

    def decode(self, text: str) -> str:
        """The clear text of an encrypted field.

        Raises:
            PayrollDecodeError: not base64, not whole AES blocks, bad padding or not UTF-8 (never says the value).
        """
        try:
            raw = base64.b64decode(text.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError):
            raise PayrollDecodeError("the value is not base64") from None
        if not raw or len(raw) % 16:
            raise PayrollDecodeError("the value is not whole AES blocks")
        decryptor = Cipher(algorithms.AES(self._key), modes.CBC(self._iv)).decryptor()
        unpadder = padding.PKCS7(128).unpadder()
        try:
            clear = unpadder.update(decryptor.update(raw) + decryptor.finalize()) + unpadder.finalize()
            return clear.decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            raise PayrollDecodeError("the value does not decrypt with this username and API key") from None


# The client -------------------------------------------------------------------------------------------------------


def _scrub(text: str) -> str:
    """``text`` with every SSN-shaped number masked to its last four."""
    return _SSN_SHAPED.sub(lambda m: f"***-**-{m.group(2)}", text)


def _read(response: httpx.Response) -> Any:
    try:
        return json.loads(response.content, parse_float=Decimal)
    except ValueError:
        return None


def describe_payroll_error(response: httpx.Response) -> str:
    """``StatusCode 400: <ResponseMessage>`` from the envelope, else the status line; SSN-shaped numbers masked."""
    document = _read(response)
    if isinstance(document, dict) and (document.get("ResponseMessage") or document.get("ErrorMessage")):
        message = str(document.get("ResponseMessage") or document.get("ErrorMessage"))
        return _scrub(f"StatusCode {document.get('StatusCode', response.status_code)}: {message[:500]}")
    return f"HTTP {response.status_code} {response.reason_phrase}"


def _status_error(status: int, description: str) -> ApiError:
    """Throttling and the service's own failures are worth retrying later; anything else is not."""
    if status == 429 or status >= 500:
        return TransientApiError(f"Payroll{status}", description, source=SOURCE, status=status)
    return PermanentApiError(f"Payroll{status}", description, source=SOURCE, status=status)


def _wire_date(value: date) -> str:
    return value.strftime(WIRE_DATE)


def _parse_date(name: str, value: Any) -> date | None:
    if value in (None, ""):
        return None
    text = str(value).strip()
    try:
        found = _ISO_DATE.fullmatch(text)
        if found:
            return date(int(found.group(1)), int(found.group(2)), int(found.group(3)))
        return datetime.strptime(text.split(" ")[0], WIRE_DATE).date()
    except ValueError:
        raise _unexpected(f"{name} is not a date") from None


def _wire_id(employee_id: str | int) -> int:
    text = str(employee_id).strip()
    if not text.isdigit():
        raise ValueError("a payroll EmployeeId is a number")
    return int(text)


def _unexpected(description: str) -> PermanentApiError:
    return PermanentApiError("PayrollUnexpectedResponse", description, source=SOURCE)


def _int(name: str, value: Any) -> int | None:
    if value in (None, ""):
        return None
    try:
        return int(str(value))
    except ValueError:
        raise _unexpected(f"{name} is not an integer") from None


def _code(kind: type[StrEnum], name: str, value: Any) -> Any:
    if value in (None, ""):
        return None
    try:
        return kind(str(value))
    except ValueError:
        raise _unexpected(f"{name} {str(value)[:8]!r} is not one of {', '.join(kind)}") from None


class HeartlandPayrollClient:
    """One payroll user's session with the partner API, for one client (employer) unless only ``clients`` is used.

    Signs in on the first call, signs in again once when the session is refused (HTTP 401, or ``StatusCode``
    401 in a 200 answer: an expired session), and signs out on ``close``.

    Args:
        base_url: the API root, e.g. ``TEST_URL`` (its path is kept: ``/PosWebUI/Test/Test/api/pos/...``).
        username, password, api_key: the Heartland-issued API user; the API key is also the encryption secret.
        client_code: the payroll client every employee, lookup and pay-data call is for.
        transport, retry, timeout, sleep: as ``ApiClient`` takes them (tests).

    Raises (every call):
        PermanentApiError: refused (``StatusCode`` 4xx; validation, an unknown id, sign-in refused).
        TransientApiError: throttled or failing (429, 5xx) after the retry budget, or unreachable.
        UncertainOutcome: a write's answer was lost; it may have been applied.
    """

    def __init__(
        self,
        base_url: str,
        *,
        username: str,
        password: str,
        api_key: str,
        client_code: str | None = None,
        transport: httpx.BaseTransport | None = None,
        retry: RetryPolicy | None = None,
        timeout: httpx.Timeout | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not password:
            raise ValueError("the payroll API user's password is required")
        self._username = username
        self._password = password
        self._encoder = PayrollEncoder(username, api_key)
        self.client_code = client_code
        options: dict[str, Any] = {"transport": transport, "sleep": sleep, "retry": retry or RetryPolicy(),
                                   "headers": {"Accept": "application/json"}, "describe_error": describe_payroll_error}
        if timeout is not None:
            options["timeout"] = timeout
        self._api = ApiClient(SOURCE, base_url, auth=self._auth, **options)
        self._session_api = ApiClient(SOURCE, base_url, policy={401: Action.FAIL, 403: Action.FAIL}, **options)
        self._token: str | None = None
        self._lock = threading.Lock()
        self.sign_ins = 0

    def __enter__(self) -> HeartlandPayrollClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def requests_sent(self) -> int:
        return self._api.requests_sent + self._session_api.requests_sent

    def close(self) -> None:
        """Sign out (best effort: a session that cannot be ended expires on its own), then close the connections."""
        with self._lock:
            token, self._token = self._token, None
        if token is not None:
            try:
                self._session_api.request("POST", SIGN_OUT, headers=self._basic(token), read_only=True)
            except ApiError as error:
                log.info("payroll sign-out failed (%s); the session will expire on its own", error.reason)
        self._api.close()
        self._session_api.close()

    # Session ----------------------------------------------------------------------------------------------------

    def _basic(self, token: str) -> dict[str, str]:
        credentials = base64.b64encode(f"{token}|{self._username}".encode()).decode("ascii")
        return {"Authorization": f"Basic {credentials}"}

    def _auth(self, refresh: bool) -> Mapping[str, str]:
        """The ``auth`` hook of ApiClient: the session's header, signing in first when there is none or when
        the service refused the last one."""
        with self._lock:
            if refresh or self._token is None:
                self._token = self._sign_in()
            return self._basic(self._token)

    def _sign_in(self) -> str:
        body = {"Username": self._username, "Password": self._encoder.encode(self._password)}
        hint = "; check the payroll username, password and API key"
        try:
            response = self._session_api.request("POST", SIGN_IN, json=body, read_only=True)
            results = self._envelope(response, "signin")
        except PermanentApiError as error:
            raise PermanentApiError("PayrollSignIn", error.description + hint, source=SOURCE, status=error.status,
                                    request_id=error.request_id) from None
        first = results[0] if results and isinstance(results[0], dict) else {}
        token, problem = first.get("SessionToken"), first.get("ErrorMessage")
        if problem or not token:
            raise PermanentApiError("PayrollSignIn", _scrub(str(problem or "no SessionToken in the answer")) + hint,
                                    source=SOURCE)
        self.sign_ins += 1
        log.info("payroll: signed in (sign-in %d)", self.sign_ins)
        return str(token)

    # Plumbing ---------------------------------------------------------------------------------------------------

    def _envelope(self, response: httpx.Response, name: str) -> list[Any]:
        document = _read(response)
        if not isinstance(document, dict) or "StatusCode" not in document:
            raise _unexpected(f"{name}: the answer is not the payroll envelope")
        status = _int("StatusCode", document["StatusCode"]) or 0
        if status != 200:
            message = _scrub(str(document.get("ResponseMessage") or "no ResponseMessage")[:500])
            raise _status_error(status, f"{name}: StatusCode {status}: {message}")
        results = document.get("Results")
        return results if isinstance(results, list) else []

    def _call(self, path: str, body: Any, *, read_only: bool = False) -> list[Any]:
        """POST ``body`` and return the envelope's ``Results``; a session refused inside a 200 answer is renewed
        once, as a 401 is by ApiClient."""
        name = path.rsplit("/", 1)[-1]
        for attempt in (1, 2):
            try:
                response = self._api.request("POST", path, json=body, read_only=read_only)
                results = self._envelope(response, name)
            except ApiError as error:
                if error.status == 401 and attempt == 1 and error.reason == "Payroll401":
                    self._auth(True)
                    continue
                if error.body:
                    error.body = _scrub(error.body)
                raise
            log.info("payroll %s: %d record(s)", name, len(results))
            return results
        raise AssertionError("unreachable")  # pragma: no cover

    def _client_code(self, given: str | None = None) -> str:
        code = given or self.client_code
        if not code:
            raise ConfigError("the payroll client needs a client_code (the employer's ClientCode) for this call")
        return code

    def _encrypted(self, value: str | None) -> str | None:
        return None if value in (None, "") else self._encoder.encode(str(value))

    def _decrypted(self, name: str, value: Any) -> str | None:
        if value in (None, ""):
            return None
        try:
            return self._encoder.decode(str(value))
        except PayrollDecodeError:
            raise _unexpected(f"{name} in the answer does not decrypt with the configured API key") from None

    # Clients and lookups ----------------------------------------------------------------------------------------

    def clients(self, federal_ein: str | int) -> list[PayrollClientInfo]:
        """The payroll clients filed under a federal EIN (``12-3456789`` or its nine digits)."""
        digits = re.sub(r"[\s-]", "", str(federal_ein))
        if not re.fullmatch(r"\d{9}", digits):
            raise ValueError("a federal EIN is nine digits")
        rows = self._call("/api/pos/client/getclients", {"FederalEin": self._encoder.encode(str(int(digits)))},
                          read_only=True)
        found = []
        for row in rows:
            ein = self._decrypted("FederalEin", row.get("FederalEin")) or ""
            found.append(PayrollClientInfo(self._decrypted("ClientCode", row.get("ClientCode")) or "",
                                           str(row.get("ClientName") or ""), ein.zfill(9) if ein.isdigit() else ein))
        return found

    def _lookup(self, path: str) -> list[dict[str, Any]]:
        rows = self._call(path, {"ClientCode": self._encoder.encode(self._client_code())}, read_only=True)
        return [row for row in rows if isinstance(row, dict)]

    def termination_reasons(self) -> list[TerminationReason]:
        return [TerminationReason(_int("TerminationReasonId", r.get("TerminationReasonId")) or 0,
                                  str(r.get("ReasonDescription") or ""))
                for r in self._lookup("/api/pos/termination/GetTerminationReasons")]

    def work_locations(self) -> list[WorkLocation]:
        return [WorkLocation(_int("WorkLocationId", r.get("WorkLocationId")) or 0,
                             str(r.get("WorkLocationDescription") or ""))
                for r in self._lookup("/api/pos/worklocation/GetWorkLocations")]

    def pay_groups(self) -> list[PayGroup]:
        return [PayGroup(_int("PayGroupId", r.get("PayGroupId")) or 0, str(r.get("PayGroupName") or ""),
                         _int("PayFrequency", r.get("PayFrequency")))
                for r in self._lookup("/api/pos/payGroup/GetPayGroups")]

    def labor_fields(self) -> list[LaborField]:
        found = []
        for r in self._lookup("/api/pos/laborField/GetLaborFields"):
            values = tuple((str(v.get("laborFieldValue") or ""), str(v.get("laborFieldDescription") or ""))
                           for v in r.get("laborfieldLookups") or [] if isinstance(v, dict))
            found.append(LaborField(str(r.get("LaborFieldId") or ""),
                                    str(r.get("LaborFieldValue") or r.get("LaborFieldTitle") or ""), values))
        return found

    def pay_items(self) -> list[PayItem]:
        """The pay items (earning codes) whose ``PayItemTitle`` a ``PayData`` line names."""
        return [PayItem(str(r.get("PayCode") or ""), str(r.get("PayItemTitle") or ""))
                for r in self._lookup("/api/pos/payItem/GetPayItems")]

    # Employees --------------------------------------------------------------------------------------------------

    def employees(self, *, active_only: bool = False, pay_type: Literal["H", "1099"] | None = None
                  ) -> list[PayrollEmployee]:
        """The client's employees (``ActiveEmployeeOnly``; ``PayTypeCode`` filter ``H`` hourly or ``1099``)."""
        body: dict[str, Any] = {"ClientCode": self._encoder.encode(self._client_code()),
                                "ActiveEmployeeOnly": active_only}
        if pay_type is not None:
            body["PayTypeCode"] = pay_type
        rows = self._call("/api/pos/employee/GetEmployees", body, read_only=True)
        return [self._employee(row) for row in rows if isinstance(row, dict)]

    def employee(self, employee_id: str | int) -> PayrollEmployee | None:
        """One employee by ``EmployeeId``; None when the client has none by that id."""
        body = {"ClientCode": self._encoder.encode(self._client_code()), "EmployeeId": _wire_id(employee_id)}
        try:
            rows = self._call("/api/pos/employee/GetEmployee", body, read_only=True)
        except PermanentApiError as error:
            if error.status == 404:
                return None
            raise
        return self._employee(rows[0]) if rows and isinstance(rows[0], dict) else None

    def add_employee(self, employee: PayrollEmployee) -> str:
        """Hire ``employee``; returns the ``EmployeeId`` payroll gave it.

        Raises:
            UncertainOutcome: the answer was lost; look the employee up by number before adding again.
        """
        if employee.employee_id is not None:
            raise ValueError("a new employee has no EmployeeId yet; use update_employee")
        rows = self._call("/api/pos/employee/AddEmployee", self._wire(employee))
        if not rows or not isinstance(rows[0], dict) or rows[0].get("EmployeeId") in (None, ""):
            raise _unexpected("AddEmployee answered no EmployeeId")
        employee_id = str(rows[0]["EmployeeId"])
        log.info("payroll AddEmployee: employee %s (number %s) added", employee_id,
                 rows[0].get("EmployeeNumber") or employee.employee_number)
        return employee_id

    def update_employee(self, employee: PayrollEmployee) -> PayrollEmployee:
        """Change an employee (``employee_id`` set); fields left None are not sent, so payroll keeps them."""
        if employee.employee_id is None:
            raise ValueError("update_employee needs the employee's EmployeeId")
        rows = self._call("/api/pos/employee/UpdateEmployee", self._wire(employee))
        if rows and isinstance(rows[0], dict):
            return self._employee(rows[0])
        found = self.employee(employee.employee_id)
        if found is None:
            raise _unexpected(f"employee {employee.employee_id} is gone after its update")
        return found

    def terminate_employee(self, employee_id: str | int, termination_date: date, reason_id: int,
                           inactivate_direct_deposit: bool = True) -> PayrollEmployee:
        """Terminate an employee as of ``termination_date`` for ``reason_id`` (``termination_reasons``)."""
        body = {"ClientCode": self._encoder.encode(self._client_code()), "EmployeeId": _wire_id(employee_id),
                "TerminationDate": _wire_date(termination_date), "TerminationReasonId": int(reason_id),
                "InactivateDirectDepositAccounts": 1 if inactivate_direct_deposit else 0}
        rows = self._call("/api/pos/employee/TerminateEmployee", body)
        if rows and isinstance(rows[0], dict):
            return self._employee(rows[0])
        found = self.employee(employee_id)
        if found is None:
            raise _unexpected(f"employee {employee_id} is gone after its termination")
        return found

    def post_pay_data(self, records: Sequence[PayData]) -> int:
        """Post hours and earnings (time-clock input, not payroll results); returns the records accepted.

        Raises:
            UncertainOutcome: the answer was lost; the simulator takes a repost of the same ``RecordId`` with the
                same values as a replay, the real service's behaviour is unverified.
        """
        if not records:
            raise ValueError("post_pay_data needs at least one record")
        ids = [r.record_id for r in records]
        if len(set(ids)) != len(ids):
            raise ValueError("pay data record ids must be unique within a post")

        def amount(value: Decimal | None) -> str | None:
            return None if value is None else f"{value:f}"

        body = [{key: value for key, value in {
            "RecordId": r.record_id, "ClientCode": self._encoder.encode(self._client_code(r.client_code)),
            "EmployeeId": _wire_id(r.employee_id), "PayItemTitle": r.pay_item_title, "Hours": amount(r.hours),
            "Dollars": amount(r.dollars), "PayRate": amount(r.pay_rate)}.items() if value is not None}
            for r in records]
        self._call("/api/pos/timeclock/PostPayData", body)
        return len(records)

    # Wire mapping -----------------------------------------------------------------------------------------------

    def _wire(self, e: PayrollEmployee) -> dict[str, Any]:
        """The employee as ``AddEmployee``/``UpdateEmployee`` take it, in the SDK's field order; None left out."""
        enc = self._encrypted
        fields: dict[str, Any] = {
            "ClientCode": self._encoder.encode(self._client_code()),
            "EmployeeId": None if e.employee_id is None else _wire_id(e.employee_id),
            "EmploymentStatus": e.employment_status,
            "HireDate": None if e.hire_date is None else _wire_date(e.hire_date),
            "EmployeeNumber": e.employee_number, "EmploymentCategory": e.employment_category,
            "TimeClockId": e.time_clock_id, "FirstName": e.first_name, "LastName": enc(e.last_name),
            "MiddleName": e.middle_name, "SSN": enc(e.ssn), "Address1": enc(e.address1),
            "Address2": e.address2, "City": e.city, "StateCode": e.state_code, "ZipCode": enc(e.zip_code),
            "MaritalStatus": e.marital_status,
            "BirthDate": enc(None if e.birth_date is None else _wire_date(e.birth_date)),
            "Gender": e.gender, "PayGroupId": e.pay_group_id, "PayTypeCode": e.pay_type_code,
            "HourlyRate": enc(None if e.hourly_rate is None else f"{e.hourly_rate:f}"),
            "PerPaySalary": enc(None if e.per_pay_salary is None else f"{e.per_pay_salary:f}"),
            "WorkLocationId": e.work_location_id,
        }
        return {key: str(value) if isinstance(value, StrEnum) else value
                for key, value in fields.items() if value is not None}

    def _employee(self, row: Mapping[str, Any]) -> PayrollEmployee:
        """An employee as ``GetEmployee(s)`` answer it (``Ssn``/``BirthDay``, or ``SSN``/``BirthDate``)."""
        dec = self._decrypted

        def rate(name: str) -> Decimal | None:
            text = dec(name, row.get(name))
            try:
                return None if text is None else Decimal(text)
            except InvalidOperation:
                raise _unexpected(f"{name} in the answer is not a number") from None

        ssn_key = "Ssn" if "Ssn" in row else "SSN"
        birth_key = "BirthDay" if "BirthDay" in row else "BirthDate"
        try:
            return PayrollEmployee(
                employee_id=None if row.get("EmployeeId") in (None, "") else str(row["EmployeeId"]),
                employee_number=None if row.get("EmployeeNumber") in (None, "") else str(row["EmployeeNumber"]),
                first_name=str(row.get("FirstName") or ""), last_name=dec("LastName", row.get("LastName")) or "",
                middle_name=row.get("MiddleName") or None, ssn=dec("SSN", row.get(ssn_key)),
                address1=dec("Address1", row.get("Address1")), address2=row.get("Address2") or None,
                city=row.get("City") or None, state_code=row.get("StateCode") or None,
                zip_code=dec("ZipCode", row.get("ZipCode")),
                birth_date=_parse_date("BirthDate", dec("BirthDate", row.get(birth_key))),
                hire_date=_parse_date("HireDate", row.get("HireDate")),
                termination_date=_parse_date("TerminationDate", row.get("TerminationDate")),
                termination_reason_id=_int("TerminationReasonId", row.get("TerminationReasonId")),
                gender=_code(Gender, "Gender", row.get("Gender")),
                marital_status=_code(MaritalStatus, "MaritalStatus", row.get("MaritalStatus")),
                employment_status=_code(EmploymentStatus, "EmploymentStatus", row.get("EmploymentStatus")),
                employment_category=_code(EmploymentCategory, "EmploymentCategory", row.get("EmploymentCategory")),
                pay_type_code=_code(PayTypeCode, "PayTypeCode", row.get("PayTypeCode")),
                pay_group_id=_int("PayGroupId", row.get("PayGroupId")),
                work_location_id=_int("WorkLocationId", row.get("WorkLocationId")),
                time_clock_id=_int("TimeClockId", row.get("TimeClockId")),
                hourly_rate=rate("HourlyRate"), per_pay_salary=rate("PerPaySalary"))
        except ValueError as error:  # the SSN check; its message never holds the value
            raise _unexpected(f"employee {row.get('EmployeeId')}: {error}") from None
