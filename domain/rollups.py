"""Rollups: what each report contributes to the per-day aggregates behind rankings, stats and
the heatmap, moved in the same transaction as every change of the report, so they are never
stale and never drift. `rebuild` recomputes them from the reports with the same rules."""

from __future__ import annotations

import dataclasses
import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

import h3
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from models import Report
from models.enums import DONE_STATUSES, ReportStatus
from models.sql import execute, fetch, is_postgres

JAKARTA = timezone(timedelta(hours=7), "Asia/Jakarta")
HEAT_RESOLUTION = 9
# Duration histograms: bucket b holds seconds s with ln(1+s) in [b, b+1) * ln(1.04); the
# bucket's representative value is within 2 % of every duration in it.
RATIO = 1.04
_LOG_RATIO = math.log(RATIO)
RESPONSE, RESOLUTION = "R", "S"


def jakarta_day(at: datetime) -> date:
    return at.astimezone(JAKARTA).date()


def bucket(seconds: float) -> int:
    return int(math.log1p(max(seconds, 0.0)) / _LOG_RATIO)


def bucket_minutes(b: int) -> float:
    """The representative of a bucket: the geometric middle of its (1 + s) bounds."""
    return (math.exp((b + 0.5) * _LOG_RATIO) - 1.0) / 60.0


@dataclass(frozen=True)
class Facts:
    """The fields of a report the rollups depend on."""

    created_at: datetime
    status: ReportStatus
    category_id: int
    agency_id: int | None
    kelurahan_id: int
    kecamatan_id: int
    kota_id: int
    assignee_id: int | None
    lat: float
    lng: float
    verified_at: datetime | None
    first_response_at: datetime | None
    resolved_at: datetime | None
    due_at: datetime | None
    rating: int | None

    @classmethod
    def of(cls, r: Report | dict[str, Any]) -> Facts:
        get = r.get if isinstance(r, dict) else lambda k: getattr(r, k)
        values = {f.name: get(f.name) for f in dataclasses.fields(cls)}
        values["status"] = ReportStatus(values["status"])
        for key in ("created_at", "verified_at", "first_response_at", "resolved_at", "due_at"):
            if isinstance(values[key], str):
                values[key] = datetime.fromisoformat(values[key])
        return cls(**values)

    def changed(self, status: ReportStatus, changes: dict[str, Any]) -> Facts:
        names = {f.name for f in dataclasses.fields(self)}
        return dataclasses.replace(self, status=status, **{k: v for k, v in changes.items() if k in names})


Key = tuple[Any, ...]
Vector = tuple[int, ...]


def contributions(f: Facts) -> dict[Key, Vector]:
    """Every rollup cell this report state adds to, and by how much."""
    out: dict[Key, Vector] = {}
    day = jakarta_day(f.created_at)
    out[("status", day, f.kelurahan_id, f.kecamatan_id, f.kota_id, f.category_id, f.status.value)] = (1,)
    if f.resolved_at is not None:
        out[
            ("resolved", jakarta_day(f.resolved_at), f.kelurahan_id, f.kecamatan_id, f.kota_id, f.category_id)
        ] = (1,)
    if f.status not in (ReportStatus.REJECTED, ReportStatus.DUPLICATE):
        out[("heat", day, h3.latlng_to_cell(f.lat, f.lng, HEAT_RESOLUTION), f.category_id)] = (1,)
    if f.verified_at is None or f.status == ReportStatus.DUPLICATE:
        return out
    responded = f.first_response_at is not None
    resolved = f.status in DONE_STATUSES
    sla_met = resolved and f.resolved_at is not None and f.due_at is not None and f.resolved_at <= f.due_at
    vector = (1, int(responded), int(resolved), int(sla_met), f.rating or 0, int(f.rating is not None))
    units = [("KELURAHAN", f.kelurahan_id), ("KECAMATAN", f.kecamatan_id), ("KOTA", f.kota_id)]
    if f.agency_id is not None:
        units.append(("DINAS", f.agency_id))
    if f.assignee_id is not None:
        units.append(("STAFF", f.assignee_id))
    for level, unit in units:
        out[("perf", day, level, unit)] = vector
        if responded:
            b = bucket((f.first_response_at - f.verified_at).total_seconds())  # type: ignore[operator]
            out[("hist", day, level, unit, RESPONSE, b)] = (1,)
        if resolved and f.resolved_at is not None:
            b = bucket((f.resolved_at - f.verified_at).total_seconds())
            out[("hist", day, level, unit, RESOLUTION, b)] = (1,)
    return out


def delta(before: Facts | None, after: Facts | None) -> dict[Key, Vector]:
    out: dict[Key, list[int]] = {}
    for sign, facts in ((-1, before), (1, after)):
        if facts is None:
            continue
        for key, vec in contributions(facts).items():
            acc = out.setdefault(key, [0] * len(vec))
            for i, v in enumerate(vec):
                acc[i] += sign * v
    return {k: tuple(v) for k, v in out.items() if any(v)}


# ---------------------------------------------------------------- writing

TABLES: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    # kind: (table, key columns, counter columns)
    "perf": (
        "perf_daily",
        ("day", "level", "unit_id"),
        ("received", "responded", "resolved", "sla_met", "rating_sum", "rating_count"),
    ),
    "hist": ("perf_hist", ("day", "level", "unit_id", "metric", "bucket"), ("n",)),
    "status": (
        "status_daily",
        ("day", "kelurahan_id", "kecamatan_id", "kota_id", "category_id", "status"),
        ("n",),
    ),
    "resolved": ("resolved_daily", ("day", "kelurahan_id", "kecamatan_id", "kota_id", "category_id"), ("n",)),
    "heat": ("heat_daily", ("day", "cell", "category_id"), ("n",)),
}
CONFLICT = {
    "perf": ("level", "unit_id", "day"),
    "hist": ("level", "unit_id", "metric", "day", "bucket"),
    "status": ("day", "kelurahan_id", "category_id", "status"),
    "resolved": ("day", "kelurahan_id", "category_id"),
    "heat": ("day", "cell", "category_id"),
}

# ---------------------------------------------------------------- the monthly tier

DAILY_KINDS = tuple(TABLES)
MONTHLY = {"perf": "perf_monthly", "hist": "perf_hist_monthly"}
"""Kinds with a monthly tier: the same cells summed per calendar month (`day` = its first day),
so a year's ranking reads about 12 rows per unit and metric bucket instead of 365."""


def monthly(kind: str) -> str:
    """The kind (TABLES, CONFLICT, cell keys) of a kind's monthly tier."""
    return f"{kind}/month"


for _kind, _table in MONTHLY.items():
    TABLES[monthly(_kind)] = (_table, *TABLES[_kind][1:])
    CONFLICT[monthly(_kind)] = CONFLICT[_kind]


def month(day: date) -> date:
    return day.replace(day=1)


def tiered(cells: dict[Key, Vector]) -> dict[Key, Vector]:
    """Cells plus their monthly-tier cells."""
    out = dict(cells)
    for key, vec in cells.items():
        if key[0] in MONTHLY:
            tier = (monthly(key[0]), month(key[1]), *key[2:])
            acc = out.get(tier)
            out[tier] = vec if acc is None else tuple(a + b for a, b in zip(acc, vec, strict=True))
    return {k: v for k, v in out.items() if any(v)}


def tiers(start: date, end: date) -> tuple[list[tuple[date, date]], tuple[date, date] | None]:
    """[start, end] as day ranges (read from the daily tables) around the whole months inside it
    (read from the monthly tier: their first days, inclusive)."""
    first = start if start.day == 1 else month(start.replace(day=28) + timedelta(days=4))
    after = month(end + timedelta(days=1))  # the month after the last whole one
    if first >= after:
        return [(start, end)], None
    days = []
    if start < first:
        days.append((start, first - timedelta(days=1)))
    if after <= end:
        days.append((after, end))
    return days, (first, month(after - timedelta(days=1)))


def monthly_fill(postgres: bool) -> list[str]:
    """SQL that (re)derives the monthly tier from the daily tables (migration, bulk loads)."""
    first_day = "CAST(date_trunc('month', day) AS DATE)" if postgres else "strftime('%Y-%m-01', day)"
    out = []
    for kind, table in MONTHLY.items():
        daily, keys, counters = TABLES[kind]
        rest = ", ".join(keys[1:])
        sums = ", ".join(f"SUM({c})" for c in counters)
        out.append(f"DELETE FROM {table}")
        out.append(
            f"INSERT INTO {table} (day, {rest}, {', '.join(counters)})"
            f" SELECT {first_day}, {rest}, {sums} FROM {daily} GROUP BY {first_day}, {rest}"
        )
    return out


async def _upsert(conn: BaseDBAsyncClient, kind: str, rows: list[tuple[Key, Vector]]) -> None:
    """One statement per table; rows sorted so concurrent writers lock in the same order."""
    table, keys, counters = TABLES[kind]
    columns = (*keys, *counters)
    width = len(columns)
    for start in range(0, len(rows), 200):
        chunk = rows[start : start + 200]
        values, args = [], []
        for i, (key, vec) in enumerate(chunk):
            values.append("(" + ", ".join(f"${i * width + j + 1}" for j in range(width)) + ")")
            args.extend((*key[1:], *vec))
        updates = ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in counters)
        await execute(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES {', '.join(values)}"
            f" ON CONFLICT ({', '.join(CONFLICT[kind])}) DO UPDATE SET {updates}",
            *args,
            conn=conn,
        )


async def write(conn: BaseDBAsyncClient, cells: dict[Key, Vector]) -> None:
    by_kind: dict[str, list[tuple[Key, Vector]]] = defaultdict(list)
    for key, vec in cells.items():
        by_kind[key[0]].append((key, vec))
    for kind in TABLES:
        if by_kind.get(kind):
            await _upsert(conn, kind, sorted(by_kind[kind], key=lambda kv: tuple(map(str, kv[0]))))


async def move(conn: BaseDBAsyncClient, before: Facts | None, after: Facts | None) -> None:
    """Called by every change of a report, inside its transaction."""
    cells = tiered(delta(before, after))
    if cells:
        await write(conn, cells)


# ---------------------------------------------------------------- rebuilding

FACT_COLUMNS = ", ".join(f.name for f in dataclasses.fields(Facts))


async def recompute(conn: BaseDBAsyncClient | None = None, batch: int = 20_000) -> dict[Key, Vector]:
    """All rollup cells from scratch, streaming the reports in id order."""
    totals: dict[Key, list[int]] = {}
    last = 0
    while True:
        rows = await fetch(
            f"SELECT id, {FACT_COLUMNS} FROM report WHERE id > $1 ORDER BY id LIMIT $2",
            last,
            batch,
            conn=conn,
        )
        if not rows:
            break
        for row in rows:
            for key, vec in contributions(Facts.of(row)).items():
                acc = totals.setdefault(key, [0] * len(vec))
                for i, v in enumerate(vec):
                    acc[i] += v
        last = rows[-1]["id"]
    return tiered({k: tuple(v) for k, v in totals.items()})


async def rebuild() -> int:
    """Replace every rollup with a fresh computation, in one transaction that keeps writers
    out meanwhile (PostgreSQL: SHARE lock on reports; SQLite: the single writer lock)."""
    async with in_transaction() as conn:
        if is_postgres(conn):
            await execute("LOCK TABLE report IN SHARE MODE", conn=conn)
        cells = await recompute(conn)
        for table, _, _ in TABLES.values():
            await execute(f"DELETE FROM {table}", conn=conn)
        await write(conn, cells)
    return len(cells)


async def snapshot(conn: BaseDBAsyncClient | None = None) -> dict[Key, Vector]:
    """The non-zero cells as stored (for comparing incremental against rebuilt)."""
    out: dict[Key, Vector] = {}
    for kind, (table, keys, counters) in TABLES.items():
        for row in await fetch(f"SELECT {', '.join((*keys, *counters))} FROM {table}", conn=conn):
            vec = tuple(int(row[c]) for c in counters)
            if any(vec):
                day = row["day"]
                key = (
                    kind,
                    day if isinstance(day, date) else date.fromisoformat(day),
                    *(row[k] for k in keys[1:]),
                )
                out[key] = vec
    return out
