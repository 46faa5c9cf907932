"""A proposed fix for a dead letter caused by a name the mapping does not cover: the mapping entry to add, from
the entry of the most alike name the mapping already has. A person reviews it, applies it with
``hl365 mapping apply`` once they have marked it ``"accepted": true`` (it names accounts), and replays the dead
letter; no code changes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from shared.errors import InvalidRequest, NotFound
from shared.mapping.suggest import EntrySuggestion, suggest_entry
from shared.ports import Ports

_Q = r"""(['"])(?P<name>.+?)\1"""
UNMAPPED: tuple[tuple[str, re.Pattern[str], str], ...] = (
    ("UnmappedPaymentType", re.compile(rf"payment type {_Q} is not in the mapping"), "payment_types"),
    ("UnmappedTaxComponent", re.compile(rf"tax component {_Q} is not in the mapping"), "tax_components"),
    ("UnmappedDepartment", re.compile(rf"department {_Q} is not in the mapping"), "departments"),
    ("UnmappedDepartment", re.compile(rf"department {_Q} \([^)]*\) is not in payroll\.departments"),
     "payroll.departments"),
    ("UnmappedLocation", re.compile(rf"(?<!POS )location {_Q} \([^)]*\) is not in payroll\.locations"),
     "payroll.locations"),
    ("UnmappedLocation", re.compile(rf"POS location {_Q} is not in catalog\.inventory\.locations"),
     "catalog.inventory.locations"),
    ("UnmappedPayrollCode", re.compile(r"payroll code (?P<name>\S+) \((?P<family>\w+), at [^)]*\) is not in "
                                       r"payroll\.codes\.\w+"), "payroll.codes.{family}"),
)
"""Per reason: how its description names the missing value, and the mapping section it belongs in."""


@dataclass(frozen=True)
class Fix:
    """The dead letter, the entries proposed for it, and what a person does next."""

    row: str
    reason: str
    description: str
    suggestions: list[EntrySuggestion]
    replay: str

    @property
    def confident(self) -> list[EntrySuggestion]:
        return [s for s in self.suggestions if s.confidence >= 0.5]


def unmapped(reason: str, description: str) -> list[tuple[str, str]]:
    """``(section, name)`` of every missing name a dead letter's description gives (a payroll run lists all of
    its missing names at once), in the order given."""
    found: list[tuple[str, str]] = []
    for kind, pattern, section in UNMAPPED:
        if kind != reason and not (reason.startswith("Unmapped") and kind.startswith("Unmapped")):
            continue
        for match in pattern.finditer(description):
            groups = match.groupdict()
            entry = (section.format(family=groups.get("family") or ""), groups["name"])
            if entry not in found:
                found.append(entry)
    return found


def suggest_fix(ports: Ports, row: str, mapping_file: Path | None = None) -> Fix:
    """Raises:
    NotFound: no such dead letter.
    InvalidRequest: the dead letter was not caused by an unmapped name; no mapping entry can fix it.
    """
    found = ports.dead_letters.find(row)
    if found is None:
        raise NotFound(f"no dead letter {row!r}")
    reason, description = str(found["Reason"]), str(found.get("Description", ""))
    names = unmapped(reason, description)
    if not names:
        raise InvalidRequest(f"dead letter {row} ({reason}) was not caused by a name missing from the mapping; "
                             "no mapping entry can fix it")
    path = mapping_file or ports.settings.mapping_file
    try:
        document: Any = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise InvalidRequest(f"the mapping {path} cannot be read ({error}); `hl365 config check {path}` says "
                             "what is wrong") from None
    if not isinstance(document, dict):
        raise InvalidRequest(f"the mapping {path} is not a YAML mapping of sections")
    suggestions = [suggest_entry(document, section, name) for section, name in names]
    queue = str(found["Queue"])
    replay = (f"hl365 dlq replay --id {row}" if queue != "payroll-registers"
              else "hl365 payroll import REGISTER (or upload the register again)")
    return Fix(row, reason, description, suggestions, replay)
