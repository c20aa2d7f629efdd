"""JSON log lines with the request id on every line, and no secret on any of them.

The request id lives in a context variable set by the ASGI guard for the request's task;
uvicorn's access log line is written from inside that task (when the response starts), so
it carries the id too. Every record (ours, uvicorn's, tortoise's) goes through `redact`:
query-string and form values of secret-looking names (api_key, token, password, ...) and
`Bearer ...` credentials are replaced before anything is formatted.
"""

from __future__ import annotations

import contextvars
import json
import logging
import logging.config
import random
import re
import time
from typing import Any

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("warga_request_id", default=None)

_random = random.Random()  # seeded from the OS once per process
REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
SECRET_NAMES = r"(?:api[_-]?key|access[_-]?token|token|password|passwd|secret|authorization|auth)"
_QUERY_SECRET = re.compile(rf"(?i)((?:^|[?&;\s\"'{{,]){SECRET_NAMES}[\"']?\s*[=:]\s*[\"']?)([^&\s\"',}}]+)")
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+")
REDACTED = "[REDACTED]"


def new_request_id(incoming: str | None) -> str:
    """The caller's X-Request-ID when it is a sane token (a proxy's id joins the logs), else
    a fresh one."""
    if incoming and REQUEST_ID_RE.match(incoming):
        return incoming
    return f"{_random.getrandbits(64):016x}"  # unique enough for logs; no secret, no syscall


def redact(text: str) -> str:
    text = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    return _QUERY_SECRET.sub(lambda m: m.group(1) + REDACTED, text)


class RedactFilter(logging.Filter):
    """Formats the record's message once, redacted, so no handler sees the raw arguments;
    adds `request_id`."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        try:
            message = record.getMessage()
        except Exception:  # a broken format string is not worth losing the line
            message = str(record.msg)
        record.msg = redact(message)
        record.args = None
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", None),
            "message": record.getMessage(),
        }
        if record.exc_info:
            line["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(line, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(levelname)s %(name)s [%(request_id)s]: %(message)s")

    def formatException(self, ei: Any) -> str:
        return redact(super().formatException(ei))


def config(fmt: str = "json", level: str = "INFO") -> dict[str, Any]:
    """A logging.config dict for `warga serve` (uvicorn's log_config) and the CLI."""
    formatter = {"()": JsonFormatter} if fmt == "json" else {"()": TextFormatter}
    handler = {"class": "logging.StreamHandler", "formatter": "main", "filters": ["redact"]}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact": {"()": RedactFilter}},
        "formatters": {"main": formatter},
        "handlers": {"stderr": {**handler, "stream": "ext://sys.stderr"}},
        "root": {"handlers": ["stderr"], "level": level.upper()},
        "loggers": {
            "uvicorn": {"handlers": [], "propagate": True},
            "uvicorn.error": {"handlers": [], "propagate": True},
            "uvicorn.access": {"handlers": [], "propagate": True},
            "tortoise": {"level": "WARNING"},
        },
    }


def configure(fmt: str = "json", level: str = "INFO") -> None:
    logging.config.dictConfig(config(fmt, level))
