"""Simulators of the Heartland and Dynamics 365 APIs, served as real HTTP on loopback.

Each module exposes ``create(seed: int = 0, snapshot: Path | None = None) -> SimulatorApp``.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from sandbox.simulators.base import SimulatorApp

SIMULATORS = {
    "retail": "sandbox.simulators.retail",
    "gp": "sandbox.simulators.gp",
    "fo": "sandbox.simulators.fo",
    "bc": "sandbox.simulators.bc",
    "dataverse": "sandbox.simulators.dataverse",
    "portico": "sandbox.simulators.portico",
    "payroll": "sandbox.simulators.payroll",
}


def create(name: str, *, seed: int = 0, snapshot: Path | None = None) -> SimulatorApp:
    if name not in SIMULATORS:
        raise KeyError(f"no simulator named {name!r}; choose one of {', '.join(SIMULATORS)}")
    app: SimulatorApp = importlib.import_module(SIMULATORS[name]).create(seed=seed, snapshot=snapshot)
    return app
