"""Builds the one balanced journal of a payroll run: what the register says, by GL account and financial dimension.

Accounting of each family (``+`` debit, ``-`` credit; the mapping names each account):

* earnings: ``+`` the code's expense account, with the dimensions of the line's department and location;
* withholdings and deductions: ``-`` the code's liability account;
* employer taxes and contributions: ``+`` the expense account (department and location dimensions), ``-`` the
  liability account: each line balances itself;
* net pay: ``-`` the direct deposit or the check clearing account.

Balance-sheet lines (liabilities, net pay) carry the location's dimensions only: a department is a cost notion,
while the location (a store, a business unit) lets a location whose employees balance balance on its own, which an
ERP that balances by business unit needs. Shared employees (``allocations``) have their earnings and employer costs
split between departments; their liabilities do not move, as they carry no department.

A line is summarised with the others of its account, dimensions and side: a negative register line (a
correction) is not netted away but shows as its own line on the other side. ``employee_lines`` keeps one line per
employee as well, the employee number leading its text.

The journal balances exactly when the register proves (``shared.payroll.proof``); run the proof first.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from shared.canonical.journals import AccountType, Journal, JournalLine
from shared.canonical.money import ROUNDING, minor_units
from shared.canonical.payroll import EMPLOYER, NET, CodeFamily, Register, RegisterLine
from shared.errors import ConfigError, FatalError
from shared.mapping.schema import UnmappedError
from shared.payroll.proof import fmt
from shared.payroll.rules import Allocation, AllocationBy, EmployerAccounts, PayrollRules

KEY_LIMIT = 60
"""Characters of ``Journal.external_key``: the ERP's journal key and hl365's claim key."""

Dimensions = tuple[tuple[str, str], ...]
_DEBIT, _CREDIT = 0, 1

_EXPENSE = {
    CodeFamily.EARNING: "Earnings {}",
    CodeFamily.EMPLOYER_TAX: "Employer tax {}",
    CodeFamily.EMPLOYER_CONTRIBUTION: "Employer contribution {}",
}
_LIABILITY = {
    CodeFamily.WITHHOLDING: "{} withheld",
    CodeFamily.DEDUCTION_PRE_TAX: "{} deducted pre-tax",
    CodeFamily.DEDUCTION_POST_TAX: "{} deducted post-tax",
    CodeFamily.EMPLOYER_TAX: "Employer tax {} payable",
    CodeFamily.EMPLOYER_CONTRIBUTION: "Employer contribution {} payable",
    CodeFamily.NET_DIRECT_DEPOSIT: "Net pay direct deposit",
    CodeFamily.NET_CHECK: "Net pay check",
}
"""Line texts; lines of several codes on one account list the codes (``Earnings OT, REG``)."""
_TEMPLATES = [*_EXPENSE.values(), *_LIABILITY.values()]


@dataclass(frozen=True)
class _Key:
    employee: str
    account: str
    dimensions: Dimensions
    side: int


def legal_entity_for(rules: PayrollRules, client_code: str, default: str) -> str:
    """The legal entity a client's runs post to: ``payroll.clients`` overrides ``default`` (the file's or the
    app's). A client the map does not name is no error; it posts to ``default``."""
    return rules.clients.get(client_code, default)


def build_journal(register: Register, rules: PayrollRules, *, legal_entity: str) -> Journal:
    """The run's journal, proven balanced.

    ``Journal`` has no legal entity: the caller posts it through the ledger of
    ``legal_entity_for(rules, client, legal_entity)``; here the entity only feeds the description
    (``{legal_entity}``, beside ``{client}``, ``{pay_group}``, ``{run}``, ``{check_date}``, ``{period_start}``,
    ``{period_end}``).

    Raises:
        FatalError: ``RunKeyTooLong``; ``EmptyRegister`` (no amount to post); ``AmountPrecision`` (an amount
            finer than the currency); ``NoHoursToAllocate`` (an employee allocated by hours without positive
            hours per department).
        UnmappedError: naming every code, department and location the rules do not map.
        ConfigError: the description names a placeholder there is none of.
        JournalUnbalanced: the register does not prove (a bug signal if it did).
    """
    header = register.header
    key = header.external_key
    if len(key) > KEY_LIMIT:
        raise FatalError("RunKeyTooLong", f"run key {key!r} has {len(key)} characters; the ERP's journal key holds "
                                          f"{KEY_LIMIT}: shorten the client code or run id")
    quantum = Decimal(1).scaleb(-minor_units(header.currency))
    for line in register.lines:
        if line.amount != line.amount.quantize(quantum, rounding=ROUNDING):
            raise FatalError("AmountPrecision", f"amount {line.amount} at {line.where} has more decimals than "
                                                f"{header.currency} allows")
    shares = _shares(register, rules)
    _check_mapped(register, rules, shares)
    builder = _Builder(rules, quantum)
    for line in register.lines:
        builder.add(line, shares.get(line.employee_number))
    lines = tuple(builder.lines(header.currency))
    if not lines:
        raise FatalError("EmptyRegister", f"register {register.source} of run {key} has no amount to post")
    journal = Journal(external_key=key, merchant_id=header.client_code, batch_id=header.run_id,
                      business_date=header.check_date, description=_description(register, rules, legal_entity),
                      lines=lines)
    journal.assert_balanced()
    return journal


def without_dimensions(journal: Journal) -> Journal:
    """The journal summarised by account and side alone, for a ledger whose API lines carry no dimensions
    (Business Central API v2.0) and whose journal holds fewer lines than one per account and dimensions."""
    sums: dict[tuple[str, str, str, int], tuple[Decimal, set[str]]] = {}
    for line in journal.lines:
        key = (line.account, line.account_type.value, line.currency, _DEBIT if line.debit else _CREDIT)
        amount, texts = sums.get(key, (Decimal(0), set()))
        sums[key] = (amount + (line.debit or line.credit), texts | {line.text})
    lines = tuple(JournalLine(account=account, account_type=AccountType(kind), currency=currency,
                              debit=amount if side == _DEBIT else Decimal(0),
                              credit=amount if side == _CREDIT else Decimal(0),
                              text=next(iter(texts)) if len(texts) == 1 else f"{sorted(texts)[0]} and more")
                  for (account, kind, currency, side), (amount, texts) in sorted(sums.items()))
    summarised = journal.model_copy(update={"lines": lines})
    summarised.assert_balanced()
    return summarised


def journal_summary(journal: Journal) -> list[tuple[str, str, str, str]]:
    """For a dry run: (account, dimensions, debit, credit) per account, dimensions and side, then a ``Total`` row.
    Employee lines are added up here; amounts read ``1,523.40``, an empty cell where there is none."""
    sums: dict[tuple[str, str, int], Decimal] = defaultdict(Decimal)
    places = 0
    for line in journal.lines:
        places = max(places, minor_units(line.currency))
        dimensions = ", ".join(f"{name} {value}" for name, value in line.dimensions.items())
        sums[(line.account, dimensions, _DEBIT if line.debit else _CREDIT)] += line.debit or line.credit
    rows = [(account, dimensions, fmt(amount, places) if side == _DEBIT else "",
             fmt(amount, places) if side == _CREDIT else "")
            for (account, dimensions, side), amount in sorted(sums.items())]
    debit = sum((line.debit for line in journal.lines), Decimal(0))
    credit = sum((line.credit for line in journal.lines), Decimal(0))
    return [*rows, ("Total", "", fmt(debit, places), fmt(credit, places))]


def split(amount: Decimal, weights: Mapping[str, Decimal], *, remainder_to: str | None = None,
          quantum: Decimal = Decimal("0.01")) -> dict[str, Decimal]:
    """``amount`` shared by ``weights`` (shares, or hours), each part rounded to ``quantum``; the part of
    ``remainder_to`` (else of the largest weight, the first name on a tie) takes what rounding left, so the parts
    sum to ``amount`` exactly.

    Rounding many small parts up can leave the receiving part on the other side of zero; it then takes cents back
    from the largest parts, so every part keeps the amount's sign.
    """
    names = sorted(weights)
    total = sum(weights.values(), Decimal(0))
    receiver = remainder_to if remainder_to is not None and remainder_to in weights \
        else max(names, key=lambda name: weights[name])
    parts = {name: (amount * weights[name] / total).quantize(quantum, rounding=ROUNDING)
             for name in names if name != receiver}
    parts[receiver] = amount - sum(parts.values(), Decimal(0))
    step = quantum if amount > 0 else -quantum
    while parts[receiver] * amount < 0:
        largest = max((name for name in names if name != receiver), key=lambda name: abs(parts[name]))
        parts[largest] -= step
        parts[receiver] += step
    return {name: parts[name] for name in names}


def _shares(register: Register, rules: PayrollRules) -> dict[str, tuple[dict[str, Decimal], str | None]]:
    """The departments (and their weights) each allocated employee of the run is split between."""
    found: dict[str, tuple[dict[str, Decimal], str | None]] = {}
    worked_hours: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for line in register.lines:
        if line.family is CodeFamily.EARNING and line.hours and line.employee_number in rules.allocations:
            worked_hours[line.employee_number][line.department] += line.hours
    for employee in sorted(register.employees & set(rules.allocations)):
        allocation: Allocation = rules.allocations[employee]
        if allocation.by is AllocationBy.FIXED:
            found[employee] = (dict(allocation.split), allocation.remainder_to)
            continue
        hours = worked_hours[employee]
        worked = {department: h for department, h in hours.items() if h}
        if not worked or any(h < 0 for h in worked.values()):
            shown = ", ".join(f"{d} {h}" for d, h in sorted(hours.items())) or "none"
            raise FatalError("NoHoursToAllocate", f"employee {employee} is allocated by hours but the earning lines "
                                                  f"of run {register.header.run_id} give no positive hours per "
                                                  f"department (hours: {shown})")
        found[employee] = (worked, allocation.remainder_to)
    return found


def _check_mapped(register: Register, rules: PayrollRules,
                  shares: Mapping[str, tuple[dict[str, Decimal], str | None]]) -> None:
    """Every name the journal uses, all the missing ones in one error, so finance fixes the mapping once.

    A department is used by the costs (earnings, employer items) of an employee who is not allocated, and by an
    allocation's split; a department on any other line reaches no journal line.
    """
    missing: dict[tuple[str, str], str] = {}
    for line in register.lines:
        if line.family not in NET and _accounts(rules, line.family, line.code) is None:
            missing.setdefault(("UnmappedPayrollCode", f"{line.family.value} {line.code}"),
                               f"payroll code {line.code} ({line.family.value}, at {line.where}) is not in "
                               f"payroll.codes.{line.family.value}")
        if rules.locations and line.location not in rules.locations:
            missing.setdefault(("UnmappedLocation", line.location),
                               f"location {line.location!r} (at {line.where}) is not in payroll.locations")
        cost = line.family is CodeFamily.EARNING or line.family in EMPLOYER
        if (rules.departments and cost and line.employee_number not in shares
                and line.department not in rules.departments):
            missing.setdefault(("UnmappedDepartment", line.department),
                               f"department {line.department!r} (at {line.where}) is not in payroll.departments")
    for employee, (weights, _) in shares.items():
        for department in weights:
            if rules.departments and department not in rules.departments:
                missing.setdefault(("UnmappedDepartment", department),
                                   f"department {department!r} (in the split of employee {employee}) is not in "
                                   "payroll.departments")
    if missing:
        reason = next(iter(missing))[0]
        raise UnmappedError(reason, "; ".join(missing.values()))


def _accounts(rules: PayrollRules, family: CodeFamily, code: str) -> tuple[str, str | EmployerAccounts] | None:
    """The code as the mapping spells it, with its account (an employer item's two), the code matched regardless of
    case as ``PayrollCodes.family_of`` does."""
    folded = code.casefold()
    accounts: Mapping[str, str | EmployerAccounts] = getattr(rules.codes, family.value)
    return next(((name, account) for name, account in accounts.items() if name.casefold() == folded), None)


class _Builder:
    """Signed sums (debit positive) per line key, with the texts of what each sum holds."""

    def __init__(self, rules: PayrollRules, quantum: Decimal) -> None:
        self.rules = rules
        self.quantum = quantum
        self.sums: dict[_Key, Decimal] = defaultdict(Decimal)
        self.texts: dict[_Key, set[tuple[str, str]]] = defaultdict(set)

    def add(self, line: RegisterLine, shares: tuple[dict[str, Decimal], str | None] | None) -> None:
        family, location = line.family, self.rules.locations.get(line.location, {})
        if family in NET:
            account = self.rules.codes.net_direct_deposit if family is CodeFamily.NET_DIRECT_DEPOSIT \
                else self.rules.codes.net_check
            self._post(line, account, location, -line.amount, _LIABILITY[family])
            return
        mapped = _accounts(self.rules, family, line.code)
        assert mapped is not None  # _check_mapped has seen every code
        code, accounts = mapped
        if isinstance(accounts, EmployerAccounts):
            self._post(line, accounts.liability, location, -line.amount, _LIABILITY[family], code)
            expense = accounts.expense
        elif family is CodeFamily.EARNING:
            expense = accounts
        else:
            self._post(line, accounts, location, -line.amount, _LIABILITY[family], code)
            return
        if shares is None:
            self._post(line, expense, self._dimensions(line.department, line.location), line.amount,
                       _EXPENSE[family], code)
            return
        weights, remainder_to = shares
        for department, part in split(line.amount, weights, remainder_to=remainder_to, quantum=self.quantum).items():
            self._post(line, expense, self._dimensions(department, line.location), part, _EXPENSE[family], code)

    def _dimensions(self, department: str, location: str) -> Mapping[str, str]:
        """Both names' dimensions; on a dimension both set, the one ``dimension_order`` puts first wins."""
        first, second = self.rules.departments.get(department, {}), self.rules.locations.get(location, {})
        if self.rules.dimension_order == "location_first":
            first, second = second, first
        merged = dict(first)
        for name, value in second.items():
            merged.setdefault(name, value)
        return merged

    def _post(self, line: RegisterLine, account: str, dimensions: Mapping[str, str], amount: Decimal,
              template: str, code: str = "") -> None:
        if not amount:
            return
        employee = line.employee_number if self.rules.employee_lines else ""
        key = _Key(employee, account, tuple(dimensions.items()), _DEBIT if amount > 0 else _CREDIT)
        self.sums[key] += amount
        self.texts[key].add((template, code))

    def lines(self, currency: str) -> Iterable[JournalLine]:
        for key in sorted(self.sums, key=lambda k: (k.employee, k.account, k.dimensions, k.side)):
            amount = self.sums[key]
            text = _text(self.texts[key])
            yield JournalLine(account=key.account, dimensions=dict(key.dimensions), currency=currency,
                              debit=max(amount, Decimal(0)), credit=max(-amount, Decimal(0)),
                              text=f"{key.employee} {text}" if key.employee else text)


def _text(parts: set[tuple[str, str]]) -> str:
    """``Earnings OT, REG; Employer tax ER-SS``: each template once, with its codes."""
    codes: dict[str, list[str]] = defaultdict(list)
    for template, code in parts:
        codes[template].append(code)
    return "; ".join(template.format(", ".join(sorted(set(codes[template]))))
                     for template in sorted(codes, key=_TEMPLATES.index))


def _description(register: Register, rules: PayrollRules, legal_entity: str) -> str:
    header = register.header
    try:
        return rules.description.format(
            client=header.client_code, pay_group=header.pay_group, run=header.run_id,
            check_date=header.check_date.isoformat(), period_start=header.period_start.isoformat(),
            period_end=header.period_end.isoformat(),
            legal_entity=legal_entity_for(rules, header.client_code, legal_entity))
    except (KeyError, IndexError, ValueError) as error:
        raise ConfigError(f"payroll.description {rules.description!r} cannot be filled ({error!r}); its "
                          "placeholders are {client}, {pay_group}, {run}, {check_date}, {period_start}, "
                          "{period_end} and {legal_entity}") from None
