"""Session-wide fixtures shared by every test package."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

import pytest

from tests.azurite import AzuriteUnavailable, run_azurite


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
