"""Workers of the ERPs as canonical ``Worker`` records: F&O's ``EmployeesV2`` employments and
``PersonIdentificationNumbers``, Business Central's ``employees``; what hl365 keeps Heartland Payroll's employees in
step with.

Where the two ERPs keep a field:

================  ===================================================  ========================================
field             F&O (``EmployeesV2`` of the legal entity)            Business Central (``employees``)
================  ===================================================  ========================================
number            ``PersonnelNumber``                                  ``number``
names             ``FirstName``, ``MiddleName``, ``LastName``          ``givenName``, ``middleName``, ``surname``
address           ``AddressStreet`` (its lines), ``AddressCity``,      ``addressLine1``, ``addressLine2``,
                  ``AddressState``, ``AddressZipCode``,                ``city``, ``state``, ``postalCode``,
                  ``AddressCountryRegionId``                           ``country``
email, phone      ``PrimaryContactEmail``, ``PrimaryContactPhone``     ``email`` (else ``personalEmail``),
                                                                       ``phoneNumber`` (else ``mobilePhone``)
hire date         ``EmploymentStartDate``                              ``employmentDate``
termination       ``TerminationDate`` (else ``EmploymentEndDate``);    ``terminationDate``; terminated when
                  terminated once ``EmploymentEndDate`` has passed     ``status`` is ``Terminated``
location          ``OfficeLocation``                                   (none in the API)
birth date        ``BirthDate``                                        ``birthDate``
SSN               ``PersonIdentificationNumbers.IdentificationNumber`` (none: the API leaves out the table's
                  of the worker's party, type ``SSN``                  "Social Security No.")
changed at        (none: the time of the read)                         ``lastModifiedDateTime``
================  ===================================================  ========================================

Neither ERP's API names a department (F&O keeps it on the worker's position, Business Central in dimensions), so
``department`` stays None. A Business Central employee ``Inactive`` (on leave) is still employed: ``active``.

F&O's worker entities carry no modification time, so ``FoWorkers.changes`` reads every worker of the legal entity
whatever ``since`` says and returns no checkpoint: the caller compares ``Worker.fingerprint`` with the one it kept.
Business Central filters on ``lastModifiedDateTime gt <checkpoint>``, the checkpoint being the newest
``lastModifiedDateTime`` read (to the millisecond). BC stamps a record when it is written, not when the write commits,
so a long transaction can commit a change stamped before a checkpoint already taken: a periodic full read
(``since=None``) compared by fingerprint is the backstop.

SSNs and birth dates are wrapped in ``Sensitive`` as soon as they are read, and nothing here logs a worker or a row:
only counts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime
from typing import Any

from shared.canonical.workers import Sensitive, Worker, WorkerStatus
from shared.dynamics.bc import BusinessCentralClient
from shared.dynamics.bc import literal as bc_literal
from shared.dynamics.fo import FinanceOperationsClient
from shared.dynamics.fo import literal as fo_literal

log = logging.getLogger("hl365.workers")

FO_EMPLOYEE_FIELDS = ("PersonnelNumber", "EmploymentLegalEntityId", "EmploymentId", "EmploymentStartDate",
                      "EmploymentEndDate", "TerminationDate", "PartyNumber", "FirstName", "MiddleName", "LastName",
                      "AddressStreet", "AddressCity", "AddressState", "AddressZipCode", "AddressCountryRegionId",
                      "PrimaryContactEmail", "PrimaryContactPhone", "OfficeLocation", "BirthDate")
FO_IDENTIFICATION_FIELDS = ("PartyNumber", "IdentificationTypeId", "IdentificationNumber", "IsPrimary")
BC_EMPLOYEE_FIELDS = ("number", "givenName", "middleName", "surname", "addressLine1", "addressLine2", "city", "state",
                      "country", "postalCode", "phoneNumber", "mobilePhone", "email", "personalEmail",
                      "employmentDate", "terminationDate", "status", "birthDate", "lastModifiedDateTime")
SSN_TYPE = "SSN"
"""The F&O identification type that holds a US Social Security number (an environment may name it otherwise)."""
_NO_DATE_YEARS = ("1900", "2154", "0001")
"""F&O's empty date (1900-01-01) and "never" (2154-12-31); Business Central's empty date (0001-01-01)."""


def _text(value: Any) -> str | None:
    return str(value).strip() or None if value is not None else None


def _day(value: Any, name: str) -> date | None:
    """The date of an ``Edm.Date`` or ``Edm.DateTimeOffset`` value, None for the ERPs' empty and "never" dates.

    A malformed value raises without echoing it: the value may be a birth date."""
    text = str(value or "")[:10]
    if not text or text.startswith(_NO_DATE_YEARS):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{name} is not a date") from None


def _moment(value: Any, fallback: datetime) -> datetime:
    if not isinstance(value, str) or not value or value.startswith(_NO_DATE_YEARS):
        return fallback
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _sensitive_day(value: Any, name: str) -> Sensitive[date] | None:
    day = _day(value, name)
    return None if day is None else Sensitive(day)


def _instant(moment: datetime) -> str:
    """A ``$filter`` DateTimeOffset literal in UTC, to the millisecond (Business Central's precision)."""
    if moment.tzinfo is None:
        raise ValueError("since must carry its time zone")
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class FoWorkers:
    """Workers employed by the client's legal entity (``EmploymentLegalEntityId``): one ``Worker`` per worker, from
    its latest employment there. ``Workers``, ``EmployeesV2`` and ``PersonIdentificationNumbers`` are shared across
    legal entities in F&O; the employment says which one a worker belongs to.

    Args:
        client: the F&O client of the legal entity.
        ssn_type: the ``IdentificationTypeId`` the environment files SSNs under.
        clock: now (an employment whose end date has passed is a termination).
    """

    kind = "fo"

    def __init__(self, client: FinanceOperationsClient, *, ssn_type: str = SSN_TYPE,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._client = client
        self._ssn_type = ssn_type
        self._clock = clock

    def changes(self, since: datetime | None) -> tuple[list[Worker], datetime | None]:  # noqa: ARG002
        """Every worker of the legal entity, whatever ``since`` says: no F&O worker entity carries a modification
        time to filter on. The checkpoint is always None; compare fingerprints to find what changed."""
        read_at = self._clock()
        employments = self._employments()
        ssns = self._ssns(None)
        workers = [self._worker(row, ssns.get(str(row.get("PartyNumber") or "")), read_at)
                   for row in employments.values()]
        log.info("fo: %d workers of legal entity %s read", len(workers), self._client.legal_entity)
        return sorted(workers, key=lambda w: w.number), None

    def get(self, number: str) -> Worker | None:
        """The worker with this personnel number employed by the legal entity, or None."""
        if "*" in number:
            raise ValueError("a personnel number with '*' cannot be looked up: F&O reads '*' in eq as a wildcard")
        row = self._employments(f"PersonnelNumber eq {fo_literal(number)}").get(number.casefold())
        if row is None:
            return None
        party = str(row.get("PartyNumber") or "")
        return self._worker(row, self._ssns(party).get(party) if party else None, self._clock())

    def _employments(self, condition: str | None = None) -> dict[str, dict[str, Any]]:
        """Personnel number (case-folded, as F&O compares) → the worker's latest employment in the legal entity."""
        flt = f"EmploymentLegalEntityId eq {fo_literal(self._client.legal_entity)}"
        latest: dict[str, dict[str, Any]] = {}
        for row in self._client.iter("EmployeesV2", f"{flt} and {condition}" if condition else flt,
                                     FO_EMPLOYEE_FIELDS):
            key = str(row["PersonnelNumber"]).casefold()
            held = latest.get(key)
            if held is None or str(row.get("EmploymentStartDate")) > str(held.get("EmploymentStartDate")):
                latest[key] = row
        return latest

    def _ssns(self, party: str | None) -> dict[str, Sensitive[str]]:
        """Party number → its SSN (the primary one where a party has several)."""
        flt = f"IdentificationTypeId eq {fo_literal(self._ssn_type)}"
        if party is not None:
            flt += f" and PartyNumber eq {fo_literal(party)}"
        found: dict[str, tuple[bool, Sensitive[str]]] = {}
        for row in self._client.iter("PersonIdentificationNumbers", flt, FO_IDENTIFICATION_FIELDS):
            number = _text(row.get("IdentificationNumber"))
            if number is None:
                continue
            key, primary = str(row["PartyNumber"]), row.get("IsPrimary") == "Yes"
            if key not in found or (primary and not found[key][0]):
                found[key] = (primary, Sensitive(number))
        return {key: ssn for key, (_, ssn) in found.items()}

    def _worker(self, row: Mapping[str, Any], ssn: Sensitive[str] | None, read_at: datetime) -> Worker:
        street = _text(row.get("AddressStreet"))
        lines = street.splitlines() if street else []
        ended = _day(row.get("EmploymentEndDate"), "EmploymentEndDate")
        terminated = ended is not None and ended < read_at.date()
        return Worker(
            number=str(row["PersonnelNumber"]), first_name=_text(row.get("FirstName")),
            middle_name=_text(row.get("MiddleName")), last_name=_text(row.get("LastName")),
            address_line1=_text(lines[0]) if lines else None,
            address_line2=_text(", ".join(lines[1:])) if len(lines) > 1 else None,
            city=_text(row.get("AddressCity")), state=_text(row.get("AddressState")),
            postal_code=_text(row.get("AddressZipCode")), country=_text(row.get("AddressCountryRegionId")),
            email=_text(row.get("PrimaryContactEmail")), phone=_text(row.get("PrimaryContactPhone")),
            hire_date=_day(row.get("EmploymentStartDate"), "EmploymentStartDate"),
            termination_date=_day(row.get("TerminationDate"), "TerminationDate") or ended,
            status=WorkerStatus.TERMINATED if terminated else WorkerStatus.ACTIVE,
            location=_text(row.get("OfficeLocation")),
            birth_date=_sensitive_day(row.get("BirthDate"), "BirthDate"), ssn=ssn,
            source="fo", changed_at=read_at)


class BcWorkers:
    """Employees of the client's Business Central company, read incrementally by ``lastModifiedDateTime``.

    Args:
        client: the Business Central client of the company.
        clock: now (``changed_at`` of an employee without a modification time, which BC always sends).
    """

    kind = "bc"

    def __init__(self, client: BusinessCentralClient, *,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._client = client
        self._clock = clock

    def changes(self, since: datetime | None) -> tuple[list[Worker], datetime | None]:
        """Every employee (``since`` None), else those changed after ``since``; with the newest
        ``lastModifiedDateTime`` read as the next checkpoint (``since`` again when nothing changed)."""
        flt = None if since is None else f"lastModifiedDateTime gt {_instant(since)}"
        workers = self._workers(self._client.iter("employees", flt, BC_EMPLOYEE_FIELDS))
        newest = max((w.changed_at for w in workers), default=None)
        log.info("bc: %d employees read%s", len(workers), "" if since is None else " (changed since the checkpoint)")
        return sorted(workers, key=lambda w: w.number), newest or since

    def get(self, number: str) -> Worker | None:
        """The employee with this number (compared upper-case: ``number`` is an AL Code field), or None."""
        rows = self._client.iter("employees", f"number eq {bc_literal(number.upper())}", BC_EMPLOYEE_FIELDS)
        return next(iter(self._workers(rows)), None)

    def _workers(self, rows: Iterable[Mapping[str, Any]]) -> list[Worker]:
        read_at = self._clock()
        return [self._worker(row, read_at) for row in rows]

    @staticmethod
    def _worker(row: Mapping[str, Any], read_at: datetime) -> Worker:
        return Worker(
            number=str(row["number"]), first_name=_text(row.get("givenName")), middle_name=_text(row.get("middleName")),
            last_name=_text(row.get("surname")), address_line1=_text(row.get("addressLine1")),
            address_line2=_text(row.get("addressLine2")), city=_text(row.get("city")), state=_text(row.get("state")),
            postal_code=_text(row.get("postalCode")), country=_text(row.get("country")),
            email=_text(row.get("email")) or _text(row.get("personalEmail")),
            phone=_text(row.get("phoneNumber")) or _text(row.get("mobilePhone")),
            hire_date=_day(row.get("employmentDate"), "employmentDate"),
            termination_date=_day(row.get("terminationDate"), "terminationDate"),
            status=WorkerStatus.TERMINATED if row.get("status") == "Terminated" else WorkerStatus.ACTIVE,
            birth_date=_sensitive_day(row.get("birthDate"), "birthDate"),
            source="bc", changed_at=_moment(row.get("lastModifiedDateTime"), read_at))


__all__ = ["SSN_TYPE", "BcWorkers", "FoWorkers"]
