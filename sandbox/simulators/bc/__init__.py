"""A Business Central API v2.0 simulator over real HTTP: Entra tokens, journals and posting, customer
payments, sales documents, ETags, paging, JSON ``$batch`` and webhooks, as ``reference/dynamics.md`` §2
and §4.3 describe them.

``create(seed, snapshot, **options)`` returns the ASGI app; ``app.simulated`` is the ``BusinessCentral``
object whose Python-side API seeds data, moves the clock and reads the ground truth.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sandbox.simulators.base import SimulatorApp
from sandbox.simulators.bc.simulator import DEFAULT_TENANT, BusinessCentral, Options, make


def create(seed: int = 0, snapshot: Path | None = None, **options: Any) -> SimulatorApp:
    """The simulator's ASGI app; ``options`` are ``Options`` fields (e.g. ``notification_delay=0.05``)."""
    return SimulatorApp(make(seed, **options), seed=seed, snapshot=snapshot)


__all__ = ["DEFAULT_TENANT", "BusinessCentral", "Options", "create"]
