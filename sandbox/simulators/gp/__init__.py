"""The GP API ("Unified Payments API", ``/ucp``) simulator, faithful to ``reference/heartland.md`` §2.1 and §2.2.

It reproduces the parts a client gets wrong first: the ``sha512(nonce + app_key)`` token handshake and
token expiry (``NOT_AUTHENTICATED``/``40001``), the mandatory ``X-GP-Version`` header, minor-unit amount
strings, ``x-gp-idempotency`` replays answered ``409 DUPLICATE_ACTION``, the paging envelope, batch close
and funding, deposits whose empty amounts are ``""`` rather than ``"0"``, and ``status_url`` notifications
signed ``hex(sha512(raw body + app_key))``. It never accepts or keeps a card number: payments name a
stored payment-method token (``payment_method.id``, as the GP SDKs send tokenised cards).

Sign conventions, where the reference is silent: refunds and fees are negative inside batch and deposit
summaries, so every summary's ``amount`` is the sum of its sections; a transaction's own ``amount`` is
always positive (its ``type`` says which way the money moves).

Tests and the demo drive the Python side (``GpSimulator.add_transaction``, ``seed_day``, ``close_batch``,
``fund``, ``notify``, ``out_of_order``) and read ``state()`` as the ground truth.

The modules: ``wire`` (values on the wire), ``errors``, ``ledger`` (transactions and their rules),
``settlement`` (batches and deposits), ``reports`` (the list endpoints), ``notifications`` (the ``status_url``
sender), ``api`` (``/ucp``: tokens, transactions, batches) and ``simulator`` (``GpSimulator``: options, the
``/_gp`` sandbox controls, ground truth). Its seeded day is ``sandbox.scenario.gateway``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sandbox.simulators.base import SimulatorApp
from sandbox.simulators.gp.errors import GpError
from sandbox.simulators.gp.notifications import NotificationDelivery
from sandbox.simulators.gp.simulator import DEFAULT_APP_ID, DEFAULT_APP_KEY, GpSimulator
from sandbox.simulators.gp.wire import DEPOSIT_STATUSES


def create(seed: int = 0, snapshot: Path | None = None, **options: Any) -> SimulatorApp:
    """The GP API simulator behind fault injection and ``/_sim``; ``options`` go to ``GpSimulator``."""
    return SimulatorApp(GpSimulator(seed=seed, **options), seed=seed, snapshot=snapshot)


__all__ = ["DEFAULT_APP_ID", "DEFAULT_APP_KEY", "DEPOSIT_STATUSES", "GpError", "GpSimulator", "NotificationDelivery",
           "create"]
