"""uvicorn's HTTP protocols with a header-read timeout (slowloris) and body limits enforced
before the app runs.

uvicorn times out an idle keep-alive connection (timeout_keep_alive) but not a connection
that sends its request line and headers slowly, nor one that connects and sends nothing:
the ASGI app is only called once the headers are complete, so no middleware can help.
These subclasses arm a timer when a connection opens and whenever a new request starts
arriving, cancel it when the headers are complete (uvicorn then creates the request's
cycle) or the connection upgrades to a websocket, and close the connection with a 408 if
it fires first. The body's read time is bounded by the ASGI guard (serving/guard.py).

Body limits (httptools, uvicorn's default when installed): a declared Content-Length over the
limit (MAX_BODY_BYTES, or MAX_UPLOAD_BYTES for multipart) is answered 413 the moment the
headers are complete, and a chunked body the moment it passes the limit; the connection is
then closed at once, without reading the rest. The app never runs for it, so a client
posting 5 MB bodies in a loop costs the server an accept, one header parse and a close per
attempt, not a trip through the middleware and megabytes read into memory. (The ASGI guard
holds the same limits for any other server, h11 included.)
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

from telemetry import metrics

TIMEOUT_RESPONSE = b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
# A request line and headers larger than this are refused with a 431 (h11 is given the same
# bound, serving/options.py): httptools copies what it has buffered of a header on every chunk,
# so one client streaming a 100 MB header within the header timeout stalled the event loop
# (an honest /healthz 2.5-8.5 s) and took 190 MB (helper review).
MAX_HEADER_BYTES = 16 * 1024
TOO_LARGE_HEADERS = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
)


def too_large_response(limit: int, multipart: bool) -> bytes:
    """The guard's 413 (serving/guard.py), as bytes on the wire."""
    from serving.guard import COMMON_HEADERS, DEFAULT_CSP

    what = "upload" if multipart else "request body"
    message = f"The {what} is larger than the limit of {limit} bytes."
    error = {"message": message, "extensions": {"code": "PAYLOAD_TOO_LARGE"}}
    body = json.dumps({"data": None, "errors": [error]})
    headers = [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"), *COMMON_HEADERS, (b"content-security-policy", DEFAULT_CSP.encode()),
    ]  # fmt: skip
    head = b"".join(k + b": " + v + b"\r\n" for k, v in headers)
    return b"HTTP/1.1 413 Request Entity Too Large\r\n" + head + b"\r\n" + body.encode()


class HeaderTimeout:
    """Mixin for both of uvicorn's HTTP protocol classes: a request's head (its line and
    headers) is bounded in time and in size."""

    header_timeout: float | None = None  # None: HEADER_TIMEOUT_SECONDS from the settings
    _header_timer: asyncio.TimerHandle | None = None
    _seen_cycle: Any = None
    _upgraded: bool = False
    _head_bytes = 0  # of the request whose head is not complete yet

    def _arm(self) -> None:
        if self._header_timer is None and not self._upgraded:
            timeout = self.header_timeout
            if timeout is None:
                from config import get_settings

                timeout = get_settings().header_timeout
            loop = asyncio.get_running_loop()
            self._header_timer = loop.call_later(timeout, self._headers_too_slow)

    def _disarm(self) -> None:
        self._head_bytes = 0
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        transport = getattr(self, "transport", None)
        if transport is None or transport.is_closing() or self._upgraded:
            return
        metrics.http_refused("header_timeout")
        transport.write(TIMEOUT_RESPONSE)
        transport.close()

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)  # type: ignore[misc]
        cycle = getattr(self, "cycle", None)
        if cycle is not self._seen_cycle:
            self._seen_cycle = cycle  # a new request's headers are complete
            self._disarm()
        elif cycle is None or cycle.response_complete:
            self._arm()  # bytes of a request whose headers are not complete yet
            self._head_bytes += len(data)  # counted after the parser took them: one chunk more
            if self._head_bytes > MAX_HEADER_BYTES:
                self._headers_too_large()

    def _headers_too_large(self) -> None:
        transport = getattr(self, "transport", None)
        if transport is None or transport.is_closing() or self._upgraded:
            return
        self._disarm()
        metrics.http_refused("header_too_large")
        transport.write(TOO_LARGE_HEADERS)
        transport.close()

    def handle_websocket_upgrade(self, *args: Any) -> None:
        self._upgraded = True
        self._disarm()
        super().handle_websocket_upgrade(*args)  # type: ignore[misc]

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)  # type: ignore[misc]


class GuardedH11Protocol(HeaderTimeout, H11Protocol):
    pass


def _answer_and_close(transport: Any, answer: bytes) -> None:
    if not transport.is_closing():
        if answer:
            transport.write(answer)
        transport.close()


def _slowdown_of(app: Any) -> Any:
    """The app's Slowdown (app.state.slowdown) behind uvicorn's wrappers (proxy headers, ...)."""
    for _ in range(8):
        state = getattr(app, "state", None)
        if state is not None:
            return getattr(state, "slowdown", None)
        app = getattr(app, "app", None)
    return None


class BodyLimit:
    """Mixin for uvicorn's httptools protocol: refuse an oversized body before the app runs
    (declared) or as soon as it passes the limit (chunked), and close the connection."""

    body_limits: tuple[int, int] | None = None  # (body, upload); None: from the settings
    _refused_body = False
    _body_limit = 0
    _body_seen = 0
    _multipart = False

    def _limits(self) -> tuple[int, int]:
        if self.body_limits is not None:
            return self.body_limits
        from config import get_settings

        settings = get_settings()
        return settings.max_body_bytes, settings.max_upload_bytes

    def _refuse_body(self) -> None:
        self._refused_body = True
        metrics.http_refused("body_too_large")
        transport = getattr(self, "transport", None)
        if transport is None or transport.is_closing():
            return
        cycle = getattr(self, "cycle", None)
        answer = b""
        if cycle is None or not cycle.response_started:
            answer = too_large_response(self._body_limit, self._multipart)
        # A client that keeps sending oversized bodies waits for each further 413 (the app's
        # one Slowdown, serving/guard.pause_refused): nothing more is read meanwhile, so its
        # writes stall on a full socket instead of costing an accept and a parse each.
        slowdown = _slowdown_of(getattr(self, "app", None))
        client = getattr(self, "client", None)
        delay = slowdown.delay_for(client[0] if client else None) if slowdown is not None else 0.0
        if delay:
            transport.pause_reading()
            asyncio.get_running_loop().call_later(delay, _answer_and_close, transport, answer)
        else:
            _answer_and_close(transport, answer)

    def on_message_begin(self) -> None:
        self._refused_body = False
        self._body_seen = 0
        super().on_message_begin()  # type: ignore[misc]

    def on_headers_complete(self) -> None:
        body, upload = self._limits()
        content_type = declared = None
        for name, value in self.headers:  # type: ignore[attr-defined]
            if name == b"content-type":
                content_type = value
            elif name == b"content-length":
                declared = value
        self._multipart = content_type is not None and content_type.lower().startswith(b"multipart/")
        self._body_limit = upload if self._multipart else body
        if declared is not None and declared.isdigit() and int(declared) > self._body_limit:
            self._refuse_body()
            return
        super().on_headers_complete()  # type: ignore[misc]

    def on_body(self, body: bytes) -> None:
        if self._refused_body:
            return
        self._body_seen += len(body)
        if self._body_seen > self._body_limit:
            self._refuse_body()
            return
        super().on_body(body)  # type: ignore[misc]

    def on_message_complete(self) -> None:
        if not self._refused_body:
            super().on_message_complete()  # type: ignore[misc]


try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class GuardedHttpToolsProtocol(HeaderTimeout, BodyLimit, HttpToolsProtocol):
        pass

    DEFAULT = "serving.protocol:GuardedHttpToolsProtocol"
except ImportError:  # httptools not installed: h11, as uvicorn itself would choose
    DEFAULT = "serving.protocol:GuardedH11Protocol"


def protocol_class(header_timeout: float, body_limits: tuple[int, int] | None = None) -> type:
    """The default protocol with other bounds, for a server started in this process (an
    import string, DEFAULT, is what `warga serve` passes: workers are spawned processes)."""
    name = DEFAULT.rpartition(":")[2]
    base = globals()[name]
    bounds = {"header_timeout": header_timeout, "body_limits": body_limits}
    return type(f"{name}{int(header_timeout * 1000)}ms", (base,), bounds)
