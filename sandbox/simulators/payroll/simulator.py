"""``PayrollSimulator``: the ``PosWebUI`` partner API on the wire (the envelope, sessions, Basic authentication,
field encryption both ways), its seeded client, its Python-side scenario API and its ground truth."""

from __future__ import annotations

import base64
import binascii
import hmac
import random
import threading
from collections import Counter
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from sandbox.simulators.base import Clock
from sandbox.simulators.ids import derived_id
from sandbox.simulators.jsonio import loads
from sandbox.simulators.payroll.book import PayrollBook, Record
from sandbox.simulators.payroll.crypto import FieldCipher, Undecryptable
from sandbox.simulators.payroll.fields import ENCRYPTED_IN, ENCRYPTED_OUT, Refused, canonical, integer, text

DEFAULT_USERNAME = "hl365.payroll.api"
DEFAULT_PASSWORD = "hl365-local-payroll"  # noqa: S105 - the sandbox's published default
DEFAULT_API_KEY = "aGwzNjVMb2NhbFBheXJvbGxBcGlLZXkhIQ=="
"""Shaped like the SDK test suite's key (a base64 string); the sandbox's published default, nothing real."""
DEFAULT_CLIENT_CODE = "0140HL65"
DEFAULT_CLIENT_NAME = "hl365 Demo Restaurants LLC"
DEFAULT_FEDERAL_EIN = "571234567"
AT_REST = ("hl365-payroll-simulator", "at-rest-key-of-the-sandbox-payroll-book")
"""The (username, key) the book stores SSNs and birth dates under: not the API user's key."""
PAY_ITEMS = (("01", "Regular"), ("02", "Overtime"), ("61", "Cash Tips"), ("62", "Charged Tips"))
"""Earning codes as POS time-clock exports use them (reference §3: ``01``/``02`` hours, ``61``/``62`` tips)."""
UNAUTHORIZED = "Authorization has been denied for this request."
"""ASP.NET Web API's own 401 text, which a ``PosWebUI`` service answers with (unverified for this service)."""
_FIRST = ("Ana", "Luis", "Mei", "Grace", "Omar", "Priya", "Tom", "Zoe")
_LAST = ("Ruiz", "Okafor", "Chen", "Hopper", "Haddad", "Natarajan", "Novak", "Kowalski")


class PayrollSimulator:
    """Heartland Payroll's partner API and the payroll system behind it.

    Args:
        seed: makes the seeded employees and session tokens reproducible.
        users: username → (password, API key) of the API users; default ``DEFAULT_USERNAME``'s.
        session_minutes: idle minutes after which a session token is refused (each use renews it).
        employees: how many employees to seed into the default client.
        errors_in_body: answer refusals with HTTP 200 and the error only in ``StatusCode`` (the envelope lets a
            service do either; by default the HTTP status is the ``StatusCode``).
        defaults: seed the default client with its lookups (pay groups, work locations, termination reasons,
            labor fields, pay items).
        clock: the service's clock (``advance`` it to expire sessions).
    """

    name = "payroll"

    def __init__(self, *, seed: int = 0, users: dict[str, tuple[str, str]] | None = None,
                 session_minutes: float = 20.0, employees: int = 3, errors_in_body: bool = False,
                 defaults: bool = True, clock: Clock | None = None) -> None:
        self.seed = seed
        self.users = dict(users or {DEFAULT_USERNAME: (DEFAULT_PASSWORD, DEFAULT_API_KEY)})
        self.session_ttl = timedelta(minutes=session_minutes)
        self.errors_in_body = errors_in_body
        self.clock = clock or Clock()
        self.book = PayrollBook(FieldCipher(*AT_REST), self.clock.now)
        self.events: Counter[str] = Counter()
        self._ciphers = {name: FieldCipher(name, key) for name, (_, key) in self.users.items()}
        self._sessions: dict[str, dict[str, Any]] = {}
        self._rng = random.Random(f"payroll:{seed}")
        self._lock = threading.RLock()
        self._endpoints: dict[str, Callable[[FieldCipher, Any], list[Any]]] = {
            "client/getclients": self._get_clients,
            "employee/getemployees": self._get_employees,
            "employee/getemployee": self._get_employee,
            "employee/addemployee": self._add_employee,
            "employee/updateemployee": self._update_employee,
            "employee/terminateemployee": self._terminate_employee,
            "termination/getterminationreasons": self._lookup("termination_reasons"),
            "worklocation/getworklocations": self._lookup("work_locations"),
            "laborfield/getlaborfields": self._lookup("labor_fields"),
            "paygroup/getpaygroups": self._lookup("pay_groups"),
            "payitem/getpayitems": self._lookup("pay_items"),
            "timeclock/postpaydata": self._post_pay_data,
        }
        if defaults:
            self._seed_default_client(employees)

    def _seed_default_client(self, employees: int) -> None:
        code = DEFAULT_CLIENT_CODE
        self.add_client(code, DEFAULT_CLIENT_NAME, DEFAULT_FEDERAL_EIN)
        self.add_pay_group("Bi-Weekly Hourly", 26)
        self.add_pay_group("Weekly", 52)
        self.add_work_location("Main Street")
        self.add_work_location("Airport Concourse B")
        for reason in ("Voluntary resignation", "Involuntary - performance", "Job abandonment", "Seasonal end"):
            self.add_termination_reason(reason)
        self.add_labor_field("Department", [("FOH", "Front of house"), ("BOH", "Back of house")])
        for pay_code, title in PAY_ITEMS:
            self.add_pay_item(pay_code, title)
        rng = random.Random(f"payroll-employees:{self.seed}")
        groups = [g["PayGroupId"] for g in self.book.lookups[code]["pay_groups"]]
        locations = [w["WorkLocationId"] for w in self.book.lookups[code]["work_locations"]]
        taken: set[str] = set()
        for n in range(employees):
            hourly = n % 3 != 2
            self.hire(FirstName=_FIRST[n % len(_FIRST)], LastName=_LAST[(n * 3) % len(_LAST)],
                      SSN=_unissued_ssn(rng.randrange(10**8), taken),
                      BirthDate=date(1970 + rng.randrange(30), 1 + rng.randrange(12), 1 + rng.randrange(28)),
                      HireDate=date(2018 + rng.randrange(6), 1 + rng.randrange(12), 1 + rng.randrange(28)),
                      PayGroupId=groups[0] if hourly else groups[1], WorkLocationId=locations[n % len(locations)],
                      PayTypeCode="H" if hourly else "S", EmploymentCategory="FT" if n % 2 == 0 else "PT",
                      HourlyRate=Decimal(1200 + rng.randrange(1300)) / 100 if hourly else None,
                      PerPaySalary=None if hourly else Decimal(150_000 + rng.randrange(150_000)) / 100,
                      TimeClockId=100 + n, Gender="F" if n % 2 == 0 else "M", MaritalStatus="S",
                      Address1=f"{100 + n} Main St", City="Springfield", StateCode="IL", ZipCode="62701")

    # Scenario API -----------------------------------------------------------------------------------------------

    def add_client(self, client_code: str, client_name: str, federal_ein: str) -> Record:
        with self._lock:
            return self.book.add_client(client_code, client_name, federal_ein)

    def add_pay_group(self, name: str, frequency: int = 26, *, client_code: str = DEFAULT_CLIENT_CODE) -> Record:
        """A pay group; ``frequency`` is pay periods a year (52, 26, 24, 12, 4, 1)."""
        with self._lock:
            return self.book.add_lookup(client_code, "pay_groups", {"PayGroupName": name, "PayFrequency": frequency})

    def add_work_location(self, description: str, *, client_code: str = DEFAULT_CLIENT_CODE) -> Record:
        with self._lock:
            return self.book.add_lookup(client_code, "work_locations", {"WorkLocationDescription": description})

    def add_termination_reason(self, description: str, *, client_code: str = DEFAULT_CLIENT_CODE) -> Record:
        with self._lock:
            return self.book.add_lookup(client_code, "termination_reasons", {"ReasonDescription": description})

    def add_labor_field(self, title: str, values: list[tuple[str, str]], *,
                        client_code: str = DEFAULT_CLIENT_CODE) -> Record:
        """A labor field and its lookup values ``(value, description)``, in the SDK's spelling of the answer."""
        lookups = [{"laborFieldValue": v, "laborFieldDescription": d} for v, d in values]
        with self._lock:
            return self.book.add_lookup(client_code, "labor_fields",
                                        {"LaborFieldTitle": title, "laborfieldLookups": lookups})

    def add_pay_item(self, pay_code: str, title: str, *, client_code: str = DEFAULT_CLIENT_CODE) -> Record:
        with self._lock:
            return self.book.add_lookup(client_code, "pay_items", {"PayCode": pay_code, "PayItemTitle": title})

    def hire(self, *, client_code: str = DEFAULT_CLIENT_CODE, **fields: Any) -> Record:
        """Add an employee straight into the book (clear values, the API's field names), as the payroll UI
        would; returns the stored record (SSN and birth date encrypted at rest)."""
        body = {k: (v.strftime("%m/%d/%Y") if isinstance(v, date) else f"{v:f}" if isinstance(v, Decimal) else v)
                for k, v in fields.items()}
        with self._lock:
            return dict(self.book.add_employee({**body, "ClientCode": client_code}))

    def employee_record(self, employee_number: str, *, client_code: str = DEFAULT_CLIENT_CODE) -> Record | None:
        """Ground truth for tests: the employee with this number in clear (SSN, birth date and all), plus
        ``DirectDepositInactive``; None when there is none."""
        with self._lock:
            for record in self.book.employees.values():
                if record["ClientCode"] == client_code and record["EmployeeNumber"] == employee_number:
                    return {**self.book.reveal(record), "DirectDepositInactive": record["DirectDepositInactive"]}
            return None

    def pay_data(self, client_code: str = DEFAULT_CLIENT_CODE) -> list[Record]:
        with self._lock:
            return [dict(row) for row in self.book.pay_data if row["ClientCode"] == client_code]

    def cipher(self, username: str = DEFAULT_USERNAME) -> FieldCipher:
        """The service's cipher for one API user, for tests that write requests by hand."""
        return self._ciphers[username]

    @property
    def active_sessions(self) -> int:
        with self._lock:
            now = self.clock.now()
            return sum(1 for s in self._sessions.values() if s["expires"] > now)

    # The wire ---------------------------------------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        return [Route("/api/pos/{endpoint:path}", self._handle, methods=["POST"]),
                Route("/{prefix:path}/api/pos/{endpoint:path}", self._handle, methods=["POST"])]

    def fault_answer(self, status: int, retry_after: float) -> tuple[dict[str, Any], dict[str, str]]:
        """The envelope with the status in ``StatusCode``; ``Retry-After`` with 429 and 503."""
        message = "Too many requests; try again later." if status == 429 else "The service is unavailable."
        headers = {"Retry-After": str(max(1, round(retry_after)))} if status in (429, 503) else {}
        return {"StatusCode": status, "ResponseMessage": message, "TotalRecords": 0, "Results": None}, headers

    def _answer(self, status: int, message: str, results: list[Any] | None) -> Response:
        body = {"StatusCode": status, "ResponseMessage": message, "TotalRecords": len(results or []),
                "Results": results}
        return JSONResponse(body, 200 if self.errors_in_body else status)

    async def _handle(self, request: Request) -> Response:
        endpoint = request.path_params["endpoint"].strip("/").lower()
        raw = await request.body()
        try:
            body = loads(raw) if raw.strip() else None
        except ValueError:
            return self._answer(400, "The request body is not JSON.", None)
        with self._lock:
            try:
                if endpoint == "session/signin":
                    return self._sign_in(body)
                handler = self._endpoints.get(endpoint)
                if handler is None and endpoint != "session/signout":
                    raise Refused(f"No HTTP resource was found that matches the request URI ({endpoint}).", 404)
                token, cipher = self._session(request)
                if handler is None:
                    del self._sessions[token]
                    results: list[Any] = []
                else:
                    results = handler(cipher, body)
            except Refused as refused:
                self.events[f"refused:{refused.status}"] += 1
                return self._answer(refused.status, refused.message, None)
            self.events[endpoint] += 1
            return self._answer(200, "Success", results)

    def _clear(self, cipher: FieldCipher, body: Any) -> dict[str, Any]:
        """The request object with its encrypted fields decrypted; a field that does not decrypt is refused."""
        if not isinstance(body, dict):
            raise Refused("The request body must be a JSON object.")
        fields = canonical(body)
        for name in ENCRYPTED_IN:
            value = fields.get(name)
            if value is None or value == "":
                continue
            try:
                fields[name] = cipher.decrypt(value)
            except Undecryptable:
                self.events["undecryptable"] += 1
                raise Refused(f"{name} could not be decrypted: encrypt it with the API key and username") from None
        return fields

    @staticmethod
    def _sealed(cipher: FieldCipher, row: Record) -> Record:
        return {k: cipher.encrypt(str(v)) if k in ENCRYPTED_OUT and v not in (None, "") else v
                for k, v in row.items()}

    # Sessions ---------------------------------------------------------------------------------------------------

    def _sign_in(self, body: Any) -> Response:
        fields = canonical(body) if isinstance(body, dict) else {}
        username = text(fields, "Username", limit=100)
        if username is None or fields.get("Password") in (None, ""):
            return self._refuse_sign_in(400, "Username and Password are required.")
        if username not in self.users:
            return self._refuse_sign_in(401, "Invalid username or password.")
        try:
            password = self._ciphers[username].decrypt(fields["Password"])
        except Undecryptable:
            self.events["undecryptable"] += 1
            return self._refuse_sign_in(400, "Password could not be decrypted: encrypt it with the API key and "
                                             "username")
        if not hmac.compare_digest(password.encode(), self.users[username][0].encode()):
            return self._refuse_sign_in(401, "Invalid username or password.")
        token = derived_id(f"{self.seed}:{self._rng.random()}", 32)
        self._sessions[token] = {"username": username, "expires": self.clock.now() + self.session_ttl}
        self.events["sign_ins"] += 1
        return self._answer(200, "Success", [{"SessionToken": token, "ErrorMessage": None}])

    def _refuse_sign_in(self, status: int, message: str) -> Response:
        self.events["sign_in_refused"] += 1
        body = {"StatusCode": status, "ResponseMessage": message, "TotalRecords": 1,
                "Results": [{"SessionToken": None, "ErrorMessage": message}]}
        return JSONResponse(body, 200 if self.errors_in_body else status)

    def _session(self, request: Request) -> tuple[str, FieldCipher]:
        """The token and the user's cipher of the live session ``Authorization: Basic base64(token|username)``
        names; each use renews it."""
        scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic" or not credentials:
            raise Refused(UNAUTHORIZED, 401)
        try:
            token, _, username = base64.b64decode(credentials, validate=True).decode().partition("|")
        except (binascii.Error, UnicodeDecodeError):
            raise Refused(UNAUTHORIZED, 401) from None
        session = self._sessions.get(token)
        if session is None or not hmac.compare_digest(session["username"].encode(), username.encode()):
            raise Refused(UNAUTHORIZED, 401)
        now = self.clock.now()
        if session["expires"] <= now:
            del self._sessions[token]
            self.events["expired"] += 1
            raise Refused("The session has expired; sign in again.", 401)
        session["expires"] = now + self.session_ttl
        return token, self._ciphers[username]

    # Endpoints --------------------------------------------------------------------------------------------------

    def _get_clients(self, cipher: FieldCipher, body: Any) -> list[Any]:
        fields = self._clear(cipher, body)
        if fields.get("FederalEin") in (None, ""):
            raise Refused("FederalEin is required")
        return [self._sealed(cipher, c) for c in self.book.clients_by_ein(str(fields["FederalEin"]))]

    def _lookup(self, kind: str) -> Callable[[FieldCipher, Any], list[Any]]:
        def answer(cipher: FieldCipher, body: Any) -> list[Any]:
            return self.book.lookup(self._clear(cipher, body).get("ClientCode"), kind)

        return answer

    def _employee_out(self, cipher: FieldCipher, record: Record) -> Record:
        return self._sealed(cipher, self.book.reveal(record))

    def _get_employees(self, cipher: FieldCipher, body: Any) -> list[Any]:
        return [self._employee_out(cipher, e) for e in self.book.list_employees(self._clear(cipher, body))]

    def _get_employee(self, cipher: FieldCipher, body: Any) -> list[Any]:
        fields = self._clear(cipher, body)
        return [self._employee_out(cipher, self.book.employee(fields.get("ClientCode"),
                                                              integer(fields, "EmployeeId", required=True)))]

    def _add_employee(self, cipher: FieldCipher, body: Any) -> list[Any]:
        return [self._employee_out(cipher, self.book.add_employee(self._clear(cipher, body)))]

    def _update_employee(self, cipher: FieldCipher, body: Any) -> list[Any]:
        return [self._employee_out(cipher, self.book.update_employee(self._clear(cipher, body)))]

    def _terminate_employee(self, cipher: FieldCipher, body: Any) -> list[Any]:
        return [self._employee_out(cipher, self.book.terminate(self._clear(cipher, body)))]

    def _post_pay_data(self, cipher: FieldCipher, body: Any) -> list[Any]:
        """Results stay empty: the SDK builds nothing from this answer (``PayrollData.fromJson`` throws)."""
        if not isinstance(body, list):
            raise Refused("PostPayData takes a JSON array of records")
        rows = [self._clear(cipher, row) for row in body]
        new, replays = self.book.post_pay_data(rows)
        self.events["pay_data_records"] += new
        self.events["pay_data_replays"] += replays
        return []

    # Ground truth -----------------------------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """Clients, lookups, employees (SSN and birth date only as ``SsnAtRest``/``BirthDateAtRest`` ciphertext),
        posted pay data, how many sessions are live, and the event counts. No session token, password or key."""
        with self._lock:
            return {"name": self.name, **self.book.state(), "active_sessions": self.active_sessions,
                    "events": dict(self.events)}

    def restore(self, state: dict[str, Any]) -> None:
        with self._lock:
            self.book.restore(state)
            self.events = Counter({k: int(v) for k, v in state.get("events", {}).items()})


def _unissued_ssn(drawn: int, taken: set[str]) -> str:
    """A well-formed SSN in the 9xx area, never issued, so never a real one: no 00 group or 0000 serial (payroll
    refuses those), and none twice."""
    digits = f"9{drawn:08d}"
    group, serial = int(digits[3:5]) or 1, int(digits[5:]) or 1
    while (found := f"{digits[:3]}{group:02d}{serial:04d}") in taken:
        serial = serial % 9999 + 1
    taken.add(found)
    return found
