"""uvicorn's HTTP protocols with a header-read timeout (slowloris).

uvicorn times out an idle keep-alive connection (timeout_keep_alive) but not a connection
that sends its request line and headers slowly, nor one that connects and sends nothing:
the ASGI app is only called once the headers are complete, so no middleware can help.
These subclasses arm a timer when a connection opens and whenever a new request starts
arriving, cancel it when the headers are complete (uvicorn then creates the request's
cycle) or the connection upgrades to a websocket, and close the connection with a 408 if
it fires first. The body's read time is bounded by the ASGI guard (serving/guard.py).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

from telemetry import metrics

TIMEOUT_RESPONSE = b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"


class HeaderTimeout:
    """Mixin for both of uvicorn's HTTP protocol classes."""

    header_timeout: float | None = None  # None: HEADER_TIMEOUT_SECONDS from the settings
    _header_timer: asyncio.TimerHandle | None = None
    _seen_cycle: Any = None
    _upgraded: bool = False

    def _arm(self) -> None:
        if self._header_timer is None and not self._upgraded:
            timeout = self.header_timeout
            if timeout is None:
                from config import get_settings

                timeout = get_settings().header_timeout
            loop = asyncio.get_running_loop()
            self._header_timer = loop.call_later(timeout, self._headers_too_slow)

    def _disarm(self) -> None:
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

    def handle_websocket_upgrade(self, *args: Any) -> None:
        self._upgraded = True
        self._disarm()
        super().handle_websocket_upgrade(*args)  # type: ignore[misc]

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)  # type: ignore[misc]


class GuardedH11Protocol(HeaderTimeout, H11Protocol):
    pass


try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class GuardedHttpToolsProtocol(HeaderTimeout, HttpToolsProtocol):
        pass

    DEFAULT = "serving.protocol:GuardedHttpToolsProtocol"
except ImportError:  # httptools not installed: h11, as uvicorn itself would choose
    DEFAULT = "serving.protocol:GuardedH11Protocol"


def protocol_class(header_timeout: float) -> type:
    """The default protocol with another timeout, for a server started in this process (an
    import string, DEFAULT, is what `warga serve` passes: workers are spawned processes)."""
    name = DEFAULT.rpartition(":")[2]
    base = globals()[name]
    return type(f"{name}{int(header_timeout * 1000)}ms", (base,), {"header_timeout": header_timeout})
