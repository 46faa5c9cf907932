"""A Dataverse Web API simulator (the CRM's accounts and contacts) over real HTTP, as ``reference/dynamics.md``
§3, §4.1 and §4.4 describe it.

Served on one port:

* Entra's endpoints (``sandbox/simulators/entra.py``): ``POST /{tenant}/oauth2/v2.0/token`` issues tokens for
  ``https://{organization}.crm.dynamics.com/.default`` (or for the URL the caller reached).
* ``/api/data/v9.2/`` (v9.0 and v9.1 too): ``accounts`` and ``contacts``. ``POST`` answers 204 with
  ``OData-EntityId`` (201 and the record with ``Prefer: return=representation``); ``PATCH set(id)`` is an upsert
  honouring ``If-Match`` (412 ``0x80060882`` when stale, 404 when ``*`` meets no record) and ``If-None-Match: *``
  (412 ``0x80040237`` when the record exists); ``GET`` answers ``@odata.context``, a weak ``@odata.etag`` on
  every row, ``$select`` (the key always comes too), ``$filter`` (case-insensitive strings), ``$orderby``,
  ``$top``, ``$count`` and ``Prefer: odata.maxpagesize`` with ``@odata.nextLink``; ``$skip`` is refused as
  Dataverse refuses it; ``DELETE`` answers 204.
* Change tracking: ``Prefer: odata.track-changes`` adds ``@odata.deltaLink`` to the last page; the delta link
  answers new and changed rows, ``$deletedEntity`` entries for deletes, and a fresh delta link.
* Service protection: a per-user budget per sliding window, 429 ``0x80072322`` with ``Retry-After``.
* Control (``/_dataverse``): ``POST records/{set}`` ``{"value": [...]}`` plants records as given;
  ``PUT change-tracking/{set}`` ``{"enabled": false}``; ``PUT throttle`` ``{"requests": N, "window_seconds": S}``;
  ``POST clock`` ``{"advance_seconds": S}``; ``POST expire-tokens``.

Decisions where the reference is silent (unverified): a tracked request accepts ``$select`` only (``$filter``,
``$orderby``, ``$top``, ``$expand`` and ``$count`` get 400 ``0x80060888``), as does a table without change
tracking (obs); an expired delta token gets 400 ``0x80044352`` (ExpiredVersionStamp, documented for metadata),
an unknown one 400 ``0x80060888``; ``$top`` caps the whole result and pages within it; 401 answers carry no body,
only the ``WWW-Authenticate`` challenge (obs); system columns in a body are ignored; ``suffix`` is the contact
column's name as we know it (unverified).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sandbox.simulators.base import SimulatorApp
from sandbox.simulators.dataverse.simulator import DEFAULT_TENANT, Dataverse, Options, make


def create(seed: int = 0, snapshot: Path | None = None, **options: Any) -> SimulatorApp:
    """The simulator's ASGI app; ``options`` are ``Options`` fields (``contacts=3``, ``untracked=("contacts",)``)."""
    return SimulatorApp(make(seed, **options), seed=seed, snapshot=snapshot)


def simulator(app: SimulatorApp) -> Dataverse:
    """The Python-side API of an app made by ``create``."""
    simulated = app.simulated
    if not isinstance(simulated, Dataverse):
        raise TypeError(f"{type(simulated).__name__} is not the Dataverse simulator")
    return simulated


__all__ = ["DEFAULT_TENANT", "Dataverse", "Options", "create", "simulator"]
