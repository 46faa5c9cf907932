"""``hl365 pci-scan FILE...``: which files hold a card number, where, masked; never the digits.

Every file is read as text (UTF-8, else latin-1); a JSON document is walked so a finding names its JSON path
(and the line it is on), any other text gives ``line:column``. Detection is ``shared.security.pan``'s, the
one intake uses."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from shared.security.pan import _find, mask_pan, redact, scan

log = logging.getLogger(__name__)

_BINARY_PROBE = 8192


class UnreadableFile(Exception):
    """A file that cannot be scanned as text: missing, unreadable, a directory, or binary."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


@dataclass(frozen=True)
class Finding:
    """A card number in a file: where (``line:column``, or a JSON path and its line) and masked."""

    file: str
    location: str
    masked: str

    def __str__(self) -> str:
        return f"{self.file}:{self.location}: {self.masked}"


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)
    clean: list[str] = field(default_factory=list)
    unreadable: list[tuple[str, str]] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """2 when a file could not be read (the set is not vouched for), else 1 on any card number, else 0."""
        if self.unreadable:
            return 2
        return 1 if self.findings else 0


def _read(path: Path) -> str:
    name = redact(str(path))
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise UnreadableFile(name, error.strerror or type(error).__name__) from None
    if b"\x00" in raw[:_BINARY_PROBE]:
        raise UnreadableFile(name, "binary file")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _line_column(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def scan_text(name: str, text: str) -> list[Finding]:
    """Findings in ``text`` (the contents of file ``name``), located by ``line:column`` or JSON path."""
    in_text = [(start, mask) for start, _, mask in ((s, e, mask_pan(d)) for s, e, d in _find(text, ""))]
    stripped = text.lstrip()
    if stripped[:1] in ("{", "["):
        try:
            payload = json.loads(text)
        except ValueError:
            payload = None
        if payload is not None:
            findings = []
            unused = list(in_text)
            for found in scan(payload):
                match = next((i for i, (_, m) in enumerate(unused) if m == found.masked), None)
                where = found.path
                if match is not None:
                    line, _ = _line_column(text, unused.pop(match)[0])
                    where = f"{where} (line {line})"
                findings.append(Finding(name, where, found.masked))
            return findings
    return [Finding(name, "{}:{}".format(*_line_column(text, start)), mask) for start, mask in in_text]


def scan_file(path: str | Path) -> list[Finding]:
    """Card numbers in one file.

    Raises:
        UnreadableFile: the file is missing, unreadable or binary.
    """
    path = Path(path)
    text = _read(path)
    findings = scan_text(redact(str(path)), text)
    log.debug("pci-scan %s: %d finding(s)", redact(str(path)), len(findings))
    return findings


def scan_paths(paths: Iterable[str | Path]) -> Report:
    """Every file scanned; the unreadable ones named with why, never stopping the others."""
    report = Report()
    for path in paths:
        try:
            findings = scan_file(path)
        except UnreadableFile as error:
            log.debug("pci-scan unreadable: %s", error)
            report.unreadable.append((error.path, error.reason))
            continue
        if findings:
            report.findings.extend(findings)
        else:
            report.clean.append(redact(str(path)))
    return report


def main(argv: Sequence[str]) -> int:
    """Scan the files named in ``argv``, print each finding (``file:location: masked``) to stdout and each
    unreadable file to stderr, and return the exit code: 0 clean, 1 card numbers found, 2 a file unreadable."""
    if not argv:
        print("usage: hl365 pci-scan FILE...", file=sys.stderr)
        return 2
    report = scan_paths(argv)
    for finding in report.findings:
        print(finding)
    for path, reason in report.unreadable:
        print(f"{path}: unreadable ({reason})", file=sys.stderr)
    print(f"{len(report.findings)} card number(s) in {len({f.file for f in report.findings})} file(s); "
          f"{len(report.clean)} clean, {len(report.unreadable)} unreadable", file=sys.stderr)
    return report.exit_code
