"""The pool never lends a connection left half-way through a statement (PostgreSQL only).

asyncpg's Parse/Describe/Flush opens an implicit transaction that only its Bind/Execute/Sync
closes; a task cancelled in between, or an argument that fails to encode, used to leave the
connection "idle in transaction" with a snapshot: the next snapshot read failed ("SET
TRANSACTION ISOLATION LEVEL must be called before any query", seen in CI on rankings) and
its table locks blocked DDL. models/pool.py resynchronises such a connection on release."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest

from config import tortoise_config
from models.pool import Connection, keep_session, set_optional
from tests.conftest import PG_URL

DSN = PG_URL.replace("postgres://", "postgresql://", 1)


async def _clean(conn: Any) -> bool:
    """Whether a snapshot transaction can begin on it (a lone Parse's snapshot forbids it)."""
    try:
        await conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
    except asyncpg.PostgresError:
        return False
    await conn.execute("ROLLBACK")
    return True


async def _interrupt(conn: Any, i: int) -> None:
    """Cancel a statement after `i % 6` turns of the loop: some land between its two exchanges."""
    task = asyncio.create_task(conn.fetch(f"SELECT {i} + $1::int AS n", 1))
    for _ in range(i % 6):
        await asyncio.sleep(0)
    task.cancel()
    try:
        await task
    except (asyncio.CancelledError, asyncpg.PostgresError, asyncpg.InterfaceError):
        pass


def test_the_service_pool_uses_them() -> None:
    credentials = tortoise_config()["connections"]["default"]["credentials"]
    assert credentials["connection_class"] is Connection
    assert credentials["reset"].func is keep_session and credentials["init"].func is set_optional
    assert credentials["reset"].keywords == credentials["init"].keywords == {
        "optional": {"effective_io_concurrency": "64"}
    }


async def test_an_argument_that_fails_to_encode_leaves_no_transaction_behind() -> None:
    pool = await asyncpg.create_pool(DSN, min_size=1, max_size=1, connection_class=Connection, reset=keep_session)
    try:
        async with pool.acquire() as conn:
            with pytest.raises(asyncpg.DataError):
                await conn.fetch("SELECT $1::int + 0 AS n", 2**40)
        async with pool.acquire() as conn:  # the same, only connection
            assert await _clean(conn)
            assert not conn.interrupted
    finally:
        await pool.close()


async def test_a_statement_cancelled_between_its_exchanges_leaves_no_transaction_behind() -> None:
    """The same cancellations on a plain asyncpg connection (without release) show that the
    window is hit; through the pool, every connection lent afterwards is clean."""
    plain = await asyncpg.connect(DSN)
    pool = await asyncpg.create_pool(DSN, min_size=1, max_size=1, connection_class=Connection, reset=keep_session)
    poisoned = stuck = 0
    try:
        for i in range(400):
            await _interrupt(plain, i)
            await asyncio.sleep(0.002)  # the server has read what was sent
            poisoned += not await _clean(plain)
            async with pool.acquire() as conn:
                await _interrupt(conn, i)
            async with pool.acquire() as conn:
                stuck += not await _clean(conn)
    finally:
        await plain.close()
        await pool.close()
    assert poisoned > 0, "no cancellation landed between the two exchanges: the test proves nothing"
    assert stuck == 0


async def test_a_reset_session_takes_the_service_settings_again() -> None:
    """The reset after an interrupted statement (RESET ALL) brings back the startup
    parameters, and the pool sets the optional ones (effective_io_concurrency) again: a pool
    of one connection built with the service's credentials."""
    credentials = tortoise_config()["connections"]["default"]["credentials"]
    pool = await asyncpg.create_pool(
        DSN,
        min_size=1,
        max_size=1,
        connection_class=Connection,
        reset=credentials["reset"],
        init=credentials["init"],
        server_settings=credentials["server_settings"],
    )
    show = "SELECT current_setting('jit') AS jit, current_setting('work_mem') AS memory,"
    show += " current_setting('effective_io_concurrency') AS ahead, pg_backend_pid() AS pid"
    try:
        async with pool.acquire() as conn:
            first = dict(await conn.fetchrow(show))
            assert {k: first[k] for k in ("jit", "memory", "ahead")} == {"jit": "off", "memory": "16MB", "ahead": "64"}
            await conn.execute("SET jit = on; SET work_mem = '1MB'; SET effective_io_concurrency = 2")
            with pytest.raises(asyncpg.DivisionByZeroError):
                await conn.fetchval("SELECT 1 / 0")
            assert conn.interrupted
        async with pool.acquire() as conn:
            assert dict(await conn.fetchrow(show)) == first
    finally:
        await pool.close()
