"""The core's seams, held by its imports: flows see ports only, only the wiring builds adapters, ``shared/``
stands alone, and nothing in it imports in a circle. Read from the source, so a violation anywhere, an import
inside a function included, is named with its module and line."""

from __future__ import annotations

from pathlib import Path

from tests.import_graph import Import, cycles, import_graph, imports

ROOT = Path(__file__).resolve().parents[1]

ADAPTERS = (
    "shared.heartland.gp", "shared.heartland.retail", "shared.heartland.sources",
    "shared.dynamics.fo", "shared.dynamics.bc", "shared.dynamics.fo_batch", "shared.dynamics.customer_payments",
    "shared.dynamics.journals", "shared.dynamics.orders", "shared.dynamics.subscriptions",
    "shared.dynamics.credentials", "shared.dynamics.dataverse", "shared.dynamics.customers",
    "shared.heartland.customers", "shared.heartland.portico", "shared.dynamics.catalog", "shared.heartland.catalog",
    "shared.heartland.payroll", "shared.dynamics.workers",
    "shared.storage.sqlite", "shared.storage.azure_tables", "shared.storage.table_ledger",
    "shared.messaging.servicebus", "shared.messaging.embedded",
)
"""The concrete clients and adapters. The wire models (``gp_models``) and pure parsers (``notifications``) are
data, not clients: a flow may read them."""
ADAPTER_PACKAGES = ("shared.heartland", "shared.dynamics", "shared.storage", "shared.messaging")
TRANSPORTS = ("azure", "httpx")


def _matches(target: str, prefixes: tuple[str, ...]) -> bool:
    return any(target == p or target.startswith(p + ".") for p in prefixes)


def _named(found: list[Import]) -> str:
    return "\n".join(f"{i.module}:{i.line} imports {i.target}" for i in found)


def test_flows_never_import_the_wiring_or_a_concrete_client() -> None:
    wrong = [i for i in imports(ROOT, "shared")
             if _matches(i.module, ("shared.flows",)) and _matches(i.target, ("shared.wiring", *ADAPTERS, *TRANSPORTS))]
    assert wrong == [], "flows receive shared.ports.Ports; they must not reach for:\n" + _named(wrong)


def test_only_the_wiring_builds_adapters() -> None:
    """Outside the adapter packages themselves, only ``shared.wiring`` imports a concrete client."""
    wrong = [i for i in imports(ROOT, "shared")
             if not i.typing_only and _matches(i.target, ADAPTERS) and i.module != "shared.wiring"
             and not _matches(i.module, ADAPTER_PACKAGES)]
    assert wrong == [], _named(wrong)


def test_the_core_imports_neither_the_sandbox_nor_the_functions() -> None:
    wrong = [i for i in imports(ROOT, "shared")
             if _matches(i.target, ("sandbox", "functions", "function_app", "tests", "bench"))]
    assert wrong == [], "shared/ is deployed alone:\n" + _named(wrong)


def test_the_core_has_no_import_cycle() -> None:
    found = cycles(import_graph(ROOT, "shared"))
    assert not found, "import cycles in shared/:\n" + "\n".join(" → ".join(cycle) for cycle in found)


def test_functions_bind_triggers_to_core_calls_only() -> None:
    """A blueprint imports the wiring, the flows and the presenter; never a client or an adapter."""
    wrong = [i for i in imports(ROOT, "functions") if _matches(i.target, ADAPTERS)]
    assert wrong == [], _named(wrong)


def test_a_flow_reaching_for_the_wiring_inside_a_function_is_caught(tmp_path: Path) -> None:
    """The checks read every import, however deep: a function-level one is named with its line."""
    (tmp_path / "shared" / "flows").mkdir(parents=True)
    (tmp_path / "shared" / "__init__.py").write_text("")
    (tmp_path / "shared" / "flows" / "__init__.py").write_text("")
    (tmp_path / "shared" / "wiring.py").write_text("from shared.flows import late\n")
    (tmp_path / "shared" / "flows" / "late.py").write_text(
        "from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n    from shared.ports import Ports\n\n\n"
        "def run():\n    from shared import wiring\n    from shared.heartland.gp import GpApiClient\n")
    found = [(i.target, i.line, i.typing_only) for i in imports(tmp_path, "shared") if i.module == "shared.flows.late"]
    assert ("shared.wiring", 8, False) in found and ("shared.heartland.gp.GpApiClient", 9, False) in found
    assert ("shared.ports.Ports", 4, True) in found
    assert cycles(import_graph(tmp_path, "shared")) == [["shared.flows.late", "shared.wiring", "shared.flows.late"]]
