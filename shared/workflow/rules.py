"""Workflow rules business users write: a YAML file of conditions in CEL and the actions they take on a
card payment before it is posted to the customer ledger.

Rules decide only what the payment stream itself posts: a payment applied to a sales order. A till sale is
booked by the end-of-day settlement journal from the gateway's settlement, which no rule changes, so rules are
not evaluated on it (they would seem to hold what is booked anyway). A reversal is never held or skipped: it
undoes what was posted, and holding it would leave the ledger overstated; its rules alert only.

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
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import Any

import celpy
import yaml
from celpy import celtypes

from shared.anomalies.detector import LocationsError, locations_from
from shared.canonical.money import minor_units
from shared.canonical.payments import Payment
from shared.mapping.loader import Problem, compose, read_text

KINDS = ("payment",)
"""The events rules are evaluated on."""


JOURNAL = re.compile(r"^[A-Za-z0-9_-]{1,10}$")
"""A customer payment journal name as F&O and Business Central take it (at most 10 characters)."""


ENRICHABLE = {"note": 60}
"""The payment fields a rule may set, with the longest value each takes: ``note`` becomes the journal line's
text."""

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
    route: str | None = None
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

    @cached_property
    def journals(self) -> set[str]:
        """The customer payment journals the rules route to."""
        return {action.route for rule in self.rules for action in rule.actions if action.route}

    @cached_property
    def uses_flags(self) -> bool:
        """Whether any condition reads ``flags``: only then are the transaction's flags looked up."""
        return any(re.search(r"\bflags\b", rule.condition) for rule in self.rules)


@dataclass
class Decision:
    """What the rules decided for one event, in words for the audit trail."""

    matched: list[str] = field(default_factory=list)
    skip: str | None = None
    hold: str | None = None
    route: str | None = None
    enrich: dict[str, str] = field(default_factory=dict)
    alerts: list[tuple[str, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

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
            parts.append(f"routed to journal {self.route}")
        parts += [f"{name} set to {value!r}" for name, value in self.enrich.items()]
        parts += [f"alert: {text}" for _, text in self.alerts]
        parts += self.notes
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
BARE = SAMPLE.model_copy(update={"reference": None, "card_brand": None, "card_last4": None, "auth_code": None,
                                 "batch_id": None})
"""A payment with nothing optional: what a condition must also work on."""


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
        except Exception as error:  # cel-python raises its own errors and plain ones (OverflowError)
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
                    except Exception as error:
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
        update["journal"] = decision.route
    return payment.model_copy(update=update) if update else payment


def _eval_message(error: BaseException) -> str:
    """The error in a few words a rule's author can act on (never the whole activation cel-python may quote)."""
    message = str(error.args[0] if error.args else error)
    found = re.search(r"no such member in mapping: '([^']+)'", message)
    if found:
        return f"there is no field {found.group(1)!r}"
    found = re.search(r"undeclared reference to '([^']+)'", message)
    if found:
        return f"{found.group(1)!r} is neither payment, flags nor event"
    if "no matching overload" in message or "no such overload" in message:
        return "these values cannot be compared or combined (write a decimal amount as 500.0, text in quotes)"
    if isinstance(error, celpy.CELEvalError) and len(error.args) > 1 and isinstance(error.args[1], type):
        return f"{error.args[1].__name__}: {message[:160]}"
    return f"{type(error).__name__}: {message[:160]}"


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

    def line_naming(self, path: tuple[str | int, ...], word: str) -> int:
        """The file line of the expression at ``path`` where ``word`` first appears (its first line if nowhere)."""
        node = self.nodes.get(path)
        if node is None:
            return self.line(path)
        rows = self.text[node.start_mark.index:node.end_mark.index].splitlines()
        found = next((n for n, row in enumerate(rows) if re.search(rf"\b{re.escape(word)}\b", row)), 0)
        return node.start_mark.line + 1 + found

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
    text = read_text(path)
    if isinstance(text, Problem):
        return None, [text]
    return parse(text, str(path))


def parse(text: str, name: str = "rules.yaml") -> tuple[Rules | None, list[Problem]]:
    composed = compose(text, name, "a rules file is a YAML mapping with `rules:`")
    if isinstance(composed, Problem):
        return None, [composed]
    document, node = composed
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


def _locations(checker: _Checker, raw: object) -> dict[str, Any]:
    """Checked by the anomaly detector's own reader, so what passes here is what the watch can use."""
    if not isinstance(raw, dict):
        checker.add(("locations",), "must map a merchant or store code to its metro and hours")
        return {}
    for code, entry in raw.items():
        try:
            locations_from({code: entry}, "")
        except LocationsError as error:
            checker.add(("locations", str(code)), str(error).removeprefix(": ").removeprefix(f"{code}: "))
    return dict(raw)


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
        _try(checker, (*path, "when"), program, condition=True)
        for action in actions:
            for field_name, enrich in action.enrich.items():
                _try(checker, (*path, "then"), enrich, condition=False, what=f"enrich {field_name}: ")
    if len(checker.problems) != before or program is None:
        return None
    return Rule(str(name), str(item["when"]), program, tuple(actions), checker.line(path),
                str(item.get("description", "")))


MAX_SECONDS = 0.05
"""The longest one condition may take on one payment; a rule written as nested loops over lists could take
seconds for every payment of the stream."""


def _try(checker: _Checker, path: tuple[str | int, ...], program: celpy.Runner, *, condition: bool,
         what: str = "") -> None:
    """Try an expression on both samples: a full payment with a flag, and one with no card, reference or flag, so
    a condition that only works on some payments (``flags[0]``, ``int(payment.reference)``) is found now."""
    for activation in (payment_activation(SAMPLE, ["duplicate_charge"]), payment_activation(BARE)):
        started = time.perf_counter()
        try:
            result = program.evaluate(activation)
        except Exception as error:  # cel-python raises its own errors and plain ones
            message = _eval_message(error)
            named = re.search(r"(?:no field |^)'([^']+)'", message)
            checker.add(path, what + message, checker.line_naming(path, named.group(1)) if named else None)
            return
        spent = time.perf_counter() - started
        if spent > MAX_SECONDS:
            checker.add(path, f"{what}takes {spent * 1000:,.0f} ms on one payment (at most {MAX_SECONDS * 1000:.0f}); "
                        "simplify it")
            return
        if condition and not isinstance(result, celtypes.BoolType):
            kind_of = type(result).__name__.removesuffix("Type").lower()
            checker.add(path, f"must be true or false, not a {kind_of}")
            return


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
            if isinstance(value, str) and JOURNAL.match(value):
                actions.append(Action(kind, route=value))
            else:
                checker.add((*where, "route"), f"{value!r} is not a customer payment journal name (letters, digits, "
                            "'-' or '_', at most 10)")
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
