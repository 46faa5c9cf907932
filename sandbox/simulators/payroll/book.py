"""The payroll system behind the simulated API: clients (employers), their lookups, employees and the pay data
posted for them, with the rules a payroll system applies to each change.

Everything here works on clear values: the HTTP side (``simulator``) decrypts the fields that arrive encrypted
and encrypts the ones it answers. At rest, an employee's SSN and birth date are kept only encrypted under the
book's own key (``at_rest``), so ``state()`` (the ``/_sim/state`` ground truth) never holds them in clear;
``reveal`` gives them back to the answer being built and to tests.

Rules where nothing public says what Heartland does (the simulator's choices, each unverified): SSNs are unique
within a client; an ``EmployeeNumber`` is assigned (from 1001) when none is given; ``UpdateEmployee`` changes only
the fields it is given; ``FromDate``/``ToDate`` filter on the hire date; a ``PostPayData`` batch is applied whole
or not at all, and a ``RecordId`` posted again for the same client with the same values is a replay (accepted,
not counted twice) while different values under it are refused.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sandbox.simulators.payroll.crypto import FieldCipher
from sandbox.simulators.payroll.fields import (
    EMPLOYMENT_CATEGORIES,
    EMPLOYMENT_STATUSES,
    GENDERS,
    HOURLY_TYPES,
    MARITAL_STATUSES,
    PAY_TYPE_FILTERS,
    PAY_TYPES,
    SALARIED_TYPES,
    Refused,
    amount,
    blank,
    code,
    day,
    flag,
    integer,
    iso_datetime,
    ssn,
    text,
)

Record = dict[str, Any]
LOOKUPS = ("termination_reasons", "work_locations", "pay_groups", "labor_fields", "pay_items")
FIRST_IDS = {"employee": 284001, "termination_reasons": 1, "work_locations": 101, "pay_groups": 201,
             "labor_fields": 301}
MUTABLE = ("EmployeeNumber", "EmploymentStatus", "EmploymentCategory", "HireDate", "TimeClockId", "FirstName",
           "LastName", "MiddleName", "SSN", "Address1", "Address2", "City", "StateCode", "ZipCode", "MaritalStatus",
           "BirthDate", "Gender", "PayGroupId", "PayTypeCode", "HourlyRate", "PerPaySalary", "WorkLocationId")


class PayrollBook:
    """Clients, lookups, employees and posted pay data.

    Args:
        at_rest: the key SSNs and birth dates are stored under.
        now: the service's clock.
    """

    def __init__(self, at_rest: FieldCipher, now: Callable[[], datetime]) -> None:
        self._at_rest = at_rest
        self._now = now
        self.clients: dict[str, Record] = {}
        self.lookups: dict[str, dict[str, list[Record]]] = {}
        self.employees: dict[int, Record] = {}
        self.pay_data: list[Record] = []
        self.next_ids = dict(FIRST_IDS)

    # Clients and lookups ----------------------------------------------------------------------------------------

    def add_client(self, client_code: str, client_name: str, federal_ein: str) -> Record:
        if client_code in self.clients:
            raise ValueError(f"client {client_code} exists")
        digits = federal_ein.replace("-", "")
        if len(digits) != 9 or not digits.isdigit():
            raise ValueError("a federal EIN is nine digits")
        record = {"ClientCode": client_code, "ClientName": client_name, "FederalEin": digits}
        self.clients[client_code] = record
        self.lookups[client_code] = {name: [] for name in LOOKUPS}
        return dict(record)

    def add_lookup(self, client_code: str, kind: str, row: Record) -> Record:
        """A row of one lookup list; its id is drawn unless ``row`` names it (pay items are keyed by ``PayCode``)."""
        lists = self._lookups(client_code)
        id_field = {"termination_reasons": "TerminationReasonId", "work_locations": "WorkLocationId",
                    "pay_groups": "PayGroupId", "labor_fields": "LaborFieldId", "pay_items": "PayCode"}[kind]
        if id_field not in row:
            row = {id_field: self._take(kind), **row}
        lists[kind].append(row)
        return copy.deepcopy(row)

    def client(self, client_code: str | None) -> Record:
        if client_code is None:
            raise Refused("ClientCode is required")
        found = self.clients.get(client_code)
        if found is None:
            raise Refused("ClientCode does not name a client this user may access")
        return found

    def clients_by_ein(self, federal_ein: str) -> list[Record]:
        try:
            wanted = int(federal_ein)
        except ValueError:
            raise Refused("FederalEin must be a number") from None
        return [dict(c) for c in self.clients.values() if int(c["FederalEin"]) == wanted]

    def lookup(self, client_code: str | None, kind: str) -> list[Record]:
        return copy.deepcopy(self._lookups(self.client(client_code)["ClientCode"])[kind])

    def _lookups(self, client_code: str) -> dict[str, list[Record]]:
        if client_code not in self.lookups:
            raise ValueError(f"no client {client_code}")
        return self.lookups[client_code]

    def _has(self, client_code: str, kind: str, key: str, value: Any) -> bool:
        return any(row.get(key) == value for row in self.lookups[client_code][kind])

    def _take(self, kind: str) -> int:
        value = self.next_ids[kind]
        self.next_ids[kind] = value + 1
        return value

    # Employees --------------------------------------------------------------------------------------------------

    def employee(self, client_code: str | None, employee_id: int | None) -> Record:
        client = self.client(client_code)["ClientCode"]
        if employee_id is None:
            raise Refused("EmployeeId is required")
        found = self.employees.get(employee_id)
        if found is None or found["ClientCode"] != client:
            raise Refused(f"Employee {employee_id} was not found", 404)
        return found

    def list_employees(self, body: Record) -> list[Record]:
        client = self.client(body.get("ClientCode"))["ClientCode"]
        active_only = flag(body, "ActiveEmployeeOnly")
        offset = integer(body, "EmployeeOffset") or 0
        count = integer(body, "EmployeeCount")
        pay_filter = body.get("PayTypeCode")
        if not blank(pay_filter) and pay_filter not in PAY_TYPE_FILTERS:
            raise Refused(f"PayTypeCode must be one of {', '.join(PAY_TYPE_FILTERS)}")
        pay_types = None if blank(pay_filter) else PAY_TYPE_FILTERS[str(pay_filter)]
        since, until = day(body, "FromDate"), day(body, "ToDate")
        if offset < 0 or (count is not None and count < 1):
            raise Refused("EmployeeOffset must be 0 or more and EmployeeCount 1 or more")
        rows = [e for _, e in sorted(self.employees.items()) if e["ClientCode"] == client
                and (not active_only or e["EmploymentStatus"] == "A")
                and (pay_types is None or e["PayTypeCode"] in pay_types)
                and (since is None or date.fromisoformat(e["HireDate"]) >= since)
                and (until is None or date.fromisoformat(e["HireDate"]) <= until)]
        return rows[offset:] if count is None else rows[offset:offset + count]

    def add_employee(self, body: Record) -> Record:
        client = self.client(body.get("ClientCode"))["ClientCode"]
        status = code(body, "EmploymentStatus", EMPLOYMENT_STATUSES) or "A"
        if status == "T":
            raise Refused("a new employee cannot be terminated; use TerminateEmployee")
        record: Record = {"ClientCode": client, "EmployeeId": None, "EmploymentStatus": status,
                          "TerminationDate": None, "TerminationReasonId": None, "DirectDepositInactive": False}
        self._apply(record, body, adding=True)
        record["EmployeeId"] = self._take("employee")
        if record["EmployeeNumber"] is None:
            record["EmployeeNumber"] = self._next_number(client)
        record["UpdatedAt"] = self._now().isoformat()
        self.employees[record["EmployeeId"]] = record
        return record

    def update_employee(self, body: Record) -> Record:
        existing = self.employee(body.get("ClientCode"), integer(body, "EmployeeId", required=True))
        if code(body, "EmploymentStatus", EMPLOYMENT_STATUSES) == "T":
            raise Refused("EmploymentStatus T is set by TerminateEmployee")
        record = copy.deepcopy(existing)
        self._apply(record, body, adding=False)
        record["UpdatedAt"] = self._now().isoformat()
        self.employees[record["EmployeeId"]] = record
        return record

    def terminate(self, body: Record) -> Record:
        record = self.employee(body.get("ClientCode"), integer(body, "EmployeeId", required=True))
        when = day(body, "TerminationDate", required=True, us_only=True)
        reason = integer(body, "TerminationReasonId", required=True)
        inactivate = flag(body, "InactivateDirectDepositAccounts")
        if not self._has(record["ClientCode"], "termination_reasons", "TerminationReasonId", reason):
            raise Refused(f"TerminationReasonId {reason} is not a termination reason of this client")
        if record["EmploymentStatus"] == "T":
            raise Refused(f"Employee {record['EmployeeId']} is already terminated")
        assert when is not None
        if when < date.fromisoformat(record["HireDate"]):
            raise Refused("TerminationDate is before the HireDate")
        record.update(EmploymentStatus="T", TerminationDate=when.isoformat(), TerminationReasonId=reason,
                      DirectDepositInactive=inactivate, UpdatedAt=self._now().isoformat())
        return record

    def _apply(self, record: Record, body: Record, *, adding: bool) -> None:
        """Validate the fields ``body`` gives over ``record`` (all of them when ``adding``), then store them."""
        given = {name for name in MUTABLE if not blank(body.get(name))}
        new: Record = {}
        new["FirstName"] = text(body, "FirstName", required=adding)
        new["LastName"] = text(body, "LastName", required=adding)
        new["MiddleName"] = text(body, "MiddleName")
        digits = ssn(body)
        if adding and digits is None:
            raise Refused("SSN is required")
        new["HireDate"] = day(body, "HireDate", required=adding)
        birth = day(body, "BirthDate")
        new["EmployeeNumber"] = text(body, "EmployeeNumber", limit=20)
        new["EmploymentStatus"] = code(body, "EmploymentStatus", EMPLOYMENT_STATUSES)
        new["EmploymentCategory"] = code(body, "EmploymentCategory", EMPLOYMENT_CATEGORIES)
        new["MaritalStatus"] = code(body, "MaritalStatus", MARITAL_STATUSES)
        new["Gender"] = code(body, "Gender", GENDERS)
        new["PayTypeCode"] = code(body, "PayTypeCode", PAY_TYPES, required=adding)
        new["PayGroupId"] = integer(body, "PayGroupId", required=adding)
        new["WorkLocationId"] = integer(body, "WorkLocationId") or None
        new["TimeClockId"] = integer(body, "TimeClockId")
        new["Address1"] = text(body, "Address1", limit=100)
        new["Address2"] = text(body, "Address2", limit=100)
        new["City"] = text(body, "City")
        new["StateCode"] = text(body, "StateCode")
        new["ZipCode"] = text(body, "ZipCode", limit=10)
        rates = {name: amount(body, name, minimum=Decimal(0)) for name in ("HourlyRate", "PerPaySalary")}
        if new["StateCode"] is not None and not (len(new["StateCode"]) == 2 and new["StateCode"].isalpha()):
            raise Refused("StateCode must be a two-letter state code")
        if new["ZipCode"] is not None and not _zip_ok(new["ZipCode"]):
            raise Refused("ZipCode must be 5 or 9 digits")
        if new["EmploymentStatus"] is None:
            del new["EmploymentStatus"]  # add_employee has set the default
        for name, value in new.items():
            if name in given or adding:
                record[name] = value.upper() if name == "StateCode" and value else (
                    value.isoformat() if isinstance(value, date) else value)
        for name, rate in rates.items():
            if name in given or adding:
                record[name] = None if rate is None else f"{rate:f}"
        if digits is not None:
            record["SsnAtRest"] = self._at_rest.encrypt(digits)
        if birth is not None or adding:
            record["BirthDateAtRest"] = None if birth is None else self._at_rest.encrypt(birth.isoformat())
        self._check(record, birth)

    def _check(self, record: Record, birth: date | None) -> None:
        """The rules across fields, on the employee as it would be stored."""
        client = record["ClientCode"]
        if not self._has(client, "pay_groups", "PayGroupId", record["PayGroupId"]):
            raise Refused(f"PayGroupId {record['PayGroupId']} is not a pay group of this client")
        if record["WorkLocationId"] is not None and not self._has(client, "work_locations", "WorkLocationId",
                                                                  record["WorkLocationId"]):
            raise Refused(f"WorkLocationId {record['WorkLocationId']} is not a work location of this client")
        pay_type = record["PayTypeCode"]
        # A rate may come later (set in payroll by its people); one that is given must be above zero.
        hourly, salary = record.get("HourlyRate"), record.get("PerPaySalary")
        if pay_type in HOURLY_TYPES and hourly is not None and not Decimal(hourly) > 0:
            raise Refused(f"HourlyRate must be above 0 for PayTypeCode {pay_type}")
        if pay_type in SALARIED_TYPES and salary is not None and not Decimal(salary) > 0:
            raise Refused(f"PerPaySalary must be above 0 for PayTypeCode {pay_type}")
        hired = date.fromisoformat(record["HireDate"])
        if birth is None and record.get("BirthDateAtRest"):
            birth = date.fromisoformat(self._at_rest.decrypt(record["BirthDateAtRest"]))
        if birth is not None and (birth >= hired or birth > self._now().date()):
            raise Refused("BirthDate must be before the HireDate")
        for other in self.employees.values():
            if other["ClientCode"] != client or other["EmployeeId"] == record["EmployeeId"]:
                continue
            if record["EmployeeNumber"] is not None and other["EmployeeNumber"] == record["EmployeeNumber"]:
                raise Refused(f"EmployeeNumber {record['EmployeeNumber']} is already in use")
            if other["SsnAtRest"] == record["SsnAtRest"]:
                raise Refused("an employee with this SSN already exists for this client")

    def _next_number(self, client: str) -> str:
        taken = {e["EmployeeNumber"] for e in self.employees.values() if e["ClientCode"] == client}
        number = 1001
        while str(number) in taken:
            number += 1
        return str(number)

    def reveal(self, record: Record) -> Record:
        """The employee in clear, in the answer's field names and forms (``Ssn``, ``BirthDay``, ISO dates)."""
        birth = record.get("BirthDateAtRest")
        return {
            "ClientCode": record["ClientCode"], "EmployeeId": record["EmployeeId"],
            "EmploymentStatus": record["EmploymentStatus"],
            "HireDate": iso_datetime(date.fromisoformat(record["HireDate"])),
            "TerminationDate": iso_datetime(date.fromisoformat(record["TerminationDate"]))
            if record["TerminationDate"] else None,
            "TerminationReasonId": record["TerminationReasonId"], "EmployeeNumber": record["EmployeeNumber"],
            "EmploymentCategory": record["EmploymentCategory"], "TimeClockId": record["TimeClockId"],
            "FirstName": record["FirstName"], "LastName": record["LastName"], "MiddleName": record["MiddleName"],
            "Ssn": self._at_rest.decrypt(record["SsnAtRest"]), "Address1": record["Address1"],
            "Address2": record["Address2"], "City": record["City"], "StateCode": record["StateCode"],
            "ZipCode": record["ZipCode"], "MaritalStatus": record["MaritalStatus"],
            "BirthDay": iso_datetime(date.fromisoformat(self._at_rest.decrypt(birth))) if birth else None,
            "Gender": record["Gender"], "PayGroupId": record["PayGroupId"], "PayTypeCode": record["PayTypeCode"],
            "HourlyRate": record["HourlyRate"], "PerPaySalary": record["PerPaySalary"],
            "WorkLocationId": record["WorkLocationId"],
        }

    # Pay data ---------------------------------------------------------------------------------------------------

    def post_pay_data(self, rows: list[Record]) -> tuple[int, int]:
        """Apply a whole batch, or refuse it naming the first bad record; returns (new rows, replays)."""
        if not rows:
            raise Refused("PostPayData takes a non-empty array of records")
        seen: set[tuple[str, int]] = set()
        new: list[Record] = []
        replays = 0
        for index, body in enumerate(rows):
            where = f"record {index}"
            try:
                record_id = integer(body, "RecordId", required=True)
                where = f"RecordId {record_id}"
                client = self.client(body.get("ClientCode"))["ClientCode"]
                employee = self.employee(client, integer(body, "EmployeeId", required=True))
                title = text(body, "PayItemTitle", required=True, limit=100)
                item = next((i for i in self.lookups[client]["pay_items"]
                             if str(i["PayItemTitle"]).lower() == str(title).lower()), None)
                if item is None:
                    raise Refused("PayItemTitle is not a pay item of this client")
                hours, dollars = amount(body, "Hours"), amount(body, "Dollars")
                rate = amount(body, "PayRate", minimum=Decimal(0))
                if hours is None and dollars is None:
                    raise Refused("Hours or Dollars is required")
                if hours is not None and abs(hours) > 744:
                    raise Refused("Hours is more than a month holds")
            except Refused as refused:
                raise Refused(f"{where}: {refused.message}", 400 if refused.status == 404 else refused.status) \
                    from None
            assert record_id is not None
            if (client, record_id) in seen:
                raise Refused(f"{where}: RecordId appears twice in this post")
            seen.add((client, record_id))
            row = {"ClientCode": client, "RecordId": record_id, "EmployeeId": employee["EmployeeId"],
                   "PayCode": item["PayCode"], "PayItemTitle": item["PayItemTitle"],
                   "Hours": None if hours is None else f"{hours:f}",
                   "Dollars": None if dollars is None else f"{dollars:f}",
                   "PayRate": None if rate is None else f"{rate:f}"}
            earlier = next((p for p in self.pay_data if p["ClientCode"] == client and p["RecordId"] == record_id), None)
            if earlier is not None:
                if {k: earlier[k] for k in row} != row:
                    raise Refused(f"{where}: RecordId was already posted with other values")
                replays += 1
                continue
            new.append(row)
        posted_at = self._now().isoformat()
        self.pay_data += [{**row, "PostedAt": posted_at} for row in new]
        return len(new), replays

    # Ground truth -----------------------------------------------------------------------------------------------

    def state(self) -> Record:
        return copy.deepcopy({"clients": self.clients, "lookups": self.lookups,
                              "employees": [e for _, e in sorted(self.employees.items())], "pay_data": self.pay_data,
                              "next_ids": self.next_ids})

    def restore(self, state: Record) -> None:
        self.clients = copy.deepcopy(state.get("clients", {}))
        self.lookups = copy.deepcopy(state.get("lookups", {}))
        self.employees = {int(e["EmployeeId"]): copy.deepcopy(e) for e in state.get("employees", [])}
        self.pay_data = copy.deepcopy(state.get("pay_data", []))
        self.next_ids = {**FIRST_IDS, **state.get("next_ids", {})}


def _zip_ok(value: str) -> bool:
    digits = value.replace("-", "")
    return digits.isdigit() and len(digits) in (5, 9)
