"""The PostgreSQL pool's connections, which never go back to the pool half-way through a
statement.

asyncpg runs a statement in two exchanges: Parse + Describe + Flush (no Sync), then Bind +
Execute + Sync. If the first succeeds and the second never goes out (the task is cancelled in
between, as graphql-core does to a failed field's siblings, or an argument fails to encode
client-side), PostgreSQL keeps the implicit transaction the Parse opened: its snapshot (the
next `BEGIN ISOLATION LEVEL ...` on that connection fails with "must be called before any
query"), and its table locks (the connection shows "idle in transaction" and blocks DDL).
asyncpg's default pool reset hid this with a simple query on every release; that round trip
per statement is what `keep_session` saves, so the reset now runs only after a statement that
did not finish (MagicStack/asyncpg#1276 describes the two exchanges)."""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from typing import Any, TypeVar

import asyncpg

T = TypeVar("T")


class Connection(asyncpg.Connection):  # type: ignore[misc]
    """Remembers whether its last statement was interrupted (any exception: cancelled,
    refused by the server, or not encodable), so the pool can resynchronise it."""

    interrupted = False

    async def _finished(self, statement: Awaitable[T]) -> T:
        self.interrupted = True
        result = await statement
        self.interrupted = False
        return result

    async def execute(self, query: str, *args: Any, **kw: Any) -> str:
        return await self._finished(super().execute(query, *args, **kw))

    async def executemany(self, command: str, args: Any, **kw: Any) -> None:
        return await self._finished(super().executemany(command, args, **kw))

    async def fetch(self, query: str, *args: Any, **kw: Any) -> Any:
        return await self._finished(super().fetch(query, *args, **kw))

    async def fetchrow(self, query: str, *args: Any, **kw: Any) -> Any:
        return await self._finished(super().fetchrow(query, *args, **kw))

    async def fetchval(self, query: str, *args: Any, **kw: Any) -> Any:
        return await self._finished(super().fetchval(query, *args, **kw))


async def keep_session(connection: Any, optional: Mapping[str, str] | None = None) -> None:
    """asyncpg's pool reset, only when needed. The default sends `SELECT
    pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL` on every release, one more
    round trip per statement (the largest cost of a short read, bench/README.md), to undo
    session state this service never creates: its locks are transaction-scoped
    (`pg_advisory_xact_lock_shared`), its settings `SET LOCAL`, its cursors inside
    transactions, and it never LISTENs on pooled connections. An open transaction is still
    rolled back (the pool does that before calling this). After an interrupted statement the
    default reset runs: being a simple query, it also ends the implicit transaction a lone
    Parse left open (see the module's docstring); `optional` settings are then set again
    (see set_optional)."""
    if getattr(connection, "interrupted", True):
        await connection.execute(connection.get_reset_query())
        await set_optional(connection, optional)


async def set_optional(connection: Any, optional: Mapping[str, str] | None = None) -> None:
    """Session settings a server may refuse, set on each new connection (the pool's `init`)
    and after a reset, each alone: one refused keeps the server's own. As startup parameters a
    refusal would refuse the connection: `effective_io_concurrency` takes only 0 where
    PostgreSQL cannot advise the kernel to read ahead (macOS, Windows)."""
    for name, value in (optional or {}).items():
        try:
            await connection.fetchval("SELECT set_config($1, $2, false)", name, value)
        except asyncpg.InvalidParameterValueError:
            continue
