"""uvicorn's own bounds, from the settings, for `warga serve` and the tests that serve the
app on a real socket."""

from __future__ import annotations

from typing import Any

from serving import protocol
from telemetry import logs


def uvicorn_options(settings: Any, *, log_level: str = "info", access_log: bool = True) -> dict[str, Any]:
    return {
        "http": protocol.DEFAULT,  # reads HEADER_TIMEOUT_SECONDS from the settings
        "timeout_keep_alive": settings.keep_alive_timeout,
        # A restart ends: connections and requests still open after this are cancelled.
        "timeout_graceful_shutdown": settings.shutdown_timeout,
        # h11 (when httptools is absent) buffers at most this much of an incomplete request head.
        "h11_max_incomplete_event_size": protocol.MAX_HEADER_BYTES,
        # Frames above this are refused by the websocket library before they are buffered;
        # the guard closes with 1009 and a reason above MAX_WS_MESSAGE_BYTES.
        "ws_max_size": settings.max_ws_message_bytes + 64 * 1024,
        "ws_ping_interval": 20,
        "ws_ping_timeout": 20,
        "log_config": logs.config(settings.log_format, log_level),
        "log_level": log_level,
        "access_log": access_log,
        "proxy_headers": True,
        "server_header": False,
    }
