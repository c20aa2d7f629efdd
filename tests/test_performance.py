"""Rankings at five levels, stats and the heatmap, checked against a straightforward
computation over the raw rows after a random workload through the real mutations; and the
rollups rebuilt from scratch equal the incremental ones."""

from __future__ import annotations

import importlib
import random
import statistics
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace

import pytest
from tortoise import connections

from domain.rollups import cover
from models.enums import ReportStatus
from tests.helpers import CREATE_REPORT, category_id, citizen, error, gql, ok, staff

VERIFY = "mutation($id: ID!, $c: ID) { verifyReport(id: $id, categoryId: $c) { id } }"
REJECT = 'mutation($id: ID!) { rejectReport(id: $id, reason: "bukan laporan") { id } }'
DUPLICATE = "mutation($id: ID!, $d: ID!) { markDuplicate(id: $id, duplicateOfId: $d) { id } }"
ASSIGN = "mutation($id: ID!, $a: ID!) { assignReport(id: $id, assigneeId: $a) { id } }"
START = "mutation($id: ID!) { startProgress(id: $id) { id } }"
RESOLVE = 'mutation($id: ID!) { resolveReport(id: $id, note: "selesai") { id } }'
CONFIRM = "mutation($id: ID!, $r: Int!) { confirmResolution(id: $id, rating: $r) { id } }"
REOPEN = 'mutation($id: ID!) { reopenReport(id: $id, reason: "belum beres") { id } }'
COMMENT = 'mutation($r: ID!) { addComment(reportId: $r, body: "Kami tindak lanjuti") { isOfficial } }'
RANKINGS = """query($level: RankingLevel!, $period: PeriodInput, $within: ID, $order: RankingMetric,
  $first: Int, $offset: Int, $min: Int = 0) {
  rankings(level: $level, period: $period, withinRegionId: $within, orderBy: $order, first: $first,
    offset: $offset, minReports: $min) {
    rank belowMinimum level unitId unitName region { id } agency { id } staff { id }
    reportsReceived reportsResponded reportsResolved responseRate resolutionRate slaComplianceRate
    medianResponseMinutes medianResolutionMinutes averageRating score
    responseRateLow responseRateHigh slaComplianceRateLow slaComplianceRateHigh } }"""
STATS = """query($region: ID, $cats: [ID!], $period: PeriodInput) {
  stats(regionId: $region, categoryIds: $cats, period: $period) {
    total byStatus { status count } byCategory { category { id } count }
    byRegion { region { id } count open resolved } daily { date created resolved } } }"""
HEATMAP = """query($period: PeriodInput, $res: Int) {
  heatmap(bbox: {south: -6.5, west: 106.3, north: -5.1, east: 107.2}, resolution: $res, period: $period) {
    cell center { lat lng } count } }"""

LEVEL_FIELD = {
    "KELURAHAN": "kelurahan_id",
    "KECAMATAN": "kecamatan_id",
    "KOTA": "kota_id",
    "DINAS": "agency_id",
    "STAFF": "assignee_id",
}


def jkt_day(at: datetime) -> date:
    return (
        (at + timedelta(hours=7)).date()
        if at.utcoffset() is None
        else (at.astimezone().astimezone(__import__("datetime").timezone(timedelta(hours=7)))).date()
    )


async def run_workload(client, clock, n_reports: int, seed: int) -> dict:
    """Reports across kelurahan, kota and dinas with every kind of move, hours apart."""
    from domain.catalog import catalog
    from models.enums import RegionLevel

    rng = random.Random(seed)
    cat = catalog()
    kelurahan = sorted(
        (r for r in cat.regions.values() if r.level == RegionLevel.KELURAHAN), key=lambda r: r.code
    )
    places = rng.sample([k for k in kelurahan if not k.code.startswith("31.01")], 14)
    codes = [c.code for c in cat.categories.values()]
    citizens = [await citizen(client) for _ in range(6)]
    moderator, _ = await staff(client, "MODERATOR")
    dinas_officers = {a.id: await staff(client, "OFFICER", agency_code=a.code) for a in cat.agencies.values()}
    kota_officers = {}
    for kota in {cat.parent(cat.parent(p)).code for p in places}:  # type: ignore[union-attr]
        kota_officers[kota] = [await staff(client, "OFFICER", region_code=kota) for _ in range(2)]
    live: list[dict] = []

    async def mutate(query, variables, token):
        body = await gql(client, query, variables, token)
        assert not body.get("errors"), (query[:40], body["errors"])

    for i in range(n_reports):
        clock.advance(minutes=rng.uniform(20, 240))
        token, _ = rng.choice(citizens)
        place = rng.choice(places)
        data = await ok(
            client,
            CREATE_REPORT,
            {
                "input": {
                    "clientRequestId": f"w{seed}-{i}",
                    "categoryId": category_id(rng.choice(codes)),
                    "description": f"Laporan acak nomor {i}",
                    "location": {"lat": place.lat, "lng": place.lng},
                }
            },
            token,
        )
        rid = data["createReport"]["id"]
        kota_code = cat.parent(cat.parent(place)).code  # type: ignore[union-attr]
        roll = rng.random()
        clock.advance(minutes=rng.uniform(5, 300))
        if roll < 0.08:
            await mutate(REJECT, {"id": rid}, moderator)
            continue
        if roll < 0.14 and live:
            await mutate(DUPLICATE, {"id": rid, "d": rng.choice(live)["id"]}, moderator)
            continue
        if roll < 0.2:
            continue  # still waiting for a moderator
        corrected = category_id(rng.choice(codes)) if rng.random() < 0.2 else None
        await mutate(VERIFY, {"id": rid, "c": corrected}, moderator)
        live.append({"id": rid})
        if rng.random() < 0.1:  # a verified one can still turn out a duplicate
            clock.advance(minutes=rng.uniform(5, 60))
            await mutate(
                DUPLICATE,
                {"id": rid, "d": live[0]["id"]} if live[0]["id"] != rid else {"id": rid, "d": live[-2]["id"]},
                moderator,
            ) if len(live) > 1 else None
            if len(live) > 1:
                live.pop()
                continue
        from models import Report

        agency_id = (await Report.get(id=int(rid))).agency_id  # type: ignore[attr-defined]
        officers = [dinas_officers[agency_id], *kota_officers[kota_code]]
        acting = rng.choice(officers)[0]
        if rng.random() < 0.7:
            await mutate(ASSIGN, {"id": rid, "a": rng.choice(officers)[1]}, moderator)
            if rng.random() < 0.3:  # reassigned
                clock.advance(minutes=rng.uniform(5, 120))
                await mutate(ASSIGN, {"id": rid, "a": rng.choice(officers)[1]}, acting)
        if rng.random() < 0.25:
            clock.advance(minutes=rng.uniform(1, 600))
            await mutate(COMMENT, {"r": rid}, acting)
        if rng.random() < 0.15:
            continue  # never handled
        if rng.random() < 0.6:
            clock.advance(minutes=rng.uniform(1, 900))
            await mutate(START, {"id": rid}, acting)
        if rng.random() < 0.2:
            continue  # in progress, stuck
        clock.advance(hours=rng.expovariate(1 / 40))  # SLAs of 2 h to 2 weeks: some are missed
        await mutate(RESOLVE, {"id": rid}, acting)
        for _ in range(2):
            fate = rng.random()
            clock.advance(minutes=rng.uniform(10, 3000))
            author = token
            if fate < 0.45:
                rating = rng.randint(1, 5)
                await mutate(CONFIRM, {"id": rid, "r": rating}, author)
                if rating > 2:
                    break
            elif fate < 0.6:
                await mutate(REOPEN, {"id": rid}, author)
            else:
                break  # the reporter never answered
            clock.advance(hours=rng.expovariate(1 / 20))
            await mutate(RESOLVE, {"id": rid}, acting)
    return {"places": places}


def expected(rows: list[dict], level: str, start: date, end: date, names: dict) -> dict[int, dict]:
    """The definitions, computed directly from the report rows."""
    units: dict[int, list[dict]] = defaultdict(list)
    for r in rows:
        day = (r["created_at"] + timedelta(hours=7)).date()
        if not (start <= day <= end) or r["verified_at"] is None or r["status"] == "DUPLICATE":
            continue
        unit = r[LEVEL_FIELD[level]]
        if unit is not None:
            units[unit].append(r)
    out = {}
    for unit, rs in units.items():
        received = len(rs)
        responded = [r for r in rs if r["first_response_at"] is not None]
        resolved = [r for r in rs if r["status"] in ("RESOLVED", "CLOSED")]
        sla = [r for r in resolved if r["resolved_at"] <= r["due_at"]]
        ratings = [r["rating"] for r in rs if r["rating"] is not None]
        avg = sum(ratings) / len(ratings) if ratings else None
        resp = [(r["first_response_at"] - r["verified_at"]).total_seconds() / 60 for r in responded]
        resol = [(r["resolved_at"] - r["verified_at"]).total_seconds() / 60 for r in resolved]
        rr = (avg - 1) / 4 if avg is not None else 0.5
        out[unit] = {
            "reportsReceived": received,
            "reportsResponded": len(responded),
            "reportsResolved": len(resolved),
            "responseRate": len(responded) / received,
            "resolutionRate": len(resolved) / received,
            "slaComplianceRate": len(sla) / received,
            "averageRating": avg,
            "medianResponseMinutes": statistics.median(resp) if resp else None,
            "medianResolutionMinutes": statistics.median(resol) if resol else None,
            "score": 100
            * (
                0.35 * len(responded) / received
                + 0.35 * len(sla) / received
                + 0.15 * len(resolved) / received
                + 0.15 * rr
            ),
            "unitName": names[unit],
        }
    return out


def close(a: float | None, b: float | None, rel: float) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) <= max(rel * abs(b), 1 / 60)  # 2 %, or one second for tiny durations


pytestmark = pytest.mark.shared_data


@pytest.fixture(scope="module")
async def workload(app):
    """One random workload (150 reports, about 900 mutations) for every test of this module."""
    import httpx

    from domain.catalog import catalog
    from domain.tx import set_clock
    from models import Report, User
    from tests.conftest import Clock, wipe

    await wipe()
    clock = Clock(datetime(2026, 1, 25, 3, tzinfo=UTC))  # a fixed calendar: whole months
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            info = await run_workload(client, clock, n_reports=150, seed=7)
    finally:
        set_clock(None)
    rows = await Report.all().values()
    for r in rows:
        r["status"] = ReportStatus(r["status"]).value
    names = {
        "region": {r.id: r.name for r in catalog().regions.values()},
        "DINAS": {a.id: a.name for a in catalog().agencies.values()},
    }
    staff_names = {u["id"]: u["display_name"] for u in await User.all().values("id", "display_name")}
    names["STAFF"] = staff_names
    return {"rows": rows, "names": names, **info}


async def test_rankings_match_the_definitions_at_all_five_levels(client, workload):
    rows = workload["rows"]
    days = sorted((r["created_at"] + timedelta(hours=7)).date() for r in rows)
    whole = (days[0], days[-1])
    middle = (days[len(days) // 3], days[2 * len(days) // 3])
    assert whole[1] - whole[0] > timedelta(days=7)
    assert all({s for s, _ in cover(*p)} >= {"D", "M"} for p in (whole, middle))  # days and months
    for start, end in (whole, middle):
        period = {"from": start.isoformat(), "to": end.isoformat()}
        for level in ("KELURAHAN", "KECAMATAN", "KOTA", "DINAS", "STAFF"):
            names = workload["names"].get(level, workload["names"]["region"])
            want = expected(rows, level, start, end, names)
            got = (await ok(client, RANKINGS, {"level": level, "period": period, "first": 500}))["rankings"]
            assert {int(e["unitId"]) for e in got} == set(want), level
            assert [e["rank"] for e in got] == list(range(1, len(got) + 1))
            for e in got:
                w = want[int(e["unitId"])]
                for key in ("reportsReceived", "reportsResponded", "reportsResolved", "unitName"):
                    assert e[key] == w[key], (level, key, e, w)
                for key in ("responseRate", "resolutionRate", "slaComplianceRate", "averageRating", "score"):
                    assert close(e[key], w[key], 1e-9), (level, key, e[key], w[key])
                for key in ("medianResponseMinutes", "medianResolutionMinutes"):
                    assert close(e[key], w[key], 0.02), (level, key, e[key], w[key])
                assert e["level"] == level
                assert (e["region"] is not None) == (level in ("KELURAHAN", "KECAMATAN", "KOTA"))
                assert (e["agency"] is not None) == (level == "DINAS")
                assert (e["staff"] is not None) == (level == "STAFF")
            # Default order: score, best first; ties by received, then name.
            keys = [(-e["score"], -e["reportsReceived"], e["unitName"]) for e in got]
            assert keys == sorted(keys)
    kota = expected(rows, "KOTA", *whole, workload["names"]["region"])
    assert any(w["slaComplianceRate"] < w["resolutionRate"] for w in kota.values())  # SLA misses happened


async def test_every_order_paging_and_within_region(client, workload):
    from domain.catalog import catalog

    rows = workload["rows"]
    days = sorted((r["created_at"] + timedelta(hours=7)).date() for r in rows)
    period = {"from": days[0].isoformat(), "to": days[-1].isoformat()}
    for order, field, best_high in [
        ("RESPONSE_RATE", "responseRate", True),
        ("RESOLUTION_RATE", "resolutionRate", True),
        ("SLA_COMPLIANCE", "slaComplianceRate", True),
        ("AVERAGE_RATING", "averageRating", True),
        ("REPORTS_RECEIVED", "reportsReceived", True),
        ("SCORE", "score", True),
        ("MEDIAN_RESPONSE_TIME", "medianResponseMinutes", False),
        ("MEDIAN_RESOLUTION_TIME", "medianResolutionMinutes", False),
    ]:
        got = (
            await ok(client, RANKINGS, {"level": "KELURAHAN", "period": period, "order": order, "first": 500})
        )["rankings"]
        values = [e[field] for e in got]
        present = [v for v in values if v is not None]
        assert values == present + [None] * (len(values) - len(present)), order  # nulls last
        assert present == sorted(present, reverse=best_high), order
        page = (
            await ok(
                client,
                RANKINGS,
                {"level": "KELURAHAN", "period": period, "order": order, "first": 3, "offset": 2},
            )
        )["rankings"]
        assert [e["unitId"] for e in page] == [e["unitId"] for e in got[2:5]]
        assert [e["rank"] for e in page] == [3, 4, 5][: len(page)]
    kota = catalog().parent(catalog().parent(workload["places"][0]))
    inside = (
        await ok(
            client, RANKINGS, {"level": "KELURAHAN", "period": period, "within": str(kota.id), "first": 500}
        )
    )["rankings"]
    assert inside and all(catalog().is_within(int(e["unitId"]), kota.id) for e in inside)
    staff_inside = (
        await ok(client, RANKINGS, {"level": "STAFF", "period": period, "within": str(kota.id), "first": 500})
    )["rankings"]
    from models import User

    for e in staff_inside:
        user = await User.get(id=int(e["unitId"]))
        assert user.region_id is not None and catalog().is_within(user.region_id, kota.id)  # type: ignore[attr-defined]
    err = await error(
        client, RANKINGS, {"level": "KOTA", "period": {"from": "2026-02-01", "to": "2026-01-01"}}
    )
    assert err["extensions"] == {"code": "BAD_USER_INPUT", "field": "period"}
    err = await error(client, RANKINGS, {"level": "KOTA", "first": -1})
    assert err["extensions"] == {"code": "BAD_USER_INPUT", "field": "first"}
    err = await error(client, RANKINGS, {"level": "KOTA", "within": "98765"})
    assert err["extensions"] == {"code": "BAD_USER_INPUT", "field": "withinRegionId"}


async def test_stats_and_heatmap_match_the_rows(client, workload):
    import h3

    from domain.catalog import catalog

    rows = workload["rows"]
    days = sorted((r["created_at"] + timedelta(hours=7)).date() for r in rows)
    start, end = days[0], days[-1]
    period = {"from": start.isoformat(), "to": end.isoformat()}
    cat = catalog()
    kota = cat.parent(cat.parent(workload["places"][0]))
    for region in (None, kota):
        # Public figures: a rejected report is counted for nobody (domain.visibility).
        in_region = [
            r for r in rows if (region is None or r["kota_id"] == region.id) and r["status"] != "REJECTED"
        ]
        assert len(in_region) < len([r for r in rows if region is None or r["kota_id"] == region.id])
        s = (await ok(client, STATS, {"region": str(region.id) if region else None, "period": period}))[
            "stats"
        ]
        assert s["total"] == len(in_region)
        by_status = {x["status"]: x["count"] for x in s["byStatus"]}
        for st in ReportStatus:
            assert by_status.get(st.value, 0) == sum(1 for r in in_region if r["status"] == st.value)
        assert by_status.get("REJECTED", 0) == 0
        by_cat = {int(x["category"]["id"]): x["count"] for x in s["byCategory"]}
        assert by_cat == {c: n for c, n in _count(in_region, "category_id").items()}
        child = "kota_id" if region is None else "kecamatan_id"
        by_region = {int(x["region"]["id"]): (x["count"], x["open"], x["resolved"]) for x in s["byRegion"]}
        for rid, (n, open_, done) in by_region.items():
            mine = [r for r in in_region if r[child] == rid]
            assert n == len(mine)
            assert open_ == sum(
                1 for r in mine if r["status"] in ("SUBMITTED", "VERIFIED", "IN_PROGRESS", "REOPENED")
            )
            assert done == sum(1 for r in mine if r["status"] in ("RESOLVED", "CLOSED"))
        created = {d["date"]: d["created"] for d in s["daily"]}
        resolved = {d["date"]: d["resolved"] for d in s["daily"]}
        assert len(s["daily"]) == (end - start).days + 1
        for day, n in _count(in_region, lambda r: (r["created_at"] + timedelta(hours=7)).date()).items():
            assert created[day.isoformat()] == n
        res_days = _count(
            [r for r in in_region if r["resolved_at"]],
            lambda r: (r["resolved_at"] + timedelta(hours=7)).date(),
        )
        for day, n in res_days.items():
            if start <= day <= end:
                assert resolved[day.isoformat()] == n
    cats = [category_id("sampah"), category_id("banjir")]
    s = (await ok(client, STATS, {"cats": cats, "period": period}))["stats"]
    assert s["total"] == sum(1 for r in rows if str(r["category_id"]) in cats and r["status"] != "REJECTED")

    visible = [r for r in rows if r["status"] not in ("REJECTED", "DUPLICATE")]
    for res in (9, 7):
        cells = (await ok(client, HEATMAP, {"period": period, "res": res}))["heatmap"]
        want = _count(visible, lambda r, res=res: h3.latlng_to_cell(r["lat"], r["lng"], res))
        assert {c["cell"]: c["count"] for c in cells} == want
    err = await error(client, HEATMAP, {"period": period, "res": 12})
    assert err["extensions"] == {"code": "BAD_USER_INPUT", "field": "resolution"}


def _count(rows, key) -> dict:
    out: dict = defaultdict(int)
    for r in rows:
        out[key(r) if callable(key) else r[key]] += 1
    return dict(out)


async def test_rebuild_equals_incremental(workload):
    from domain import rollups
    from models.sql import execute, is_postgres

    incremental = await rollups.snapshot()
    assert len(incremental) > 100
    assert {k[0] for k in incremental} >= {"span", "span_hist", "status_span"}
    await rollups.rebuild()
    rebuilt = await rollups.snapshot()
    assert rebuilt == incremental
    assert rebuilt == await rollups.recompute()
    # The spans derived from the daily tables (bench/generate on PostgreSQL, and migration
    # 0007's own frozen copy) are the same.
    if is_postgres():
        for statement in rollups.span_fill(postgres=True):
            await execute(statement)
        assert await rollups.snapshot() == incremental
    migration = importlib.import_module("models.migrations.0007_perf_span")
    await execute("DELETE FROM perf_span")
    await migration.fill(None, SimpleNamespace(client=connections.get("default")))
    assert await rollups.snapshot() == incremental
    # status_span likewise, from status_daily (bench/generate, and migration 0009's copy).
    if is_postgres():
        for statement in rollups.status_span_fill(postgres=True):
            await execute(statement)
        assert await rollups.snapshot() == incremental
    migration = importlib.import_module("models.migrations.0009_status_span")
    await execute("DELETE FROM status_span")
    await migration.fill(None, SimpleNamespace(client=connections.get("default")))
    assert await rollups.snapshot() == incremental


async def test_minimum_rule_at_every_level(client, workload):
    """Units below minReports come after the ranked ones, unranked, in the same order; none is
    left out; the default (null) is the documented one for the level and period length."""
    from domain.performance import Period, default_min_reports

    rows = workload["rows"]
    days = sorted((r["created_at"] + timedelta(hours=7)).date() for r in rows)
    period = {"from": days[0].isoformat(), "to": days[-1].isoformat()}
    for level in ("KELURAHAN", "KECAMATAN", "KOTA", "DINAS", "STAFF"):
        everyone = (await ok(client, RANKINGS, {"level": level, "period": period, "first": 500}))["rankings"]
        received = sorted({e["reportsReceived"] for e in everyone})
        assert len(received) >= 2, level
        minimum = received[len(received) // 2]  # some units on each side
        got = (await ok(client, RANKINGS, {"level": level, "period": period, "first": 500, "min": minimum}))[
            "rankings"
        ]
        assert sorted(e["unitId"] for e in got) == sorted(e["unitId"] for e in everyone), level
        ranked = [e for e in got if not e["belowMinimum"]]
        below = [e for e in got if e["belowMinimum"]]
        assert ranked and below, level
        assert got == ranked + below, level  # the unranked ones after every ranked one
        assert all(e["reportsReceived"] >= minimum for e in ranked)
        assert all(e["reportsReceived"] < minimum and e["rank"] is None for e in below)
        assert [e["rank"] for e in ranked] == list(range(1, len(ranked) + 1))
        for part in (ranked, below):  # each part in the ranking order (score, received, name)
            keys = [(-e["score"], -e["reportsReceived"], e["unitName"]) for e in part]
            assert keys == sorted(keys), level
        # paging runs across the boundary
        page = (
            await ok(
                client,
                RANKINGS,
                {"level": level, "period": period, "first": 2, "offset": len(ranked) - 1, "min": minimum},
            )
        )["rankings"]
        assert page == got[len(ranked) - 1 : len(ranked) + 1]
        # null = the documented default for this level and period length; 0 ranks everyone
        default = default_min_reports(level, Period(days[0], days[-1]))
        by_default = (
            await ok(client, RANKINGS, {"level": level, "period": period, "first": 500, "min": None})
        )["rankings"]
        assert [(e["unitId"], e["rank"]) for e in by_default] == [
            (e["unitId"], e["rank"])
            for e in (
                await ok(client, RANKINGS, {"level": level, "period": period, "first": 500, "min": default})
            )["rankings"]
        ]
        assert all(e["belowMinimum"] == (e["reportsReceived"] < default) for e in by_default)
        assert not any(e["belowMinimum"] for e in everyone)
        none = (await ok(client, RANKINGS, {"level": level, "period": period, "first": 500, "min": 10**6}))[
            "rankings"
        ]
        assert [e["unitId"] for e in none] == [e["unitId"] for e in everyone]
        assert all(e["rank"] is None and e["belowMinimum"] for e in none)
    err = await error(client, RANKINGS, {"level": "KOTA", "min": -1})
    assert err["extensions"] == {"code": "BAD_USER_INPUT", "field": "minReports"}


def _wilson_reference(k: int, n: int) -> tuple[float, float]:
    """The interval as the two roots of (k/n - p)^2 = z^2 p (1 - p) / n, solved here from
    scratch (quadratic formula), z from the standard library's normal distribution."""
    from statistics import NormalDist

    z = NormalDist().inv_cdf(0.975)
    phat = k / n
    a = 1 + z * z / n
    b = -(2 * phat + z * z / n)
    c = phat * phat
    root = (b * b - 4 * a * c) ** 0.5
    return (-b - root) / (2 * a), (-b + root) / (2 * a)


async def test_wilson_intervals_match_a_reference(client, workload):
    rows = workload["rows"]
    days = sorted((r["created_at"] + timedelta(hours=7)).date() for r in rows)
    period = {"from": days[0].isoformat(), "to": days[-1].isoformat()}
    seen = 0
    for level in ("KELURAHAN", "KECAMATAN", "KOTA", "DINAS", "STAFF"):
        for e in (await ok(client, RANKINGS, {"level": level, "period": period, "first": 500}))["rankings"]:
            n = e["reportsReceived"]
            for rate, low, high, k in (
                ("responseRate", "responseRateLow", "responseRateHigh", e["reportsResponded"]),
                ("slaComplianceRate", "slaComplianceRateLow", "slaComplianceRateHigh", round(e["slaComplianceRate"] * n)),
            ):
                want = _wilson_reference(k, n)
                assert abs(e[low] - want[0]) < 1e-9 and abs(e[high] - want[1]) < 1e-9, (level, rate, k, n, e)
                assert 0 <= e[low] <= e[rate] <= e[high] <= 1
                seen += 1
    assert seen > 100
