"""The Starlette app: /graphql (HTTP, GraphiQL, both websocket protocols), /healthz, /media."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import BaseGraphQLTransportWSHandler
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from tortoise import connections
from tortoise.contrib.starlette import RegisterTortoise

from config import ROOT, Settings, get_settings, tortoise_config
from domain import lifecycle
from domain.catalog import catalog, reload_catalog
from domain.errors import RateLimited, Unauthenticated
from domain.media import Decoder
from domain.notifications_sender import Sender
from domain.ratelimit import RateLimiter, Slowdown
from domain.readgate import Gate
from domain.tx import now
from domain.validate import same_secret
from models.enums import RegionLevel
from rest import exports, media, open311
from rest import notifications as notification_links
from schema import schema, tasks
from schema.context import Context
from schema.http import GraphQLView, ws_message_problem
from serving.faults import Faults
from serving.guard import SOCKET, Guard, GzipWhenAsked
from serving.refusals import Refusals
from subscriptions import heap
from subscriptions.bus import Bus, install_bus
from subscriptions.hub import Hub
from telemetry import metrics

log = logging.getLogger("warga")

_COMMENT = re.compile(r"#[^\n\r]*")
_OPERATION = re.compile(r"(?:^|[\s,}])(query|mutation|subscription)\b\s*([_A-Za-z][_0-9A-Za-z]*)?")


def operation_kind(query: Any, operation_name: Any) -> str:
    """query, mutation or subscription, read from the text without parsing it again (a
    label for metrics only: a query without a keyword starts with `{`)."""
    if not isinstance(query, str):
        return "unknown"
    text = _COMMENT.sub("", query[:20_000])
    found = [(m.group(1), m.group(2)) for m in _OPERATION.finditer(text)]
    if isinstance(operation_name, str) and operation_name:
        return next((kind for kind, name in found if name == operation_name), "unknown")
    stripped = text.lstrip()
    if stripped.startswith("{"):
        return "query"
    return found[0][0] if found else "unknown"


def _kind_of_body(body: bytes) -> str:
    """The operation kind of a JSON request body, for the metrics of kept refusals."""
    try:
        data = json.loads(body) if body else {}
    except ValueError:
        return "unknown"
    if not isinstance(data, dict):
        return "unknown"
    return operation_kind(data.get("query"), data.get("operationName"))


TOKEN_EXPIRED = 4401  # graphql-transport-ws's "Unauthorized"; the legacy protocol has none


async def close_at_expiry(context: Context) -> None:
    """A socket signed in with a token lives as long as the token: at its expiry the socket is
    closed (4401), whatever it is subscribed to; the client signs in again on a new one."""
    if context.expires_at is None:
        return
    await asyncio.sleep(max(0.0, context.expires_at - time.time()))
    with contextlib.suppress(Exception):
        await context.request.close(code=TOKEN_EXPIRED, reason="Token expired")


class ExpiringHandler:
    """Both protocols' handlers: the expiry timer set at connection_init ends with the socket;
    a message unfit for the protocol closes it (4400) before strawberry reads it."""

    context: Any
    websocket: Any

    async def handle_message(self, message: Any) -> None:
        problem = ws_message_problem(message)
        if problem is not None:
            metrics.http_refused("ws_malformed")
            await self.websocket.close(code=4400, reason=problem)
            return
        await super().handle_message(message)  # type: ignore[misc]

    async def handle(self) -> None:
        try:
            await super().handle()  # type: ignore[misc]
        finally:
            timer = getattr(self.context, "expiry_timer", None)
            if timer is not None:
                timer.cancel()


class TransportWSHandler(ExpiringHandler, BaseGraphQLTransportWSHandler):
    pass


class LegacyWSHandler(ExpiringHandler, BaseGraphQLWSHandler):
    """graphql-ws (legacy) with the idle limit before `connection_init` that strawberry only
    gives graphql-transport-ws: a socket that never says hello is closed (4408, as the newer
    protocol does)."""

    async def handle(self) -> None:
        timer = asyncio.create_task(self._close_unless_initialised())
        try:
            await super().handle()
        finally:
            timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await timer

    async def cleanup_operation(self, operation_id: str) -> None:
        """strawberry awaits the operation's task in a frame holding it: a task that failed
        (its socket closed under it) keeps an error whose traceback holds that frame, a
        reference cycle holding the connection's state; the error's traceback goes."""
        task = self.tasks.get(operation_id)
        await super().cleanup_operation(operation_id)
        error = task.exception() if task is not None and task.done() and not task.cancelled() else None
        if error is not None:
            error.__traceback__ = None

    async def _close_unless_initialised(self) -> None:
        await asyncio.sleep(self.view.connection_init_wait_timeout.total_seconds())
        if not self.connection_acknowledged:
            metrics.http_refused("ws_init_timeout")
            with contextlib.suppress(Exception):
                await self.websocket.close(code=4408, reason="Connection initialisation timeout")


class WargaGraphQL(GraphQLView):
    graphql_ws_handler_class = LegacyWSHandler
    graphql_transport_ws_handler_class = TransportWSHandler

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.refusals = Refusals()
        self._kinds: dict[tuple[str, str | None], str] = {}

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """HTTP requests the document gate refused before are answered again from
        serving/refusals.py without running the view."""
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        await self.refusals.serve(scope, receive, send, super().__call__, _kind_of_body)

    def operation_kind(self, query: Any, operation_name: Any) -> str:
        """operation_kind, remembered per document (it is read on every request)."""
        if not isinstance(query, str) or not isinstance(operation_name, str | None):
            return operation_kind(query, operation_name)
        key = (query, operation_name)
        found = self._kinds.get(key)
        if found is None:
            found = operation_kind(query, operation_name)
            if len(self._kinds) >= 1024:
                self._kinds.clear()
            self._kinds[key] = found
        return found

    async def execute_single(self, *args: Any, **kwargs: Any) -> Any:
        """Counted and timed for /metrics, by operation kind and outcome."""
        data = kwargs.get("request_data")
        kind = self.operation_kind(getattr(data, "query", None), getattr(data, "operation_name", None))
        started = time.perf_counter()
        code: str | None = "BAD_REQUEST"
        try:
            result = await super().execute_single(*args, **kwargs)
            errors = getattr(result, "errors", None)
            code = (errors[0].extensions or {}).get("code", "OTHER") if errors else None
            return result
        finally:
            metrics.graphql_request(kind, code, time.perf_counter() - started)

    async def get_context(self, request: Any, response: Any = None) -> Context:
        context = Context(request=request, response=response)
        if request.scope["type"] == "http":
            self.schema.prepare_reads(context, request.app)  # type: ignore[attr-defined]
            await context.authenticate(request.headers.get("authorization"))
        return context

    async def on_ws_connect(self, context: Context) -> Any:
        """Websocket auth comes in the connection_init payload: {"authorization": "Bearer ..."}.
        Once per socket: graphql-transport-ws refuses a second init itself (4429); graphql-ws
        took any number, each leaving an expiry timer asleep for the token's life and able to
        sign the socket in as someone else, past that user's cap of open sockets."""
        if context.initialised:
            again = {"code": "BAD_REQUEST", "message": "This socket is initialised already."}
            raise ConnectionRejectionError(again)
        context.initialised = True
        params = context.connection_params if isinstance(context.connection_params, dict) else {}
        header = params.get("authorization") or params.get("Authorization")
        try:
            await context.authenticate(header if isinstance(header, str) else None)
        except Unauthenticated as exc:
            raise ConnectionRejectionError({"code": "UNAUTHENTICATED", "message": exc.message}) from None
        if context.user is not None:  # from its address's open sockets (serving.guard) to its user's
            scope = context.request.scope
            try:
                context.request.app.state.user_sockets.take(key := f"user:{context.user.id}")
            except RateLimited as exc:
                raise ConnectionRejectionError({"code": exc.code, "message": exc.message}) from None
            address = scope.get(SOCKET)
            scope[SOCKET] = (context.request.app.state.user_sockets, key)
            if address is not None:
                address[0].give(address[1])
        if context.expires_at is not None:
            context.expiry_timer = asyncio.create_task(close_at_expiry(context))
        context.request.app.state.collector.connected()  # its state is frozen once the burst settles
        return await super().on_ws_connect(context)


async def unauthenticated(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Unauthenticated)
    body = {"data": None, "errors": [{"message": exc.message, "extensions": exc.extensions}]}
    return JSONResponse(body, status_code=401, headers={"WWW-Authenticate": "Bearer"})


async def client_gone(request: Request, exc: Exception) -> Response:
    """The client hung up mid-request (a closed tab, a load generator stopping): nothing to
    answer and nothing wrong with the server, so no stack trace in its log."""
    return Response(status_code=499)


async def metrics_endpoint(request: Request) -> Response:
    """Prometheus text, only with `Authorization: Bearer $METRICS_TOKEN` (without the token
    set, this route does not exist: use METRICS_BIND for a separate listener)."""
    if not operator(request):
        return Response("Not Found", status_code=404)
    return Response(metrics.render(), media_type=metrics.CONTENT_TYPE)


async def sample_forever(app: Starlette, every: float = 5.0) -> None:
    """Gauges and counters read from live objects (subscribers, read cache), per process."""
    cache_sampler = metrics.CacheSampler()
    while True:
        try:
            metrics.SUBSCRIBERS.set(app.state.hub.subscriber_count)
            cache_sampler.sample(schema.cache)
        except Exception:
            log.exception("sampling metrics failed")
        await asyncio.sleep(every)


async def bug(request: Request, exc: Exception) -> Response:
    """What no handler and no middleware answered (database and broker faults are answered by
    serving.faults.Faults): a bug, logged, 500."""
    log.error("unhandled error on %s", request.url.path, exc_info=exc)
    return Response("Internal Server Error", status_code=500)


def operator(request: Request) -> bool:
    """Whether the request carries the operators' token (`Authorization: Bearer
    $METRICS_TOKEN`; none set: nobody does)."""
    token = request.app.state.settings.metrics_token
    given = (request.headers.get("authorization") or "").removeprefix("Bearer ").strip()
    return bool(token) and same_secret(given, token)


async def healthz(request: Request) -> JSONResponse:
    """Whether the database and the broadcast answer, for anyone. The process's counters
    (notifications sent, subscribers, the collector, the fast path) only for operators: they
    move with what single users do, and read by anyone they told an officer which citizen was
    pushed to late, i.e. who wrote an anonymous report (the sender's batching)."""
    settings: Settings = request.app.state.settings
    db: dict[str, Any] = {"backend": "postgresql" if settings.is_postgres else "sqlite"}
    try:
        await connections.get("default").execute_query("SELECT 1")
        db["ok"] = True
    except Exception as exc:  # reported, not raised: this is the health endpoint
        db.update(ok=False, error=type(exc).__name__)
    cat = catalog()
    bus_state = request.app.state.bus.status()
    healthy = db["ok"] and bus_state.get("connected", True) is not False
    body: dict[str, Any] = {
        "status": "ok" if healthy else "degraded",
        "database": db,
        "broadcast": {"backend": bus_state["backend"], "connected": bus_state["connected"]},
        "regions": {
            "source": cat.region_source,
            **{level.value.lower(): cat.count(level) for level in RegionLevel},
        },
    }
    if operator(request):
        body["broadcast"] = {**bus_state, "subscribers": request.app.state.hub.subscriber_count}
        body["gc"] = request.app.state.collector.status()
        body["notifications"] = request.app.state.sender.status()
        # Requests the compiled plans handed to graphql-core, by reason (schema/fast.py).
        body["fast_path"] = schema.fast.status() if schema.fast is not None else {"enabled": False}
    return JSONResponse(body, status_code=200 if healthy else 503)


async def bounded(step: str, awaitable: Awaitable[object], seconds: float) -> None:
    """One step of the shutdown, given at most `seconds`: a step that hangs (a connection the
    pool waits for, a task that will not end) is logged and left, so a restart always ends."""
    try:
        await asyncio.wait_for(awaitable, seconds)
    except TimeoutError:
        log.error("shutdown: %s did not finish within %.0f s; going on without it", step, seconds)


async def close_stale_forever(settings: Settings) -> None:
    """Close RESOLVED reports the reporter left unanswered. Every process may run this: the
    compare-and-set on the status lets only one close each report."""
    while True:
        await asyncio.sleep(settings.close_stale_interval)
        try:
            closed = await lifecycle.close_stale(now(), settings.auto_close_days)
            if closed:
                log.info("closed %d stale resolved reports", closed)
        except Exception:
            log.exception("close-stale run failed; will retry")


def collector_for(settings: Settings) -> heap.Collector:
    policy = heap.FreezePolicy(
        settle=settings.gc_settle_seconds,
        burst=settings.gc_burst_connections,
        thaw_every=settings.gc_thaw_seconds,
    )
    return heap.Collector(policy, young=settings.gc_young_threshold, old=settings.gc_old_limit)


def create_app(settings: Settings | None = None, collector: heap.Collector | None = None) -> Starlette:
    """The app; `collector` (the garbage-collector policy) defaults to the settings' one."""
    settings = settings or get_settings()
    collector = collector or collector_for(settings)
    settings.media_root.mkdir(parents=True, exist_ok=True)
    # One allowance of refused documents per client address, over HTTP and websockets alike.
    slowdown = Slowdown(
        settings.refusals_free, settings.refusals_per_second, settings.refusal_delay,
        on_slowed=lambda: metrics.http_refused("refusal_slowed"),
    )  # fmt: skip
    graphql = WargaGraphQL(
        schema,
        subscription_protocols=[GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL],
        multipart_uploads_enabled=True,
        keep_alive=False,
        graphql_ide="graphiql" if settings.graphiql else None,
        connection_init_wait_timeout=timedelta(seconds=settings.ws_init_timeout),
        max_subscriptions_per_connection=settings.subscriptions_per_socket or None,
    )
    limiter = RateLimiter.for_settings(settings, on_limited=metrics.rate_limited)
    address_sockets = Gate(settings.sockets_per_address, "open websockets from one address")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # Tasks cancelled before their first step close what they were given (schema/tasks.py).
        uninstall = tasks.install(asyncio.get_running_loop())
        orm = RegisterTortoise(app, config=tortoise_config(settings))
        await orm.init_orm()
        await reload_catalog()
        bus = install_bus(Bus(settings.broadcast_url))
        app.state.bus = bus
        await bus.start()
        hub = Hub(bus)
        app.state.hub = hub
        await hub.start()
        sender = Sender(settings)
        app.state.sender = sender
        await sender.start()
        collector.start()  # start-up is over: what it built is frozen
        background = [
            asyncio.create_task(close_stale_forever(settings), name="warga-close-stale"),
            asyncio.create_task(collector.run(), name="warga-collector"),
            asyncio.create_task(sample_forever(app), name="warga-metrics"),
        ]
        try:
            yield
        finally:
            grace = settings.shutdown_timeout
            with contextlib.suppress(TimeoutError):
                await schema.settle(grace)  # accepted mutations finish before the pools close
            for task in background:
                task.cancel()
            await bounded("background tasks", asyncio.wait(background), grace)
            collector.stop()
            await bounded("notification sender", sender.stop(), grace)
            await bounded("hub", hub.stop(), grace)
            await bounded("bus", bus.stop(), grace)
            await bounded("rate limiter", limiter.close(), grace)
            app.state.decoder.close()
            await bounded("database connections", orm.close_orm(), grace)
            uninstall()

    app = Starlette(
        routes=[
            # /graphql first: the router tries the routes in order on every request.
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            Route("/healthz", healthz),
            Route("/metrics", metrics_endpoint),
            Route("/exports/reports.csv", exports.reports_csv),
            *open311.routes,
            *notification_links.routes,
            *media.routes,
            Route("/dashboard", lambda request: RedirectResponse("/dashboard/")),
            Mount("/dashboard/", StaticFiles(directory=ROOT / "dashboard", html=True, check_dir=False)),
        ],
        lifespan=lifespan,
        exception_handlers={
            Unauthenticated: unauthenticated,
            ClientDisconnect: client_gone,
            Exception: bug,
        },
        middleware=[
            # Outermost: bounds and headers hold for every route, errors included.
            Middleware(
                Guard,
                max_body_bytes=settings.max_body_bytes,
                max_upload_bytes=settings.max_upload_bytes,
                max_ws_message_bytes=settings.max_ws_message_bytes,
                body_timeout=settings.body_timeout,
                body_idle_timeout=settings.body_idle_timeout,
                address_sockets=address_sockets,
            ),
            # Region boundaries and CSV exports compress well; phones on 3G notice.
            Middleware(GzipWhenAsked, minimum_size=2048),
            Middleware(Faults),
        ],
    )
    app.state.settings = settings
    app.state.limiter = limiter
    app.state.slowdown = slowdown
    app.state.collector = collector
    app.state.graphql = graphql
    app.state.read_gate = Gate(settings.searches_per_client, "searches")
    app.state.user_sockets = Gate(settings.sockets_per_user, "open websockets")
    app.state.address_sockets = address_sockets
    app.state.decoder = Decoder(
        settings.decodes_per_process, settings.uploads_per_user, settings.max_image_pixels
    )
    return app
