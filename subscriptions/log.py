"""The event log: appended inside each change's transaction, read in commit order.

A cursor is a position (tx, id). On PostgreSQL `tx` is `pg_current_xact_id()` of the writer
and a reader only takes rows whose tx is below `pg_snapshot_xmin(pg_current_snapshot())`:
every transaction below that horizon has finished, so no row can later appear behind a
position already read. Ids alone would not do: ids handed out by concurrent transactions
become visible out of order, and a reader past a gap would lose the late row for good.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from domain.errors import BadUserInput
from models.enums import EventKind
from models.sql import fetch, is_postgres


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
            if tag != "e":
                raise ValueError
            return cls(int(tx), int(row_id))
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


async def append(
    conn: BaseDBAsyncClient,
    kind: EventKind,
    report_id: int | None,
    status_change_id: int | None,
    comment_id: int | None,
    at: datetime,
    user_id: int | None = None,
) -> int:
    """Write one event row in the caller's transaction; returns its id."""
    tx = "pg_current_xact_id()::text::bigint" if is_postgres(conn) else "0"
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


def _horizon(conn: BaseDBAsyncClient | None) -> str:
    return " AND tx < pg_snapshot_xmin(pg_current_snapshot())::text::bigint" if is_postgres(conn) else ""


async def read_after(
    after: Position, limit: int = 500, upto: Position | None = None, conn: BaseDBAsyncClient | None = None
) -> list[LoggedEvent]:
    """Events after `after` (and not after `upto`), in commit order, never past in-flight ones."""
    rows = await fetch(_read_sql(upto is not None, conn), *_read_args(after, limit, upto), conn=conn)
    return [LoggedEvent.of(r) for r in rows]


def _read_sql(bounded: bool, conn: BaseDBAsyncClient | None) -> str:
    bound = " AND (tx < $3 OR (tx = $3 AND id <= $4))" if bounded else ""
    limit = "$5" if bounded else "$3"
    return (
        f"SELECT {_COLUMNS} FROM event WHERE (tx > $1 OR (tx = $1 AND id > $2)){bound}{_horizon(conn)}"
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
