"""``hl365 dedupe``: the customer matcher over a file, for a data steward before a migration or an audit.

Input is JSON Lines, one customer record a line. Every line is checked before anything is matched, and
every problem is reported as ``FILE:LINE: message`` so a person can fix the export; a file with any
problem matches nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson

from shared.customers.matching import Matches, MatchRules, match
from shared.customers.normalize import FIELDS, SOURCES, Normalized, record


class InputError(ValueError):
    """The input file cannot be matched; ``problems`` are ``FILE:LINE: message`` lines."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Result:
    records: int
    matches: Matches

    @property
    def merged(self) -> int:
        """Records that joined another: the records a merge would link to an existing profile."""
        return self.records - self.matches.profiles


MAX_PROBLEMS = 50


def read(path: Path, lines: Iterable[bytes] | None = None) -> list[Normalized]:
    """The records of ``path`` (or of ``lines`` named after it), normalised; ``InputError`` names every bad line."""
    return [record(raw) for raw in read_raw(path, lines)]


def read_raw(path: Path, lines: Iterable[bytes] | None = None) -> list[dict[str, Any]]:
    """The records of ``path`` as written, every line checked first; ``InputError`` names every bad line."""
    problems: list[str] = []
    out: list[dict[str, Any]] = []
    first_line: dict[str, int] = {}
    with contextlib.ExitStack() as stack:
        source = lines if lines is not None else stack.enter_context(path.open("rb"))
        for number, line in enumerate(source, 1):
            if len(problems) >= MAX_PROBLEMS:
                problems.append(f"{path}: stopped after {MAX_PROBLEMS} problems")
                break
            if not line.strip():
                continue
            try:
                raw = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                problems.append(f"{path}:{number}: not JSON ({exc.args[0].split(':')[0]})")
                continue
            problem = _check(raw)
            if problem:
                problems.append(f"{path}:{number}: {problem}")
                continue
            key = str(raw["id"])
            if key in first_line:
                problems.append(f"{path}:{number}: id {key!r} already on line {first_line[key]}")
                continue
            first_line[key] = number
            out.append(raw)
    if problems:
        raise InputError(problems)
    return out


def _check(raw: Any) -> str:
    if not isinstance(raw, dict):
        return "a line must be a JSON object"
    key = raw.get("id")
    if not isinstance(key, (str, int)) or isinstance(key, bool) or str(key).strip() == "":
        return "id: required, a non-empty string or integer"
    source = raw.get("source")
    if source not in SOURCES:
        return f"source: {source!r} is not one of {', '.join(SOURCES)}"
    for name in FIELDS:
        value = raw.get(name)
        if value is not None and not isinstance(value, (str, int)):
            return f"{name}: must be a string or null, not {type(value).__name__}"
    return ""


def dedupe(records: list[Normalized], rules: MatchRules | None = None) -> Result:
    return Result(len(records), match(records, rules))


def write_clusters(result: Result, records: Iterable[Normalized], out: IO[bytes]) -> None:
    """One ``{"id", "cluster_id"}`` a line for every input record, in input order; an id given as a number
    is written back as one."""
    clusters = result.matches.clusters
    for r in records:
        cluster = clusters[r.id]
        if r.id_was_number:
            out.write(orjson.dumps({"id": int(r.id), "cluster_id": int(cluster) if cluster.isdigit() else cluster})
                      + b"\n")
        else:
            out.write(orjson.dumps({"id": r.id, "cluster_id": cluster}) + b"\n")


def write_review(result: Result, out: IO[bytes]) -> None:
    for pair in result.matches.review:
        out.write(orjson.dumps(pair.row()) + b"\n")


def clusters_of(lines: Iterable[bytes]) -> Iterator[tuple[str, str]]:
    for line in lines:
        if line.strip():
            row = orjson.loads(line)
            yield str(row["id"]), str(row["cluster_id"])
