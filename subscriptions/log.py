"""The event log: appended inside each change's transaction, read in commit order.

A cursor is a position (tx, id). On PostgreSQL `tx` is `pg_current_xact_id()` of the writer
and a reader only takes rows whose tx is below a horizon that no in-flight WARGA transaction
has reached: ids alone would not do (ids handed out by concurrent transactions become visible
out of order, and a reader past a gap would lose the late row for good).

Which in-flight transactions are Warga's: every transaction that may write events takes a
shared advisory lock (WRITER_LOCK) as its first statement, before it has a transaction id
(`writing()`, the transaction of domain.tx.atomic()). The horizon is the oldest transaction in the
reader's snapshot that is not known to be foreign: one that, when pg_locks is read (once, in
the same statement, after the snapshot), holds its transaction id without that lock. A
foreign transaction (a bulk load on another database of the server, a `psql` session idle in
a transaction, a migration) therefore never holds events back, while a Warga writer that
commits late still does, as before. (The cluster-wide `pg_snapshot_xmin` did the same but
waited for every write transaction on the server: issue 14; bench/event_horizon.py measured
the alternatives.)
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise import connections
from tortoise.backends.asyncpg.client import AsyncpgDBClient, TransactionWrapper
from tortoise.backends.base.client import BaseDBAsyncClient, TransactionContextPooled
from tortoise.exceptions import TransactionManagementError

from domain.errors import BadUserInput
from domain.validate import digits
from models.enums import EventKind
from models.sql import execute, fetch, is_postgres

# An event row's `tx` on PostgreSQL: its transaction's id, 64 bits (the horizon compares them).
TX_ID = "pg_current_xact_id()::text::bigint"
WRITER_LOCK = 0x5741524741  # "WARGA": pg_locks shows it as classid 0x57, objid 0x41524741, objsubid 1
_MARK = f"pg_advisory_xact_lock_shared({WRITER_LOCK})"  # shared: writers never wait for each other
_MAX = 2**63  # positions are BIGINT columns


@dataclass(frozen=True, order=True)
class Position:
    tx: int
    id: int

    def encode(self) -> str:
        return base64.urlsafe_b64encode(f"e:{self.tx}:{self.id}".encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, cursor: str, field: str = "after") -> Position:
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
            tag, tx, row_id = raw.split(":")
            if tag != "e" or not (digits(tx) and digits(row_id)):
                raise ValueError
            position = cls(int(tx), int(row_id))
            if position.tx >= _MAX or position.id >= _MAX:
                raise ValueError
            return position
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise BadUserInput(field, f"`{field}` is not a valid event cursor.") from None


START = Position(0, 0)


@dataclass(frozen=True)
class LoggedEvent:
    position: Position
    kind: EventKind
    report_id: int | None  # None for USER_CHANGED
    status_change_id: int | None
    comment_id: int | None
    created_at: datetime
    user_id: int | None = None  # USER_CHANGED: whose sight changed

    @classmethod
    def of(cls, row: dict[str, Any]) -> LoggedEvent:
        created = row["created_at"]
        if isinstance(created, str):
            created = datetime.fromisoformat(created)
        return cls(
            Position(int(row["tx"]), int(row["id"])),
            EventKind(row["kind"]),
            row["report_id"],
            row["status_change_id"],
            row["comment_id"],
            created,
            row["user_id"],
        )


class _WriterTransaction(TransactionWrapper):  # type: ignore[misc]
    """A pooled PostgreSQL transaction whose BEGIN and writer() mark go out as one simple query:
    one round trip for both, and the mark is before any write by construction."""

    async def begin(self) -> None:
        await self._connection.execute(f"BEGIN; SELECT {_MARK}")
        self.transaction = True

    async def commit(self) -> None:
        await self._end("COMMIT")

    async def rollback(self) -> None:
        await self._end("ROLLBACK")

    async def _end(self, verb: str) -> None:
        if self._finalized:
            raise TransactionManagementError("Transaction already finalised")
        self._finalized = True
        await self._connection.execute(verb)

    def _in_transaction(self) -> Any:
        raise TransactionManagementError("a writer transaction does not nest")


def writing() -> Any:
    """The transaction of a change that writes events: on PostgreSQL marked as a writer (see
    writer()) by its own BEGIN; on SQLite (one writer at a time) a plain transaction."""
    client = connections.get("default")
    if isinstance(client, AsyncpgDBClient) and not isinstance(client, TransactionWrapper):
        return TransactionContextPooled(_WriterTransaction(client), client._pool_init_lock)
    return _marked(client)


@asynccontextmanager
async def _marked(client: BaseDBAsyncClient) -> AsyncIterator[BaseDBAsyncClient]:
    async with client._in_transaction() as conn:
        await writer(conn)
        yield conn


async def writer(conn: BaseDBAsyncClient) -> None:
    """Mark the caller's transaction as one that may write events. It must come before the
    transaction's first write (before it has an id), or a reader could take it for a foreign
    one and pass its events. Shared: writers never wait for each other."""
    if is_postgres(conn):
        await execute(f"SELECT {_MARK}", conn=conn)


async def append(
    conn: BaseDBAsyncClient,
    kind: EventKind,
    report_id: int | None,
    status_change_id: int | None,
    comment_id: int | None,
    at: datetime,
    user_id: int | None = None,
    *,
    registered: bool = False,
) -> int:
    """Write one event row in the caller's transaction; returns its id. A transaction not
    marked first (registered=False: not writing()'s) may append only before any other write."""
    if not registered and is_postgres(conn):
        rows = await fetch(
            f"SELECT {_MARK}, pg_current_xact_id_if_assigned() IS NOT NULL AS late",
            conn=conn,
        )
        if rows[0]["late"]:
            raise RuntimeError("an event writer must be marked (log.writing()) before its first write")
    tx = TX_ID if is_postgres(conn) else "0"
    rows = await fetch(
        f"INSERT INTO event (tx, kind, report_id, status_change_id, comment_id, created_at, user_id)"
        f" VALUES ({tx}, $1, $2, $3, $4, $5, $6) RETURNING id",
        kind.value,
        report_id,
        status_change_id,
        comment_id,
        at,
        user_id,
        conn=conn,
    )
    return int(rows[0]["id"])


_COLUMNS = "id, tx, kind, report_id, status_change_id, comment_id, created_at, user_id"


# pg_locks is read once (a materialized CTE): two reads of the view are two instants, and a
# writer committing between them would look foreign and its event be passed for good.
_HORIZON = f"""(
  WITH snap AS (SELECT pg_current_snapshot() AS s),
  locks AS MATERIALIZED (
    SELECT locktype, mode, granted, database, virtualtransaction, transactionid, classid, objid, objsubid
    FROM pg_locks
  ),
  foreign_tx AS (
    SELECT l.transactionid::text::bigint AS xid32 FROM locks l
    WHERE l.locktype = 'transactionid' AND l.mode = 'ExclusiveLock' AND l.granted AND NOT EXISTS (
      SELECT 1 FROM locks a
      WHERE a.locktype = 'advisory' AND a.granted AND a.virtualtransaction = l.virtualtransaction
        AND a.database = (SELECT oid FROM pg_database WHERE datname = current_database())
        AND a.classid = {WRITER_LOCK >> 32} AND a.objid = {WRITER_LOCK & 0xFFFFFFFF} AND a.objsubid = 1
    )
  )
  SELECT LEAST(
    pg_snapshot_xmax(s)::text::bigint,
    (SELECT min(x::text::bigint) FROM pg_snapshot_xip(s) AS x
     WHERE x::text::bigint % 4294967296 NOT IN (SELECT xid32 FROM foreign_tx))
  ) FROM snap
)"""


def _horizon(conn: BaseDBAsyncClient | None) -> str:
    """Rows below the oldest in-flight Warga writer of the reader's snapshot (module docstring)."""
    return f" AND tx < {_HORIZON}" if is_postgres(conn) else ""


async def read_after(
    after: Position, limit: int = 500, upto: Position | None = None, conn: BaseDBAsyncClient | None = None
) -> list[LoggedEvent]:
    """Events after `after` (and not after `upto`), in commit order, never past in-flight ones."""
    rows = await fetch(_read_sql(upto is not None, conn), *_read_args(after, limit, upto), conn=conn)
    return [LoggedEvent.of(r) for r in rows]


def _read_sql(bounded: bool, conn: BaseDBAsyncClient | None) -> str:
    # Row comparisons: one range of the (tx, id) index even in a generic plan (asyncpg's
    # prepared statements get one after five runs); the equivalent `tx > $1 OR (tx = $1 AND
    # id > $2)` made that plan walk the whole log from its start on every read.
    bound = " AND (tx, id) <= ($3, $4)" if bounded else ""
    limit = "$5" if bounded else "$3"
    return (
        f"SELECT {_COLUMNS} FROM event WHERE (tx, id) > ($1, $2){bound}{_horizon(conn)}"
        f" ORDER BY tx, id LIMIT {limit}"
    )


def _read_args(after: Position, limit: int, upto: Position | None) -> list[Any]:
    args: list[Any] = [after.tx, after.id]
    if upto is not None:
        args += [upto.tx, upto.id]
    return [*args, limit]


async def head(conn: BaseDBAsyncClient | None = None) -> Position:
    """The newest position a reader may stand on now."""
    where = _horizon(conn).replace(" AND ", " WHERE ", 1)
    rows = await fetch(f"SELECT tx, id FROM event{where} ORDER BY tx DESC, id DESC LIMIT 1", conn=conn)
    return Position(int(rows[0]["tx"]), int(rows[0]["id"])) if rows else START
