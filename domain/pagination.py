"""Opaque keyset cursors: base64 of the sort key and the id of the last row seen."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from domain.errors import BadUserInput
from models.sql import M, arg, fetch, fetch_models

INT_MAX = 2**31 - 1


def encode_cursor(key: Any, row_id: int) -> str:
    if isinstance(key, datetime):
        key = {"t": key.isoformat()}
    return base64.urlsafe_b64encode(json.dumps([key, row_id]).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, field: str = "after") -> tuple[Any, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key, row_id = json.loads(raw)
        if isinstance(key, dict):
            key = datetime.fromisoformat(key["t"])
        if not isinstance(row_id, int) or isinstance(key, (list, bool)):
            raise ValueError
        if not 0 < row_id <= INT_MAX or (isinstance(key, int) and not -INT_MAX <= key <= INT_MAX):
            raise ValueError  # beyond the integer columns: not a cursor this server made
        return key, row_id
    except (ValueError, TypeError, KeyError, binascii.Error, json.JSONDecodeError):
        raise BadUserInput(field, f"`{field}` is not a valid cursor.") from None


@dataclass(frozen=True)
class Order:
    """Sort by one column then id, both ascending or both descending."""

    column: str
    descending: bool

    def after(self, cursor: str, args: list[Any], field: str = "after") -> str:
        """The SQL condition for the rows that follow the cursor in this order."""
        key, row_id = decode_cursor(cursor, field)
        if not isinstance(key, datetime if self.column.endswith("_at") else int):
            raise BadUserInput(field, f"`{field}` is not a cursor of this order.")
        op = "<" if self.descending else ">"
        if self.column == "id":
            return f"id {op} {arg(args, row_id)}"
        k = arg(args, key)
        return f"({self.column} {op} {k} OR ({self.column} = {k} AND id {op} {arg(args, row_id)}))"

    def sql(self) -> str:
        direction = "DESC" if self.descending else "ASC"
        return f"{self.column} {direction}, id {direction}"

    def cursor(self, row: Any) -> str:
        return encode_cursor(getattr(row, self.column), row.id)


@dataclass
class Page:
    """One page of rows plus what the connection type needs."""

    rows: list[Any]
    has_next: bool
    order: Order
    count: Callable[[], Awaitable[int]] | None = None

    async def total_count(self) -> int:
        return await self.count() if self.count is not None else len(self.rows)


async def paginate(
    model: type[M], conditions: list[str], args: list[Any], order: Order, first: int, after: str | None
) -> Page:
    """One keyset page of a table's rows in purpose-built SQL, fetching first+1 rows to know
    whether there is a next page without a second query; the total is counted only if asked."""
    table = model._meta.db_table
    where = " AND ".join(conditions) or "1 = 1"
    page_args = list(args)
    page_where = where if not after else f"{where} AND {order.after(after, page_args)}"
    rows = await fetch_models(
        model,
        f"SELECT * FROM {table} WHERE {page_where} ORDER BY {order.sql()} LIMIT {int(first) + 1}",
        *page_args,
    )

    async def count() -> int:
        found = await fetch(f"SELECT COUNT(*) AS n FROM {table} WHERE {where}", *args)
        return int(found[0]["n"])

    return Page(rows=rows[:first], has_next=len(rows) > first, order=order, count=count)
