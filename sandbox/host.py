"""The local Functions host: runs ``function_app.py`` as the Azure Functions host would.

Every function's trigger comes from the ``azure.functions`` metadata the real host indexes
(``get_function_json``), never from a hand-kept list. HTTP triggers are served by Starlette under
``/api``; Service Bus queue triggers are fed from the embedded bus with peek-lock (complete on
success, abandon on an exception); timer triggers run on their NCRONTAB schedule or on demand; blob
triggers watch a folder per container (``{HL365_DATA_DIR}/blobs/{container}``): a file put there is
handed to the function once, then moved to ``processed/`` (or ``failed/`` with the error beside it).
"""

from __future__ import annotations

import hmac
import importlib
import inspect
import json
import logging
import os
import re
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import azure.functions as func
from azure.functions.blob import InputStream
from azure.functions.servicebus import ServiceBusMessage
from azure.functions.timer import TimerRequest
from croniter import croniter
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from shared.messaging.embedded import EmbeddedBus
from shared.messaging.errors import MessageLockLost
from shared.messaging.messages import ReceivedMessage
from shared.settings import Settings

log = logging.getLogger("hl365.host")

ROUTE_PREFIX = "/api"
_SETTING = re.compile(r"%([A-Za-z0-9_]+)%")
_PARAMETER = re.compile(r"\{(\*?)([A-Za-z_][A-Za-z0-9_]*)(?::([a-z]+))?(\?)?\}")
BLOB_ATTEMPTS = 5
"""How often a blob the function failed on is handed over before it goes to ``failed/`` (the host's default)."""
_CONSTRAINTS = {"int": r"-?\d+", "long": r"-?\d+", "guid": r"[0-9a-fA-F-]{36}", "alpha": r"[A-Za-z]+",
                "bool": r"(?i:true|false)", "decimal": r"-?\d+(?:\.\d+)?", "double": r"-?\d+(?:\.\d+)?"}


@dataclass(frozen=True)
class HostedFunction:
    """A function as indexed: its name, trigger binding (the function.json dict) and the user code."""

    name: str
    trigger: Mapping[str, Any]
    call: Callable[..., Any]
    function_json: Mapping[str, Any]

    @property
    def kind(self) -> str:
        return str(self.trigger["type"])

    @property
    def arg_name(self) -> str:
        return str(self.trigger["name"])

    @property
    def batched(self) -> bool:
        """A Service Bus trigger with ``cardinality=many`` receives a list of messages."""
        return str(self.trigger.get("cardinality", "one")).lower() == "many"

    def describe(self) -> str:
        t = self.trigger
        if self.kind == "httpTrigger":
            methods = "|".join(t.get("methods") or ["*"])
            return f"{methods} {ROUTE_PREFIX}/{t.get('route') or self.name} ({t['authLevel']})"
        if self.kind == "serviceBusTrigger":
            return f"queue {t['queueName']} (connection {t.get('connection')})"
        if self.kind == "timerTrigger":
            return f"schedule {t['schedule']}"
        if self.kind == "blobTrigger":
            return f"blob {t['path']} (connection {t.get('connection')})"
        return self.kind


_indexed: weakref.WeakKeyDictionary[func.FunctionApp, list[HostedFunction]] = weakref.WeakKeyDictionary()


def index(app: func.FunctionApp) -> list[HostedFunction]:
    """Every function of ``app``, read from the binding metadata the Functions host indexes.

    ``FunctionApp.get_functions`` can run only once per app object, so the result is kept per app.
    """
    if app not in _indexed:
        found = []
        for function in app.get_functions():
            document = json.loads(function.get_function_json())
            triggers = [b for b in document["bindings"] if b["type"].endswith("Trigger")]
            if len(triggers) != 1:
                raise ValueError(f"function {function.get_function_name()} has {len(triggers)} triggers; expected 1")
            found.append(HostedFunction(str(function.get_function_name()), triggers[0],
                                        function.get_user_function(), document))
        _indexed[app] = found
    return list(_indexed[app])


def load_app(module: str = "function_app") -> func.FunctionApp:
    app = importlib.import_module(module).app
    if not isinstance(app, func.FunctionApp):
        raise TypeError(f"{module}.app is {type(app).__name__}, not azure.functions.FunctionApp")
    return app


@dataclass(frozen=True)
class BatchOptions:
    """The Service Bus extension's batch options (host.json ``extensions.serviceBus``): a batch trigger gets
    up to ``max_size`` messages, and waits up to ``max_wait`` seconds for ``min_size`` of them."""

    max_size: int = 1000
    min_size: int = 1
    max_wait: float = 30.0

    @classmethod
    def read(cls, host_json: Mapping[str, Any], settings: Mapping[str, str]) -> BatchOptions:
        """From host.json, each overridden by the app setting ``AzureFunctionsJobHost__extensions__serviceBus__X``
        as in Azure."""
        section = dict(host_json.get("extensions", {}).get("serviceBus", {}))
        for name in ("maxMessageBatchSize", "minMessageBatchSize", "maxBatchWaitTime"):
            override = settings.get(f"AzureFunctionsJobHost__extensions__serviceBus__{name}")
            if override:
                section[name] = override
        defaults = cls()
        return cls(max_size=int(section.get("maxMessageBatchSize", defaults.max_size)),
                   min_size=int(section.get("minMessageBatchSize", defaults.min_size)),
                   max_wait=_timespan(str(section.get("maxBatchWaitTime", "00:00:30"))))


def _timespan(value: str) -> float:
    """A .NET TimeSpan as host.json writes it (``hh:mm:ss[.fff]``), in seconds."""
    hours, minutes, seconds = value.split(":")
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def read_host_json(path: str = "host.json") -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as file:
            document: dict[str, Any] = json.load(file)
            return document
    except FileNotFoundError:
        return {}


def resolve(value: str, settings: Mapping[str, str]) -> str:
    """Binding expressions ``%Name%`` take their value from the app settings, as the host resolves them."""

    def lookup(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in settings:
            raise KeyError(f"binding expression %{name}% names an app setting that is not set")
        return settings[name]

    return _SETTING.sub(lookup, value)


def route_pattern(template: str) -> re.Pattern[str]:
    """An ASP.NET-style route template (``orders/{id:int}/{kind?}``, ``{*rest}``) as a regex."""
    pattern, position = "", 0
    for match in _PARAMETER.finditer(template):
        literal = template[position:match.start()]
        catch_all, name, constraint, optional = match.groups()
        body = ".*" if catch_all else _CONSTRAINTS.get(constraint or "", r"[^/]+")
        group = f"(?P<{name}>{body})"
        if optional and literal.endswith("/"):
            pattern += re.escape(literal[:-1]) + f"(?:/{group})?"
        else:
            pattern += re.escape(literal) + (f"{group}?" if optional else group)
        position = match.end()
    pattern += re.escape(template[position:])
    return re.compile(f"^{pattern}$", re.IGNORECASE)


@dataclass
class _HttpRoute:
    function: HostedFunction
    pattern: re.Pattern[str]
    methods: frozenset[str]
    auth_level: str


class Undrained(TimeoutError):
    """The queues did not empty in time; ``messages`` names each one left: (queue, message id, state)."""

    def __init__(self, timeout: float, messages: list[tuple[str, str, str]]) -> None:
        shown = ", ".join(f"{q}/{m} ({s})" for q, m, s in messages[:10])
        more = f" and {len(messages) - 10} more" if len(messages) > 10 else ""
        super().__init__(f"{len(messages)} messages still in flight after {timeout} s: {shown}{more}")
        self.messages = messages


@dataclass
class HostStats:
    """What the host did; the demo and the tests read it."""

    http_requests: int = 0
    messages_completed: int = 0
    messages_abandoned: int = 0
    timer_runs: int = 0
    blobs_handled: int = 0
    errors: list[str] = field(default_factory=list)


class NotEmbedded(RuntimeError):
    """The settings name a real Service Bus: the local host drives the embedded bus only."""


class LocalHost:
    """Hosts a FunctionApp on the embedded bus and a real HTTP server."""

    def __init__(self, app: func.FunctionApp, *, bus: EmbeddedBus, settings: Settings,
                 app_settings: Mapping[str, str] | None = None, batch_size: int = 32) -> None:
        self.functions = index(app)
        self.bus = bus
        self.settings = settings
        self.stats = HostStats()
        self._app_settings = ({**settings.app_settings(), **os.environ} if app_settings is None
                              else dict(app_settings))
        self._batch_size = batch_size
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._routes = [self._http_route(f) for f in self.functions if f.kind == "httpTrigger"]
        self._routes.sort(key=lambda r: r.pattern.pattern.count("(?P<"))
        self._matched: dict[str, list[tuple[_HttpRoute, dict[str, str]]]] = {}
        self.queues = {resolve(str(f.trigger["queueName"]), self._app_settings): f
                       for f in self.functions if f.kind == "serviceBusTrigger"}
        self.timers = {f.name: f for f in self.functions if f.kind == "timerTrigger"}
        self.blobs = {resolve(str(f.trigger["path"]), self._app_settings).split("/", 1)[0]: f
                      for f in self.functions if f.kind == "blobTrigger"}
        host_json = read_host_json()
        self.batch_options = BatchOptions.read(host_json, self._app_settings)
        self._renewal_limit = _timespan(str(host_json.get("extensions", {}).get("serviceBus", {})
                                            .get("maxAutoLockRenewalDuration", "00:05:00")))
        self._held: dict[str, tuple[ReceivedMessage, float]] = {}
        self._held_lock = threading.Lock()
        self._renewer: threading.Thread | None = None
        self._blob_attempts: dict[str, int] = {}
        self._blob_retry_at: dict[str, float] = {}
        """A failed blob waits 2, 4, 8, 16 s before its next attempt (another run may hold its journal)."""

    @classmethod
    def from_wiring(cls) -> LocalHost:
        """The host of ``function_app.py`` over the services its functions use (``shared.wiring``).

        Raises:
            NotEmbedded: the settings name a Service Bus namespace; this host runs the embedded bus only.
        """
        from shared import wiring

        services = wiring.services()
        if not isinstance(services.bus, EmbeddedBus):
            raise NotEmbedded("the local host runs on the embedded bus: set HL365_BUS=sqlite")
        return cls(load_app(), bus=services.bus, settings=services.settings)

    # HTTP -------------------------------------------------------------------------------------------------

    def _http_route(self, function: HostedFunction) -> _HttpRoute:
        template = str(function.trigger.get("route") or function.name)
        methods = frozenset(m.upper() for m in function.trigger.get("methods") or ["GET", "POST", "PUT", "DELETE",
                                                                                    "PATCH", "HEAD", "OPTIONS"])
        return _HttpRoute(function, route_pattern(template.strip("/")), methods, str(function.trigger["authLevel"]))

    def asgi(self) -> Starlette:
        return Starlette(routes=[Route(ROUTE_PREFIX + "/{path:path}", self._dispatch,
                                       methods=["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"])])

    async def _dispatch(self, request: Request) -> Response:
        self.stats.http_requests += 1
        url = request.url
        path = unquote(url.path[len(ROUTE_PREFIX):]).strip("/")
        matched = self._match(path)
        if not matched:
            return JSONResponse({"status": 404, "reason": f"no function serves {ROUTE_PREFIX}/{path}"}, 404)
        allowed = [(r, m) for r, m in matched if request.method in r.methods]
        if not allowed:
            methods = sorted({m for r, _ in matched for m in r.methods})
            return JSONResponse({"status": 405, "reason": f"{request.method} is not allowed here"}, 405,
                                headers={"Allow": ", ".join(methods)})
        route, match = allowed[0]
        denied = self._authorise(route.auth_level, request)
        if denied:
            return JSONResponse({"status": 401, "reason": denied}, 401)
        body = await request.body()
        http_request = func.HttpRequest(
            request.method, str(url), headers=dict(request.headers), params=dict(request.query_params),
            route_params=dict(match), body=body,
        )
        try:
            result = await self._invoke(route.function, http_request)
        except Exception as exc:
            log.exception("function %s failed", route.function.name)
            self.stats.errors.append(f"{route.function.name}: {type(exc).__name__}: {exc}")
            return JSONResponse({"status": 500, "reason": f"function {route.function.name} failed"}, 500)
        if not isinstance(result, func.HttpResponse):
            return JSONResponse({"status": 500, "reason": f"{route.function.name} returned no HttpResponse"}, 500)
        headers = {k: v for k, v in result.headers.items() if k.lower() != "content-type"}
        return Response(result.get_body(), status_code=result.status_code, headers=headers,
                        media_type=result.mimetype)

    def _match(self, path: str) -> list[tuple[_HttpRoute, dict[str, str]]]:
        """The routes whose template matches ``path``, each with its route parameters; remembered per path,
        as most requests go to a few."""
        matched = self._matched.get(path)
        if matched is None:
            matched = [(r, {k: v for k, v in m.groupdict().items() if v is not None})
                       for r in self._routes if (m := r.pattern.match(path))]
            if len(self._matched) >= 4096:
                self._matched.clear()
            self._matched[path] = matched
        return matched

    def _authorise(self, level: str, request: Request) -> str | None:
        if level.upper() == "ANONYMOUS":
            return None
        given = request.headers.get("x-functions-key") or request.query_params.get("code") or ""
        keys = [self.settings.master_key]
        if level.upper() == "FUNCTION":
            keys.append(self.settings.function_key)
        accepted = [k.get_secret_value() for k in keys if k is not None]
        if not accepted:
            setting = "HL365_MASTER_KEY" if level.upper() == "ADMIN" else "HL365_FUNCTION_KEY or HL365_MASTER_KEY"
            return f"this route needs a key and the host has none configured ({setting})"
        if not given:
            return "this route needs a key: send it as x-functions-key or ?code="
        if not any(hmac.compare_digest(given.encode(), key.encode()) for key in accepted):
            return "the key is not valid for this route"
        return None

    async def _invoke(self, function: HostedFunction, argument: Any) -> Any:
        if inspect.iscoroutinefunction(function.call):
            return await function.call(**{function.arg_name: argument})
        return await run_in_threadpool(function.call, **{function.arg_name: argument})

    # Service Bus queues ------------------------------------------------------------------------------------

    def process_queue(self, queue: str) -> int:
        """Deliver what is visible on ``queue`` now; returns how many messages were handled."""
        function = self.queues[queue]
        if function.batched:
            return self._process_batch(function, queue)
        handled = 0
        for message in self.bus.receive(queue, max_messages=self._batch_size):
            handled += 1
            try:
                with self._renewing(queue, [message]):
                    function.call(**{function.arg_name: self._service_bus_message(message)})
            except Exception as exc:
                log.warning("function %s failed on message %s: %s", function.name, message.message_id, exc)
                self.stats.errors.append(f"{function.name}: {type(exc).__name__}: {exc}")
                self.stats.messages_abandoned += 1
                self.bus.abandon(message)
            else:
                try:
                    self.bus.complete(message)
                except MessageLockLost:
                    log.warning("lock on %s expired before it completed; it will be redelivered", message.message_id)
                else:
                    self.stats.messages_completed += 1
        return handled

    def _process_batch(self, function: HostedFunction, queue: str) -> int:
        messages = self.bus.receive(queue, max_messages=self.batch_options.max_size)
        if not messages:
            return 0
        try:
            with self._renewing(queue, messages):
                function.call(**{function.arg_name: [self._service_bus_message(m) for m in messages]})
        except Exception as exc:
            log.warning("function %s failed on a batch of %d: %s", function.name, len(messages), exc)
            self.stats.errors.append(f"{function.name}: {type(exc).__name__}: {exc}")
            for message in messages:
                self.stats.messages_abandoned += 1
                self.bus.abandon(message)
            return len(messages)
        lost = self.bus.complete_many(messages)  # the batch's completions in one commit
        for message in lost:
            log.warning("lock on %s expired before it completed; it will be redelivered", message.message_id)
        self.stats.messages_completed += len(messages) - len(lost)
        return len(messages)

    @contextmanager
    def _renewing(self, queue: str, messages: list[ReceivedMessage]) -> Iterator[None]:
        """Keep the locks of messages a function is working on, as the Functions host does up to
        ``maxAutoLockRenewalDuration``: a slow function does not lose its messages to another worker."""
        started = time.monotonic()
        with self._held_lock:
            for message in messages:
                self._held[message.lock_token] = (message, started)
            if self._renewer is None:
                self._renewer = threading.Thread(target=self._renew_locks, args=(self.bus.lock_seconds(queue) / 3,),
                                                 name="lock-renewal", daemon=True)
                self._renewer.start()
        try:
            yield
        finally:
            with self._held_lock:
                for message in messages:
                    self._held.pop(message.lock_token, None)

    def _renew_locks(self, every: float) -> None:
        while True:
            time.sleep(every)
            with self._held_lock:
                held = list(self._held.values())
            for message, started in held:
                if time.monotonic() - started > self._renewal_limit:
                    continue
                try:
                    self.bus.renew_lock(message)
                except MessageLockLost:
                    pass  # settled meanwhile, or already gone to another worker: nothing to keep

    def _batch_ready(self, queue: str, waiting_since: float | None) -> tuple[bool, float | None]:
        """Whether a batch trigger should fire now: ``min_size`` messages are visible, or the first
        of fewer has waited ``max_wait`` seconds."""
        visible = self.bus.counts(queue).active
        if not visible:
            return False, None
        since = time.monotonic() if waiting_since is None else waiting_since
        if visible >= self.batch_options.min_size or time.monotonic() - since >= self.batch_options.max_wait:
            return True, None
        return False, since

    def drain(self, *, timeout: float = 60.0, progress: Callable[[int], None] | None = None) -> int:
        """Process until every queue is empty: no message visible, locked by a worker, or scheduled for a
        retry. Returns how many deliveries it handled itself.

        Safe beside running workers: it also waits for the messages they hold.

        Raises:
            Undrained: messages were still in flight at ``timeout``; it names each of them.

        ``progress`` is told how many messages are still in flight whenever the queues go quiet.
        """
        deadline, total = time.monotonic() + timeout, 0
        while time.monotonic() < deadline:
            handled = sum(self.process_queue(queue) for queue in self.queues)
            total += handled
            if not handled:
                counts = [self.bus.counts(q) for q in self.queues]
                left = sum(c.active + c.locked + c.scheduled for c in counts)
                if progress is not None:
                    progress(left)
                if not left:
                    return total
                time.sleep(0.01)
        raise Undrained(timeout, [(queue, message_id, state) for queue in self.queues
                                  for message_id, state in self.bus.in_flight(queue)])

    @staticmethod
    def _service_bus_message(message: ReceivedMessage) -> ServiceBusMessage:
        return ServiceBusMessage(
            body=message.body,
            message_id=message.message_id,
            session_id=message.session_id,
            content_type=message.content_type,
            delivery_count=message.delivery_count,
            enqueued_time_utc=message.enqueued_time,
            sequence_number=message.sequence_number,
            lock_token=message.lock_token,
            locked_until=message.locked_until,
            application_properties=dict(message.application_properties),
            user_properties=dict(message.application_properties),
            dead_letter_reason=message.dead_letter_reason,
            dead_letter_error_description=message.dead_letter_description,
        )

    # Timers ------------------------------------------------------------------------------------------------

    def run_timer(self, name: str, *, past_due: bool = False) -> None:
        """Run one timer function now, as the portal's "Run" button does."""
        if name not in self.timers:
            raise KeyError(f"no timer function named {name!r}; timers: {', '.join(sorted(self.timers)) or 'none'}")
        function = self.timers[name]
        function.call(**{function.arg_name: TimerRequest(past_due=past_due)})
        self.stats.timer_runs += 1

    def schedule(self, name: str) -> croniter:
        expression = resolve(str(self.timers[name].trigger["schedule"]), self._app_settings)
        return croniter(expression, datetime.now(UTC), second_at_beginning=True)

    # Blobs -------------------------------------------------------------------------------------------------

    def blob_folder(self, container: str) -> Path:
        return Path(self.settings.data_dir) / "blobs" / container

    def drop_blob(self, container: str, name: str, data: bytes) -> None:
        """Hand one blob to the container's function now, as the Event Grid blob trigger does on upload."""
        if container not in self.blobs:
            raise KeyError(f"no blob trigger watches {container!r}; containers: {', '.join(sorted(self.blobs))}")
        function = self.blobs[container]
        blob = InputStream(data=data, name=f"{container}/{name}", length=len(data),
                           uri=f"local://{self.blob_folder(container) / name}")
        function.call(**{function.arg_name: blob})
        self.stats.blobs_handled += 1

    def process_blobs(self, container: str) -> int:
        """Every file waiting in the container's folder, oldest first; returns how many this call handled.

        A file is claimed by renaming it into ``.inflight/`` (atomic: of several workers, threads or processes,
        one wins). A failure is retried after a growing wait, as the Functions host retries a blob trigger, up to
        ``BLOB_ATTEMPTS`` times; then the file goes to ``failed/`` with its error beside it.
        """
        folder = self.blob_folder(container)
        if not folder.is_dir():
            return 0
        settled = time.time() - 2.0  # a file still being copied is left for the next look
        now = time.monotonic()
        waiting = sorted((p for p in folder.glob("*") if p.is_file() and not p.name.startswith(".")
                          and p.stat().st_mtime <= settled and self._blob_retry_at.get(p.name, 0.0) <= now),
                         key=lambda p: p.stat().st_mtime)
        inflight = folder / ".inflight"
        inflight.mkdir(exist_ok=True)
        handled = 0
        for path in waiting:
            claimed = inflight / path.name
            try:
                path.rename(claimed)
            except FileNotFoundError:
                continue  # another worker took it
            handled += 1
            try:
                self.drop_blob(container, path.name, claimed.read_bytes())
            except Exception as error:  # the host keeps going: the file is retried, then waits in failed/
                attempts = self._blob_attempts[path.name] = self._blob_attempts.get(path.name, 0) + 1
                log.warning("blob %s/%s failed (attempt %d of %d): %s", container, path.name, attempts,
                            BLOB_ATTEMPTS, error)
                if attempts < BLOB_ATTEMPTS:
                    self._blob_retry_at[path.name] = time.monotonic() + min(60.0, 2.0 ** attempts)
                    claimed.rename(path)
                    continue
                self._settle_blob(folder, claimed, "failed", f"{type(error).__name__}: {error}\n")
                continue
            self._settle_blob(folder, claimed, "processed")
        return handled

    @staticmethod
    def _settle_blob(folder: Path, claimed: Path, outcome: str, error: str | None = None) -> None:
        (folder / outcome).mkdir(exist_ok=True)
        target = folder / outcome / claimed.name
        if target.exists():  # an earlier file of that name stays; this one is kept beside it
            target = target.with_name(f"{datetime.now(UTC):%Y%m%dT%H%M%S%f}-{claimed.name}")
        if error is not None:
            target.with_name(f"{target.name}.error.txt").write_text(error)
        claimed.replace(target)

    def _blob_loop(self, container: str, poll_interval: float) -> None:
        self.blob_folder(container).mkdir(parents=True, exist_ok=True)
        while not self._stop.is_set():
            if not self.process_blobs(container):
                self._stop.wait(poll_interval)

    # Background workers ------------------------------------------------------------------------------------

    def start(self, *, poll_interval: float = 0.05) -> None:
        """Start one worker thread per queue function and one per timer."""
        for queue in self.queues:
            self._spawn(f"queue:{queue}", self._queue_loop, queue, poll_interval)
        for name, function in self.timers.items():
            if function.trigger.get("runOnStartup"):
                self.run_timer(name)
            self._spawn(f"timer:{name}", self._timer_loop, name)
        for container in self.blobs:
            self._spawn(f"blob:{container}", self._blob_loop, container, max(poll_interval, 1.0))

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)
        self._threads.clear()
        self._stop.clear()

    def _spawn(self, name: str, target: Callable[..., None], *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _queue_loop(self, queue: str, poll_interval: float) -> None:
        batched, waiting_since = self.queues[queue].batched, None
        while not self._stop.is_set():
            if batched:
                ready, waiting_since = self._batch_ready(queue, waiting_since)
                if not ready:
                    self._stop.wait(poll_interval)
                    continue
            try:
                handled = self.process_queue(queue)
            except Exception:
                log.exception("queue worker %s failed; continuing", queue)
                handled = 0
            if not handled:
                self._stop.wait(poll_interval)

    def _timer_loop(self, name: str) -> None:
        schedule = self.schedule(name)
        while not self._stop.is_set():
            due = schedule.get_next(datetime)
            if self._stop.wait(max(0.0, (due - datetime.now(UTC)).total_seconds())):
                return
            try:
                self.run_timer(name)
            except Exception:
                log.exception("timer %s failed", name)

    # Serving -----------------------------------------------------------------------------------------------

    def serve(self, *, host: str = "127.0.0.1", port: int = 7071, log_level: str = "warning",
              worker_processes: int = 1, triggers: bool = True) -> None:
        """Serve HTTP here and run queue and timer triggers until interrupted.

        With ``worker_processes`` > 0 the triggers run in that many separate processes (the embedded
        bus is safe across processes), so a burst of queue work never starves webhook intake of the
        GIL, as separate instances keep them apart in Azure. With 0 they run as threads here. Without
        ``triggers`` only HTTP is served: the queues wait for another host that works them.
        """
        import multiprocessing

        import uvicorn

        context = multiprocessing.get_context("spawn")
        workers = [context.Process(target=run_triggers, args=(n == 0,), name=f"hl365-triggers-{n}", daemon=True)
                   for n in range(worker_processes if triggers else 0)]
        for worker in workers:
            worker.start()
        if triggers and not workers:
            self.start()
        try:
            uvicorn.run(self.asgi(), host=host, port=port, log_level=log_level, access_log=False)
        finally:
            self.stop()
            for worker in workers:
                worker.terminate()
                worker.join(timeout=10)


def run_triggers(with_timers: bool = True) -> None:
    """A trigger process: queue workers (and timers, in one process only) until terminated."""
    import signal

    local = LocalHost.from_wiring()
    if not with_timers:
        local.timers.clear()
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    parent = os.getppid()
    local.start()
    try:
        # uvicorn re-raises SIGTERM after its graceful shutdown, so the server can die without
        # running its cleanup; a trigger process therefore also ends when its parent is gone.
        while not stopped.wait(0.5) and os.getppid() == parent:
            pass
    finally:
        local.stop()


class TriggerProcesses:
    """Queue triggers in processes of their own, as separate instances run them in Azure.

    ``kill`` ends one the hard way (SIGKILL: no cleanup; the messages it held and the keys it claimed
    come free only when their lock and lease run out) and starts its successor, as the platform does.
    """

    def __init__(self, count: int) -> None:
        import multiprocessing

        self._context = multiprocessing.get_context("spawn")
        self._count = count
        self._processes: list[Any] = []
        self.killed = 0

    def _spawn(self) -> Any:
        process = self._context.Process(target=run_triggers, args=(False,), name="hl365-triggers", daemon=True)
        process.start()
        return process

    def start(self) -> None:
        self._processes = [self._spawn() for _ in range(self._count)]

    def kill(self, pick: Callable[[int], int]) -> None:
        """Kill the worker ``pick(count)`` chooses and start another in its place."""
        import signal

        n = pick(len(self._processes))
        victim = self._processes[n]
        if victim.is_alive() and victim.pid is not None:
            os.kill(victim.pid, signal.SIGKILL)
            self.killed += 1
        victim.join(timeout=10)
        self._processes[n] = self._spawn()

    def stop(self) -> None:
        for process in self._processes:
            process.terminate()
        for process in self._processes:
            process.join(timeout=10)
        self._processes.clear()


def run_in_background(asgi: Any, *, host: str = "127.0.0.1", port: int = 0,
                      tls: tuple[str, str] | None = None) -> tuple[Any, threading.Thread, int]:
    """Serve an ASGI app from a thread on a free loopback port, over HTTPS with ``tls`` (certificate and key
    files); returns (server, thread, port)."""
    import uvicorn

    certfile, keyfile = tls or (None, None)
    config = uvicorn.Config(asgi, host=host, port=port, log_level="warning", access_log=False, lifespan="off",
                            ssl_certfile=certfile, ssl_keyfile=keyfile)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True, name="uvicorn")
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the local HTTP server did not start")
        time.sleep(0.01)
    bound = server.servers[0].sockets[0].getsockname()[1]
    return server, thread, int(bound)


def stop_background(server: Any, thread: threading.Thread) -> None:
    """Stop gracefully; a server still waiting after a second (a TLS keep-alive connection its client
    never closes holds a graceful shutdown for half a minute) is made to exit."""
    server.should_exit = True
    thread.join(timeout=1)
    if thread.is_alive():
        server.force_exit = True
        thread.join(timeout=10)

