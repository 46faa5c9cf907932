"""HTTPS for the Dynamics client tests: one throwaway certificate authority per session (trustme), and the
simulators served with a certificate it signed, as azure-identity only talks to an https authority."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sandbox.simulators.base import Served, serve
from sandbox.simulators.tls import SandboxCA
from tests.loopback import Swap


@pytest.fixture(scope="session")
def tls() -> Iterator[SandboxCA]:
    with SandboxCA() as ca:
        yield ca


@pytest.fixture(scope="module")
def served_https(tls: SandboxCA) -> Iterator[tuple[Swap, Served]]:
    """One HTTPS server per test module; set ``swap.app`` to the simulator under test."""
    swap = Swap()
    served = serve(swap, tls=tls)
    yield swap, served
    served.stop()
