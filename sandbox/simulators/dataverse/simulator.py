"""The Dataverse simulator as tests and the demo drive it: its options, a Python-side API (plant records, switch
change tracking, set the service-protection budget, move the clock, end tokens), the same over HTTP under
``/_dataverse``, and the ground truth for ``/_sim/state``."""

from __future__ import annotations

import json
from collections import deque
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from sandbox.simulators.base import Clock
from sandbox.simulators.dataverse import seeding
from sandbox.simulators.dataverse.api import HttpApi
from sandbox.simulators.dataverse.errors import THROTTLED, UNEXPECTED, DataverseError
from sandbox.simulators.dataverse.schema import TABLES, Table
from sandbox.simulators.dataverse.store import Row, Store, iso
from sandbox.simulators.entra import Directory

DEFAULT_TENANT = "00000000-0000-0000-0000-000000000365"


@dataclass(frozen=True)
class Options:
    """Every knob; the defaults are Dataverse's documented or commonly quoted values.

    ``resource`` is the organisation URL a token must be for (default ``https://{organization}.crm.dynamics.com``);
    a token for the URL the caller reached is accepted too, as the sandbox has no DNS for the organisation.
    ``max_page_size`` 5,000 and ``delta_token_lifetime`` 7 days come from secondary sources (unverified).
    ``requests_per_window`` None means no service-protection budget (Dataverse: 6,000 per 300 s per user).
    """

    tenant: str = DEFAULT_TENANT
    organization: str = "hl365"
    resource: str | None = None
    client_id: str = "hl365-local-client"
    client_secret: str = "hl365-local-secret"  # noqa: S105 - the sandbox's documented local secret
    token_lifetime: float = 3599.0
    max_page_size: int = 5000
    delta_token_lifetime: timedelta = timedelta(days=7)
    requests_per_window: int | None = None
    window_seconds: float = 300.0
    accounts: int = 8
    contacts: int = 20
    untracked: tuple[str, ...] = ()
    """Entity sets whose table has Track changes off."""
    start: datetime | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.delta_token_lifetime, timedelta):
            object.__setattr__(self, "delta_token_lifetime", timedelta(seconds=float(self.delta_token_lifetime)))
        unknown = set(self.untracked) - set(TABLES)
        if unknown:
            raise ValueError(f"no entity set {', '.join(sorted(unknown))}; choose from {', '.join(TABLES)}")


class Dataverse(HttpApi):
    """One Dataverse organisation with its Entra tenant (the ``Simulated`` part of a ``SimulatorApp``)."""

    name = "dataverse"

    def __init__(self, options: Options | None = None, *, seed: int = 0) -> None:
        self.options = options or Options()
        self.store = Store(seed=seed, clock=Clock(self.options.start))
        for entity_set in self.options.untracked:
            self.store.tracking[entity_set] = False
        self.directory = Directory(self.options.tenant, resources=lambda base: [self.resource(), base],
                                   clock=lambda: self.store.clock.now().timestamp(),
                                   token_lifetime=self.options.token_lifetime)
        self.directory.register(self.options.client_id, secret=self.options.client_secret)
        self._calls: dict[str, deque[float]] = {}
        seeding.seed(self.store, seed=seed, accounts=self.options.accounts, contacts=self.options.contacts)

    def routes(self) -> list[BaseRoute]:
        return [*super().routes(),
                Route("/_dataverse/records/{entity_set}", self._plant_route, methods=["POST"]),
                Route("/_dataverse/change-tracking/{entity_set}", self._tracking_route, methods=["PUT"]),
                Route("/_dataverse/throttle", self._throttle_route, methods=["PUT"]),
                Route("/_dataverse/clock", self._clock_route, methods=["POST"]),
                Route("/_dataverse/expire-tokens", self._expire_route, methods=["POST"])]

    def fault_answer(self, status: int, retry_after: float) -> tuple[dict[str, Any], dict[str, str]]:
        """Service protection's body and ``Retry-After`` for a 429; a bare unexpected-error body otherwise."""
        if status == 429:
            return (DataverseError(429, THROTTLED, "Number of requests exceeded the limit of 6000 over time window of "
                                   "300 seconds.").body(), {"Retry-After": str(max(1, round(retry_after)))})
        return DataverseError(status, UNEXPECTED, "An unexpected error occurred.").body(), {}

    # -- Python-side API ---------------------------------------------------------------------------------------

    def plant(self, entity_set: str, records: list[dict[str, Any]]) -> list[Row]:
        """Load records as given (the demo's planted duplicates); each is a new change for change tracking."""
        return [self._public(r) for r in self.store.plant(self._table(entity_set), records)]

    def set_change_tracking(self, entity_set: str, enabled: bool) -> None:
        with self.store.lock:
            self.store.tracking[self._table(entity_set).entity_set] = enabled

    def set_throttle(self, requests: int | None, window_seconds: float | None = None) -> None:
        """A service-protection budget of ``requests`` per sliding window (None: unlimited)."""
        changes: dict[str, Any] = {"requests_per_window": requests}
        if window_seconds is not None:
            changes["window_seconds"] = float(window_seconds)
        with self.store.lock:
            self.options = Options(**{**{f.name: getattr(self.options, f.name) for f in fields(Options)}, **changes})
            self._calls.clear()

    def advance(self, delta: timedelta | float) -> None:
        """Move the simulated clock: tokens, delta tokens and the throttling window go by it."""
        self.store.clock.advance(delta if isinstance(delta, timedelta) else timedelta(seconds=delta))

    def expire_tokens(self) -> None:
        self.directory.expire_tokens()

    def records(self, entity_set: str) -> list[Row]:
        """Every row of a set as the Web API would render it (without the ETag)."""
        with self.store.lock:
            return [self._public(r) for r in self.store.rows(self._table(entity_set))]

    def record(self, entity_set: str, record_id: str) -> Row | None:
        with self.store.lock:
            row = self.store.get(self._table(entity_set), record_id)
            return None if row is None else self._public(row)

    @property
    def tokens_issued(self) -> int:
        return self.directory.tokens_issued

    @staticmethod
    def _table(entity_set: str) -> Table:
        if entity_set not in TABLES:
            raise KeyError(f"no entity set {entity_set!r}; choose from {', '.join(TABLES)}")
        return TABLES[entity_set]

    @staticmethod
    def _public(row: Row) -> Row:
        return {k: v for k, v in row.items() if not (k.startswith("_") and not k.endswith("_value"))}

    # -- control over HTTP -------------------------------------------------------------------------------------

    async def _control(self, request: Request) -> dict[str, Any]:
        raw = await request.body()
        document = json.loads(raw) if raw.strip() else {}
        if not isinstance(document, dict):
            raise ValueError("the body must be a JSON object")
        return document

    async def _plant_route(self, request: Request) -> Response:
        try:
            document = await self._control(request)
            records = document.get("value", [])
            if not isinstance(records, list):
                raise ValueError('the body is {"value": [records]}')
            planted = self.plant(request.path_params["entity_set"], records)
        except DataverseError as error:
            return JSONResponse(error.body(), error.status)
        except (KeyError, ValueError) as exc:
            return JSONResponse({"error": str(exc)}, 400)
        return JSONResponse({"value": planted}, 201)

    async def _tracking_route(self, request: Request) -> Response:
        try:
            enabled = (await self._control(request)).get("enabled")
            if not isinstance(enabled, bool):
                raise ValueError('the body is {"enabled": true|false}')
            self.set_change_tracking(request.path_params["entity_set"], enabled)
        except (KeyError, ValueError) as exc:
            return JSONResponse({"error": str(exc)}, 400)
        return JSONResponse({"tracking": dict(self.store.tracking)})

    async def _throttle_route(self, request: Request) -> Response:
        try:
            document = await self._control(request)
            requests = document.get("requests")
            if requests is not None and (isinstance(requests, bool) or not isinstance(requests, int) or requests < 1):
                raise ValueError("requests is a positive integer or null")
            self.set_throttle(requests, document.get("window_seconds"))
        except (TypeError, ValueError) as exc:
            return JSONResponse({"error": str(exc)}, 400)
        return JSONResponse({"requests_per_window": self.options.requests_per_window,
                             "window_seconds": self.options.window_seconds})

    async def _clock_route(self, request: Request) -> Response:
        try:
            self.advance(float((await self._control(request)).get("advance_seconds", 0)))
        except (TypeError, ValueError) as exc:
            return JSONResponse({"error": str(exc)}, 400)
        return JSONResponse({"now": iso(self.store.clock.now())})

    async def _expire_route(self, request: Request) -> Response:  # noqa: ARG002
        self.expire_tokens()
        return Response(status_code=204)

    # -- Simulated protocol ------------------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """JSON ground truth: every row, the delete log, which tables track changes, tokens issued."""
        with self.store.lock:
            dump = self.store.dump()
            return {"now": iso(self.store.clock.now()), "tokens_issued": self.tokens_issued, **dump,
                    "options": {k: str(v) if isinstance(v, timedelta | datetime) else v
                                for k, v in asdict(self.options).items()}}

    def restore(self, state: dict[str, Any]) -> None:
        self.store.load(state)


def make(seed: int = 0, **options: Any) -> Dataverse:
    known = {f.name for f in fields(Options)}
    unknown = set(options) - known
    if unknown:
        raise TypeError(f"unknown Dataverse simulator option(s): {', '.join(sorted(unknown))}")
    return Dataverse(Options(**options), seed=seed)
