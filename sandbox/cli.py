"""The ``hl365`` command: the local host, the demo and operator commands."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:
    from sandbox.host import LocalHost

app = typer.Typer(help="hl365: Heartland ⇄ Dynamics 365 integration on Azure Functions.", no_args_is_help=True)
audit_app = typer.Typer(help="The tamper-evident audit trail.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")
dlq_app = typer.Typer(help="Dead letters: list them, replay them once the cause is fixed.", no_args_is_help=True)
app.add_typer(dlq_app, name="dlq")
config_app = typer.Typer(help="The mapping configuration finance users edit.", no_args_is_help=True)
app.add_typer(config_app, name="config")
tokens_app = typer.Typer(help="Customers' card-on-file tokens that sales orders are charged with.",
                         no_args_is_help=True)
app.add_typer(tokens_app, name="tokens")
customers_app = typer.Typer(help="Customers across the POS, the ERPs, the CRM and loyalty.", no_args_is_help=True)
app.add_typer(customers_app, name="customers")
catalog_app = typer.Typer(help="Items, prices and stock between the ERP and Heartland Retail.", no_args_is_help=True)
app.add_typer(catalog_app, name="catalog")
payroll_app = typer.Typer(help="Payroll registers into the general ledger.", no_args_is_help=True)
app.add_typer(payroll_app, name="payroll")
mapping_app = typer.Typer(help="Mapping entries from suggestions, previewed and applied by a person.",
                          no_args_is_help=True)
app.add_typer(mapping_app, name="mapping")
rules_app = typer.Typer(help="Workflow rules on the payment stream.", no_args_is_help=True)
app.add_typer(rules_app, name="rules")
subscriptions_app = typer.Typer(help="Business Central webhook subscriptions.", no_args_is_help=True)
app.add_typer(subscriptions_app, name="subscriptions")
console = Console()
DEFAULT_PORTS = {"retail": 7101, "gp": 7102, "fo": 7103, "bc": 7104, "dataverse": 7105, "portico": 7106,
                 "payroll": 7107}


def _host() -> LocalHost:
    from sandbox.host import LocalHost, NotEmbedded

    try:
        return LocalHost.from_wiring()
    except NotEmbedded as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None


@app.command()
def serve(port: Annotated[int, typer.Option(help="HTTP port")] = 7071,
          host: Annotated[str, typer.Option(help="interface to bind")] = "127.0.0.1",
          verbose: Annotated[bool, typer.Option("--verbose", "-v", help="log every event")] = False,
          trigger_processes: Annotated[int, typer.Option(min=0, help="processes for queue and timer triggers "
                                                         "(0: threads in the HTTP process)")] = 1,
          triggers: Annotated[bool, typer.Option(help="run queue and timer triggers here; --no-triggers serves "
                                                  "HTTP only, beside another hl365 serve that works the queues")]
          = True) -> None:
    """Run the function app locally: HTTP routes under /api, queue triggers, timers."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    local = _host()
    console.print(f"hl365 local host on http://{host}:{port}/api ({len(local.functions)} functions)")
    local.serve(host=host, port=port, worker_processes=trigger_processes, triggers=triggers)


@app.command()
def sim(
    name: Annotated[str, typer.Argument(help="retail | gp | fo | bc | dataverse | portico | payroll")],
    port: Annotated[int | None, typer.Option(help="HTTP port (default: retail 7101, gp 7102, fo 7103, bc 7104, "
                                                  "dataverse 7105, portico 7106, payroll 7107, as in "
                                                  "local.settings.example.json)")]
    = None,
    seed: Annotated[int, typer.Option(help="seed of the fault plan")] = 0,
    state: Annotated[Path | None, typer.Option(help="JSON snapshot to load at start and write on POST /_sim/snapshot")]
    = None,
) -> None:
    """Run one simulator alone on loopback; /_sim shows its ground truth, requests and faults."""
    import uvicorn

    from sandbox.simulators import SIMULATORS, create

    if name not in SIMULATORS:
        console.print(f"[red]no simulator named {name!r}; choose one of {', '.join(SIMULATORS)}[/red]")
        raise typer.Exit(2)
    port = port if port is not None else DEFAULT_PORTS[name]
    app_ = create(name, seed=seed, snapshot=state)
    certfile = keyfile = None
    if name in ("fo", "bc", "dataverse"):  # Dynamics and its Entra tenant answer over HTTPS, as azure-identity requires
        from sandbox.simulators.tls import SandboxCA

        tls = SandboxCA(Path(".hl365/tls"))
        certfile, keyfile = str(tls.server_cert), str(tls.server_key)
        console.print(f"trust {tls.ca_bundle} (D365_CA_BUNDLE in local.settings.example.json)")
    scheme = "https" if certfile else "http"
    console.print(f"simulator {name} on {scheme}://127.0.0.1:{port} (ground truth at /_sim/state)")
    uvicorn.run(app_, host="127.0.0.1", port=port, log_level="warning", access_log=False, ssl_certfile=certfile,
                ssl_keyfile=keyfile)


@app.command()
def functions() -> None:
    """List the app's functions and their triggers, read from the azure.functions metadata."""
    from sandbox.host import index, load_app

    table = Table("function", "trigger", "binding")
    for function in index(load_app()):
        table.add_row(function.name, function.kind, function.describe())
    console.print(table)


@app.command("run-timer")
def run_timer(name: str) -> None:
    """Run one timer function now."""
    local = _host()
    try:
        local.run_timer(name)
    except KeyError as exc:
        console.print(f"[red]{exc.args[0]}[/red]")
        raise typer.Exit(2) from None
    console.print(f"timer {name} ran")


@audit_app.command("verify")
def audit_verify(day: Annotated[str, typer.Option("--date", help="UTC day, YYYY-MM-DD (default: today)")] = "") -> None:
    """Check every chain of one day of the audit trail; exits 1 and names each record that was edited, inserted
    or deleted."""
    from shared import wiring

    when = date.fromisoformat(day) if day else datetime.now(UTC).date()
    report = wiring.services().audit.verify(when)
    for problem in report.problems:
        console.print(f"[red]{escape(problem)}[/red]", soft_wrap=True)
    summary = (f"audit trail {when}: {report.chains} chain(s) checked, {report.records} records, "
               + ("OK, nothing edited, inserted or deleted" if report.ok
                  else f"{len(report.problems)} break(s), each named above"))
    console.print(summary, soft_wrap=True)
    if not report.ok:
        raise typer.Exit(1)


def _print(call: Callable[[], object]) -> None:
    """Run a core call and print what the presenter makes of it; exit 1 when it did not succeed."""
    from shared import presenter
    from shared.mapping.loader import MappingError

    try:
        outcome = presenter.report(call)
    except MappingError as error:  # the mapping file is missing or wrong: say where, as `config check` does
        console.print("[red]" + escape(str(error)) + " (set HL365_MAPPING_FILE, or run where mapping.yaml is)[/red]")
        raise typer.Exit(2) from None
    if outcome.columns:
        table = Table(*outcome.columns, title=escape(outcome.title))
        for row in outcome.rows:
            table.add_row(*(escape(cell) for cell in row))
        console.print(table)
    summary = escape(outcome.summary)
    console.print(summary if outcome.ok else f"[red]{summary}[/red]", soft_wrap=True)
    if not outcome.ok:
        raise typer.Exit(1)


def _day(value: str) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        console.print(f"[red]--date {value!r} is not YYYY-MM-DD[/red]")
        raise typer.Exit(2) from None


@app.command()
def settle(day: Annotated[str, typer.Option("--date", help="business day, YYYY-MM-DD (default: yesterday in "
                                            "HL365_MERCHANT_TIMEZONE)")] = "") -> None:
    """Close a business day now: build, post and reconcile its settlement journals."""
    from shared import wiring
    from shared.flows import admin

    _print(lambda: admin.close_day(wiring.services(), day or None))


@app.command()
def reconcile(day: Annotated[str, typer.Option("--date", help="business day, YYYY-MM-DD")] = "") -> None:
    """Print the discrepancies stored for a business day (run `hl365 settle` first)."""
    from shared import wiring
    from shared.flows.settlement import business_date_for, stored_discrepancies
    from shared.storage import tables

    services = wiring.services()
    when = _day(day) or business_date_for(datetime.now(UTC), services.settings.merchant_timezone)
    rows = stored_discrepancies(services.tables.table(tables.DISCREPANCIES),
                                str(services.settings.require("merchant_id")), when)
    table = Table("type", "amount", "currency", "reference", "detail", title=f"discrepancies {when}")
    for row in rows:
        table.add_row(str(row["Type"]), str(row["Amount"]), str(row["Currency"]), str(row["Reference"]),
                      str(row["Detail"]))
    console.print(table)
    console.print(f"{len(rows)} discrepancies")


@dlq_app.command("list")
def dlq_list(days: Annotated[int, typer.Option(min=1, max=366, help="how many days back")] = 7,
             reason: Annotated[str, typer.Option(help="only this reason")] = "") -> None:
    """What is parked: id, queue, reason and the target's error text."""
    from shared import wiring
    from shared.flows import admin

    _print(lambda: admin.parked(wiring.services(), str(days), reason or None))


@dlq_app.command("replay")
def dlq_replay(row: Annotated[str, typer.Option("--id", help="one dead letter, as `dlq list` shows it")] = "",
               reason: Annotated[str, typer.Option(help="every parked dead letter of this reason")] = "") -> None:
    """Replay dead letters; the idempotency key is kept, so nothing lands twice."""
    from shared import wiring
    from shared.flows.replay import replay

    _print(lambda: replay(wiring.services(), row=row, reason=reason))


@dlq_app.command("suggest")
def dlq_suggest(row: Annotated[str, typer.Argument(help="one dead letter, as `dlq list` shows it")],
                out: Annotated[Path | None, typer.Option(help="write the proposal here, for `hl365 mapping apply`")]
                = None) -> None:
    """Propose the mapping entry a dead letter lacks (an unmapped payment type, tax component, department, location
    or payroll code), from the most alike entry the mapping has. Nothing is written to the mapping: apply the
    proposal with `hl365 mapping apply`, then replay."""
    import json

    from shared import wiring
    from shared.errors import InvalidRequest, NotFound
    from shared.flows.deadletter_fixes import suggest_fix
    from shared.mapping.suggest import suggestions_of

    try:
        fix = suggest_fix(wiring.services(), row)
    except (NotFound, InvalidRequest) as error:
        console.print(f"[red]{escape(str(error))}[/red]")
        raise typer.Exit(2) from None
    table = Table("section", "name", "proposed entry", "like", "confidence", "why", title=f"{fix.reason}: {row}")
    for suggestion in fix.suggestions:
        entry = json.dumps(suggestion.entry) if suggestion.entry is not None else "(none: " + ", ".join(
            suggestion.needs or ("its entry",)) + " needed)"
        table.add_row(suggestion.section, escape(suggestion.key), escape(entry), escape(suggestion.like or ""),
                      f"{suggestion.confidence:.2f}", escape(suggestion.reason))
    console.print(table)
    target = out or Path(f"fix-{row.replace('/', '-')}.json")
    proposals = [{**item, "accepted": False} for item in suggestions_of(fix.suggestions)]
    try:
        target.write_text(json.dumps(proposals, indent=2) + "\n", encoding="utf-8")
    except OSError as error:
        console.print(f"[red]cannot write {escape(str(target))}: {escape(error.strerror or str(error))}[/red]")
        raise typer.Exit(2) from None
    steps = (f'check each proposed entry in {target} and set "accepted": true on those you agree with, then: '
             f"hl365 mapping apply {target} && {fix.replay}")
    if not fix.confident:
        steps = f"no confident proposal: write the entries in the mapping by hand, then {fix.replay}"
    console.print(steps, soft_wrap=True, markup=False)


@tokens_app.command("set")
def tokens_set(
    customer: Annotated[str, typer.Option(help="the customer account (F&O) or number (Business Central)")],
    token: Annotated[str, typer.Option(help="the gateway's stored payment-method token (PMT_…), never a card "
                                             "number")],
    erp: Annotated[str, typer.Option(help="fo or bc (default: D365_TARGET, else fo)")] = "",
    company: Annotated[str, typer.Option(help="F&O legal entity or Business Central company id (default: "
                                              "D365_LEGAL_ENTITY, or the connected BC company)")] = "",
) -> None:
    """Store the token a customer's sales orders are charged with (U4)."""
    from shared import wiring
    from shared.errors import ConfigError
    from shared.flows.orders.tokens import set_payment_token

    services = wiring.services()
    target = erp or (services.settings.d365_target if services.settings.d365_target in ("fo", "bc") else "fo")
    if target not in ("fo", "bc"):
        console.print("[red]--erp is fo or bc[/red]")
        raise typer.Exit(2)
    try:
        where = company or (str(services.settings.require("d365_legal_entity")) if target == "fo"
                            else services.orders(target).company)
    except ConfigError as error:
        console.print(f"[red]{error.description}; or give --company[/red]", soft_wrap=True)
        raise typer.Exit(2) from None
    try:
        set_payment_token(services, erp="fo" if target == "fo" else "bc", company=where, customer=customer,
                          token=token)
    except ValueError as error:
        console.print(f"[red]{error}[/red]", soft_wrap=True)
        raise typer.Exit(2) from None
    console.print(f"token …{token.strip()[-4:]} stored for customer {customer} ({target} {where.lower()})")


@subscriptions_app.command("ensure")
def subscriptions_ensure() -> None:
    """Create or renew the Business Central salesOrders subscription now (what the bc_subscriptions timer does)."""
    from shared import wiring
    from shared.flows import admin

    _print(lambda: admin.keep_subscription(wiring.services()))


@config_app.command("check")
def config_check(path: Annotated[Path, typer.Argument(help="the mapping or workflow rules YAML file")]
                 = Path("mapping.yaml")) -> None:
    """Validate a mapping or rules file (a file with `rules:` is a rules file); prints every problem as
    FILE:LINE: FIELD: MESSAGE and exits 1 if any."""
    import yaml

    from shared.mapping.loader import check
    from shared.workflow import rules

    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        document = None
    if isinstance(document, dict) and "rules" in document:
        found, problems = rules.check(path)
        for problem in problems:
            console.print(str(problem), soft_wrap=True, markup=False)
        if found is None:
            console.print(f"{path}: {len(problems)} problem(s)")
            raise typer.Exit(1)
        console.print(f"{path}: valid ({len(found.rules)} rules, {len(found.locations)} locations)")
        return
    mapping, problems = check(path)
    for problem in problems:
        console.print(str(problem), soft_wrap=True, markup=False)
    if mapping is None:
        console.print(f"{path}: {len(problems)} problem(s)")
        raise typer.Exit(1)
    console.print(f"{path}: valid ({len(mapping.payment_types)} payment types, {len(mapping.tax_components)} tax "
                  f"components, {len(mapping.departments)} departments)")


@rules_app.command("dry-run")
def rules_dry_run(day: Annotated[str, typer.Option("--date", help="the business day of the payments, YYYY-MM-DD "
                                                   "(default: yesterday in HL365_MERCHANT_TIMEZONE)")] = "",
                  path: Annotated[Path | None, typer.Option("--rules", help="the rules file (default: "
                                                            "HL365_RULES_FILE)")] = None) -> None:
    """What each rule would have done with a business day's payments: nothing is held, skipped, alerted or
    audited."""
    from zoneinfo import ZoneInfo

    from rich.progress import Progress

    from shared import wiring
    from shared.flows.payments import payments_of_day
    from shared.flows.workflow import dry_run
    from shared.workflow import rules

    services = wiring.services()
    source = path or services.settings.rules_file
    if source is None:
        console.print("[red]name the rules file: --rules FILE, or set HL365_RULES_FILE[/red]")
        raise typer.Exit(2)
    found, problems = rules.check(source)
    if found is None:
        for problem in problems:
            console.print(str(problem), soft_wrap=True, markup=False)
        raise typer.Exit(2)
    when = _day(day) or (datetime.now(ZoneInfo(services.settings.merchant_timezone)) - timedelta(days=1)).date()
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task(f"payments of {when}", total=None)
        result = dry_run(services, found, when, lambda d: payments_of_day(services, d),
                         lambda n: progress.advance(task, n))
    table = Table("rule", "matched", "held for review", "skipped", title=f"rules on the payments of {when}")
    per_rule = result.per_rule
    for rule in found.rules:
        counts = per_rule.get(rule.name, Counter())
        table.add_row(escape(rule.name), str(counts["matched"]), str(counts["held for review"]),
                      str(counts["skipped"]))
    console.print(table)
    decisions = Table("transaction", "amount", "reference", "would", "why", title="payments a rule matched")
    for outcome in result.outcomes:
        decisions.add_row(outcome.transaction_id, outcome.amount, escape(outcome.reference),
                          outcome.decision.outcome.replace("_", " "), escape(outcome.decision.summary()))
    if result.outcomes:
        console.print(decisions)
    console.print(f"{result.payments} payments, {len(result.outcomes)} matched by a rule; {result.settled_by_journal} "
                  "till sales are booked by the settlement journal, which no rule changes (a dry run: nothing was "
                  "done)")


@app.command()
def dedupe(
    source: Annotated[Path, typer.Argument(help="JSON Lines: id, source (pos|erp|crm|loyalty), first_name, last_name, "
                                                "company, email, phone, address_line1, city, state, postal_code, "
                                                "country")],
    out: Annotated[Path, typer.Option("--out", help="where to write {id, cluster_id}, one a line")],
    review: Annotated[Path | None, typer.Option("--review", help="where to write the pairs a person should "
                                                                 "decide, with their scores and reasons")] = None,
    threshold: Annotated[float, typer.Option(help="match probability at and above which records are one customer")]
    = 0.95,
    review_from: Annotated[float, typer.Option(help="pairs from this probability up to the threshold go to review")]
    = 0.60,
) -> None:
    """Find the records of one customer in a file, with the matcher the sync uses."""
    from shared.customers.dedupe import InputError, dedupe, read, write_clusters, write_review
    from shared.customers.rules import MatchRules

    try:
        rules = MatchRules(threshold=threshold, review_from=review_from)
    except ValueError as exc:
        console.print(f"[red]{escape(str(exc).splitlines()[-1])}[/red]")
        raise typer.Exit(2) from None
    if not source.is_file():
        console.print(f"[red]{source}: no such file[/red]")
        raise typer.Exit(2)
    with PhaseBars(console, transient=True) as bars, source.open("rb") as lines:
        bars.phase("reading and normalising", total=sum(1 for _ in source.open("rb")))

        def counted() -> Any:
            for line in lines:
                bars.advance()
                yield line

        try:
            records = read(source, counted())
        except InputError as exc:
            bars.note(escape("\n".join(exc.problems)))
            bars.note(f"[red]{source}: {len(exc.problems)} problem(s); nothing matched[/red]")
            raise typer.Exit(1) from None
        bars.phase("matching")
        result = dedupe(records, rules)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("wb") as sink:
        write_clusters(result, records, sink)
    if review is not None:
        with review.open("wb") as sink:
            write_review(result, sink)
    console.print(f"{result.records:,} records → {result.matches.profiles:,} customers ({result.merged:,} records "
                  f"joined another); {len(result.matches.review):,} pairs for review"
                  + (f" in {review}" if review is not None else "") + f"; clusters in {out}")


ErpOption = Annotated[str, typer.Option(help="fo (Finance & Operations) or bc (Business Central)")]


@customers_app.command("sync")
def customers_sync(erp: Annotated[str, typer.Option(help="fo or bc (default: the ERP D365_TARGET names, if any)")]
                   = "") -> None:
    """Read the customers of the POS, the ERP and the CRM changed since the last sync, with those imported or
    staged by webhooks since; match them and link them to profiles."""
    from shared import wiring
    from shared.flows.customers import run_customer_sync, run_scheduled_sync

    _print(lambda: run_customer_sync(wiring.services(), erp) if erp else run_scheduled_sync(wiring.services()))


@customers_app.command("import")
def customers_import(
    source: Annotated[Path, typer.Argument(help="JSON Lines as `hl365 dedupe` reads them: one customer a line, "
                                                "its `source` (pos|erp|crm|loyalty) and its `id` there")],
) -> None:
    """Customers of a system with no API hl365 reads (a loyalty programme's member export): staged for the next
    sync, which matches and links them. A file with any bad line stages nothing."""
    from datetime import UTC, datetime

    from shared import wiring
    from shared.canonical.customers import SourceRecord
    from shared.customers.dedupe import InputError, read_raw
    from shared.customers.rules import FIELDS

    if not source.is_file():
        console.print(f"[red]{source}: no such file[/red]")
        raise typer.Exit(2)
    try:
        rows = read_raw(source)
    except InputError as exc:
        console.print(escape("\n".join(exc.problems)))
        console.print(f"[red]{source}: {len(exc.problems)} problem(s); nothing imported[/red]")
        raise typer.Exit(1) from None
    exported = datetime.fromtimestamp(source.stat().st_mtime, UTC)
    records = [SourceRecord(str(row["source"]), str(row["id"]),
                            {name: None if row.get(name) is None else str(row[name]) for name in FIELDS}, exported)
               for row in rows]
    staged = wiring.services().customers.stage(records)
    console.print(f"{len(records):,} records read, {staged:,} new or changed staged; `hl365 customers sync` links "
                  "them")


@customers_app.command("show")
def customers_show(
    profile: Annotated[str, typer.Argument(help="a profile id (CUS-...), or SOURCE:ID of one of its records")],
) -> None:
    """A profile: each field with the record it came from, every source record, its merges."""
    import orjson

    from shared import wiring

    book = wiring.services().customers
    if ":" in profile:
        source, _, source_id = profile.partition(":")
        profile = book.profile_of(source, source_id) or profile
    row = book.profile(profile)
    if row is None:
        console.print(f"[red]no profile {escape(profile)}[/red]")
        raise typer.Exit(1)
    if row.get("merged_into"):
        console.print(f"{profile} was merged into {row['merged_into']}")
    fields, provenance = orjson.loads(row["fields"]), orjson.loads(row["provenance"])
    table = Table("field", "value", "from", title=f"customer {profile}")
    for name, value in fields.items():
        table.add_row(name, escape(str(value)), provenance.get(name, ""))
    console.print(table)
    if row.get("loyalty"):
        card = orjson.loads(row["loyalty"])
        console.print(f"loyalty card: {card['gift']} {card['currency']} gift balance, {card['points']} points "
                      f"(checked {row['loyalty_checked_at']:%Y-%m-%d %H:%M} UTC)")
    console.print("records: " + ", ".join(orjson.loads(row["records"])))
    for merge in book.merges(profile):
        console.print(f"merge {merge.row_key}: {merge['absorbed']} → {profile} ({merge['state']})")


@customers_app.command("unmerge")
def customers_unmerge(
    profile: Annotated[str, typer.Argument(help="the profile a merge went into")],
    merge: Annotated[str | None, typer.Option(help="which merge (default: the latest still in force)")] = None,
) -> None:
    """Undo a merge: the absorbed profile gets its records back, and the two are kept apart from then on."""
    from shared import wiring

    try:
        restored = wiring.services().customers.unmerge(profile, merge)
    except LookupError as exc:
        console.print(f"[red]{escape(str(exc))}[/red]")
        raise typer.Exit(1) from None
    console.print(f"{restored} is its own customer again; {profile} and {restored} will not be merged again")


@customers_app.command("loyalty")
def customers_loyalty(erp: Annotated[str, typer.Option(help="fo: also write the balances to F&O's customers")]
                      = "") -> None:
    """Look every profile's loyalty card up by its phone now (the sync does so for the profiles it touches)."""
    from shared import wiring
    from shared.flows.customers import refresh_loyalty

    services = wiring.services()
    if services.loyalty is None:
        console.print("[red]PORTICO_URL is not set: there is no loyalty programme to ask[/red]")
        raise typer.Exit(2)
    profiles = [p.row_key for p in services.customers.profiles()]
    found, pushed = refresh_loyalty(services.customers, services.loyalty, profiles,
                                    erp=services.erp_customer_fields(erp) if erp else None,
                                    rules=services.mapping.customers.loyalty)
    console.print(f"{len(profiles):,} profiles: {found:,} with a loyalty card; {pushed:,} ERP customers updated")


@customers_app.command("review")
def customers_review() -> None:
    """The pairs of records the matcher was not sure of, best first, with the evidence."""
    import orjson

    from shared import wiring

    pairs = sorted(wiring.services().customers.review_pairs(), key=lambda r: -float(r["probability"]))
    table = Table("records", "probability", "evidence", title="customers to decide")
    for row in pairs:
        table.add_row(row.row_key.replace("|", " · "), row["probability"], "; ".join(orjson.loads(row["reasons"])))
    console.print(table)
    console.print(f"{len(pairs)} pairs")


@catalog_app.command("sync")
def catalog_sync(erp: ErpOption = "fo") -> None:
    """Items and prices from the ERP to Heartland Retail as the mapping's owners say, then stock; exits 1 when a
    difference is left for a person."""
    from shared import wiring
    from shared.flows.catalog import run_catalog_sync

    _print(lambda: run_catalog_sync(wiring.services(), erp))


@app.command("pci-scan")
def pci_scan(files: Annotated[list[Path], typer.Argument(help="files or payload dumps to search for card numbers")]
             ) -> None:
    """Card numbers in files, however written: each finding as file, location and the masked number (first six and
    last four at most, never the digits). Exits 1 when any file holds one, 0 when all are clean, 2 when a file
    cannot be read."""
    from shared.security.pci_scan import main

    raise typer.Exit(main([str(path) for path in files]))


@app.command("suggest-mapping")
def suggest_mapping(
    source: Annotated[Path, typer.Argument(help='INPUT.json: {"source_sample": {...a real record...}, "target_entity": '
                                                '"NAME", "target_fields": [{"name", "type", "description"}]}')],
    out: Annotated[Path | None, typer.Option(help="write the suggestions JSON here (default: print it)")] = None,
    entity: Annotated[str, typer.Option(help="read the target entity's fields from the ERP's $metadata instead")] = "",
    erp: Annotated[str, typer.Option(help="with --entity: fo or bc (default: the ERP D365_TARGET names)")] = "",
) -> None:
    """Suggest how a source record's fields map to a target entity's: a ranked list of
    {source_field, target_field, confidence} with the evidence, and no suggestion at 0.5 or above for a field
    with no counterpart. Nothing is written to the mapping: accept with `hl365 mapping apply`."""
    from shared import wiring
    from shared.mapping.suggest import main_suggest

    def metadata(_entity: str) -> str:
        services = wiring.services()
        target = erp or services.settings.d365_target or ""
        if target not in ("fo", "bc"):
            console.print("[red]--entity reads $metadata from an ERP: give --erp fo|bc or set D365_TARGET[/red]")
            raise typer.Exit(2)
        client = services.fo if target == "fo" else services.bc
        return client.metadata_document()

    raise typer.Exit(main_suggest(source, out, entity or None, metadata if entity else None))


@mapping_app.command("apply")
def mapping_apply(
    suggestions: Annotated[Path, typer.Argument(help="suggestions JSON from `hl365 suggest-mapping` or "
                                                     "`hl365 dlq suggest`")],
    mapping: Annotated[Path, typer.Option(help="the mapping file to add them to")] = Path("mapping.yaml"),
    dry_run: Annotated[bool, typer.Option("--dry-run", help="show what would change; write nothing")] = False,
    min_confidence: Annotated[float, typer.Option(min=0.0, max=1.0, help="apply no suggestion below this")] = 0.5,
) -> None:
    """Turn accepted suggestions into mapping entries: field suggestions at or above --min-confidence unless marked
    "accepted": false, entry proposals (from `dlq suggest`) only when marked "accepted": true. No entry already in
    the mapping is replaced, comments and order are kept, and nothing is written unless the result passes
    `hl365 config check`."""
    from shared.mapping.apply import main_apply

    raise typer.Exit(main_apply(suggestions, mapping, dry_run, min_confidence))


@app.command()
def anomalies(source: Annotated[Path, typer.Argument(help="JSON Lines of payments: id, time (ISO 8601 with the "
                                                     "store's offset), location, cashier, type, amount, currency, "
                                                     "brand, masked_card, card_fingerprint, entry_mode, result, "
                                                     "reference")],
              out: Annotated[Path, typer.Option(help="one {id, pattern, score, reason} line per flagged row")],
              locations: Annotated[Path | None, typer.Option(help='JSON {"CODE": {"metro": "CHI", "opens": "08:00", '
                                                             '"closes": "21:00"}, "ECOM": {"online": true}}')]
              = None) -> None:
    """Anomaly and fraud flags on a file of payments: card testing, duplicate charges, refunds with no sale or to a
    new card, large refunds after hours, void spikes, amount outliers, impossible travel; each with its evidence.
    Exits 1 when a row is flagged, 0 when none is, 2 when the input cannot be used."""
    from shared.anomalies.cli import run

    raise typer.Exit(run(source, out, locations))


@payroll_app.command("import")
def payroll_import(
    register: Annotated[Path, typer.Argument(help="the register export, CSV or JSON (layout in the README)")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="print the journal; post nothing")] = False,
) -> None:
    """Read, prove and map a payroll register, print its journal, and post it once (exits 1 when it is held)."""
    from shared import wiring
    from shared.flows.payroll import import_register

    try:
        data = register.read_bytes()
    except OSError as error:
        console.print(f"[red]{escape(str(register))}: {escape(error.strerror or str(error))}[/red]")
        raise typer.Exit(2) from None
    _print(lambda: import_register(wiring.services(), register.name, data, dry_run=dry_run))


@payroll_app.command("employees")
def payroll_employees(erp: Annotated[str, typer.Option(help="fo or bc (default: the ERP D365_TARGET names)")] = ""
                      ) -> None:
    """Hires, changes and terminations of the ERP's workers into Heartland Payroll, as the hourly timer does; exits 1
    when a worker is left for a person."""
    from shared import wiring
    from shared.flows.employees import run_employee_sync

    _print(lambda: run_employee_sync(wiring.services(), erp or wiring.services().settings.d365_target))


@payroll_app.command("generate")
def payroll_generate(
    out: Annotated[Path, typer.Option("--out", help="where the register CSV goes")],
    employees: Annotated[int, typer.Option(min=1, help="how many employees")] = 500,
    seed: Annotated[int, typer.Option(help="seed of the generator")] = 7,
    day: Annotated[str, typer.Option("--date", help="check date, YYYY-MM-DD (default: today)")] = "",
    malformed: Annotated[bool, typer.Option("--malformed", help="plant errors of every kind instead")] = False,
) -> None:
    """A register export of a run with shared employees and every code family, for trying imports."""
    from sandbox.scenario.payroll import generate_register, malformed_register

    check_date = _day(day) or date.today()
    if malformed:
        data, expected = malformed_register(seed=seed, check_date=check_date)
        summary = f"{len(expected)} problems planted"
    else:
        data, facts = generate_register(employees=employees, seed=seed, check_date=check_date)
        summary = f"{facts['employees']} employees, gross {facts['gross']}"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    console.print(f"{escape(summary)} → {escape(str(out))}")


@customers_app.command("generate")
def customers_generate(
    out: Annotated[Path, typer.Option("--out", help="the records, JSON Lines as `hl365 dedupe` reads them")],
    truth: Annotated[Path, typer.Option("--truth", help="who each record really is, for `customers evaluate`")],
    records: Annotated[int, typer.Option(min=1, help="how many records")] = 5000,
    seed: Annotated[int, typer.Option(help="seed of the generator")] = 7,
) -> None:
    """Customer records as four systems hold them, with planted duplicates and every look-alike."""
    import orjson

    from sandbox.scenario.customers import generate

    rows, who = generate(records, seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(b"".join(orjson.dumps(row) + b"\n" for row in rows))
    truth.write_bytes(b"".join(orjson.dumps(who[row["id"]].row(row["id"])) + b"\n" for row in rows))
    console.print(f"{len(rows):,} records of {len({t.entity for t in who.values()}):,} customers → {out}; truth → "
                  f"{truth}")


@customers_app.command("evaluate")
def customers_evaluate(
    clusters: Annotated[Path, typer.Argument(help="`hl365 dedupe --out` of the generated records")],
    truth: Annotated[Path, typer.Argument(help="`hl365 customers generate --truth`")],
) -> None:
    """Pairwise precision, recall and F1 of a clustering, and how the look-alikes fared."""
    import orjson

    from sandbox.scenario.customers import Truth, lookalikes, pairwise
    from shared.customers.dedupe import clusters_of

    who = {}
    for line in truth.open("rb"):
        row = orjson.loads(line)
        who[row["id"]] = Truth(row["entity"], row["case"], row["group"])
    with clusters.open("rb") as lines:
        found = dict(clusters_of(lines))
    score = pairwise(found, {k: v.entity for k, v in who.items()})
    table = Table("look-alikes", "pairs of different customers", "put together", title="kept apart")
    for case, (pairs, merged) in lookalikes(found, who).items():
        table.add_row(case.replace("_", " "), f"{pairs:,}", f"{merged:,}")
    console.print(table)
    console.print(f"{len(who):,} records: {score.true_pairs:,} duplicate pairs planted, {score.found_pairs:,} found, "
                  f"{score.correct_pairs:,} right · precision {score.precision:.4f} · recall {score.recall:.4f} · "
                  f"F1 {score.f1:.4f}")


@app.command()
def demo(
    erp: Annotated[str, typer.Option(help="fo (Finance & Operations) or bc (Business Central)")] = "fo",
    day: Annotated[str, typer.Option("--date", help="business day, YYYY-MM-DD (default: yesterday)")] = "",
    transactions: Annotated[int, typer.Option(min=1, help="POS tickets in the day")] = 1000,
    locations: Annotated[int, typer.Option(min=1, max=50, help="store locations")] = 2,
    seed: Annotated[int, typer.Option(help="scenario seed")] = 7,
    duplicates: Annotated[float, typer.Option(min=0.0, max=1.0, help="share of notifications re-delivered; "
                                              "above 0 the day is also closed twice")] = 0.2,
    faults: Annotated[float, typer.Option(min=0.0, max=0.5, help="share of simulator calls that fail")] = 0.0,
    out: Annotated[Path, typer.Option(help="where report.json and report.html go")] = Path("out"),
) -> None:
    """A sandbox business day end to end, checked against the simulators' ground truth; exit 0 only if all holds."""
    from sandbox.demo import Options, run

    if erp not in ("fo", "bc"):
        console.print("[red]--erp is fo or bc[/red]")
        raise typer.Exit(2)
    logging.basicConfig(level=logging.ERROR)
    when = _day(day) or datetime.now(UTC).date() - timedelta(days=1)
    with PhaseBars(console) as bars:
        report = run(Options(day=when, erp=erp, transactions=transactions, locations=locations,  # type: ignore[arg-type]
                             seed=seed, duplicates=duplicates, faults=faults, out=out), bars)
    table = Table("measure", "value", title=f"hl365 demo, {report['date']}, {report['erp']}")
    for key in ("transactions_generated", "webhooks_delivered", "duplicates_delivered", "faults_injected",
                "payments_posted", "journals_posted", "journal_lines", "journals_balanced", "settlement_totals",
                "posted_totals", "lost", "double_posted", "erp_requests", "elapsed_seconds"):
        table.add_row(key, str(report[key]))
    found = Counter(d["type"] for d in report["discrepancies"])
    table.add_row("discrepancies", ", ".join(f"{k} {v}" for k, v in sorted(found.items())) or "none")
    table.add_row("planted", str(len(report["planted"])))
    table.add_row("dead_lettered", ", ".join(f"{d['reason'] or '(no reason)'} {d['count']}"
                                             for d in report["dead_lettered"]) or "none")
    customers = report.get("customers")
    if customers:
        table.add_row("customers", f"{customers['records']} records → {customers['profiles']} profiles "
                      f"({customers['merged']} merged, {customers['review']} for review); planted duplicates "
                      f"found with F1 {customers['f1']}")
        table.add_row("catalog", f"{report['items_synced']} items and {report['prices_synced']} prices synced, "
                      f"{report['stock_mismatches']} stock mismatches brought in step")
        payroll = report.get("payroll") or {}
        if payroll.get("runs") is not None:
            changes = payroll.get("employee_changes", {}).get("changes_run", {})
            table.add_row("payroll", f"{payroll['employees']} employees, gross {payroll['gross']}, posted gross "
                          f"{payroll['posted_gross']} in {payroll['runs']} journal (balanced: "
                          f"{payroll['journal_balanced']}); employees added {changes.get('added')}, updated "
                          f"{changes.get('updated')}, terminated {changes.get('terminated')}")
        sales = report.get("pos_sales") or {}
        if sales:
            sold = sum(sales["sold"].values())
            where = (f"booked into ERP stock as {', '.join(sales['journals'])}" if sales["booked"] else
                     f"{sum(sales['to_book_by_hand'].values())} units listed for the ERP's people to book")
            table.add_row("POS sales", f"{sold} units sold on {sales['date']}: {where}")
    console.print(table)
    console.print(f"report: {(out / 'report.json').resolve()} and {(out / 'report.html').resolve()}")
    if not report["ok"]:
        print_failures(report)
        raise typer.Exit(1)


@app.command()
def chaos(
    days: Annotated[int, typer.Option(min=1, max=366, help="business days, each with its own date and seed")] = 10,
    erp: Annotated[str, typer.Option(help="fo, bc or both")] = "both",
    transactions: Annotated[int, typer.Option(min=1, help="POS tickets per day")] = 2000,
    seed: Annotated[int, typer.Option(help="seed of the days' dates and scenarios")] = 1,
    kill_workers: Annotated[bool, typer.Option("--kill-workers", help="run queue triggers in processes and kill "
                                               "them at random moments")] = False,
    storage: Annotated[str, typer.Option(help="sqlite, or azurite: every table on Azure Table Storage "
                                         "(Azurite from the project's npm install)")] = "sqlite",
    faults: Annotated[float, typer.Option(min=0.0, max=0.5, help="share of simulator calls that fail")] = 0.1,
    duplicates: Annotated[float, typer.Option(min=0.0, max=1.0, help="share of notifications re-delivered")] = 0.2,
    out: Annotated[Path, typer.Option(help="where chaos.json and each day's report go")] = Path("out/chaos"),
) -> None:
    """Day after day under every fault, each checked against the simulators' ground truth; exit 1 on any violation."""
    from sandbox.chaos import ChaosOptions
    from sandbox.chaos import run as run_chaos

    erps = {"fo": ("fo",), "bc": ("bc",), "both": ("fo", "bc")}.get(erp)
    if erps is None or storage not in ("sqlite", "azurite"):
        console.print("[red]--erp is fo, bc or both; --storage is sqlite or azurite[/red]")
        raise typer.Exit(2)
    logging.basicConfig(level=logging.CRITICAL)
    options = ChaosOptions(days=days, erps=erps, transactions=transactions, seed=seed,  # type: ignore[arg-type]
                           kill_workers=kill_workers, storage=storage, faults=faults,  # type: ignore[arg-type]
                           duplicates=duplicates, out=out)
    table = Table("day", "erp", "tables", "tickets", "orders", "faults", "kills", "restarts", "lost",
                  "double", "s", "verdict", title=f"hl365 chaos, seed {seed}")

    def row_done(row: dict[str, Any]) -> None:
        verdict = "ok" if row["ok"] else "[red]" + ", ".join(row["failed"]) + "[/red]"
        table.add_row(row["day"], row["erp"], row["storage"], str(row["tickets"]), str(row["orders_paid"]),
                      str(row["faults_injected"]), str(row["workers_killed"]), str(row["simulator_restarts"]),
                      str(row["lost"]), str(row["double_posted"]), str(row["seconds"]), verdict)
        bars.note(f"{row['day']} {row['erp']}: {'ok' if row['ok'] else 'FAILED ' + ', '.join(row['failed'])}")

    with PhaseBars(console, transient=True) as bars:
        summary = run_chaos(options, bars, on_day=row_done)
    Console(width=max(console.width, 132)).print(table)
    console.print(f"{len(summary['rows'])} days in {summary['elapsed_seconds']} s; "
                  f"{(out / 'chaos.json').resolve()}")
    if not summary["ok"]:
        for row in summary["rows"]:
            if not row["ok"]:
                print_failures({"date": row["day"], "erp": row["erp"], **row})
        raise typer.Exit(1)


class PhaseBars:
    """One progress bar per phase of a long run (the ``Progress`` of ``sandbox.demo``)."""

    def __init__(self, out: Console, *, transient: bool = False) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._bars = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                              TimeElapsedColumn(), console=out, transient=transient)
        self._transient = transient
        self._task: Any = None
        self._peak = 0

    def __enter__(self) -> PhaseBars:
        self._bars.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._finish()
        self._bars.stop()

    def _finish(self) -> None:
        task = next((t for t in self._bars.tasks if t.id == self._task), None)
        if task is not None:
            self._bars.update(self._task, total=task.total or max(task.completed, 1),
                              completed=task.total or max(task.completed, 1))

    def phase(self, name: str, total: int | None = None) -> None:
        self._finish()
        if self._transient and self._task is not None:
            self._bars.remove_task(self._task)
        self._peak = 0
        self._task = self._bars.add_task(name, total=total)

    def note(self, text: str) -> None:
        """A line above the bars that stays."""
        self._bars.console.print(text)

    def advance(self, done: int = 1, *, remaining: int | None = None) -> None:
        if self._task is None:
            return
        if remaining is not None:  # a drain: the bar fills as the messages in flight settle
            self._peak = max(self._peak, remaining)
            self._bars.update(self._task, total=self._peak, completed=self._peak - remaining)
        else:
            self._bars.advance(self._task, done)


def print_failures(report: dict[str, Any]) -> None:
    """What broke, by key, so the person fixing the ledger knows where to look; printed last."""
    rows = [("lost", k) for k in report.get("lost_keys", [])]
    rows += [(f"posted {k['times']} times", k) for k in report.get("double_posted_keys", [])]
    if rows:
        table = Table("problem", "key", "gateway's net", "ERP's net", "currency",
                      title=f"what the ERP got wrong ({report['date']}, {report['erp']})")
        for problem, key in rows:
            table.add_row(problem, key["key"], key["expected"], key["posted"], key["currency"])
        console.print(table)
    for message in report.get("in_flight", []):
        console.print(f"[red]still in flight: {message['queue']} {message['message_id']} ({message['state']})[/red]")
    if not report.get("master_data_ok", True):
        console.print("[red]customers or catalogue: " + escape(report.get("master_data_error") or (
            f"customers F1 {report.get('customers', {}).get('f1')}, second sync "
            f"{report.get('customers', {}).get('second_sync_linked')} links, catalogue second run "
            f"{report.get('catalog_second_run')}, POS sales {report.get('pos_sales')}")) + "[/red]")
    if not report.get("payroll_ok", True):
        console.print("[red]payroll: " + escape(str(report.get("payroll"))) + "[/red]")
    unexplained = [d for d in report.get("dead_lettered", []) if not d["reason"]]
    if unexplained:
        console.print(f"[red]{sum(d['count'] for d in unexplained)} dead letters carry no reason[/red]")
    console.print("[red]an invariant failed: see the report[/red]")


def main() -> None:
    app()
