"""Workflow rules business users write: a YAML file of conditions in CEL and the actions they take on a
canonical event before it is posted.

Conditions are CEL (cel-python): an expression language with no access to the process, the files or the
network, so a rules file can never run code. A condition sees ``payment`` (see ``payment_activation``),
``flags`` (the anomaly patterns raised on the transaction) and ``event`` (its envelope's ``type`` and
``source``).

Rules run in file order. Every rule whose condition holds contributes its actions; the first ``skip`` or
``hold_for_review`` ends the evaluation, and of several ``route`` or ``enrich`` of one field the first wins,
so an earlier rule takes precedence as a person reading the file top to bottom expects. A condition that
cannot be evaluated on an event holds that event for review: a rule that failed quietly would let through
exactly what it was written to stop.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any

import celpy
import yaml
from celpy import celtypes

from shared.canonical.money import minor_units
from shared.canonical.payments import Payment
from shared.mapping.loader import Problem

KINDS = ("payment",)
"""The events rules are evaluated on."""


class Route(StrEnum):
    """Where a payment is booked: the customer ledger (applied to its sales order) or the end-of-day
    settlement journal. Without a rule, the mapping's ``customer_payments.order_reference`` decides."""

    CUSTOMER_LEDGER = "customer_ledger"
    SETTLEMENT_JOURNAL = "settlement_journal"


ENRICHABLE = {"note": 60, "reference": 60}
"""The payment fields a rule may set, with the longest value each takes: ``note`` becomes the journal line's
text, ``reference`` the order the payment is applied to."""

ACTIONS = ("route", "hold_for_review", "enrich", "alert", "skip")


class RulesError(Exception):
    """The rules file has problems; ``problems`` lists each one. Events wait (they are neither posted nor
    dead-lettered) until the file is fixed."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class Action:
    kind: str
    text: str = ""
    route: Route | None = None
    enrich: Mapping[str, celpy.Runner] = field(default_factory=dict)


@dataclass(frozen=True)
class Rule:
    name: str
    condition: str
    program: celpy.Runner
    actions: tuple[Action, ...]
    line: int
    description: str = ""


@dataclass(frozen=True)
class Rules:
    rules: tuple[Rule, ...] = ()
    locations: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @property
    def uses_flags(self) -> bool:
        """Whether any condition reads ``flags``: only then are the transaction's flags looked up."""
        return any(re.search(r"\bflags\b", rule.condition) for rule in self.rules)


@dataclass
class Decision:
    """What the rules decided for one event, in words for the audit trail."""

    matched: list[str] = field(default_factory=list)
    skip: str | None = None
    hold: str | None = None
    route: Route | None = None
    enrich: dict[str, str] = field(default_factory=dict)
    alerts: list[tuple[str, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def outcome(self) -> str:
        if self.hold is not None:
            return "hold_for_review"
        if self.skip is not None:
            return "skip"
        return "post"

    def summary(self) -> str:
        """One line: the rules that matched and what they did (empty when none did)."""
        parts = []
        if self.hold is not None:
            parts.append(f"held: {self.hold}")
        if self.skip is not None:
            parts.append(f"skipped: {self.skip}")
        if self.route is not None:
            parts.append(f"routed to {self.route.value}")
        parts += [f"{name} set to {value!r}" for name, value in self.enrich.items()]
        parts += [f"alert: {text}" for _, text in self.alerts]
        rules = ", ".join(self.matched)
        return f"{rules}: {'; '.join(parts)}" if rules else ""


_ENVIRONMENT = celpy.Environment()


def _compile(text: str) -> celpy.Runner:
    return _ENVIRONMENT.program(_ENVIRONMENT.compile(text))


SAMPLE = Payment.model_validate({
    "transaction_id": "TRN_sample", "merchant_id": "MER_sample", "kind": "sale", "status": "CAPTURED",
    "amount": {"amount": "12.50", "currency": "USD"}, "reference": "S-ORD000001", "batch_id": "BAT_1",
    "card_brand": "VISA", "card_last4": "4242", "auth_code": "A1", "occurred_at": "2026-01-02T15:04:05+00:00"})
"""What every condition is tried on when the file is checked, so a misspelt field is found then, not on the
first real payment."""


def payment_activation(payment: Payment, flags: Sequence[str] = (), event_type: str = "payment.normalised",
                       source: str = "heartland.gp") -> dict[str, Any]:
    """What a condition sees. ``amount`` is a double for comparisons (``payment.amount >= 500.0``) and
    ``amount_minor`` the exact amount in minor units; absent text is the empty string, so a condition never
    fails on a payment that lacks, say, a reference."""
    amount = payment.amount.amount
    exponent = Decimal(10) ** minor_units(payment.amount.currency)
    return {
        "payment": celtypes.MapType({
            celtypes.StringType("transaction_id"): celtypes.StringType(payment.transaction_id),
            celtypes.StringType("merchant_id"): celtypes.StringType(payment.merchant_id),
            celtypes.StringType("kind"): celtypes.StringType(payment.kind.value),
            celtypes.StringType("status"): celtypes.StringType(payment.status.value),
            celtypes.StringType("amount"): celtypes.DoubleType(float(amount)),
            celtypes.StringType("amount_minor"): celtypes.IntType(int(amount * exponent)),
            celtypes.StringType("currency"): celtypes.StringType(payment.amount.currency),
            celtypes.StringType("reference"): celtypes.StringType(payment.reference or ""),
            celtypes.StringType("batch_id"): celtypes.StringType(payment.batch_id or ""),
            celtypes.StringType("card_brand"): celtypes.StringType(payment.card_brand or ""),
            celtypes.StringType("card_last4"): celtypes.StringType(payment.card_last4 or ""),
            celtypes.StringType("occurred_at"): celtypes.TimestampType(payment.occurred_at),
        }),
        "flags": celtypes.ListType([celtypes.StringType(f) for f in flags]),
        "event": celtypes.MapType({celtypes.StringType("type"): celtypes.StringType(event_type),
                                   celtypes.StringType("source"): celtypes.StringType(source)}),
    }


def decide(rules: Rules, activation: Mapping[str, Any]) -> Decision:
    """Evaluate every rule on one event; see the module for the order and precedence."""
    decision = Decision()
    for rule in rules.rules:
        try:
            holds = rule.program.evaluate(dict(activation))
        except celpy.CELEvalError as error:
            decision.matched.append(rule.name)
            decision.errors.append(f"{rule.name}: {_eval_message(error)}")
            decision.hold = f"rule {rule.name} could not be evaluated ({_eval_message(error)})"
            return decision
        if holds is not celtypes.BoolType(True) and holds != celtypes.BoolType(True):
            continue
        decision.matched.append(rule.name)
        for action in rule.actions:
            if action.kind == "skip":
                decision.skip = f"rule {rule.name}" + (f": {action.text}" if action.text else "")
            elif action.kind == "hold_for_review":
                decision.hold = f"rule {rule.name}" + (f": {action.text}" if action.text else "")
            elif action.kind == "alert":
                decision.alerts.append((rule.name, action.text))
            elif action.kind == "route" and decision.route is None:
                decision.route = action.route
            elif action.kind == "enrich":
                for name, program in action.enrich.items():
                    if name in decision.enrich:
                        continue
                    try:
                        value = program.evaluate(dict(activation))
                    except celpy.CELEvalError as error:
                        decision.errors.append(f"{rule.name}: {name}: {_eval_message(error)}")
                        decision.hold = f"rule {rule.name} could not compute {name} ({_eval_message(error)})"
                        return decision
                    decision.enrich[name] = str(value)[:ENRICHABLE[name]]
        if decision.hold is not None or decision.skip is not None:
            return decision
    return decision


def apply(payment: Payment, decision: Decision) -> Payment:
    """The payment as the rules left it: enriched fields set, the route chosen."""
    update: dict[str, Any] = dict(decision.enrich)
    if decision.route is not None:
        update["route"] = decision.route.value
    return payment.model_copy(update=update) if update else payment


def _eval_message(error: celpy.CELEvalError) -> str:
    message = error.args[0] if error.args else str(error)
    found = re.search(r"no such member in mapping: '([^']+)'", str(message))
    if found:
        return f"there is no field {found.group(1)!r}"
    if "no matching overload" in str(message):
        return "these values cannot be compared or combined (write a decimal amount as 500.0, text in quotes)"
    return str(message)


# --- the file -------------------------------------------------------------------------------------------


def _lines(node: yaml.Node, path: tuple[str | int, ...], found: dict[tuple[str | int, ...], yaml.Node]) -> None:
    found[path] = node
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            _lines(value, (*path, str(key.value)), found)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _lines(item, (*path, index), found)


class _Checker:
    def __init__(self, name: str, nodes: dict[tuple[str | int, ...], yaml.Node], text: str) -> None:
        self.name = name
        self.text = text
        self.nodes = nodes
        self.problems: list[Problem] = []

    def line(self, path: tuple[str | int, ...]) -> int:
        for n in range(len(path), -1, -1):
            if path[:n] in self.nodes:
                return self.nodes[path[:n]].start_mark.line + 1
        return 1

    def add(self, path: tuple[str | int, ...], message: str, line: int | None = None) -> None:
        where = ".".join(str(p) for p in path) or "(document)"
        self.problems.append(Problem(self.name, line or self.line(path), where, message))

    def expression(self, path: tuple[str | int, ...], text: object) -> celpy.Runner | None:
        """A compiled expression, or a problem at the line of the expression's own error."""
        if not isinstance(text, str) or not text.strip():
            self.add(path, "must be a CEL expression (text)")
            return None
        try:
            return _compile(text)
        except celpy.CELParseError as error:
            line = self._line_of(path, text, error.line or 1, error.column or 1)
            expression_line = text.splitlines()[(error.line or 1) - 1] if text.splitlines() else text
            self.add(path, f"not a valid CEL expression near {expression_line.strip()!r} (column {error.column})",
                     line)
            return None

    def _line_of(self, path: tuple[str | int, ...], text: str, line: int, column: int) -> int:
        """The file line of a position in an expression: a literal block keeps its lines, a folded one joins
        them with spaces, so the column is walked back over the lines it came from."""
        node = self.nodes.get(path)
        start = self.line(path)
        if not isinstance(node, yaml.ScalarNode) or node.style not in ("|", ">"):
            return start + line - 1
        if node.style == "|":
            return start + line
        offset = 0
        for index, part in enumerate(text.splitlines()[0].split(" ") if text.splitlines() else []):
            offset += len(part) + 1
            if offset >= column:
                return start + 1 + _folded_line(self.source(node), index)
        return start + 1

    def source(self, node: yaml.Node) -> list[str]:
        return [row.strip() for row in self.text[node.start_mark.index:node.end_mark.index].splitlines()[1:]]


def _folded_line(rows: list[str], word: int) -> int:
    """Which of a folded scalar's source rows holds its ``word``-th space-separated word."""
    seen = 0
    for index, row in enumerate(rows):
        seen += len(row.split(" ")) if row else 0
        if word < seen:
            return index
    return max(len(rows) - 1, 0)


def check(path: Path) -> tuple[Rules | None, list[Problem]]:
    """Parse, compile and try every rule; returns the rules (None if any problem) and every problem found,
    each at its file line."""
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        return None, [Problem(name, 0, "(file)", f"cannot read: {exc.strerror}")]
    return parse(text, name)


def parse(text: str, name: str = "rules.yaml") -> tuple[Rules | None, list[Problem]]:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        document: Any = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else 0
        return None, [Problem(name, line, "(syntax)", str(exc.problem or exc))]
    if not isinstance(document, dict) or node is None:
        return None, [Problem(name, 1, "(document)", "a rules file is a YAML mapping with `rules:`")]
    nodes: dict[tuple[str | int, ...], yaml.Node] = {}
    _lines(node, (), nodes)
    checker = _Checker(name, nodes, text)
    for key in document:
        if key not in ("version", "rules", "locations"):
            checker.add((str(key),), "not a section of a rules file (version, rules, locations)")
    if document.get("version", 1) != 1:
        checker.add(("version",), "only version 1 exists")
    locations = _locations(checker, document.get("locations", {}))
    raw = document.get("rules")
    rules: list[Rule] = []
    if not isinstance(raw, list):
        checker.add(("rules",), "must be a list of rules")
        raw = []
    seen: dict[str, int] = {}
    for index, item in enumerate(raw):
        rule = _rule(checker, ("rules", index), item)
        if rule is None:
            continue
        if rule.name in seen:
            checker.add(("rules", index, "name"), f"rule {rule.name!r} is already defined at line {seen[rule.name]}")
            continue
        seen[rule.name] = rule.line
        rules.append(rule)
    problems = sorted(checker.problems, key=lambda p: (p.line, p.field))
    if problems:
        return None, problems
    return Rules(tuple(rules), locations), []


def _locations(checker: _Checker, raw: object) -> dict[str, dict[str, Any]]:
    if not isinstance(raw, dict):
        checker.add(("locations",), "must map a merchant or store code to its metro and hours")
        return {}
    found: dict[str, dict[str, Any]] = {}
    for code, entry in raw.items():
        path: tuple[str | int, ...] = ("locations", str(code))
        if not isinstance(entry, dict):
            checker.add(path, "must be {metro, opens, closes} or {online: true}")
            continue
        unknown = set(entry) - {"metro", "opens", "closes", "online", "lat", "lon"}
        for key in sorted(unknown):
            checker.add((*path, key), "not a setting of a location (metro, opens, closes, online, lat, lon)")
        for key in ("opens", "closes"):
            value = entry.get(key)
            if value is not None and not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", str(value)):
                checker.add((*path, key), f"{value!r} is not a time of day HH:MM")
        if not entry.get("online") and not entry.get("metro"):
            checker.add(path, "a store needs its metro (or online: true)")
        found[str(code)] = dict(entry)
    return found


def _rule(checker: _Checker, path: tuple[str | int, ...], item: object) -> Rule | None:
    if not isinstance(item, dict):
        checker.add(path, "a rule is {name, when, then}")
        return None
    before = len(checker.problems)
    for key in sorted(set(item) - {"name", "description", "event", "when", "then"}):
        checker.add((*path, key), "not a setting of a rule (name, description, event, when, then)")
    name = item.get("name")
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9 _.-]{0,79}", name):
        checker.add((*path, "name"), "required: letters, digits, spaces, '-', '_' or '.', at most 80")
        name = f"#{path[-1]}"
    kind = item.get("event", "payment")
    if kind not in KINDS:
        checker.add((*path, "event"), f"{kind!r} is not an event rules run on ({', '.join(KINDS)})")
    program = checker.expression((*path, "when"), item.get("when"))
    actions = _actions(checker, (*path, "then"), item.get("then"))
    if program is not None and len(checker.problems) == before:
        try:
            result = program.evaluate(payment_activation(SAMPLE, ["duplicate_charge"]))
        except celpy.CELEvalError as error:
            checker.add((*path, "when"), _eval_message(error))
        else:
            if not isinstance(result, celtypes.BoolType):
                kind_of = type(result).__name__.removesuffix("Type").lower()
                checker.add((*path, "when"), f"must be true or false, not a {kind_of}")
        for action in actions:
            for field_name, enrich in action.enrich.items():
                try:
                    enrich.evaluate(payment_activation(SAMPLE))
                except celpy.CELEvalError as error:
                    checker.add((*path, "then"), f"enrich {field_name}: {_eval_message(error)}")
    if len(checker.problems) != before or program is None:
        return None
    return Rule(str(name), str(item["when"]), program, tuple(actions), checker.line(path),
                str(item.get("description", "")))


def _actions(checker: _Checker, path: tuple[str | int, ...], raw: object) -> list[Action]:
    if isinstance(raw, (str, dict)):
        raw = [raw]
    if not isinstance(raw, list) or not raw:
        checker.add(path, f"list the actions: {', '.join(ACTIONS)}")
        return []
    actions = []
    for index, item in enumerate(raw):
        where = (*path, index)
        if isinstance(item, str):
            kind, value = item, None
        elif isinstance(item, dict) and len(item) == 1:
            kind, value = next(iter(item.items()))
        else:
            checker.add(where, f"an action is one of {', '.join(ACTIONS)}, e.g. `- hold_for_review: why`")
            continue
        if kind not in ACTIONS:
            checker.add(where, f"{kind!r} is not an action ({', '.join(ACTIONS)})")
            continue
        if kind in ("skip", "hold_for_review", "alert"):
            if kind == "alert" and not value:
                checker.add(where, "an alert needs its message")
                continue
            actions.append(Action(kind, str(value or "")))
        elif kind == "route":
            try:
                actions.append(Action(kind, route=Route(str(value))))
            except ValueError:
                checker.add((*where, "route"), f"{value!r} is not a route ({', '.join(r.value for r in Route)})")
        else:
            enrich = _enrich(checker, (*where, "enrich"), value)
            if enrich:
                actions.append(Action(kind, enrich=enrich))
    return actions


def _enrich(checker: _Checker, path: tuple[str | int, ...], value: object) -> dict[str, celpy.Runner]:
    if not isinstance(value, dict) or not value:
        checker.add(path, f"enrich sets fields: {{{', '.join(ENRICHABLE)}: CEL expression}}")
        return {}
    programs = {}
    for name, expression in value.items():
        if name not in ENRICHABLE:
            checker.add((*path, str(name)), f"a rule may set {', '.join(ENRICHABLE)}, not {name!r}")
            continue
        program = checker.expression((*path, str(name)), expression)
        if program is not None:
            programs[str(name)] = program
    return programs


def load(path: Path) -> Rules:
    """Raises:
    RulesError: listing every problem with file, line and field.
    """
    rules, problems = check(path)
    if rules is None:
        raise RulesError(problems)
    return rules
