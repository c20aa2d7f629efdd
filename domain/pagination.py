"""Opaque keyset cursors: base64 of the sort key and the id of the last row seen."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from domain.errors import BadUserInput
from models.sql import M, arg, budgeted, fetch, instance, is_postgres

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
        # A row comparison, which a btree on (column, id) answers as one range from the cursor
        # on (the equivalent `a < k OR (a = k AND id < i)` walks the index from its start).
        return f"({self.column}, id) {op} ({arg(args, key)}, {arg(args, row_id)})"

    def sql(self) -> str:
        direction = "DESC" if self.descending else "ASC"
        return f"{self.column} {direction}, id {direction}"

    def cursor(self, row: Any) -> str:
        return encode_cursor(getattr(row, self.column), row.id)


@dataclass(frozen=True)
class ReadBudget:
    """What one read may cost: its statements' time on PostgreSQL (`statement_timeout`, so a
    slow read answers QUERY_TIMEOUT instead of holding a pooled connection) and how far a
    `totalCount` counts before it says "at least"."""

    timeout_ms: int = 2000
    count_cap: int = 10_000


# A filtered page first reads this many rows of its order's index (visibility and cursor
# applied, nothing else) and keeps those that match; only when they do not fill the page does
# it walk the order's index with the filters (plain filters the planner's statistics say are
# dense) or let the filters' own indexes find every match and sort those. The planner is not
# left to walk the order's index hoping to meet a rare match early (issue 16: 14 s for a rare
# word with `first: 1` on a year of reports).
WINDOWS = (5_000, 100_000)  # the second, about 2.5 days of the city's reports, only if needed
# Beyond this many matches (the planner's estimate) sorting them all costs more than walking
# the order's index to meet them.
DENSE = 50_000
# A text search's count first tries the order's index: the matches among its first
# WINDOWS[0] rows tell the word's density, and if `cap` matches should lie within its first
# PROBE_ROWS rows they are counted there (a common word: ~40,000 rows read instead of a bitmap
# of millions, 500 ms on a year). Only a count that reaches the cap is taken from the probe.
PROBE_ROWS = 200_000


def _first_rows(source: str, where: str, order: Order, rows: int) -> str:
    """The first `rows` rows of the order's index under `where`: a window whose matches a
    page (or a count) takes, so the planner walks that index a bounded way."""
    return f"SELECT * FROM {source} WHERE {where} ORDER BY {order.sql()} LIMIT {rows}"


async def _estimate(conn: Any, source: str, where: str, args: list[Any]) -> float:
    """The planner's estimate of the rows matching `where` (one planning, no execution)."""
    plan = await fetch(f"EXPLAIN (FORMAT JSON) SELECT 1 FROM {source} WHERE {where}", *args, conn=conn)
    value = plan[0]["QUERY PLAN"]
    value = json.loads(value) if isinstance(value, str) else value
    return float(value[0]["Plan"]["Plan Rows"])


@dataclass
class Page:
    """One page of rows plus what the connection type needs."""

    rows: list[Any]
    has_next: bool
    order: Order
    count: Callable[[], Awaitable[tuple[int, bool]]] | None = None
    _counted: tuple[int, bool] | None = None
    _counting: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def counted(self) -> tuple[int, bool]:
        """(total, capped): counted once however many fields ask (totalCount and
        totalCountCapped resolve concurrently)."""
        async with self._counting:
            if self._counted is None:
                self._counted = await self.count() if self.count is not None else (len(self.rows), False)
        return self._counted

    async def total_count(self) -> int:
        return (await self.counted())[0]

    async def total_count_capped(self) -> bool:
        return (await self.counted())[1]


async def paginate(
    model: type[M],
    conditions: list[str],
    args: list[Any],
    order: Order,
    first: int,
    after: str | None,
    *,
    text: list[str] | None = None,
    windowed: int | None = None,
    budget: ReadBudget | None = None,
    computed: tuple[str, str] | None = None,
) -> Page:
    """One keyset page of a table's rows in purpose-built SQL, fetching first+1 rows to know
    whether there is a next page without a second query; the total is counted only if asked,
    and only up to the budget's cap. `text` holds conditions only a text index serves.
    `windowed` (PostgreSQL): read a filtered page in steps (see WINDOWS), keeping that many
    leading conditions (visibility) inside the window. `computed` = (name, SQL expression)
    adds a column the order may use, set on each model instance."""
    budget = budget or ReadBudget()
    table = model._meta.db_table
    text = text or []
    where = " AND ".join(conditions + text) or "1 = 1"
    page_args = list(args)
    cursor = [order.after(after, page_args)] if after else []
    limit = int(first) + 1
    source = (
        table if computed is None else f"(SELECT *, {computed[1]} AS {computed[0]} FROM {table}) AS {table}"
    )
    page_where = " AND ".join(conditions + text + cursor) or "1 = 1"
    plain = f"SELECT * FROM {source} WHERE {page_where} ORDER BY {order.sql()} LIMIT {limit}"

    async with budgeted(budget) as conn:
        inside = windowed or 0
        if windowed is None or not is_postgres(conn) or (len(conditions) <= inside and not text):
            rows = await fetch(plain, *page_args, conn=conn)
        else:
            window_where = " AND ".join(conditions[:inside] + cursor) or "1 = 1"
            match = " AND ".join(conditions[inside:] + text)
            rows = []
            for window in WINDOWS:
                first_rows = _first_rows(source, window_where, order, window)
                rows = await fetch(
                    f"SELECT * FROM ({first_rows}) AS w WHERE {match} ORDER BY {order.sql()} LIMIT {limit}",
                    *page_args,
                    conn=conn,
                )
                if len(rows) >= limit or len(rows) * (WINDOWS[-1] // window) < limit:
                    break  # the page is full, or the matches are too rare for a wider window
            if (
                len(rows) < limit
                and not text
                and await _estimate(conn, source, page_where, page_args) > DENSE
            ):
                # Many matches by the planner's statistics (good for plain columns, unlike a
                # LIKE's guess, hence not for a text search): the order's index meets them soon.
                rows = await fetch(plain, *page_args, conn=conn)
            elif len(rows) < limit:
                # MATERIALIZED: planned for all its rows, so the LIMIT outside cannot lure the
                # planner onto the order's index; the filters' indexes find the matches.
                rows = await fetch(
                    f"WITH m AS MATERIALIZED (SELECT * FROM {source} WHERE {page_where})"
                    f" SELECT * FROM m ORDER BY {order.sql()} LIMIT {limit}",
                    *page_args,
                    conn=conn,
                )
    models = []
    for row in rows:
        value = row.pop(computed[0]) if computed else None
        built = instance(model, row)
        if computed:
            setattr(built, computed[0], value)
        models.append(built)

    async def count() -> tuple[int, bool]:
        cap = budget.count_cap
        async with budgeted(budget) as conn:
            if text and is_postgres(conn):
                if await _reaches_cap(conn, cap):
                    return cap, True
                # Pulled lazily: the CTE stops after cap + 1 rows, and being planned for all its
                # rows it takes the text indexes for a rare word. (For a common word too, whose
                # bitmap costs 500 ms on a year, unless the newest rows showed it dense above.)
                sql = (f"WITH m AS MATERIALIZED (SELECT 1 FROM {table} WHERE {where})"
                       f" SELECT COUNT(*) AS n FROM (SELECT 1 FROM m LIMIT {cap + 1}) AS c")  # fmt: skip
            else:
                sql = f"SELECT COUNT(*) AS n FROM (SELECT 1 FROM {table} WHERE {where} LIMIT {cap + 1}) AS c"
            n = int((await fetch(sql, *args, conn=conn))[0]["n"])
        return (cap, True) if n > cap else (n, False)

    async def _reaches_cap(conn: Any, cap: int) -> bool:
        """Whether more than `cap` matches lie among the first rows of the order's index (the
        window's conditions inside, the rest outside), tried only when the first window's
        density says they should: a rare word costs one window."""
        window_where = " AND ".join(conditions[: windowed or 0]) or "1 = 1"
        match = " AND ".join(conditions[windowed or 0 :] + text)

        async def matches(rows: int, stop: int) -> int:
            window = _first_rows(table, window_where, order, rows)
            sql = f"SELECT COUNT(*) AS n FROM (SELECT 1 FROM ({window}) AS w WHERE {match} LIMIT {stop}) AS c"
            return int((await fetch(sql, *args, conn=conn))[0]["n"])

        sample = WINDOWS[0]
        found = await matches(sample, sample)
        rows = (cap + 1) * sample * 5 // max(4 * found, 1)  # a quarter more than the density says
        return 0 < found and rows <= PROBE_ROWS and await matches(max(rows, sample), cap + 1) > cap

    return Page(rows=models[:first], has_next=len(models) > first, order=order, count=count)
