"""Exact `totalCount` from the status rollup (issue 16, item 2) and `stats`, timed in process on
generated data:

    .venv/bin/python -m bench.counts --database-url URL [--runs 7] [--explain 2]

Each count case is a filter the rollup expresses (status, a region of every level, category,
agency, periods of whole Jakarta days up to the data's last day) for a signed-out viewer, a
signed-in citizen (whose own REJECTED reports are counted as rows, in the same statement) and a
moderator; it runs `domain.report.exact_count` `--runs` times (p99: the slowest run). Stats
cases run `domain.performance.stats`. Target: a count in < 20 ms for any such filter on a year.
"""

from __future__ import annotations

import statistics
from collections.abc import Awaitable, Callable
from datetime import date, datetime, time, timedelta
from time import perf_counter
from typing import Any

from tortoise import Tortoise

from bench.common import parser, table
from config import Settings, tortoise_config
from domain.auth import Viewer
from domain.catalog import catalog, reload_catalog
from domain.pagination import ReadBudget
from domain.performance import Period, stats
from domain.report import ReportQuery, exact_count
from domain.rollups import JAKARTA
from models.enums import WITH_OFFICERS, RegionLevel, ReportStatus, Role
from models.sql import fetch


def midnight(day: date) -> datetime:
    return datetime.combine(day, time(), JAKARTA)


async def cases(budget: ReadBudget) -> list[tuple[str, Callable[[], Awaitable[Any]]]]:
    cat = catalog()
    last = (await fetch("SELECT MAX(day) AS d FROM status_span WHERE span = 'D'"))[0]["d"]
    author = await fetch("SELECT author_id AS id FROM report GROUP BY 1 ORDER BY count(*) DESC LIMIT 1")
    kel = next(r for r in cat.regions.values() if r.level == RegionLevel.KELURAHAN and r.name == "Kwitang")
    kec = cat.parent(kel)
    kota = cat.parent(kec)  # type: ignore[arg-type]
    province = cat.parent(kota)  # type: ignore[arg-type]
    sampah = next(c for c in cat.categories.values() if c.code == "sampah")
    three = [c.id for c in list(cat.categories.values())[:3]]
    end = midnight(last + timedelta(days=1))
    year = {"created_after": midnight(last - timedelta(days=364)), "created_before": end}
    filters: dict[str, ReportQuery] = {
        "no filter (all time)": ReportQuery(),
        "365 days": ReportQuery(**year),
        "90 days": ReportQuery(created_after=midnight(last - timedelta(days=89)), created_before=end),
        "30 days": ReportQuery(created_after=midnight(last - timedelta(days=29)), created_before=end),
        "a calendar month": ReportQuery(created_after=midnight(last.replace(day=1)), created_before=end),
        "before a day (open start)": ReportQuery(created_before=midnight(last - timedelta(days=45))),
        "after a day (open end)": ReportQuery(created_after=midnight(last - timedelta(days=200))),
        "status SUBMITTED, 365 days": ReportQuery(status=[ReportStatus.SUBMITTED], **year),
        "status with officers, 365 days": ReportQuery(status=sorted(WITH_OFFICERS), **year),
        "kelurahan, 365 days": ReportQuery(region_id=kel.id, **year),
        "kecamatan, 365 days": ReportQuery(region_id=kec.id, **year),  # type: ignore[union-attr]
        "kota, 365 days": ReportQuery(region_id=kota.id, **year),  # type: ignore[union-attr]
        "province, 365 days": ReportQuery(region_id=province.id, **year),  # type: ignore[union-attr]
        "category, 365 days": ReportQuery(category_ids=[sampah.id], **year),
        "three categories, 365 days": ReportQuery(category_ids=three, **year),
        "agency, 365 days": ReportQuery(agency_id=sampah.agency_id, **year),  # type: ignore[attr-defined]
        "kota + category + status, 365 days": ReportQuery(
            region_id=kota.id, category_ids=[sampah.id], status=[ReportStatus.RESOLVED], **year  # type: ignore[union-attr]
        ),
    }
    viewers = {
        "signed out": None,
        "citizen": Viewer(id=author[0]["id"] if author else 1, role=Role.CITIZEN),
        "moderator": Viewer(id=1, role=Role.MODERATOR),
    }
    out: list[tuple[str, Callable[[], Awaitable[Any]]]] = []
    for name, query in filters.items():
        for who, viewer in viewers.items():
            count = exact_count(viewer, query, end, budget)
            assert count is not None, name
            out.append((f"totalCount: {name}, {who}", count))
    for days in (90, 365):
        period = Period(last - timedelta(days=days - 1), last)
        for label, region in (("city", None), ("kota", kota.id), ("kelurahan", kel.id)):  # type: ignore[union-attr]
            out.append((f"stats: {label}, {days} days", lambda r=region, p=period: stats(r, None, p)))
    return out


async def main() -> None:
    p = parser(__doc__)
    p.add_argument("--runs", type=int, default=7)
    p.add_argument("--explain", type=int, default=2, help="print the plans of this many slowest counts")
    a = p.parse_args()
    await Tortoise.init(config=tortoise_config(Settings(database_url=a.database_url, db_pool_max=4)))
    try:
        await reload_catalog()
        budget = ReadBudget(timeout_ms=5000)
        todo = await cases(budget)
        spans = (await fetch("SELECT reltuples::bigint AS n FROM pg_class WHERE relname = 'status_span'"))[0]["n"]
        print(f"{len(todo)} cases x {a.runs} runs, status_span about {spans:,} rows", flush=True)
        times: dict[str, list[float]] = {name: [] for name, _ in todo}
        values: dict[str, Any] = {}
        for _ in range(a.runs):
            for name, run in todo:
                started = perf_counter()
                values[name] = await run()
                times[name].append((perf_counter() - started) * 1000)
        rows = [
            {
                "case": name,
                "p50 ms": f"{statistics.median(t):.1f}",
                "p99 ms": f"{max(t):.1f}",
                "answer": values[name][0] if isinstance(values[name], tuple) else values[name].total,
            }
            for name, t in sorted(times.items(), key=lambda kv: max(kv[1]), reverse=True)
        ]
        print(table(rows, list(rows[0])))
        counts = [r for r in rows if r["case"].startswith("totalCount")]
        print(f"\ncounts: worst p99 {counts[0]['p99 ms']} ms ({counts[0]['case']})")
        await explain([r["case"] for r in counts[: a.explain]], dict(todo))
    finally:
        await Tortoise.close_connections()


async def explain(names: list[str], runs: dict[str, Callable[[], Awaitable[Any]]]) -> None:
    """EXPLAIN ANALYZE of the statement each of the named counts runs."""
    import domain.counts as counts

    real = counts.fetch
    recorded: list[tuple[str, tuple[Any, ...]]] = []

    async def recording(sql: str, *args: Any, conn: Any = None) -> list[dict[str, Any]]:
        recorded.append((sql, args))
        return await real(sql, *args, conn=conn)

    for name in names:
        recorded.clear()
        counts.fetch = recording  # type: ignore[assignment]
        try:
            await runs[name]()
        finally:
            counts.fetch = real  # type: ignore[assignment]
        for sql, args in recorded:
            plan = await fetch(f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {sql}", *args)
            print(f"\n{name}\n{sql}\n" + "\n".join(r["QUERY PLAN"] for r in plan))


if __name__ == "__main__":
    import asyncio

    asyncio.run(main())
