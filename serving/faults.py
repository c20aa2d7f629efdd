"""Database and broker faults outside GraphQL execution (authenticating a token, the CSV
export, the media routes) answered as what they are: 503 (or 504 for a read over its
budget) with a retry hint, in the API's error shape (rest.common), and the connection kept.

A middleware, not an exception handler: Starlette hands handlers of `Exception` to its
ServerErrorMiddleware, which sends their response and then raises again, so uvicorn logged
a traceback for every refused request of an outage and closed the client's keep-alive
connection under its next request (the PostgreSQL restart test's flaky ReadError). Anything
that is not a fault (a bug) goes on to the 500 handler; a fault after the response started
(a CSV export cut mid-stream) too, since only closing the connection can tell the client."""

from __future__ import annotations

from typing import Any

from domain.faults import classify
from rest.common import error_response

Scope = dict[str, Any]
Message = dict[str, Any]


class Faults:
    """The ASGI middleware; see the module's docstring."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except Exception as exc:
            found = classify(exc)
            if found is None or started:
                raise
            await error_response(found)(scope, receive, send)
