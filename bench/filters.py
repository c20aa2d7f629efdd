"""Every filter of ReportFilter, alone and with a region and a category, in every order, for
`first` 1, 20 and 100, and after-cursor pages deep into the data, timed in process (the read
cache never sees these calls: each is computed as for a query text not seen before):

    .venv/bin/python -m bench.filters --database-url URL [--runs 7] [--explain 4]

Each case runs search_reports (the page, as the `reports` field runs it) and then its
totalCount/totalCountCapped, `--runs` times; a case's p99 is the slowest of its runs. The
rare word differs on every run (a distinct word is a distinct query). The slowest cases are
printed with the EXPLAIN ANALYZE of each statement they ran. Target (issue 16): p99 < 100 ms
for every case.

`--pages` runs every case once more and counts the buffer pages its statements touched
(pg_stat_statements: hit or read), a figure that does not depend on the machine's memory or
disk; `--save FILE` keeps every case's figures and `--compare FILE` sets them beside a saved
run's (one year against two: does a case read more pages, take more time?).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from time import perf_counter
from typing import Any

import asyncpg
from tortoise import Tortoise

from bench.common import emit, parser, table
from config import Settings, tortoise_config
from domain.auth import Viewer
from domain.catalog import catalog, reload_catalog
from domain.pagination import ReadBudget, encode_cursor
from domain.report import ORDERS, ReportQuery, search_reports
from models.enums import RegionLevel, ReportStatus, Role
from models.sql import fetch

ORDER_NAMES = list(ORDERS)
FIRSTS = (1, 20, 100)
_rare = itertools.count()


def free_slot() -> Callable[[], None]:
    """The client's search slots, always one free (what gives it back: nothing to give)."""
    return lambda: None


@dataclass
class Case:
    name: str
    query: ReportQuery
    order: str
    first: int
    after: str | None = None
    viewer: Viewer | None = None
    times_ms: list[float] = field(default_factory=list)
    page_ms: list[float] = field(default_factory=list)
    timeouts: int = 0
    pages: int | None = None
    statements: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)

    def fresh(self) -> ReportQuery:
        """The query of one run: a rare word new on every run."""
        if self.query.search and "qqzv" in self.query.search:
            return replace(self.query, search=self.query.search.replace("qqzv", f"qqzv{next(_rare)}x"))
        return self.query


async def landmarks() -> dict[str, Any]:
    """Real ids and moments of the data: the busiest author, an officer with work, its clock."""
    cat = catalog()
    row = (await fetch("SELECT MAX(created_at) AS t FROM report"))[0]
    now = row["t"]
    by_author = "SELECT author_id AS id FROM report GROUP BY author_id"
    author = (await fetch(f"{by_author} ORDER BY count(*) DESC LIMIT 1"))[0]["id"]
    light = (await fetch(f"{by_author} HAVING count(*) = 1 LIMIT 1"))[0]["id"]
    # The latest assigned report's officer (reports written after the generated data, by other
    # benchmarks, are not assigned yet).
    assignee = (
        await fetch(
            "SELECT assignee_id AS id FROM report WHERE assignee_id IS NOT NULL ORDER BY created_at DESC LIMIT 1"
        )
    )[0]["id"]
    kelurahan = next(
        r for r in cat.regions.values() if r.level == RegionLevel.KELURAHAN and r.name == "Kwitang"
    )
    kecamatan = cat.parent(kelurahan)
    kota = cat.parent(kecamatan)
    province = cat.parent(kota)
    sampah = next(c for c in cat.categories.values() if c.code == "sampah")
    saluran = next(c for c in cat.categories.values() if c.code == "saluran")
    deep = now - timedelta(days=300)
    at = (await fetch("SELECT id, created_at, updated_at FROM report WHERE created_at < $1"
                      " ORDER BY created_at DESC LIMIT 1", deep))[0]  # fmt: skip
    return {
        "now": now,
        "author": author,
        "light_author": light,
        "assignee": assignee,
        "kelurahan": kelurahan,
        "kecamatan": kecamatan,
        "kota": kota,
        "province": province,
        "category": sampah,
        "other_category": saluran,
        "agency": sampah.agency_id if hasattr(sampah, "agency_id") else None,
        "deep": at,
    }


def filters(m: dict[str, Any]) -> dict[str, ReportQuery]:
    lat, lng = -6.1754, 106.8272
    now = m["now"]
    out = {
        "(none)": ReportQuery(),
        "status SUBMITTED": ReportQuery(status=[ReportStatus.SUBMITTED]),
        "status RESOLVED+CLOSED": ReportQuery(status=[ReportStatus.RESOLVED, ReportStatus.CLOSED]),
        "status REJECTED": ReportQuery(status=[ReportStatus.REJECTED]),
        "category": ReportQuery(category_ids=[m["other_category"].id]),
        "region kelurahan": ReportQuery(region_id=m["kelurahan"].id),
        "region kecamatan": ReportQuery(region_id=m["kecamatan"].id),
        "region kota": ReportQuery(region_id=m["kota"].id),
        "region province": ReportQuery(region_id=m["province"].id),
        "author (busiest)": ReportQuery(author_id=m["author"]),
        "author (one report)": ReportQuery(author_id=m["light_author"]),
        "assignee": ReportQuery(assignee_id=m["assignee"]),
        "bbox 1 km": ReportQuery(bbox=(lat - 0.0045, lng - 0.0045, lat + 0.0045, lng + 0.0045)),
        "near 300 m": ReportQuery(near=(lat, lng, 300.0)),
        "created last 7 days": ReportQuery(created_after=now - timedelta(days=7)),
        "created one day 300 days ago": ReportQuery(
            created_after=now - timedelta(days=301), created_before=now - timedelta(days=300)
        ),
        "created before 300 days ago": ReportQuery(created_before=now - timedelta(days=300)),
        "search common 'jalan'": ReportQuery(search="jalan"),
        "search 'sampah'": ReportQuery(search="sampah"),
        "search medium 'gorong'": ReportQuery(search="gorong"),
        "search kelurahan 'kwitang'": ReportQuery(search="kwitang"),
        "search rare 'qqzv'": ReportQuery(search="qqzv"),
        "search two words": ReportQuery(search="tersumbat kwitang"),
        "overdue": ReportQuery(overdue=True),
        "not overdue": ReportQuery(overdue=False),
    }
    if m["agency"] is not None:
        out["agency"] = ReportQuery(agency_id=m["agency"])
    return out


def cases(m: dict[str, Any]) -> list[Case]:
    admin = Viewer(id=1, role=Role.ADMIN)
    out: list[Case] = []
    region, category = m["kelurahan"].id, m["category"].id
    for name, q in filters(m).items():
        viewer = admin if q.status == [ReportStatus.REJECTED] else None
        combined = replace(q, region_id=q.region_id or region, category_ids=q.category_ids or [category])
        for label, query in ((name, q), (f"{name} + kelurahan + category", combined)):
            for order, first in itertools.product(ORDER_NAMES, FIRSTS):
                if order == "RELEVANCE" and not query.search:
                    continue  # RELEVANCE without a search is NEWEST, timed above
                out.append(Case(label, query, order, first, viewer=viewer))
    citizen = Viewer(id=m["author"], role=Role.CITIZEN)
    for q in (ReportQuery(), ReportQuery(search="qqzv"), ReportQuery(search="jalan")):
        for first in FIRSTS:
            out.append(Case(f"signed-in citizen, search={q.search}", q, "NEWEST", first, viewer=citizen))
    deep = m["deep"]
    cursors = {
        "NEWEST": encode_cursor(deep["created_at"], deep["id"]),
        "OLDEST": encode_cursor(deep["created_at"], deep["id"]),
        "RECENTLY_UPDATED": encode_cursor(deep["updated_at"], deep["id"]),
        "MOST_VOTED": encode_cursor(0, deep["id"]),
    }
    for (order, cursor), q in itertools.product(
        cursors.items(), (ReportQuery(), ReportQuery(search="jalan"), ReportQuery(search="qqzv"))
    ):
        for first in FIRSTS:
            out.append(Case(f"after a cursor 300 days deep, search={q.search}", q, order, first, cursor))
    return out


async def run_case(case: Case, budget: ReadBudget, now: Any) -> float:
    """Milliseconds for the page and its count; a statement cancelled at the budget counts
    as the budget (and is named in the table)."""
    started = perf_counter()
    try:
        # As the `reports` field runs it for a client asking totalCount with a search slot
        # free: the count may start beside the page.
        page = await search_reports(
            case.viewer, case.fresh(), case.order, case.first, case.after, now, budget, free_slot
        )
        case.page_ms.append((perf_counter() - started) * 1000)
        await page.counted()
    except asyncpg.QueryCanceledError:
        case.timeouts += 1
    elapsed = (perf_counter() - started) * 1000
    if elapsed > 1000:
        print(f"    slow: {case.name}, {case.order}, first {case.first}: {elapsed:.0f} ms", flush=True)
    return elapsed


# Every buffer page the statements so far touched, hit or read (pg_stat_statements).
TOUCHED = "SELECT COALESCE(sum(shared_blks_hit + shared_blks_read), 0)::bigint AS n FROM pg_stat_statements"


async def pages_of(case: Case, budget: ReadBudget, now: Any) -> int:
    """The buffer pages one more run of the case touches (its statements only: the bench runs
    alone on its cluster)."""
    before = (await fetch(TOUCHED))[0]["n"]
    await run_case(case, budget, now)
    return int((await fetch(TOUCHED))[0]["n"] - before)


def key(row: dict[str, Any]) -> str:
    return f"{row['case']} | {row['order']} | {row['first']} | {row['after']}"


def compare(rows: list[dict[str, Any]], path: str) -> None:
    """Each case beside a saved run's (the base): the ratios of their p50 and of their pages,
    their median and p90 over the cases, and the cases whose pages grew most."""
    base = {key(r): r for r in json.loads(Path(path).read_text())}
    pairs = [(r, base[key(r)]) for r in rows if key(r) in base]
    print(f"\nagainst {path}: {len(pairs)} cases in both")

    def spread(name: str, ratios: list[float]) -> None:
        ratios.sort()
        if ratios:
            p90 = ratios[int(0.9 * (len(ratios) - 1))]
            print(f"  {name}: median {statistics.median(ratios):.2f}, p90 {p90:.2f}, max {ratios[-1]:.2f}")

    spread("p50 ratio (this / base)", [float(r["p50 ms"]) / max(float(b["p50 ms"]), 0.1) for r, b in pairs])
    with_pages = [(r, b) for r, b in pairs if r.get("pages") is not None and b.get("pages") is not None]
    spread("pages ratio (this / base)", [(r["pages"] + 1) / (b["pages"] + 1) for r, b in with_pages])
    grew = sorted(with_pages, key=lambda rb: (rb[0]["pages"] + 1) / (rb[1]["pages"] + 1), reverse=True)
    shown = [{"case": key(r), "pages": f"{b['pages']} -> {r['pages']}",
              "p50 ms": f"{b['p50 ms']} -> {r['p50 ms']}"} for r, b in grew[:15]]  # fmt: skip
    if shown:
        print(table(shown, list(shown[0])))


async def explain(case: Case, budget: ReadBudget, now: Any) -> list[str]:
    """Run the case once more, recording its statements, and EXPLAIN ANALYZE each."""
    import domain.pagination as pagination

    recorded: list[tuple[str, tuple[Any, ...]]] = []
    real = pagination.fetch

    async def recording(sql: str, *args: Any, conn: Any = None) -> list[dict[str, Any]]:
        recorded.append((sql, args))
        return await real(sql, *args, conn=conn)

    pagination.fetch = recording  # type: ignore[assignment]
    try:
        await run_case(case, budget, now)
    finally:
        pagination.fetch = real  # type: ignore[assignment]
    plans = []
    for sql, args in recorded:
        if sql.startswith("EXPLAIN"):  # the planner's estimate paginate asks for: no execution
            plans.append(sql)
            continue
        rows = await fetch(f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {sql}", *args)
        plans.append(sql + "\n" + "\n".join(r["QUERY PLAN"] for r in rows))
    return plans


async def main() -> None:
    p = parser(__doc__)
    p.add_argument("--runs", type=int, default=7)
    p.add_argument("--explain", type=int, default=4, help="print the plans of this many slowest cases")
    p.add_argument("--only", help="only cases whose name contains this")
    p.add_argument("--show", type=int, default=60, help="rows of the table (slowest first)")
    p.add_argument("--budget-ms", type=int, default=5000, help="statement_timeout while measuring")
    p.add_argument("--pages", action="store_true", help="count each case's buffer pages (one more run)")
    p.add_argument("--save", help="write every case's figures to this JSON file")
    p.add_argument("--compare", help="a file --save wrote: set this run beside it")
    a = p.parse_args()
    await Tortoise.init(config=tortoise_config(Settings(database_url=a.database_url, db_pool_max=4)))
    try:
        await reload_catalog()
        m = await landmarks()
        budget = ReadBudget(timeout_ms=a.budget_ms)  # above the service's 2 s: the real time
        now = m["now"]
        todo = [c for c in cases(m) if not a.only or a.only in c.name]
        reports = (await fetch("SELECT reltuples::bigint AS n FROM pg_class WHERE relname = 'report'"))[0][
            "n"
        ]
        print(f"{len(todo)} cases x {a.runs} runs on about {reports:,} reports", flush=True)
        started = perf_counter()
        for run in range(a.runs):
            for case in todo:
                case.times_ms.append(await run_case(case, budget, now))
            print(f"  run {run + 1}/{a.runs}: {perf_counter() - started:.0f} s", flush=True)
        if a.pages:
            for case in todo:
                case.pages = await pages_of(case, budget, now)
        worst = sorted(todo, key=lambda c: max(c.times_ms), reverse=True)
        rows = [
            {
                "case": c.name,
                "order": c.order,
                "first": c.first,
                "after": "deep" if c.after else "",
                "page p99 ms": f"{max(c.page_ms):.1f}" if c.page_ms else "-",
                "p50 ms": f"{statistics.median(c.times_ms):.1f}",
                "p99 ms": f"{max(c.times_ms):.1f}",
                "timeouts": c.timeouts or "",
                "pages": c.pages,
            }
            for c in worst
        ]
        print(table(rows[: a.show], list(rows[0])))
        if a.save:
            await asyncio.to_thread(Path(a.save).write_text, json.dumps(rows, indent=0))
        if a.compare:
            compare(rows, a.compare)
        page_over = [c for c in todo if not c.page_ms or max(c.page_ms) >= 100]
        print(f"\npage alone (no totalCount asked): {len(page_over)} cases with p99 >= 100 ms")
        over = [r for r in rows if float(r["p99 ms"]) >= 100]
        all_times = sorted(t for c in todo for t in c.times_ms)
        print(
            f"\n{len(todo)} cases, {len(all_times)} timings: p50 {statistics.median(all_times):.1f} ms,"
            f" worst {all_times[-1]:.1f} ms; cases with p99 >= 100 ms: {len(over)}"
        )
        # Run by run: the first after a restart reads pages from disk for the first time.
        by_run = []
        for run in range(a.runs):
            slowest = max(todo, key=lambda c: c.times_ms[run])
            by_run.append(sum(c.times_ms[run] >= 100 for c in todo))
            print(f"run {run + 1}: {by_run[-1]} cases >= 100 ms, slowest {slowest.times_ms[run]:.1f} ms"
                  f" ({slowest.name}, {slowest.order}, first {slowest.first})")  # fmt: skip
        for c in worst[: a.explain]:
            print(f"\n### {c.name}, {c.order}, first {c.first}{', deep cursor' if c.after else ''}")
            for plan in await explain(c, budget, now):
                print(plan)
        emit(
            "filters",
            {
                "reports": reports,
                "runs": a.runs,
                "cases": len(todo),
                "over_100ms": len(over),
                "over_100ms_by_run": by_run,
                "worst": rows[:20],
                "p50_all_ms": statistics.median(all_times),
            },
        )
    finally:
        await Tortoise.close_connections()


if __name__ == "__main__":
    asyncio.run(main())
