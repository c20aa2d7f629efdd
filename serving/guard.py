"""The ASGI guard around the whole app: what uvicorn does not bound, bounded here.

* a request id (X-Request-ID in, echoed out, on every log line of the request);
* request bodies: a declared Content-Length over the limit is refused before the app runs,
  a chunked body is counted as it arrives and cut at the limit (413, JSON error); multipart
  (uploads) has its own, larger limit;
* body read time: a body must arrive within BODY_TIMEOUT_SECONDS in all, with no pause
  longer than BODY_IDLE_TIMEOUT_SECONDS (408): a client trickling a byte at a time holds
  nothing for long. (Headers are bounded in the uvicorn protocol, serving/protocol.py: the
  app is only called once they are complete.)
* websocket messages over MAX_WS_MESSAGE_BYTES close the socket with 1009 and a reason;
* open websockets per client address (SOCKETS_PER_ADDRESS): one more is refused at the
  handshake (403), before anything of it is kept; a socket that signs in moves to its user's
  own count (server.on_ws_connect), and its place is given back here when it closes;
* security headers on every response (a Content-Security-Policy per kind of page).
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from domain.errors import RateLimited
from domain.ratelimit import address_key
from telemetry import logs, metrics

Scope = dict[str, Any]
Message = dict[str, Any]
# Where a websocket's place among its client's open ones is kept in its scope: (gate, key).
SOCKET = "warga.socket"


async def pause_refused(scope: Scope) -> None:
    """A refusal of this request's client, counted by the app's one Slowdown (app.state), which
    may make it wait: the same allowance for refused documents and oversized bodies."""
    slowdown = getattr(getattr(scope.get("app"), "state", None), "slowdown", None)
    if slowdown is not None:
        client = scope.get("client")
        await slowdown.pause(client[0] if client else None)


# The dashboard is same-origin modules, its stylesheet and fetch/websocket to /graphql; its
# legend swatches and score bars set style attributes (style-src-attr), never <style> or
# scripts of their own.
DASHBOARD_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; style-src-attr 'unsafe-inline';"
    " img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self';"
    " frame-ancestors 'none'"
)
# GraphiQL (strawberry's page): inline bootstrap script and styles, its bundles from unpkg.
GRAPHIQL_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' https://unpkg.com;"
    " style-src 'self' 'unsafe-inline' https://unpkg.com; img-src 'self' data: https:;"
    " font-src 'self' data: https://unpkg.com; connect-src 'self'; object-src 'none'; base-uri 'none';"
    " form-action 'self'; frame-ancestors 'none'"
)
# Everything else (JSON, CSV, media): no active content at all, even if opened as a page.
DEFAULT_CSP = "default-src 'none'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'; sandbox"

COMMON_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
]


def _csp(scope: Scope, headers: list[tuple[bytes, bytes]]) -> bytes:
    path = scope.get("path", "")
    if path.startswith("/dashboard"):
        return DASHBOARD_CSP.encode()
    content_type = next((v for k, v in headers if k.lower() == b"content-type"), b"")
    if path == "/graphql" and content_type.startswith(b"text/html"):
        return GRAPHIQL_CSP.encode()
    return DEFAULT_CSP.encode()


def _json(status: int, code: str, message: str) -> tuple[Message, Message]:
    body = json.dumps({"data": None, "errors": [{"message": message, "extensions": {"code": code}}]}).encode()
    start = {
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ],
    }
    return start, {"type": "http.response.body", "body": body}


class Guard:
    def __init__(
        self,
        app: Any,
        *,
        max_body_bytes: int,
        max_upload_bytes: int,
        max_ws_message_bytes: int,
        body_timeout: float,
        body_idle_timeout: float,
        address_sockets: Any = None,
    ) -> None:
        self.app = app
        self.address_sockets = address_sockets  # domain.readgate.Gate: open websockets per address
        self.max_body = max_body_bytes
        self.max_upload = max_upload_bytes
        self.max_ws = max_ws_message_bytes
        self.body_timeout = body_timeout
        self.body_idle = body_idle_timeout

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "websocket":
            await self._websocket(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    def _request_id(self, scope: Scope) -> str:
        incoming = next((v for k, v in scope.get("headers", []) if k == b"x-request-id"), None)
        rid = logs.new_request_id(incoming.decode("latin-1") if incoming else None)
        logs.request_id.set(rid)
        return rid

    async def _http(self, scope: Scope, receive: Any, send: Any) -> None:
        rid = self._request_id(scope).encode()
        content_type = declared = None
        for name, value in scope.get("headers", ()):
            if name == b"content-type":
                content_type = value
            elif name == b"content-length":
                declared = value
        multipart = content_type is not None and content_type.lower().startswith(b"multipart/")
        limit = self.max_upload if multipart else self.max_body
        refusal: list[tuple[int, str, str]] = []  # (status, code, message) once cut
        started = False

        async def send_guarded(message: Message) -> None:
            nonlocal started
            if refusal:
                if started or message["type"] != "http.response.start":
                    return  # the app's answer to a cut body is replaced by ours
                started = True
                status, code, text = refusal[0]
                start, body = _json(status, code, text)
                csp = (b"content-security-policy", DEFAULT_CSP.encode())
                start["headers"] += [(b"x-request-id", rid), *COMMON_HEADERS, csp]
                await send(start)
                await send(body)
                return
            if message["type"] == "http.response.start":
                started = True
                out = list(message.get("headers", []))
                present = {k.lower() for k, _ in out}
                out.append((b"x-request-id", rid))
                out += [h for h in COMMON_HEADERS if h[0] not in present]
                if b"content-security-policy" not in present:
                    out.append((b"content-security-policy", _csp(scope, out)))
                message = {**message, "headers": out}
            await send(message)

        if declared is not None and declared.isdigit() and int(declared) > limit:
            refusal.append(self._too_large(limit, multipart))
            # A client that keeps sending oversized bodies waits for each further 413, nothing
            # read meanwhile: its writes stall on a full socket instead of costing their bytes.
            await pause_refused(scope)
            await send_guarded({"type": "http.response.start", "status": 413, "headers": []})
            return

        received = 0
        body_done = False
        deadline: float | None = None

        async def receive_guarded() -> Message:
            nonlocal received, body_done, deadline
            if body_done or refusal:
                return await receive()  # after the body: the app waits for a disconnect
            now = time.monotonic()
            if deadline is None:
                deadline = now + self.body_timeout
            try:
                # asyncio.timeout, not wait_for: no task of its own per message (a request's
                # body usually arrives with its headers, and this runs for every request).
                async with asyncio.timeout(max(0.0, min(self.body_idle, deadline - now))):
                    message = await receive()
            except TimeoutError:
                metrics.http_refused("body_timeout")
                refusal.append((408, "REQUEST_TIMEOUT", "The request body arrived too slowly."))
                return {"type": "http.disconnect"}
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    refusal.append(self._too_large(limit, multipart))
                    await pause_refused(scope)  # as for a declared one, above
                    return {"type": "http.disconnect"}
                if not message.get("more_body", False):
                    body_done = True
            return message

        await self.app(scope, receive_guarded, send_guarded)
        if refusal and not started:
            await send_guarded({"type": "http.response.start", "status": 500, "headers": []})

    def _too_large(self, limit: int, multipart: bool) -> tuple[int, str, str]:
        metrics.http_refused("body_too_large")
        what = "upload" if multipart else "request body"
        return (413, "PAYLOAD_TOO_LARGE", f"The {what} is larger than the limit of {limit} bytes.")

    async def _websocket(self, scope: Scope, receive: Any, send: Any) -> None:
        self._request_id(scope)
        if self.address_sockets is not None:
            client = scope.get("client")
            key = address_key(client[0] if client else None)
            try:
                self.address_sockets.take(key)
            except RateLimited:
                metrics.http_refused("ws_too_many")
                await receive()  # websocket.connect
                await send({"type": "websocket.close", "code": 1008})  # before accepting: a 403
                return
            scope[SOCKET] = (self.address_sockets, key)
        try:
            await self._guarded_websocket(scope, receive, send)
        finally:
            held = scope.pop(SOCKET, None)
            if held is not None:  # the address's, or its user's since it signed in
                gate, key = held
                gate.give(key)

    async def _guarded_websocket(self, scope: Scope, receive: Any, send: Any) -> None:
        closed = False

        async def receive_guarded() -> Message:
            nonlocal closed
            message = await receive()
            if message["type"] == "websocket.receive":
                size = len(message.get("text") or "") + len(message.get("bytes") or b"")
                if size > self.max_ws:
                    metrics.http_refused("ws_message_too_big")
                    if not closed:
                        closed = True
                        reason = f"message too big (limit {self.max_ws} bytes)"
                        await send({"type": "websocket.close", "code": 1009, "reason": reason})
                    return {"type": "websocket.disconnect", "code": 1009}
            return message

        async def send_guarded(message: Message) -> None:
            if closed:
                return
            await send(message)

        await self.app(scope, receive_guarded, send_guarded)


class GzipWhenAsked:
    """Starlette's GZipMiddleware for clients that accept gzip; the others (most API clients)
    skip its per-response wrapper altogether (a response they get is never compressed, so a
    cache may hand it to anyone)."""

    def __init__(self, app: Any, minimum_size: int) -> None:
        from starlette.middleware.gzip import GZipMiddleware

        self.app = app
        self.gzip = GZipMiddleware(app, minimum_size=minimum_size)

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            for name, value in scope["headers"]:
                if name == b"accept-encoding" and b"gzip" in value.lower():
                    await self.gzip(scope, receive, send)
                    return
        await self.app(scope, receive, send)
