"""The Starlette app: /graphql (HTTP, GraphiQL, both websocket protocols), /healthz, /media."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL
from tortoise import connections
from tortoise.contrib.starlette import RegisterTortoise

from config import ROOT, Settings, get_settings, tortoise_config
from domain import lifecycle
from domain.catalog import catalog, reload_catalog
from domain.errors import Unauthenticated
from domain.tx import now
from models.enums import RegionLevel
from rest import exports, open311
from schema import schema
from schema.context import Context
from schema.http import GraphQLView
from subscriptions import heap
from subscriptions.bus import Bus, install_bus
from subscriptions.hub import Hub

log = logging.getLogger("warga")


class WargaGraphQL(GraphQLView):
    async def get_context(self, request: Any, response: Any = None) -> Context:
        context = Context(request=request, response=response)
        if request.scope["type"] == "http":
            await context.authenticate(request.headers.get("authorization"))
        return context

    async def on_ws_connect(self, context: Context) -> Any:
        """Websocket auth comes in the connection_init payload: {"authorization": "Bearer ..."}."""
        params = context.connection_params if isinstance(context.connection_params, dict) else {}
        header = params.get("authorization") or params.get("Authorization")
        try:
            await context.authenticate(header if isinstance(header, str) else None)
        except Unauthenticated as exc:
            raise ConnectionRejectionError({"code": "UNAUTHENTICATED", "message": exc.message}) from None
        return await super().on_ws_connect(context)


async def unauthenticated(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Unauthenticated)
    body = {"data": None, "errors": [{"message": exc.message, "extensions": exc.extensions}]}
    return JSONResponse(body, status_code=401, headers={"WWW-Authenticate": "Bearer"})


async def client_gone(request: Request, exc: Exception) -> Response:
    """The client hung up mid-request (a closed tab, a load generator stopping): nothing to
    answer and nothing wrong with the server, so no stack trace in its log."""
    return Response(status_code=499)


async def healthz(request: Request) -> JSONResponse:
    settings: Settings = request.app.state.settings
    db: dict[str, Any] = {"backend": "postgresql" if settings.is_postgres else "sqlite"}
    try:
        await connections.get("default").execute_query("SELECT 1")
        db["ok"] = True
    except Exception as exc:  # reported, not raised: this is the health endpoint
        db.update(ok=False, error=type(exc).__name__)
    cat = catalog()
    bus_state = {**request.app.state.bus.status(), "subscribers": request.app.state.hub.subscriber_count}
    body = {
        "status": "ok" if db["ok"] else "degraded",
        "database": db,
        "broadcast": bus_state,
        "regions": {
            "source": cat.region_source,
            **{level.value.lower(): cat.count(level) for level in RegionLevel},
        },
        "gc": heap.PAUSES.status(),
    }
    return JSONResponse(body, status_code=200 if db["ok"] else 503)


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


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or get_settings()
    settings.media_root.mkdir(parents=True, exist_ok=True)
    graphql = WargaGraphQL(
        schema,
        subscription_protocols=[GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL],
        multipart_uploads_enabled=True,
        keep_alive=False,
        graphql_ide="graphiql" if settings.graphiql else None,
    )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with RegisterTortoise(app, config=tortoise_config(settings)):
            await reload_catalog()
            bus = install_bus(Bus(settings.broadcast_url))
            app.state.bus = bus
            await bus.start()
            hub = Hub(bus)
            app.state.hub = hub
            await hub.start()
            background = [
                asyncio.create_task(close_stale_forever(settings), name="warga-close-stale"),
                asyncio.create_task(heap.freeze_survivors_forever(), name="warga-heap"),
            ]
            try:
                yield
            finally:
                for task in background:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                await hub.stop()
                await bus.stop()

    app = Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/exports/reports.csv", exports.reports_csv),
            *open311.routes,
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            Mount("/media", StaticFiles(directory=settings.media_root, check_dir=False)),
            Route("/dashboard", lambda request: RedirectResponse("/dashboard/")),
            Mount("/dashboard/", StaticFiles(directory=ROOT / "dashboard", html=True, check_dir=False)),
        ],
        lifespan=lifespan,
        exception_handlers={Unauthenticated: unauthenticated, ClientDisconnect: client_gone},
        # Region boundaries and CSV exports compress well; phones on 3G notice.
        middleware=[Middleware(GZipMiddleware, minimum_size=2048)],
    )
    app.state.settings = settings
    return app
