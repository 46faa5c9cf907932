"""Reads a Heartland Payroll register export (CSV or JSON) into a ``Register`` (U7).

Heartland Payroll has no API for completed runs, so the register comes from its export. Every problem in the
file is collected before anything is returned, each as ``FILE:LINE: COLUMN: MESSAGE`` (``-`` as the column when
the problem is the whole line or file); a file with any problem raises ``RegisterError`` and yields nothing.
The format is told by content: a JSON document starts with ``{`` (after an optional BOM and whitespace);
anything else is CSV. Text is UTF-8, with or without a BOM. A message names a column as the file does (``Amt``),
or by its canonical name when the file lacks it, and quotes at most 40 characters of a kept cell.

CSV layout
----------
Comma-separated, the first non-blank row naming the columns. The canonical columns are ``client_code``,
``pay_group``, ``period_start``, ``period_end``, ``check_date``, ``run_id``, ``employee_number``, ``department``,
``location``, ``labor_field``, ``type``, ``code``, ``hours`` and ``amount``. ``payroll.columns`` in the mapping
gives each the names an account's export uses (``amount: ["Amt"]``); names match whatever their case and
surrounding spaces, and the canonical name always works too. Any other column is ignored: it is never kept nor
quoted in a message (exports carry SSNs and bank accounts).

* Required columns: ``client_code``, ``pay_group``, ``period_start``, ``period_end``, ``check_date``,
  ``run_id`` (the run's header: on every line row, and the same on all rows; a totals row may leave them empty),
  ``employee_number``, ``department``, ``location``, ``code`` and ``amount``. Optional: ``type``, ``hours``,
  ``labor_field``. A row with more or fewer cells than the header is reported whole and not read.
* ``type`` is a family: ``earning``, ``withholding``, ``deduction_pre_tax``, ``deduction_post_tax``,
  ``employer_tax``, ``employer_contribution``, ``net_direct_deposit``, ``net_check`` (any case), or a
  ``payroll.types`` alias (``E: earning``); ``total`` marks a totals row. Without a ``type`` (no column, or an
  empty cell) the family is the one of ``payroll.codes`` that names the code; a code that several families name
  (``MED``) then needs its type.
* ``code`` must be a code of its family in ``payroll.codes``; net pay rows (``net_direct_deposit``,
  ``net_check``) need none (without a type, such a row gives its family, or an alias of it, as its code).
* A totals row carries the register's own total of one family or one code: its ``employee_number`` is
  ``TOTAL``, or empty with ``department`` and ``location`` empty too. Its family is its ``type``; with ``type``
  ``total`` or none, ``code`` names the family (``earning``) or a code of one family (``REG``). A row with no
  employee number but a department or location is a line that lost its employee number, and a problem.
* Dates are ``YYYY-MM-DD`` or ``MM/DD/YYYY``; ``period_start`` is on or before ``period_end``.
* Amounts are decimal, with an optional ``$``, thousands commas, and a leading ``-`` or parentheses for a
  negative: ``1234.50``, ``$1,234.50``, ``(12.00)``. No more decimals than the currency has (2 for USD; a CSV
  register is in USD). ``hours`` is a decimal that is not negative.
* ``department`` and ``location`` must be named in ``payroll.departments`` and ``payroll.locations`` when these
  are given. Blank rows are skipped.

JSON layout
-----------
One object::

    {"header": {"client_code": "HLD001", "pay_group": "BIWEEKLY", "period_start": "2026-06-01",
                "period_end": "2026-06-14", "check_date": "2026-06-19", "run_id": "20260619-1", "currency": "USD"},
     "lines": [{"employee_number": "E1001", "department": "KITCHEN", "location": "STORE1",
                "labor_field": "COOK", "type": "earning", "code": "REG", "hours": "80", "amount": "1520.00"}],
     "totals": [{"type": "earning", "amount": "1520.00"}, {"type": "earning", "code": "REG", "amount": "1520.00"}]}

The keys are the CSV's columns (``payroll.columns`` aliases apply), with the same values and checks; a line that
repeats a header field must agree with the header; other keys are ignored. ``currency`` is optional (USD);
``totals`` is optional and each takes ``type`` (or ``family``), an optional ``code`` and ``amount``. Amounts and
hours may be JSON numbers or strings; numbers are read exactly, never as binary floats. A problem names the line
where its object or value starts.
"""

from __future__ import annotations

import csv
import io
import json
import re
from bisect import bisect_left
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from shared.canonical.money import minor_units
from shared.canonical.payroll import NET, CodeFamily, Register, RegisterHeader, RegisterLine, RegisterTotal
from shared.errors import FatalError
from shared.payroll.rules import COLUMNS, PayrollRules

HEADER_FIELDS = ("client_code", "pay_group", "period_start", "period_end", "check_date", "run_id")
"""The run's header: once in a JSON register, on every row of a CSV one."""
DATES = ("period_start", "period_end", "check_date")
LINE_REQUIRED = ("employee_number", "department", "location", "amount")
CSV_REQUIRED = (*HEADER_FIELDS, "employee_number", "department", "location", "code", "amount")
TOTAL = "total"
SHOWN = 5
"""Problems the error's description lists; ``problems`` has every one."""
QUOTED = 40
"""The most of a cell a message quotes: enough to find it, never a whole free-text field."""

_LABELS = {
    CodeFamily.EARNING: "an earning",
    CodeFamily.WITHHOLDING: "a withholding",
    CodeFamily.DEDUCTION_PRE_TAX: "a pre-tax deduction",
    CodeFamily.DEDUCTION_POST_TAX: "a post-tax deduction",
    CodeFamily.EMPLOYER_TAX: "an employer tax",
    CodeFamily.EMPLOYER_CONTRIBUTION: "an employer contribution",
}
_NUMBER = re.compile(r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|\.\d+")
_ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_US_DATE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")
_WHITESPACE = re.compile(r"[ \t\r\n]*")
_DECODER = json.JSONDecoder(parse_float=Decimal, parse_constant=Decimal)


class RegisterError(FatalError):
    """A register file hl365 will not read. ``problems`` are every ``FILE:LINE: COLUMN: MESSAGE`` found; the
    description counts them and lists the first few."""

    def __init__(self, name: str, problems: list[str]) -> None:
        count = f"{len(problems)} problem{'' if len(problems) == 1 else 's'}"
        listed = "; ".join(problems[:SHOWN])
        more = f"; and {len(problems) - SHOWN} more" if len(problems) > SHOWN else ""
        super().__init__("RegisterInvalid", f"{count} in {name}; nothing was posted: {listed}{more}")
        self.name = name
        self.problems = problems


def read_register(name: str, data: bytes, rules: PayrollRules) -> Register:
    """The register in ``data`` (a CSV or JSON export named ``name``), read with the mapping's payroll rules.

    Raises:
        RegisterError: the file has problems; every one is in ``problems``.
    """
    reader = _Reader(name, rules)
    text = reader.decode(data)
    if text is not None:
        start = text.lstrip()
        if not start:
            reader.problem(1, "-", "the file is empty")
        elif start[0] in "{[":
            reader.read_json(text)
        else:
            reader.read_csv(text)
    return reader.finish()


@dataclass(frozen=True)
class _Cell:
    """A kept, non-empty value: text from a CSV, any JSON value from a JSON file."""

    value: Any
    line: int
    column: str
    """The column or key as the file names it."""


@dataclass(frozen=True)
class _Row:
    line: int
    cells: dict[str, _Cell]
    """Canonical column -> its cell; empty and absent cells are left out."""
    names: dict[str, str]
    """Canonical column -> the file's name for it, for messages about an absent cell."""

    def column(self, canonical: str) -> str:
        return self.names.get(canonical, canonical)


@dataclass(frozen=True)
class _Node:
    """A JSON value with the line it starts on; objects are ``[(key, node), ...]``, arrays ``[node, ...]``."""

    line: int
    kind: Literal["object", "array", "value"]
    value: Any


def _quote(text: str) -> str:
    return repr(text if len(text) <= QUOTED else text[:QUOTED] + "…")


class _Reader:
    def __init__(self, name: str, rules: PayrollRules) -> None:
        self.name = name
        self.rules = rules
        self.found: list[tuple[int, str, str]] = []
        self.aliases = {column: column for column in COLUMNS}
        for column, names in rules.columns.items():
            for alias in names:
                self.aliases.setdefault(alias.strip().casefold(), column)
        self.types: dict[str, CodeFamily] = {family.value: family for family in CodeFamily}
        for alias, family in rules.types.items():
            self.types.setdefault(alias.strip().casefold(), family)
        self.codes = {family: {code.casefold(): code for code in getattr(rules.codes, family.value)}
                      for family in CodeFamily if family not in NET}
        self.departments = {name.casefold(): name for name in rules.departments}
        self.locations = {name.casefold(): name for name in rules.locations}
        self.currency = "USD"
        self.header: dict[str, tuple[Any, str, int]] = {}
        """Header field -> (value, as written, line) of the first row that gave it validly."""
        self.lines: list[RegisterLine] = []
        self.totals: list[RegisterTotal] = []
        self.line_rows = 0
        self.reached_rows = False
        self.json = False
        self.type_column = True
        self.width = 0
        """Cells in the CSV's header row."""
        self.header_columns: dict[str, str] = {}
        """Header field -> the file's name for it."""

    def problem(self, line: int, column: str, message: str) -> None:
        self.found.append((line, column, message))

    # -- the file ------------------------------------------------------------------------------------------------

    def decode(self, data: bytes) -> str | None:
        if data.startswith((b"\xff\xfe", b"\xfe\xff")):
            self.problem(1, "-", "the file is UTF-16; export the register as UTF-8")
            return None
        try:
            return data.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            line = data.count(b"\n", 0, error.start) + 1
            self.problem(line, "-", f"not UTF-8 (byte 0x{data[error.start]:02x} cannot be read); export the "
                                    "register as UTF-8")
            return None

    def finish(self) -> Register:
        self._period()
        if self.reached_rows and not self.line_rows:
            self.problem(1, "-", "no register lines: the file has no employee's amounts")
        if not self.found and not all(name in self.header for name in HEADER_FIELDS):
            self.problem(1, "-", "the run's header is incomplete")
        if self.found:
            self.found.sort(key=lambda found: found[0])
            raise RegisterError(self.name, [f"{self.name}:{line}: {column}: {message}"
                                            for line, column, message in self.found])
        value = {name: self.header[name][0] for name in HEADER_FIELDS}
        header = RegisterHeader(currency=self.currency, **value)
        return Register(source=self.name, header=header, lines=tuple(self.lines), totals=tuple(self.totals))

    def _period(self) -> None:
        if "period_start" in self.header and "period_end" in self.header:
            start, _, _ = self.header["period_start"]
            end, written, line = self.header["period_end"]
            if start > end:
                self.problem(line, self.header_columns.get("period_end", "period_end"),
                             f"{_quote(written)} is before period_start {start.isoformat()}")

    # -- CSV -----------------------------------------------------------------------------------------------------

    def read_csv(self, text: str) -> None:
        rows = csv.reader(io.StringIO(text, newline=""))
        columns: dict[int, str] | None = None
        names: dict[str, str] = {}
        last = 0
        try:
            for cells in rows:
                line, last = last + 1, rows.line_num
                stripped = [cell.strip() for cell in cells]
                if not any(stripped):
                    continue
                if columns is None:
                    columns, names = self._csv_header(line, stripped)
                    if columns is None:
                        return
                    self.header_columns = names
                    self.reached_rows = True
                    continue
                if not any(stripped[index] for index in columns if index < len(stripped)):
                    continue  # nothing hl365 reads: a note under the export, say
                # A row out of step with the header would put one column's value under another's name, and so
                # could quote an ignored column (an SSN) as a kept one: it is reported whole and not read.
                if len(stripped) < self.width or any(stripped[self.width:]):
                    hint = ("is a cell missing?" if len(stripped) < self.width
                            else "is a value with a comma not in quotes?")
                    self.problem(line, "-", f"{_cells(len(stripped))} where the header has {self.width}: {hint}")
                    continue
                kept = {columns[index]: _Cell(cell, line, names[columns[index]])
                        for index, cell in enumerate(stripped) if index in columns and cell}
                self._csv_row(_Row(line, kept, names))
        except csv.Error as error:
            self.problem(rows.line_num or 1, "-", f"not readable as CSV ({error})")
        if columns is None:
            self.problem(1, "-", "no header row naming the columns")

    def _csv_header(self, line: int, cells: list[str]) -> tuple[dict[int, str] | None, dict[str, str]]:
        self.width = len(cells)
        columns: dict[int, str] = {}
        names: dict[str, str] = {}
        for index, cell in enumerate(cells):
            canonical = self.aliases.get(cell.casefold())
            if canonical is None:
                continue
            if canonical in names:
                self.problem(line, cell, f"names the same column as {_quote(names[canonical])} ({canonical})")
                continue
            columns[index] = canonical
            names[canonical] = cell
        self.type_column = "type" in names
        missing = [column for column in CSV_REQUIRED if column not in names]
        for column in missing:
            aliases = self.rules.columns.get(column, [])
            also = f" nor {' nor '.join(_quote(alias) for alias in aliases)}" if aliases else ""
            self.problem(line, column, f"no column named {column}{also}")
        if missing or any(found[0] == line for found in self.found):
            return None, names
        return columns, names

    def _csv_row(self, row: _Row) -> None:
        employee = self._text(row, "employee_number") or ""
        totals = employee.casefold() == TOTAL or (
            not employee and "department" not in row.cells and "location" not in row.cells)
        self._header_fields(row, required=not totals)
        if totals:
            self._total(row)
        else:
            self._line(row)

    # -- JSON ----------------------------------------------------------------------------------------------------

    def read_json(self, text: str) -> None:
        try:
            json.loads(text, parse_float=Decimal, parse_constant=Decimal)
        except json.JSONDecodeError as error:
            self.problem(error.lineno, "-", f"not valid JSON: {error.msg} (column {error.colno})")
            return
        except (ValueError, RecursionError):
            self.problem(1, "-", "not valid JSON: a number too long or values nested too deep")
            return
        root = _Locator(text).node()
        if root.kind != "object":
            self.problem(root.line, "-", 'a JSON register is an object: {"header": {...}, "lines": [...], '
                                         '"totals": [...]}')
            return
        parts: dict[str, _Node] = {}
        for key, node in root.value:
            part = key.strip().casefold()
            if part in parts:
                self.problem(node.line, key, f"{part} is given twice")
            parts[part] = node
        self.json = True
        header = parts.get("header")
        if header is None or header.kind != "object":
            self.problem(header.line if header else root.line, "header",
                         "required: an object with " + ", ".join(HEADER_FIELDS))
        else:
            self._json_header(header)
        lines = parts.get("lines")
        if lines is None or lines.kind != "array":
            self.problem(lines.line if lines else root.line, "lines", "required: an array of line objects")
        else:
            self.reached_rows = True
            for node in lines.value:
                row = self._json_row(node, "a line")
                if row is not None:
                    self._header_fields(row, required=False)
                    self._line(row)
        totals = parts.get("totals")
        if totals is not None and totals.kind != "array":
            self.problem(totals.line, "totals", "must be an array of totals objects")
        elif totals is not None:
            for node in totals.value:
                row = self._json_row(node, "a total", family_key=True)
                if row is not None:
                    self._total(row)

    def _json_row(self, node: _Node, what: str, *, family_key: bool = False) -> _Row | None:
        if node.kind != "object":
            self.problem(node.line, "-", f"{what} must be an object")
            return None
        cells: dict[str, _Cell] = {}
        names: dict[str, str] = {}
        for key, value in node.value:
            folded = key.strip().casefold()
            canonical = "type" if family_key and folded == "family" else self.aliases.get(folded)
            if canonical is None and folded == "currency":
                canonical = "currency"
            if canonical is None:
                continue
            if canonical in names:
                self.problem(value.line, key, f"names the same field as {_quote(names[canonical])} ({canonical})")
                continue
            names[canonical] = key
            if value.value is not None and not (isinstance(value.value, str) and not value.value.strip()):
                cells[canonical] = _Cell(value.value, value.line, key)
        return _Row(node.line, cells, names)

    def _json_header(self, node: _Node) -> None:
        row = self._json_row(node, "the header")
        if row is None:  # pragma: no cover (checked by the caller)
            return
        self.header_columns = row.names
        for name in HEADER_FIELDS:
            if name not in row.cells:
                self.problem(node.line, row.column(name), "required in the header")
        self._header_fields(row, required=False)
        if "currency" in row.cells:
            currency = self._text(row, "currency")
            if currency is not None:
                try:
                    minor_units(currency.upper())
                except ValueError:
                    cell = row.cells["currency"]
                    self.problem(cell.line, cell.column, f"{_quote(currency)} is not an ISO 4217 currency code")
                else:
                    self.currency = currency.upper()

    # -- rows ----------------------------------------------------------------------------------------------------

    def _header_fields(self, row: _Row, *, required: bool) -> None:
        """Each header field of the row, checked against the first row that gave it."""
        for name in HEADER_FIELDS:
            cell = row.cells.get(name)
            if cell is None:
                if required:
                    self.problem(row.line, row.column(name), "required on every row (the run's header)")
                continue
            value = self._date(row, name) if name in DATES else self._text(row, name)
            if value is None:
                continue
            written = str(cell.value).strip()
            first = self.header.get(name)
            if first is None:
                self.header[name] = (value, written, cell.line)
            elif first[0] != value:
                self.problem(cell.line, cell.column,
                             f"{_quote(written)} differs from {_quote(first[1])} on line {first[2]}")

    def _line(self, row: _Row) -> None:
        before = len(self.found)
        self.line_rows += 1
        for name in LINE_REQUIRED:
            if name not in row.cells:
                message = "required on a line row"
                if name == "employee_number" and not self.json:
                    message = "no employee number (a totals row has none, but no department or location either)"
                self.problem(row.line, row.column(name), message)
        employee = self._text(row, "employee_number")
        department = self._named(row, "department", self.departments, "payroll.departments")
        location = self._named(row, "location", self.locations, "payroll.locations")
        labor_field = self._text(row, "labor_field")
        family, code = self._family_and_code(row)
        amount = self._amount(row, "amount")
        hours = self._amount(row, "hours", hours=True)
        if len(self.found) > before or None in (employee, department, location, family, code, amount):
            return
        assert employee and department and location and family and code is not None and amount is not None
        self.lines.append(RegisterLine(where=f"{self.name}:{row.line}", employee_number=employee,
                                       department=department, location=location, family=family, code=code,
                                       amount=amount, hours=hours, labor_field=labor_field))

    def _family_and_code(self, row: _Row) -> tuple[CodeFamily | None, str | None]:
        kind = self._type(row)
        code = self._text(row, "code")
        if kind == TOTAL:
            cell = row.cells["type"]
            self.problem(cell.line, cell.column, "'total' marks a totals row: " + (
                'totals go under "totals"' if self.json else "it has no employee number"))
            return None, None
        if kind == "":
            return None, None
        if kind is None:
            if code is None:
                if "code" not in row.cells:
                    self.problem(row.line, row.column("code"), "required: the code (or a type) names the family")
                return None, None
            named = self._family_named(code)
            if named in NET:
                return named, ""
            family = self._family_of(row, code)
        else:
            family = CodeFamily(kind)
        if family is None:
            return None, None
        if family in NET:
            return family, code or ""
        if code is None:
            if "code" not in row.cells:
                self.problem(row.line, row.column("code"), f"required on {_LABELS[family]} row")
            return family, None
        return family, self._code_of(row, family, code)

    def _family_of(self, row: _Row, code: str) -> CodeFamily | None:
        cell = row.cells["code"]
        families = self.rules.codes.family_of(code)
        if not families:
            self.problem(cell.line, cell.column, f"{_quote(code)} is in no family of payroll.codes")
            return None
        if len(families) > 1:
            named = ", ".join(family.value for family in families)
            ask = "give the row its type" if self.type_column else "add a type column"
            self.problem(cell.line, cell.column, f"{_quote(code)} is a code of several families of payroll.codes "
                                                 f"({named}): {ask}")
            return None
        return families[0]

    def _code_of(self, row: _Row, family: CodeFamily, code: str) -> str | None:
        named = self.codes[family].get(code.casefold())
        if named is None:
            cell = row.cells["code"]
            self.problem(cell.line, cell.column,
                         f"{_quote(code)} is not {_LABELS[family]} code in payroll.codes.{family.value}")
        return named

    def _total(self, row: _Row) -> None:
        before = len(self.found)
        kind = self._type(row)
        code = self._text(row, "code")
        amount = self._amount(row, "amount")
        if "amount" not in row.cells:
            self.problem(row.line, row.column("amount"), "required: the register's total")
        family: CodeFamily | None = None
        of_code: str | None = None
        if kind == "":
            return
        if kind not in (None, TOTAL):
            family = CodeFamily(kind)
            if code is not None and family not in NET:
                of_code = self._code_of(row, family, code)
        elif code is not None:
            family = self._family_named(code)
            if family is None:
                families = self.rules.codes.family_of(code)
                cell = row.cells["code"]
                if len(families) == 1:
                    family, of_code = families[0], self.codes[families[0]][code.casefold()]
                elif families:
                    named = ", ".join(f.value for f in families)
                    self.problem(cell.line, cell.column, f"{_quote(code)} is a code of several families of "
                                                         f"payroll.codes ({named}): give the totals row its type")
                else:
                    self.problem(cell.line, cell.column, f"{_quote(code)} names no family and is in no family of "
                                                         "payroll.codes")
        elif "code" not in row.cells:
            self.problem(row.line, row.column("type"),
                         "a totals row needs its family: a type, or type total with the family or a code as code")
        if len(self.found) > before or family is None or amount is None:
            return
        self.totals.append(RegisterTotal(where=f"{self.name}:{row.line}", family=family, amount=amount,
                                         code=of_code))

    # -- values --------------------------------------------------------------------------------------------------

    def _text(self, row: _Row, name: str) -> str | None:
        cell = row.cells.get(name)
        if cell is None:
            return None
        value = cell.value
        if isinstance(value, str):
            return value.strip() or None
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        self.problem(cell.line, cell.column, f"must be text, not {_kind(value)}")
        return None

    def _type(self, row: _Row) -> str | None:
        """The row's family (its value), ``total``, None when the row has no type, or "" when it is wrong."""
        text = self._text(row, "type")
        if text is None:
            return "" if "type" in row.cells else None
        if text.casefold() == TOTAL:
            return TOTAL
        family = self._family_named(text)
        if family is None:
            cell = row.cells["type"]
            aliases = f" or one of payroll.types ({', '.join(self.rules.types)})" if self.rules.types else ""
            self.problem(cell.line, cell.column, f"{_quote(text)} is not a type: a family "
                                                 f"({', '.join(CodeFamily)}){aliases}, or total")
            return ""
        return family.value

    def _family_named(self, text: str) -> CodeFamily | None:
        return self.types.get(text.strip().casefold())

    def _named(self, row: _Row, name: str, known: dict[str, str], where: str) -> str | None:
        text = self._text(row, name)
        if text is None or not known:
            return text
        named = known.get(text.casefold())
        if named is None:
            cell = row.cells[name]
            self.problem(cell.line, cell.column, f"{_quote(text)} is not in {where}")
        return named

    def _date(self, row: _Row, name: str) -> date | None:
        cell = row.cells[name]
        if not isinstance(cell.value, str):
            self.problem(cell.line, cell.column, f"must be a date as text, not {_kind(cell.value)}")
            return None
        text = cell.value.strip()
        iso, us = _ISO_DATE.fullmatch(text), _US_DATE.fullmatch(text)
        try:
            if iso:
                return date(int(iso[1]), int(iso[2]), int(iso[3]))
            if us:
                return date(int(us[3]), int(us[1]), int(us[2]))
        except ValueError:
            pass
        self.problem(cell.line, cell.column, f"{_quote(text)} is not a date (YYYY-MM-DD or MM/DD/YYYY)")
        return None

    def _amount(self, row: _Row, name: str, *, hours: bool = False) -> Decimal | None:
        """An amount to the currency's cent (or hours), read exactly; None when absent or wrong (reported)."""
        cell = row.cells.get(name)
        if cell is None:
            return None
        value = cell.value
        written = str(value).strip() if isinstance(value, str | int | Decimal) else ""
        number: Decimal | None
        if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
            self.problem(cell.line, cell.column, f"must be a number or text, not {_kind(value)}")
            return None
        if isinstance(value, str):
            number = _parse_number(value, money=not hours)
        else:
            number = Decimal(value)
        what = "a number of hours" if hours else "an amount"
        if number is None or not number.is_finite():
            self.problem(cell.line, cell.column, f"{_quote(written)} is not {what}")
            return None
        if hours:
            if number < 0:
                self.problem(cell.line, cell.column, f"{_quote(written)}: hours cannot be negative")
                return None
            return number
        places = minor_units(self.currency)
        try:
            rounded = number.quantize(Decimal(1).scaleb(-places))
        except InvalidOperation:
            self.problem(cell.line, cell.column, f"{_quote(written)} is too large an amount")
            return None
        if rounded != number:
            self.problem(cell.line, cell.column,
                         f"{_quote(written)} has more decimals than {self.currency}'s {places}")
            return None
        return rounded if rounded else abs(rounded)


def _parse_number(text: str, *, money: bool) -> Decimal | None:
    """``1,234.50``, ``$1,234.50``, ``-$12``, ``(12.00)``; hours take neither ``$`` nor parentheses."""
    rest = text.strip()
    negative = False
    if money and rest.startswith("(") and rest.endswith(")"):
        negative, rest = True, rest[1:-1].strip()
    if rest.startswith("-"):
        if negative:
            return None
        negative, rest = True, rest[1:].lstrip()
    if money and rest.startswith("$"):
        rest = rest[1:].lstrip()
        if rest.startswith("-") and not negative:
            negative, rest = True, rest[1:].lstrip()
    if not _NUMBER.fullmatch(rest):
        return None
    number = Decimal(rest.replace(",", ""))
    return -number if negative else number


def _cells(count: int) -> str:
    return f"{count} cell{'' if count == 1 else 's'}"


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, int | Decimal):
        return "a number"
    return "null" if value is None else "text"


class _Locator:
    """Walks a JSON document the standard parser accepted, keeping the line each value starts on. Only the
    levels a register has (document, its parts, their items) are walked; deeper values are decoded whole."""

    DEPTH = 2

    def __init__(self, text: str) -> None:
        self.text = text
        self.newlines = [match.start() for match in re.finditer("\n", text)]

    def line(self, position: int) -> int:
        return bisect_left(self.newlines, position) + 1

    def skip(self, position: int) -> int:
        found = _WHITESPACE.match(self.text, position)
        return found.end() if found else position

    def node(self, position: int = 0, depth: int = 0) -> _Node:
        return self._node(position, depth)[0]

    def _node(self, position: int, depth: int) -> tuple[_Node, int]:
        position = self.skip(position)
        line = self.line(position)
        opening = self.text[position]
        if depth > self.DEPTH or opening not in "{[":
            value, end = _DECODER.raw_decode(self.text, position)
            return _Node(line, "value", value), end
        kind: Literal["object", "array"] = "object" if opening == "{" else "array"
        closing = "}" if opening == "{" else "]"
        items: list[Any] = []
        position = self.skip(position + 1)
        if self.text[position] == closing:
            return _Node(line, kind, items), position + 1
        while True:
            if kind == "object":
                key, position = _DECODER.raw_decode(self.text, position)
                value, position = self._node(self.skip(position) + 1, depth + 1)  # past ':'
                items.append((key, value))
            else:
                value, position = self._node(position, depth + 1)
                items.append(value)
            position = self.skip(position)
            if self.text[position] == closing:
                return _Node(line, kind, items), position + 1
            position = self.skip(position + 1)  # past ','
