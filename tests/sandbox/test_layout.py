"""The sandbox's layout rules, read from the source with ``ast`` (nothing is imported): no import cycle among
its modules, and no simulator module too long to read in one sitting."""

from __future__ import annotations

from pathlib import Path

from tests.import_graph import cycles, import_graph, modules

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "sandbox"
SIMULATORS = "sandbox.simulators"
MAX_SIMULATOR_LINES = 600


def test_no_import_cycle_among_sandbox_modules() -> None:
    found = cycles(import_graph(ROOT, PACKAGE))
    assert not found, "import cycles in sandbox/:\n" + "\n".join(" → ".join(cycle) for cycle in found)


def test_no_simulator_module_is_longer_than_the_limit() -> None:
    lengths = {name: len(path.read_text(encoding="utf-8").splitlines())
               for name, path in modules(ROOT, PACKAGE).items() if name.startswith(SIMULATORS)}
    too_long = {name: n for name, n in lengths.items() if n > MAX_SIMULATOR_LINES}
    assert not too_long, f"simulator modules over {MAX_SIMULATOR_LINES} lines (split them by what each part is): " + \
        ", ".join(f"{name} ({n})" for name, n in sorted(too_long.items()))


def test_the_check_names_a_cycle_through_a_function_level_import_and_a_package(tmp_path: Path) -> None:
    files = {
        "pkg/__init__.py": "",
        "pkg/a.py": "def late():\n    from pkg.sub import helper\n    return helper\n",
        "pkg/sub/__init__.py": "from pkg.sub.b import helper\n",
        "pkg/sub/b.py": "from pkg.a import late\nhelper = late\n",
        "pkg/sub/c.py": "from typing import TYPE_CHECKING\n\nfrom . import b\n\n"
                        "if TYPE_CHECKING:\n    from pkg.a import late\n",
    }
    for relative, text in files.items():
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text(text, encoding="utf-8")
    graph = import_graph(tmp_path, "pkg")
    assert graph["pkg.sub.c"] == {"pkg.sub.b"}
    assert cycles(graph) == [["pkg.a", "pkg.sub", "pkg.sub.b", "pkg.a"]]
