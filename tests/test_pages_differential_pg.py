"""Every page of every filter, order, viewer and page size, walked with its cursors, is the
plain SQL `ORDER BY` of the same conditions, and every page's totalCount is the number of its
rows (PostgreSQL only: the stepped reads of domain/pagination.py). The steps' sizes are drawn
small (WINDOWS, SCATTERED_WINDOW, FEW, DENSE, WALK, MONTH_MATCHES, KEYED_WALK), so that on a
test's few hundred reports every path runs: a window, the scattered first window, every match
read with only ids and keys, the words' sample and walk, the count begun beside the page, a
search's matches read by the keys along its order (months, vote buckets). Latitudes lie on
the box index's cell edges and one float step beside them (review of issue 16's changes,
session 15)."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import domain.pagination as pagination
from domain.auth import Viewer
from domain.report import (
    ORDERS,
    ReportQuery,
    order_of,
    relevance,
    search_reports,
    search_words,
    split_conditions,
)
from models.enums import ReportStatus, Role

NOW = datetime(2025, 1, 1, tzinfo=UTC)
WORDS = ["jalan", "rusak", "kwitang", "banjir", "sampah", "lampu"]
STATUSES = [s.value for s in ReportStatus]


async def seed() -> dict[str, Any]:
    from tortoise import connections

    from domain import rollups
    from models.sql import execute, fetch

    known = await fetch("SELECT id FROM app_user WHERE handle LIKE 'rv_' ORDER BY handle")
    if known:  # seeded by an earlier example of this test
        users = [r["id"] for r in known]
        return {"users": users, "kel": await _kelurahan(), "cats": await _categories(), "now": NOW}
    rng = random.Random(7)
    spread = random.Random(11)
    now = NOW
    users = []
    for i in range(4):
        row = await fetch(
            "INSERT INTO app_user (handle, display_name, password_hash, role, created_at)"
            " VALUES ($1, $1, 'x', 'CITIZEN', $2) RETURNING id",
            f"rv{i}",
            now,
        )
        users.append(row[0]["id"])
    kel, cats = await _kelurahan(), await _categories()
    base = -6.18
    for i in range(260):
        k = rng.choice(kel)
        c = rng.choice(cats)
        cell = rng.randint(-3, 3)
        lat = rng.choice(
            [
                base + cell / 100,
                math.nextafter((round(base * 100) + cell) / 100, -math.inf),
                math.nextafter((round(base * 100) + cell) / 100, math.inf),
                base + rng.uniform(-0.035, 0.035),
            ]
        )
        lng = 106.82 + rng.choice([0.0, rng.uniform(-0.02, 0.02)])
        words = " ".join(rng.choices(WORDS, weights=[20, 10, 1, 4, 3, 2], k=rng.randint(1, 3)))
        # Most in the last hours; some months and a year back, so that a search by the months
        # of its matches (migration 0019) reads several months, step by step.
        # (Their own generator: the other columns' draws, and so the statistics later tests in
        # this database plan with, stay as they were.)
        back = timedelta(days=spread.choice([0, 0, 0, 0, 20, 45, 95, 400]))
        created = now - back - timedelta(minutes=rng.randint(0, 300))
        updated = created + timedelta(minutes=rng.choice([0, 0, 5, 60]))
        await execute(
            "INSERT INTO report (client_request_id, anonymous, status, lat, lng, description, created_at,"
            " updated_at, vote_count, comment_count, agency_id, author_id, category_id, kecamatan_id, kelurahan_id,"
            " kota_id) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,0,$10,$11,$12,$13,$14,$15)",
            f"r{i}",
            rng.random() < 0.3,
            rng.choice(STATUSES),
            lat,
            lng,
            words,
            created,
            updated,
            rng.choice([0, 0, 1, 2, 5]),
            c["agency_id"],
            rng.choice(users),
            c["id"],
            k["kec"],
            k["kel"],
            k["kota"],
        )
    await rollups.rebuild()
    async with connections.get("default").acquire_connection() as raw:
        await raw.execute("VACUUM (ANALYZE) report")
    return {"users": users, "kel": kel, "cats": cats, "now": now}


async def _kelurahan() -> list[dict[str, Any]]:
    from models.sql import fetch

    return await fetch(
        "SELECT k.id AS kel, c.id AS kec, c.parent_id AS kota FROM region k JOIN region c ON c.id = k.parent_id"
        " WHERE k.level = 'KELURAHAN' ORDER BY k.id LIMIT 3"
    )


async def _categories() -> list[dict[str, Any]]:
    from models.sql import fetch

    return await fetch("SELECT id, agency_id FROM category ORDER BY id LIMIT 3")


def filters(data: dict[str, Any]) -> st.SearchStrategy[ReportQuery]:
    lat = st.one_of(
        st.floats(-6.22, -6.14),
        st.integers(-622, -614).map(lambda c: c / 100),
    )
    box = st.tuples(lat, lat, st.floats(106.79, 106.85), st.floats(106.79, 106.85)).map(
        lambda t: (min(t[0], t[1]), min(t[2], t[3]), max(t[0], t[1]), max(t[2], t[3]))
    )
    near = st.tuples(lat, st.floats(106.80, 106.84), st.sampled_from([1, 50, 300, 1000, 3000, 50_000]))
    regions = [None] + [k["kel"] for k in data["kel"]] + [data["kel"][0]["kec"], data["kel"][0]["kota"]]
    return st.builds(
        ReportQuery,
        status=st.one_of(st.none(), st.lists(st.sampled_from(STATUSES), min_size=1, max_size=3, unique=True)),
        category_ids=st.one_of(
            st.none(),
            st.lists(st.sampled_from([c["id"] for c in data["cats"]]), min_size=1, max_size=2, unique=True),
        ),
        region_id=st.sampled_from(regions),
        author_id=st.one_of(st.none(), st.sampled_from(data["users"])),
        bbox=st.one_of(st.none(), box),
        near=st.one_of(st.none(), near),
        search=st.one_of(st.none(), st.sampled_from([*WORDS, "jalan rusak", "kwitang banjir", "zzz"])),
        created_before=st.one_of(st.none(), st.just(data["now"] - timedelta(minutes=100))),
        created_after=st.one_of(st.none(), st.just(data["now"] - timedelta(minutes=200))),
    )


async def reference(viewer, f, order_name, now) -> list[int]:
    from models.sql import fetch

    args: list[Any] = []
    order = order_of(f, order_name)
    split = split_conditions(viewer, f, now, args)
    where = " AND ".join(split.plain + split.text) or "1 = 1"
    if order.column == "relevance":
        # the app ranks the newest RELEVANCE_WINDOW matches; here all (table is small)
        score = relevance(search_words(f.search), args)
        sql = f"SELECT id FROM (SELECT *, {score} AS relevance FROM report) AS r WHERE {where} ORDER BY {order.sql()}"
    else:
        sql = f"SELECT id FROM report WHERE {where} ORDER BY {order.sql()}"
    return [r["id"] for r in await fetch(sql, *args)]


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
async def test_every_page_is_the_plain_sorted_query(app, data) -> None:
    seeded = await seed()
    f = data.draw(filters(seeded))
    viewer = data.draw(
        st.sampled_from(
            [None, Viewer(seeded["users"][0], Role.CITIZEN), Viewer(seeded["users"][1], Role.OFFICER)]
        )
    )
    order_name = data.draw(st.sampled_from(list(ORDERS)))
    size = data.draw(st.integers(1, 9))
    # The count begun beside the page (a slot free), after it (none free), or not offered.
    early = data.draw(st.sampled_from([None, lambda: lambda: None, lambda: None]))
    w0 = data.draw(st.integers(1, 30))
    w1 = data.draw(st.integers(w0, 120))
    mp = {
        "WINDOWS": (w0, w1),
        "SCATTERED_WINDOW": data.draw(st.integers(1, 40)),
        "FEW": data.draw(st.sampled_from([0, 1, 10, 50, 20_000])),
        "DENSE": data.draw(st.sampled_from([0, 5, 50, 50_000])),
        "WALK": data.draw(st.sampled_from([20, 200, 1_000_000])),
        "MONTH_MATCHES": data.draw(st.sampled_from([0, 5, 20_000])),
        "KEYED_WALK": data.draw(st.sampled_from([0, 5, 2_000])),
    }
    old = {k: getattr(pagination, k) for k in mp}
    for k, v in mp.items():
        setattr(pagination, k, v)
    try:
        now = seeded["now"]
        expected = await reference(viewer, f, order_name, now)
        got: list[int] = []
        after = None
        total = None
        for _ in range(2000):
            page = await search_reports(viewer, f, order_name, size, after, now, None, early)
            t = await page.total_count()
            if total is None:
                total = t
            assert t == total, ("total moved", t, total)
            got += [r.id for r in page.rows]
            if not page.has_next:
                break
            after = page.order.cursor(page.rows[-1])
        note = (f, order_name, size, mp, viewer)
        assert got == expected, note
        assert total == len(expected), (total, len(expected), note)
    finally:
        for k, v in old.items():
            setattr(pagination, k, v)
