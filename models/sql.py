"""Purpose-built SQL for the hot paths, written once for PostgreSQL ($1 placeholders) and run
on SQLite too (placeholders rewritten to ?)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from functools import cache
from typing import Any, Protocol, TypeVar

import asyncpg
from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.models import Model

_PARAM = re.compile(r"\$\d+")


def conn_of(conn: BaseDBAsyncClient | None = None) -> BaseDBAsyncClient:
    return conn or connections.get("default")


def is_postgres(conn: BaseDBAsyncClient | None = None) -> bool:
    return conn_of(conn).capabilities.dialect == "postgres"


def _for(conn: BaseDBAsyncClient, sql: str, args: tuple[Any, ...]) -> tuple[str, list[Any]]:
    """The statement and its values as the connection's dialect takes them. SQLite: `?n`
    placeholders, and aware datetimes in UTC, since it compares datetimes as the text the ORM
    stores (UTC): an aware bound in another zone ("23:00:00+07:00") would compare by its
    digits. PostgreSQL compares instants."""
    if is_postgres(conn):
        return sql, list(args)
    values = [a.astimezone(UTC) if isinstance(a, datetime) and a.tzinfo is not None else a for a in args]
    return _PARAM.sub(lambda m: "?" + m.group()[1:], sql), values


async def fetch(sql: str, *args: Any, conn: BaseDBAsyncClient | None = None) -> list[dict[str, Any]]:
    c = conn_of(conn)
    return list(await c.execute_query_dict(*_for(c, sql, args)))


async def execute(sql: str, *args: Any, conn: BaseDBAsyncClient | None = None) -> int:
    c = conn_of(conn)
    count, _ = await c.execute_query(*_for(c, sql, args))
    return count


M = TypeVar("M", bound=Model)


async def fetch_models(
    model: type[M], sql: str, *args: Any, conn: BaseDBAsyncClient | None = None
) -> list[M]:
    """Model instances from purpose-built SQL selecting all their columns: on a hot path this
    skips the ORM's query building, which costs more than the query itself."""
    return [instance(model, row) for row in await fetch(sql, *args, conn=conn)]


@cache
def _columns(model: type[Model]) -> tuple[bool, tuple[Any, ...], tuple[Any, ...], tuple[Any, ...]]:
    """A model's columns as Tortoise's `_init_from_db` reads them, looked up once."""
    meta = model._meta
    return (
        meta.db_pk_column not in meta.generated_db_fields,
        tuple((key, attr) for key, attr, _ in meta.db_native_fields),
        tuple((key, attr, f.field_type) for key, attr, f in meta.db_default_fields),
        tuple((key, attr, f.to_python_value) for key, attr, f in meta.db_complex_fields),
    )


def instance(model: type[M], row: dict[str, Any]) -> M:
    """What `model._init_from_db(**row)` builds (tests/test_rows.py compares them), without its
    attribute-by-attribute setting through the model's `__setattr__`: that was 10 % of a feed
    request with the read cache off (bench/README.md, session 9). A row without every column
    (a partial model) is left to Tortoise."""
    custom_pk, native, default, complex_ = _columns(model)
    try:
        values = {attr: row[key] for key, attr in native}
        for key, attr, kind in default:
            value = row[key]
            values[attr] = value if value is None else kind(value)
        for key, attr, to_python in complex_:
            values[attr] = to_python(row[key])
    except KeyError:
        return model._init_from_db(**row)
    obj = model.__new__(model)
    state = obj.__dict__
    state["_partial"] = False
    state["_saved_in_db"] = True
    state["_custom_generated_pk"] = custom_pk
    state["_await_when_save"] = {}
    state.update(values)
    return obj


async def fetch_model(
    model: type[M], sql: str, *args: Any, conn: BaseDBAsyncClient | None = None
) -> M | None:
    """The one row, or None (see fetch_models)."""
    found = await fetch_models(model, sql, *args, conn=conn)
    return found[0] if found else None


def arg(args: list[Any], value: Any) -> str:
    """Append a positional argument and return its placeholder."""
    args.append(value)
    return f"${len(args)}"


def in_list(column: str, values: list[Any], args: list[Any]) -> str:
    """`column IN ($n, ...)`, appending the values to the positional arguments."""
    return f"{column} IN ({', '.join(arg(args, value) for value in values)})"


class HasTimeout(Protocol):
    timeout_ms: int


class _Pooled:
    """Just enough of a Tortoise client for fetch(): one pooled asyncpg connection, each
    statement cancelled after `timeout` seconds (if given). `fresh`: each statement planned
    for its own values (see budgeted)."""

    def __init__(
        self, client: BaseDBAsyncClient, raw: Any, timeout: float | None, fresh: bool = False
    ) -> None:
        self.capabilities = client.capabilities
        self._log = client.log
        self._raw = raw
        self._timeout = timeout
        self._fresh = fresh

    async def execute_query_dict(self, sql: str, values: list[Any] | None = None) -> list[dict[str, Any]]:
        self._log.debug("%s: %s", sql, values)  # as Tortoise logs each statement
        try:
            if self._fresh:
                # Prepared apart from the connection's statement cache and run once: a first
                # run is always planned for its values (the cache's sixth may reuse a plan
                # made for none, see budgeted).
                statement = await self._raw.prepare(sql, timeout=self._timeout)
                rows = await statement.fetch(*(values or []), timeout=self._timeout)
            else:
                rows = await self._raw.fetch(sql, *(values or []), timeout=self._timeout)
        except TimeoutError:
            # asyncpg has asked PostgreSQL to cancel the statement (and the pool waits for that
            # before lending the connection again): the same answer as a statement_timeout.
            raise asyncpg.QueryCanceledError("canceling statement due to the read budget") from None
        return [dict(row) for row in rows]


@asynccontextmanager
async def budgeted(budget: HasTimeout, fresh: bool = False) -> AsyncIterator[Any]:
    """A connection whose statements are cancelled after the budget's time. asyncpg's own
    timeout, which cancels the statement on the server as `statement_timeout` would, without
    the three more round trips that setting one costs (BEGIN, SET LOCAL, COMMIT: most of a
    short read's time, bench/README.md); asyncpg's own pool, so a request cancelled mid-read
    still gives the connection back (a budget of 0: no timeout). SQLite has no such setting:
    the plain connection.

    `fresh`: statements whose best plan depends on their values (a filter's selectivity, a
    word's rarity) are planned for them every time, for one more round trip. From its cache
    asyncpg runs a statement prepared once per connection, and after five runs PostgreSQL may
    keep a plan made for no values at all: a count of overdue reports then read 50,000 pages
    instead of 3,000 on a year (p50 35-38 -> 18-20 ms)."""
    conn = conn_of()
    if not is_postgres(conn):
        yield conn
        return
    async with conn.acquire_connection() as raw:
        yield _Pooled(conn, raw, budget.timeout_ms / 1000 if budget.timeout_ms > 0 else None, fresh)


@asynccontextmanager
async def one_view(conn: Any) -> AsyncIterator[None]:
    """The statements run inside on a connection from budgeted() see one moment of the
    database (a REPEATABLE READ, READ ONLY transaction): a page put together from several
    statements over columns that change (votes, last update) neither loses nor repeats a row
    that moved between them. SQLite's one connection: as it is."""
    if not isinstance(conn, _Pooled):
        yield
        return
    async with conn._raw.transaction(isolation="repeatable_read", readonly=True):
        yield


class _Held:
    """Just enough of a Tortoise client for fetch(): SQLite's one connection, held under the
    client's own lock (which its transactions hold too, so no write interleaves)."""

    def __init__(self, client: BaseDBAsyncClient, raw: Any) -> None:
        self.capabilities = client.capabilities
        self._raw = raw

    async def execute_query_dict(self, sql: str, values: list[Any] | None = None) -> list[dict[str, Any]]:
        return [dict(row) for row in await self._raw.execute_fetchall(sql, values or [])]


@asynccontextmanager
async def snapshot() -> AsyncIterator[Any]:
    """One consistent view for the statements of an answer (the counters and medians of the
    same moment), for fetch() only. On PostgreSQL a REPEATABLE READ, READ ONLY transaction
    opened by its BEGIN itself, on a pooled connection of its own. On SQLite the one
    connection, held: no transaction, since Tortoise's transaction entry is not safe against
    cancellation (graphql-core cancels a failed field's siblings; one cancelled during its
    BEGIN kept SQLite's lock forever and stalled the server), and the ORM must not be called
    inside (it waits for the same lock).

    Its statements read rollups (a few thousand rows), without parallel workers as every
    pooled session (config.SESSION_SETTINGS)."""
    conn = conn_of()
    async with conn.acquire_connection() as raw:
        if is_postgres(conn):
            async with raw.transaction(isolation="repeatable_read", readonly=True):
                yield _Pooled(conn, raw, None)
        else:
            yield _Held(conn, raw)
