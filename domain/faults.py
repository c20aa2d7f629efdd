"""Which exceptions are faults of the database or the broker (retry later) rather than bugs:
an error a client gets must say which (issue 16: a PostgreSQL restart answered
INTERNAL_SERVER_ERROR)."""

from __future__ import annotations

import asyncpg
import redis.exceptions
from tortoise.exceptions import DBConnectionError

from domain.errors import QueryTimeout, ServiceUnavailable, WargaError

# Unreachable, restarting or shutting-down servers, and connections they dropped.
FAULTS: tuple[type[BaseException], ...] = (
    OSError,  # refused, reset, unreachable, timed out connecting (ConnectionError, TimeoutError)
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,  # the connection was closed under the query
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.exceptions.ConnectionFailureError,
    asyncpg.TooManyConnectionsError,
    DBConnectionError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
)


def classify(exc: BaseException | None, retry_after: int = 2) -> WargaError | None:
    """The client error for a fault anywhere in the exception's chain, None for anything else
    (a bug stays INTERNAL_SERVER_ERROR)."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, asyncpg.QueryCanceledError):  # statement_timeout
            return QueryTimeout()
        if isinstance(exc, FAULTS):
            return ServiceUnavailable(retry_after)
        exc = exc.__cause__ or exc.__context__
    return None
