"""A worker as hl365 reads it from an ERP's HR data (F&O workers and employments, Business Central employees), the
unit Heartland Payroll's employees are kept in step with.

A worker carries two values hl365 must never write down: the national identification number (US SSN) and the birth
date. Both are the customer's own ERP data, readable through the ERP's API, and payroll needs them; hl365 passes them
on and keeps nothing of them but a keyed hash. They travel wrapped in ``Sensitive``, which shows ``'***'`` wherever
Python turns it into text (``repr``, ``str``, f-strings, ``%`` formatting, so every log record) and hands the value
out only through ``reveal()``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any, Generic, Literal, NoReturn, TypeVar

T = TypeVar("T", str, date)
MASK = "***"


class Sensitive(Generic[T]):
    """A value that never shows itself as text; ``reveal()`` returns it, ``digest(key)`` a keyed hash of it.

    Equality and hashing go by the value (a worker read twice compares equal), so change detection works without
    revealing it. Copies are the value itself (it is immutable); pickling is refused, so a sensitive value does not
    leave the process by accident (a cache, a queue message).
    """

    __slots__ = ("_value",)

    def __init__(self, value: T) -> None:
        if not isinstance(value, str | date):
            raise TypeError(f"Sensitive holds a str or a date, not {type(value).__name__}")
        self._value: T = value

    def reveal(self) -> T:
        """The value itself: for the one place that must send it on (the payroll API call), never for a log."""
        return self._value

    def digest(self, key: bytes) -> str:
        """HMAC-SHA256 of the value under ``key``: comparable across runs, useless without the key (an SSN has only
        10⁹ values, so a plain hash would give it away)."""
        if not key:
            raise ValueError("a keyed hash needs a non-empty key")
        text = self._value.isoformat() if isinstance(self._value, date) else self._value
        return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()

    def __repr__(self) -> str:
        return f"Sensitive({MASK!r})"

    def __str__(self) -> str:
        return MASK

    def __format__(self, spec: str) -> str:
        return format(MASK, spec)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sensitive):
            return NotImplemented
        mine, theirs = self._value, other._value
        if isinstance(mine, str) and isinstance(theirs, str):
            return hmac.compare_digest(mine.encode(), theirs.encode())
        return type(mine) is type(theirs) and mine == theirs

    def __hash__(self) -> int:
        return hash((Sensitive, self._value))

    def __copy__(self) -> Sensitive[T]:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Sensitive[T]:
        return self

    def __reduce__(self) -> NoReturn:
        raise TypeError("a Sensitive value cannot be pickled")


class WorkerStatus(StrEnum):
    """Whether payroll should pay the worker: ``active`` (employed, on leave, or hired with a start date still to
    come) or ``terminated`` (the employment has ended)."""

    ACTIVE = "active"
    TERMINATED = "terminated"


Source = Literal["fo", "bc"]
PAYROLL_FIELDS = ("number", "first_name", "middle_name", "last_name", "address_line1", "address_line2", "city",
                  "state", "postal_code", "country", "email", "phone", "hire_date", "termination_date", "status",
                  "department", "location")
"""What ``Worker.fingerprint`` covers besides the sensitive values: what payroll holds of an employee."""


@dataclass(frozen=True, kw_only=True)
class Worker:
    """One worker of one ERP legal entity or company.

    Attributes:
        number: the ERP's key: F&O's personnel number, Business Central's employee number.
        hire_date: the start of the current employment; ``termination_date`` its last day (may lie ahead).
        department, location: where the ERP names them (None where it does not).
        birth_date, ssn: ``Sensitive``; None where the ERP holds none (Business Central's API has no SSN).
        source: ``fo`` or ``bc``.
        changed_at: when the ERP last changed the worker, or when it was read where the ERP keeps no such time (F&O);
            left out of ``==``, so two reads of an unchanged worker compare equal.
    """

    number: str
    first_name: str | None
    last_name: str | None
    status: WorkerStatus
    source: Source
    changed_at: datetime = field(compare=False)
    middle_name: str | None = None
    address_line1: str | None = None
    address_line2: str | None = None
    city: str | None = None
    state: str | None = None
    postal_code: str | None = None
    country: str | None = None
    email: str | None = None
    phone: str | None = None
    hire_date: date | None = None
    termination_date: date | None = None
    department: str | None = None
    location: str | None = None
    birth_date: Sensitive[date] | None = None
    ssn: Sensitive[str] | None = None

    def __post_init__(self) -> None:
        if not self.number:
            raise ValueError("a worker needs its ERP number")
        if self.source not in ("fo", "bc"):
            raise ValueError(f"source {self.source!r}: a worker comes from 'fo' or 'bc'")
        if self.changed_at.tzinfo is None:
            raise ValueError("changed_at must carry its time zone")
        for name in ("birth_date", "ssn"):
            if getattr(self, name) is not None and not isinstance(getattr(self, name), Sensitive):
                raise TypeError(f"{name} must be wrapped in Sensitive")  # never echo the value itself
        object.__setattr__(self, "status", WorkerStatus(self.status))

    @property
    def terminated(self) -> bool:
        return self.status is WorkerStatus.TERMINATED

    def fingerprint(self, key: bytes) -> str:
        """A SHA-256 over what payroll holds of the worker (``PAYROLL_FIELDS``), the SSN and birth date entering only
        as ``Sensitive.digest(key)``: store it, and a later read with another fingerprint is a change.

        ``source`` and ``changed_at`` are left out (a re-read without a change keeps its fingerprint). The same
        ``key`` must be used run after run; rotating it makes every worker look changed once.

        Raises:
            ValueError: an empty key.
        """
        if not key:
            raise ValueError("a fingerprint needs a non-empty key")
        parts: dict[str, Any] = {name: _plain(getattr(self, name)) for name in PAYROLL_FIELDS}
        parts["ssn"] = None if self.ssn is None else self.ssn.digest(key)
        parts["birth_date"] = None if self.birth_date is None else self.birth_date.digest(key)
        text = json.dumps(parts, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(text.encode()).hexdigest()


def _plain(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    return value.value if isinstance(value, StrEnum) else value


__all__ = ["MASK", "PAYROLL_FIELDS", "Sensitive", "Source", "Worker", "WorkerStatus"]
