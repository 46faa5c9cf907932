"""Session-wide fixtures shared by every test package."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

import pytest

from sandbox.azurite import AzuriteUnavailable, run_azurite
from tests.loopback import Swap


@pytest.fixture(scope="session")
def azurite_connection_string(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An in-memory Azurite Table service for the session; started only if a test asks for it.

    A missing or broken Azurite fails the tests that need it, never skips them: a skipped contract
    test would hide a broken Azure adapter.
    """
    with ExitStack() as stack:
        problem = None
        try:
            connection_string = stack.enter_context(run_azurite(tmp_path_factory.mktemp("azurite")))
        except AzuriteUnavailable as error:
            problem = str(error)
        if problem is not None:
            pytest.fail(problem, pytrace=False)
        yield connection_string


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[Swap, int]]:
    """One server per test module; set ``swap.app`` to the simulator under test."""
    from sandbox.host import run_in_background, stop_background

    swap = Swap()
    server, thread, port = run_in_background(swap)
    yield swap, port
    stop_background(server, thread)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say, in every run's output, that the one table contract suite ran against both adapters."""
    counts: dict[str, dict[str, int]] = {}
    for outcome in ("passed", "failed", "error"):
        for report in terminalreporter.stats.get(outcome, []):
            nodeid = getattr(report, "nodeid", "")
            if "test_table_contract.py" not in nodeid or getattr(report, "when", "call") != "call":
                continue
            adapter = "azurite" if "[azurite" in nodeid else "sqlite" if "[sqlite" in nodeid else None
            if adapter:
                counts.setdefault(adapter, {}).setdefault(outcome, 0)
                counts[adapter][outcome] += 1
    if counts:
        terminalreporter.section("table storage contract suite")
        for adapter in ("sqlite", "azurite"):
            tally = ", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.get(adapter, {}).items())) or "not run"
            terminalreporter.write_line(f"{adapter:8} {tally}")
