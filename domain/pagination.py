"""Opaque keyset cursors: base64 of the sort key and the id of the last row seen."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise.expressions import Q
from tortoise.queryset import QuerySet

from domain.errors import BadUserInput


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
        return key, row_id
    except (ValueError, TypeError, KeyError, binascii.Error, json.JSONDecodeError):
        raise BadUserInput(field, f"`{field}` is not a valid cursor.") from None


@dataclass(frozen=True)
class Order:
    """Sort by one column then id, both ascending or both descending."""

    column: str
    descending: bool

    def apply(self, qs: QuerySet, after: str | None, field: str = "after") -> QuerySet:
        if after:
            key, row_id = decode_cursor(after, field)
            op = "lt" if self.descending else "gt"
            if self.column == "id":
                qs = qs.filter(**{f"id__{op}": row_id})
            else:
                qs = qs.filter(
                    Q(**{f"{self.column}__{op}": key}) | Q(**{self.column: key, f"id__{op}": row_id})
                )
        sign = "-" if self.descending else ""
        return qs.order_by(f"{sign}{self.column}", f"{sign}id")

    def cursor(self, row: Any) -> str:
        return encode_cursor(getattr(row, self.column), row.id)


@dataclass
class Page:
    """One page of rows plus what the connection type needs."""

    rows: list[Any]
    has_next: bool
    order: Order
    count_qs: QuerySet | None = None

    async def total_count(self) -> int:
        return await self.count_qs.count() if self.count_qs is not None else len(self.rows)


async def paginate(qs: QuerySet, order: Order, first: int, after: str | None) -> Page:
    """Fetch first+1 rows to know whether there is a next page without a second query."""
    rows = list(await order.apply(qs, after).limit(first + 1))
    return Page(rows=rows[:first], has_next=len(rows) > first, order=order, count_qs=qs)
