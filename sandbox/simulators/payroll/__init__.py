"""The Heartland Payroll partner "POS→Payroll" API (``PosWebUI``) simulator, faithful to ``reference/heartland.md``
§3 and to what the Global Payments SDKs send and read (java-sdk ``PayrollConnector``, ``entities/payroll/*``).

Every call is ``POST /api/pos/...`` with JSON (also served under any path prefix, as the real
``/PosWebUI/Test/Test`` root has one; endpoint names match case-insensitively, as ASP.NET routes do):

* ``session/signin`` ``{Username, Password}`` → ``Results[0] = {SessionToken, ErrorMessage}``; every other call
  needs ``Authorization: Basic base64("<SessionToken>|<username>")``. Sessions expire after ``session_minutes``
  idle (each use renews one); ``session/signout`` ends one.
* ``client/getclients`` (``FederalEin``), ``employee/GetEmployees`` (``ActiveEmployeeOnly``, ``EmployeeOffset``,
  ``EmployeeCount``, ``FromDate``/``ToDate``, ``PayTypeCode`` ``H``/``1099``), ``employee/GetEmployee``,
  ``employee/AddEmployee``, ``employee/UpdateEmployee``, ``employee/TerminateEmployee``, and the lookups
  ``termination/GetTerminationReasons``, ``worklocation/GetWorkLocations``, ``laborField/GetLaborFields``,
  ``payGroup/GetPayGroups``, ``payItem/GetPayItems`` (each by ``ClientCode``); ``timeclock/PostPayData`` takes an
  array of ``{RecordId, ClientCode, EmployeeId, PayItemTitle, Hours, Dollars, PayRate}``.
* Every answer is ``{"StatusCode", "ResponseMessage", "TotalRecords", "Results"}``; a refusal carries its status
  there and, unless ``errors_in_body``, as the HTTP status too (400 validation, 401 session, 404 unknown id).
* Field encryption (``crypto``), both ways: ``Password``, ``ClientCode``, ``FederalEin``, ``LastName``, ``SSN``,
  ``Address1``, ``ZipCode``, ``BirthDate``, ``HourlyRate``, ``PerPaySalary`` arrive encrypted under the session
  user's key and are decrypted; one that does not decrypt is refused (400), so a client that forgets to encrypt
  fails. Answers encrypt the same fields (an employee's SSN and birth date as ``Ssn`` and ``BirthDay``, the
  names the SDKs read).

What it validates (``book``, ``fields``): names, a nine-digit SSN, a hire date (``MM/dd/yyyy`` or ISO;
``TerminationDate`` only ``MM/dd/yyyy``), the SDKs' enumeration codes, known pay groups, work locations and
termination reasons, the rate a pay type needs, unique employee numbers and SSNs, birth before hire,
termination not before hire and not twice; pay data naming a known employee and pay item, with hours or dollars.

The book keeps SSNs and birth dates only encrypted at rest (under its own key): ``/_sim/state`` never holds
them in clear; ``PayrollSimulator.employee_record`` is the clear ground truth for tests.

Modules: ``crypto`` (the service's cipher), ``fields`` (reading request fields), ``book`` (the payroll system and
its rules), ``simulator`` (``PayrollSimulator``: the wire, sessions, scenario API, ground truth).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sandbox.simulators.base import SimulatorApp
from sandbox.simulators.payroll.crypto import FieldCipher, Undecryptable
from sandbox.simulators.payroll.simulator import (
    DEFAULT_API_KEY,
    DEFAULT_CLIENT_CODE,
    DEFAULT_CLIENT_NAME,
    DEFAULT_FEDERAL_EIN,
    DEFAULT_PASSWORD,
    DEFAULT_USERNAME,
    PAY_ITEMS,
    PayrollSimulator,
)


def create(seed: int = 0, snapshot: Path | None = None, **options: Any) -> SimulatorApp:
    """The payroll simulator behind fault injection and ``/_sim``; ``options`` go to ``PayrollSimulator``."""
    return SimulatorApp(PayrollSimulator(seed=seed, **options), seed=seed, snapshot=snapshot)


def simulator(app: SimulatorApp) -> PayrollSimulator:
    """The Python-side API of an app made by ``create``."""
    simulated = app.simulated
    if not isinstance(simulated, PayrollSimulator):
        raise TypeError(f"{type(simulated).__name__} is not the payroll simulator")
    return simulated


__all__ = ["DEFAULT_API_KEY", "DEFAULT_CLIENT_CODE", "DEFAULT_CLIENT_NAME", "DEFAULT_FEDERAL_EIN", "DEFAULT_PASSWORD",
           "DEFAULT_USERNAME", "PAY_ITEMS", "FieldCipher", "PayrollSimulator", "Undecryptable", "create", "simulator"]
