"""A read over its budget answers QUERY_TIMEOUT (PostgreSQL's statement_timeout: the
PostgreSQL pass only; SQLite reads run unbudgeted)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from tests.helpers import category_id, citizen, ok, plan_of, report, staff
from tests.test_search import FEED, recorded, tuned


def recorded_with_args(monkeypatch: Any) -> list[tuple[str, tuple[Any, ...]]]:
    """The statements domain.pagination runs from now on, with their arguments (to ask for
    their plans)."""
    import domain.pagination as pagination

    ran: list[tuple[str, tuple[Any, ...]]] = []
    real = pagination.fetch

    async def recording(sql: str, *args: Any, conn: Any = None) -> list[dict[str, Any]]:
        ran.append((sql, args))
        return await real(sql, *args, conn=conn)

    monkeypatch.setattr(pagination, "fetch", recording)
    return ran


@contextmanager
def made_slow(app: Any) -> Iterator[None]:
    """For the block, every search of reports made slow on purpose (pg_sleep among its
    conditions) with a read budget of 100 ms."""
    import domain.report

    split = domain.report.split_conditions

    def slow(*a: Any, **k: Any) -> domain.report.Split:
        made = split(*a, **k)
        return made._replace(plain=[*made.plain, "(SELECT pg_sleep(1)) IS NOT NULL"])

    domain.report.split_conditions = slow  # type: ignore[assignment]
    try:
        with tuned(app, read_timeout_ms=100):
            yield
    finally:
        domain.report.split_conditions = split  # type: ignore[assignment]


async def read_alone(sql: str, definition: str, scan: str = "Index Only Scan") -> None:
    """The plan of `sql` (sequential and bitmap scans off) reads report's index whose definition
    holds `definition`, from the index alone."""
    from models.sql import fetch

    text = await plan_of(sql, off=("seqscan", "bitmapscan"))
    index = await fetch(
        f"SELECT indexname FROM pg_indexes WHERE tablename = 'report' AND indexdef LIKE '%{definition}%'"
    )
    assert index and f"{scan} using {index[0]['indexname']}" in text, text


async def test_a_read_over_its_budget_answers_query_timeout(app, client):
    """A search made slow on purpose (pg_sleep) with a small budget: QUERY_TIMEOUT, never a
    500, and the connection it used serves the next request."""
    token, _ = await citizen(client)
    await report(client, token, description="Saluran air tersumbat sampah")
    with made_slow(app):
        for search in ("saluran", None):
            body = (
                await client.post("/graphql", json={"query": FEED, "variables": {"f": {"search": search}}})
            ).json()
            assert body["errors"][0]["extensions"]["code"] == "QUERY_TIMEOUT", body
            assert "pg_sleep" not in str(body)
    for _ in range(3):  # the pool's connections came back clean (no timeout left set)
        assert (await ok(client, FEED, {"f": {"search": "saluran"}}))["reports"]["totalCount"] == 1


async def test_an_open311_list_over_its_budget_answers_504(app, client):
    """Open311's list reads within the app's budget as GraphQL does: made slow on purpose, a
    504 in the spec's shape with Retry-After, nothing of the statement in it; then served."""
    token, _ = await citizen(client)
    await report(client, token, description="Saluran air tersumbat sampah")
    with made_slow(app):
        resp = await client.get("/open311/v2/requests.json")
        assert resp.status_code == 504 and resp.headers["retry-after"], resp.text
        assert "pg_sleep" not in resp.text
    assert len((await client.get("/open311/v2/requests.json")).json()) == 1
    assert app.state.read_gate.running("ip:127.0.0.1") == 0


async def test_a_common_word_the_newest_reports_lack_is_found_along_the_order(app, client, monkeypatch):
    """When the newest reports hold no match, the sample of the table's pages tells that the
    word is common: the order's index is walked further instead of reading (and sorting) every
    match; pages stay exact (the windows shrunk so that a few reports play a year's)."""
    import domain.pagination as pagination

    token, _ = await citizen(client)
    for i in range(6):
        await report(client, token, description=f"Jalan rusak nomor {i} dekat sekolah")
    for i in range(5):  # the newest reports: about something else
        await report(client, token, description=f"Lampu taman mati nomor {i}")
    monkeypatch.setattr(pagination, "WINDOWS", (2, 4))
    monkeypatch.setattr(pagination, "WALK", 50)
    monkeypatch.setattr(pagination, "DENSE", 5)  # "too many to sort": a year's 50,000
    monkeypatch.setattr(pagination, "MONTH_MATCHES", 0)  # too many a month to read by month
    statements = recorded(monkeypatch)
    page = (await ok(client, FEED, {"n": 2, "f": {"search": "jalan"}}))["reports"]
    assert [e["node"]["description"] for e in page["edges"]] == [
        "Jalan rusak nomor 5 dekat sekolah",
        "Jalan rusak nomor 4 dekat sekolah",
    ]
    assert page["pageInfo"]["hasNextPage"] and page["totalCount"] == 6
    walked = [s for s in statements if "LIMIT 50)" in s]
    assert walked and not any("WITH m AS MATERIALIZED (SELECT *" in s for s in statements), statements
    # A word the sample finds rare is read by its index at once: no wider window, no walk.
    statements.clear()
    page = (await ok(client, FEED, {"n": 2, "f": {"search": "rusak nomor 0"}}))["reports"]
    assert [e["node"]["description"] for e in page["edges"]] == ["Jalan rusak nomor 0 dekat sekolah"]
    assert (page["totalCount"], page["pageInfo"]["hasNextPage"]) == (1, False)
    assert not any("LIMIT 50)" in s or "LIMIT 4)" in s for s in statements), statements
    # Having read every match, the page counted them: no statement of its own for totalCount.
    assert not any("COUNT(*) AS n FROM (" in s for s in statements), statements


async def test_a_word_with_a_kelurahan_and_a_category_is_looked_for_among_their_reports(
    app, client, monkeypatch
):
    """Plain filters the planner expects to match few reports (a category here; a kelurahan
    and a category on a year: about 3,000 reports) are read first by their own index, then the
    words looked for among them, for the page and the count, which stay exact."""
    import domain.pagination as pagination

    token, _ = await citizen(client)
    for i in range(3):
        await report(client, token, category="saluran", description=f"Saluran jalan mampet nomor {i}")
    for i in range(3):
        await report(client, token, category="sampah", description=f"Sampah di jalan nomor {i}")
    monkeypatch.setattr(pagination, "WINDOWS", (1, 2))
    statements = recorded(monkeypatch)
    saluran = category_id("saluran")
    with tuned(app, total_count_cap=2):
        page = (await ok(client, FEED, {"n": 2, "f": {"search": "jalan", "categoryIds": [saluran]}}))[
            "reports"
        ]
        assert [e["node"]["description"] for e in page["edges"]] == [
            "Saluran jalan mampet nomor 2",
            "Saluran jalan mampet nomor 1",
        ]
        assert page["pageInfo"]["hasNextPage"] and (page["totalCount"], page["totalCountCapped"]) == (2, True)
        page = (await ok(client, FEED, {"n": 2, "f": {"search": "nomor 0", "categoryIds": [saluran]}}))[
            "reports"
        ]
        assert [e["node"]["description"] for e in page["edges"]] == ["Saluran jalan mampet nomor 0"]
        assert (page["totalCount"], page["totalCountCapped"]) == (1, False)
    plain_first = [s for s in statements if s.startswith("WITH m AS MATERIALIZED") and "FROM m WHERE" in s]
    assert len(plain_first) == 2, statements  # two pages, which counted what they read
    assert not any("COUNT(*) AS n FROM (" in s for s in statements), statements
    assert not any("TABLESAMPLE" in s for s in statements)


async def test_matches_no_one_index_serves_are_met_by_a_window_expected_to_fill_the_page(
    app, client, monkeypatch
):
    """A kecamatan and a category: no index holds both, so their few matches (16,387 on a year
    at half the rate) came from a BitmapAnd with the category's 1.3M entries and a heap page
    each, 200 ms warm in every order, where a window of the creation index, which the first
    window's density expected to fill, took 16 ms. With such a plan (the year's, given here:
    the planner sees a test's few rows otherwise), the window reads them; with an index of
    their own, their matches are read first as before. Pages stay exact either way."""
    import domain.pagination as pagination
    from domain.catalog import catalog
    from models.sql import fetch

    token, _ = await citizen(client)
    for i in range(6):
        await report(client, token, category="saluran", description=f"Saluran mampet nomor {i}")
        await report(client, token, description=f"Sampah menumpuk nomor {i}")
    where = "{ reports(first: 1) { edges { node { kelurahan { id } } } } }"
    kelurahan = (await ok(client, where))["reports"]["edges"][0]["node"]["kelurahan"]["id"]
    kecamatan = catalog().parent(catalog().region(int(kelurahan))).id  # type: ignore[union-attr]
    saluran = int(category_id("saluran"))
    expected = await fetch(
        "SELECT id FROM report WHERE kecamatan_id = $1 AND category_id = $2 ORDER BY created_at DESC, id DESC",
        kecamatan, saluran,
    )  # fmt: skip
    real = pagination._plan
    node: dict[str, Any] = {}

    async def planned(conn: Any, source: str, where: str, args: list[Any]) -> dict[str, Any]:
        plan = await real(conn, source, where, args)
        return {**plan, "Plan Rows": 16387.0, "Plans": [node]} if "kecamatan_id" in where else plan

    monkeypatch.setattr(pagination, "_plan", planned)
    monkeypatch.setattr(pagination, "WINDOWS", (4, 50))  # the first holds 2 of 4 matches asked
    statements = recorded(monkeypatch)
    for kind, few, n in (("BitmapAnd", False, 3), ("Index Scan", True, 2)):  # (n: not the cached answer)
        node["Node Type"] = kind
        statements.clear()
        f = {"regionId": str(kecamatan), "categoryIds": [saluran]}
        page = (await ok(client, FEED, {"n": n, "f": f}))["reports"]
        assert [int(e["node"]["id"]) for e in page["edges"]] == [r["id"] for r in expected[:n]], kind
        assert page["pageInfo"]["hasNextPage"] and page["totalCount"] == 6
        read_few = any(s.startswith("WITH m AS MATERIALIZED") for s in statements)
        wide = any("LIMIT 50) AS w" in s for s in statements)
        assert (read_few, wide) == (few, not few), (kind, statements)


async def test_a_kelurahan_by_votes_or_by_update_reads_its_own_index(app, client, monkeypatch):
    """A kelurahan holds about 1 in 267 of the city's reports: its page read 100,000 rows of the
    city's order index to find its own (by votes or by last update random heap pages, 150-608
    ms cold on a year; by creation 48 ms). The kelurahan's own indexes serve it instead, in
    order: (kelurahan_id, vote_count, id) and (kelurahan_id, updated_at, id) (migration 0012)
    unsorted."""

    import domain.pagination as pagination
    from models.sql import fetch
    from tests.helpers import MONAS

    token, _ = await citizen(client)
    voter, _ = await citizen(client)
    here, elsewhere = [], []
    for i in range(3):
        here.append(await report(client, token, location=MONAS, description=f"Sampah di Monas nomor {i}"))
        elsewhere.append(
            await report(
                client,
                token,
                location={"lat": -6.2443, "lng": 106.8005},
                description=f"Sampah di Blok M nomor {i}",
            )
        )
    await ok(client, "mutation($id: ID!) { vote(reportId: $id) { voteCount } }", {"id": here[0]["id"]}, voter)
    where = "query($id: ID!) { report(id: $id) { kelurahan { id } } }"
    kelurahan = (await ok(client, where, {"id": here[0]["id"]}))["report"]["kelurahan"]["id"]
    monkeypatch.setattr(pagination, "WINDOWS", (1, 2))
    statements = recorded(monkeypatch)
    orders = {"NEWEST": "created_at", "MOST_VOTED": "vote_count", "RECENTLY_UPDATED": "updated_at"}
    for order, expected in (
        ("NEWEST", [here[2], here[1]]),
        ("MOST_VOTED", [here[0], here[2]]),
        ("RECENTLY_UPDATED", [here[2], here[1]]),
    ):
        statements.clear()
        page = (await ok(client, FEED, {"n": 2, "o": order, "f": {"regionId": kelurahan}}))["reports"]
        assert [e["node"]["id"] for e in page["edges"]] == [r["id"] for r in expected], order
        assert page["pageInfo"]["hasNextPage"] and page["totalCount"] == 3
        column = orders[order]
        assert any(f"kelurahan_id = $2 ORDER BY {column} DESC" in s for s in statements), statements
        if order == "NEWEST":
            continue  # (kelurahan_id, created_at), since 0001: ties on the creation time sorted by id
        text = await plan_of(
            f"SELECT * FROM report WHERE status <> 'REJECTED' AND kelurahan_id = {int(kelurahan)}"
            f" ORDER BY {column} DESC, id DESC LIMIT 3"
        )
        index = await fetch(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'report'"
            f" AND indexdef LIKE '%(kelurahan_id, {column}, id)'"
        )
        assert index and index[0]["indexname"] in text and "Sort" not in text, text


async def test_a_kelurahan_and_a_category_by_creation_test_the_category_in_the_kelurahans_index(
    app, client, monkeypatch
):
    """A kelurahan's reports lie on pages of their own (1 in 267 of the city's): a kelurahan
    and a category, NEWEST first 100, read 4,570 heap pages of its window to find the
    category's (104-246 ms after a restart on a year). (kelurahan_id, created_at) carries id
    and every column the plain filters test (migration 0021): the window is read from the
    index alone, then the page's rows by id. Pages stay exact, page after page; by votes and
    by update too."""
    from tortoise import connections

    import domain.pagination as pagination
    from domain.report import WALK_COLUMNS
    from models.sql import fetch
    from tests.helpers import MONAS

    token, _ = await citizen(client)
    for i in range(4):
        await report(client, token, category="saluran", location=MONAS, description=f"Saluran mampet {i}")
        await report(client, token, location=MONAS, description=f"Sampah menumpuk {i}")
        await report(client, token, category="saluran", location={"lat": -6.2443, "lng": 106.8005},
                     description=f"Saluran jauh {i}")  # fmt: skip
    where = "{ reports(first: 1) { edges { node { kelurahan { id } } } } }"
    kelurahan = (await ok(client, where))["reports"]["edges"][0]["node"]["kelurahan"]["id"]
    saluran = int(category_id("saluran"))
    expected = await fetch(
        "SELECT id FROM report WHERE kelurahan_id = $1 AND category_id = $2 ORDER BY created_at DESC, id DESC",
        int(kelurahan), saluran,
    )  # fmt: skip
    assert len(expected) == 4
    monkeypatch.setattr(pagination, "WINDOWS", (3, 6))
    statements = recorded(monkeypatch)
    seen, after = [], None
    while True:
        variables = {"n": 3, "a": after, "f": {"regionId": kelurahan, "categoryIds": [saluran]}}
        page = (await ok(client, FEED, variables))["reports"]
        seen += [int(e["node"]["id"]) for e in page["edges"]]
        assert page["totalCount"] == 4
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == [r["id"] for r in expected]
    columns = ", ".join(dict.fromkeys(["id", "created_at", *WALK_COLUMNS]))
    walk = f"SELECT id FROM (SELECT {columns} FROM report WHERE"
    assert any(s.startswith("SELECT t.* FROM (") and walk in s for s in statements), statements
    async with connections.get("default").acquire_connection() as raw:
        await raw.execute("VACUUM (ANALYZE) report")  # the visibility map an index-only scan needs
    await read_alone(
        f"SELECT {columns} FROM report WHERE status <> 'REJECTED'"
        f" AND kelurahan_id = {int(kelurahan)} ORDER BY created_at DESC, id DESC LIMIT 5",
        "btree (kelurahan_id, created_at) INCLUDE (id, status, category_id",
        "Index Only Scan Backward",
    )

    # By votes or by update, the kelurahan's indexes (0012) hold rows on pages of their own: a
    # first window too small, then the kelurahan's and category's every match, from their
    # index alone ((kelurahan_id, category_id, status, created_at) carries id and both keys).
    monkeypatch.setattr(pagination, "SCATTERED_WINDOW", 1)
    for order, column in (("MOST_VOTED", "vote_count"), ("RECENTLY_UPDATED", "updated_at")):
        statements.clear()
        variables = {"n": 3, "o": order, "f": {"regionId": kelurahan, "categoryIds": [saluran]}}
        page = (await ok(client, FEED, variables))["reports"]
        want = await fetch(
            f"SELECT id FROM report WHERE kelurahan_id = $1 AND category_id = $2 ORDER BY {column} DESC, id DESC",
            int(kelurahan), saluran,
        )  # fmt: skip
        assert [int(e["node"]["id"]) for e in page["edges"]] == [r["id"] for r in want[:3]], order
        found = [s for s in statements if s.startswith("WITH m AS MATERIALIZED")]
        assert found and f"(SELECT id, {column} FROM report WHERE" in found[0], statements
        await read_alone(
            f"SELECT id, {column} FROM report WHERE status <> 'REJECTED' AND kelurahan_id = {int(kelurahan)}"
            f" AND category_id IN ({saluran})",
            "btree (kelurahan_id, category_id, status, created_at) INCLUDE (id, vote_count, updated_at)",
        )


PAGE = """query($f: ReportFilter, $n: Int, $a: String) {
  reports(filter: $f, orderBy: RECENTLY_UPDATED, first: $n, after: $a) {
    pageInfo { hasNextPage endCursor } edges { node { id } } } }"""


async def test_reports_created_before_a_date_by_last_update_merge_their_creation_spans(
    app, client, monkeypatch
):
    """Reports created before a date, by last update: the updated_at index walked from its top
    met only newer reports' updates (2.6M of 14.6M matched for a date 300 days back on a year,
    none among the 11.6M updated since: every page took the 2 s budget). Each 30-day creation
    span's own (span, updated_at, id) index (migration 0014) is read from its top and merged,
    page after page, in the order a plain sort gives; a date before every report reads
    nothing. The index carries the columns the filters test (migration 0021): each span is
    read from it alone, the page's rows by id after (it read a heap page per row walked to
    test the date: 277-344 ms after a restart on a year)."""
    from datetime import UTC, datetime, timedelta

    from tortoise import connections

    from domain.report import SPAN_SQL
    from models.sql import fetch

    token, _ = await citizen(client)
    now = datetime.now(UTC)
    # (created, updated) days ago: an old report updated lately, and spans with none before the date.
    ages = [(200, 1), (190, 150), (120, 119), (95, 3), (70, 60), (40, 39), (10, 2), (5, 5)]
    ids = []
    for created, updated in ages:
        rid = int((await report(client, token, description=f"Dibuat {created} hari lalu"))["id"])
        await fetch(
            "UPDATE report SET created_at = $1, updated_at = $2 WHERE id = $3",
            now - timedelta(days=created),
            now - timedelta(days=updated),
            rid,
        )
        ids.append(rid)
    before = now - timedelta(days=30)
    expected = [str(i) for (c, u), i in sorted(zip(ages, ids, strict=True), key=lambda a: a[0][1]) if c > 30]
    statements = recorded(monkeypatch)
    seen, after = [], None
    while True:
        variables = {"f": {"createdBefore": before.isoformat()}, "n": 2, "a": after}
        page = (await ok(client, PAGE, variables))["reports"]
        seen += [e["node"]["id"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == expected
    merged = [s for s in statements if " UNION ALL " in s]
    assert len(merged) == len(statements) >= 3 and all(SPAN_SQL in s for s in merged), statements
    async with connections.get("default").acquire_connection() as raw:
        await raw.execute("VACUUM (ANALYZE) report")  # the visibility map an index-only scan needs
    plan = await plan_of(merged[0], "REJECTED", before)
    index = await fetch("SELECT indexdef FROM pg_indexes WHERE indexname = 'idx_report_span_walk'")
    assert "Merge Append" in plan and "Index Only Scan Backward using idx_report_span_walk" in plan, plan
    assert index and "INCLUDE (status, category_id" in index[0]["indexdef"], index

    statements.clear()
    none = {"f": {"createdBefore": (now - timedelta(days=400)).isoformat()}, "n": 2}
    assert (await ok(client, PAGE, none))["reports"]["edges"] == []
    assert all("1 = 0" in s for s in statements) and statements, statements


async def test_a_filtered_page_by_votes_or_by_update_tests_its_filters_in_the_orders_index(
    app, client, monkeypatch
):
    """Those orders are uncorrelated with the table: a page walking their index for rows that
    match a category and a bbox read a heap page per row walked (a kelurahan and a category
    by MOST_VOTED: 29,879 pages from disk after a restart, 2.3 s on a year). The index carries
    every column the plain filters test (migration 0016, domain.report.WALK_COLUMNS): the walk
    is an index-only scan, then the page's own rows are read by id. Pages stay exact."""
    from tortoise import connections

    import domain.pagination as pagination
    from domain.report import WALK_COLUMNS
    from models.sql import fetch
    from tests.helpers import MONAS

    token, _ = await citizen(client)
    voter, _ = await citizen(client)
    far = {"lat": -6.2443, "lng": 106.8005}
    mine = []
    for i in range(4):
        mine.append(await report(client, token, category="saluran", description=f"Saluran mampet {i}"))
        await report(client, token, description=f"Sampah menumpuk {i}")  # another category
        await report(client, token, category="saluran", location=far, description=f"Saluran jauh {i}")
    await ok(client, "mutation($id: ID!) { vote(reportId: $id) { voteCount } }", {"id": mine[1]["id"]}, voter)
    monkeypatch.setattr(pagination, "WINDOWS", (3, 6))
    statements = recorded(monkeypatch)
    d = 0.01
    box = {"south": MONAS["lat"] - d, "west": MONAS["lng"] - d, "north": MONAS["lat"] + d, "east": MONAS["lng"] + d}
    saluran = int(category_id("saluran"))
    for order, column in (("MOST_VOTED", "vote_count"), ("RECENTLY_UPDATED", "updated_at")):
        statements.clear()
        page = (await ok(client, FEED, {"n": 3, "o": order, "f": {"categoryIds": [saluran], "bbox": box}}))[
            "reports"
        ]
        expected = await fetch(
            f"SELECT id FROM report WHERE category_id = $1 AND lat BETWEEN $2 AND $3 AND lng BETWEEN $4 AND $5"
            f" ORDER BY {column} DESC, id DESC LIMIT 3",
            saluran, box["south"], box["north"], box["west"], box["east"],
        )  # fmt: skip
        assert [e["node"]["id"] for e in page["edges"]] == [str(r["id"]) for r in expected], order
        assert page["pageInfo"]["hasNextPage"] and page["totalCount"] == 4
        walk = f"SELECT id FROM (SELECT id, {column}, {', '.join(WALK_COLUMNS)} FROM report WHERE"
        assert any(s.startswith("SELECT t.* FROM (") and walk in s for s in statements), statements
    async with connections.get("default").acquire_connection() as raw:
        await raw.execute("VACUUM (ANALYZE) report")  # the visibility map an index-only scan needs
    for column in ("vote_count", "updated_at"):
        text = await plan_of(
            f"SELECT id FROM (SELECT id, {column}, {', '.join(WALK_COLUMNS)} FROM report"
            f" WHERE status <> 'REJECTED' ORDER BY {column} DESC, id DESC LIMIT 5) AS w"
            f" WHERE category_id = {saluran} AND lat >= -6.2 AND assignee_id IS NULL AND author_id > 0"
            " AND NOT anonymous AND due_at IS NOT NULL AND created_at IS NOT NULL AND kota_id > 0"
            f" ORDER BY {column} DESC, id DESC LIMIT 3",
            off=("seqscan", "bitmapscan", "sort"),
        )
        index = await fetch(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'report'"
            f" AND indexdef LIKE '%btree ({column}, id) INCLUDE%'"
        )
        assert index and f"Index Only Scan Backward using {index[0]['indexname']}" in text, text


async def test_an_authors_an_assignees_and_a_boxs_capped_counts_read_their_index_alone(
    app, client, monkeypatch
):
    """The capped counts the app runs (not a hand-written copy) for an author's reports, an
    assignee's and a bbox's: index-only scans of (author_id, created_at) and (assignee_id,
    created_at) (migration 0013; the count orders by created_at alone, a tie broken by id
    would need the table's id) and of the box's latitude cells and longitude (migrations 0016
    and 0017): a heap page per report counted before, 400-700 ms from disk after a restart on
    a year."""
    from tortoise import connections

    from models import Report
    from models.sql import fetch
    from tests.helpers import MONAS, staff

    token, me = await citizen(client)
    for i in range(3):
        await report(client, token, description=f"Sampah menumpuk nomor {i}")
    ran = recorded_with_args(monkeypatch)
    _, officer = await staff(client, "OFFICER", region_code="31.71")
    columns = [c for c in Report._meta.db_fields if c != "id"]
    copied = {
        "lat": "lat + 1",
        "author_id": str(int(officer)),
        "assignee_id": "NULL",
        "client_request_id": "client_request_id || '-' || generate_series",
    }
    async with connections.get("default").acquire_connection() as raw:
        await raw.execute("UPDATE report SET assignee_id = $1", int(officer))
        # Others' reports far away: reading every entry of another index costs more than the
        # box's own (on a test's three rows the planner could take either).
        await raw.execute(
            f"INSERT INTO report ({', '.join(columns)})"
            f" SELECT {', '.join(copied.get(c, c) for c in columns)} FROM report, generate_series(1, 100)"
        )
        await raw.execute("VACUUM (ANALYZE) report")  # the visibility map an index-only scan needs
    d = 0.01
    box = {"south": MONAS["lat"] - d, "west": MONAS["lng"] - d, "north": MONAS["lat"] + d, "east": MONAS["lng"] + d}
    for f, key in (
        ({"authorId": me}, "author_id, created_at"),
        ({"assigneeId": officer}, "assignee_id, created_at"),
        ({"bbox": box}, "floor((lat * (100)::double precision)), lng"),
    ):
        ran.clear()
        page = (await ok(client, FEED, {"n": 1, "f": f}))["reports"]
        assert page["totalCount"] == 3, f
        counts = [(sql, args) for sql, args in ran if sql.startswith("SELECT COUNT(*) AS n FROM (SELECT 1")]
        assert len(counts) == 1, ran
        text = await plan_of(counts[0][0], *counts[0][1], off=("seqscan", "bitmapscan"))
        index = await fetch(f"SELECT indexname FROM pg_indexes WHERE indexdef LIKE '%report USING btree ({key})%'")
        assert index and f"using {index[0]['indexname']} on report" in text, (f, text)
        assert "Index Only Scan" in text and "Sort" not in text, (f, text)


async def test_every_column_a_plain_filter_tests_is_in_the_walked_indexes(app, client) -> None:
    """A walk that tests its filters in the order's index selects WALK_COLUMNS only: a filter
    on any other column of report would fail there. Every filter but the words, for a
    signed-in viewer (whose visibility names the author), references those columns alone."""
    import re

    from domain.auth import Viewer
    from domain.catalog import catalog
    from domain.report import WALK_COLUMNS, ReportQuery, split_conditions
    from models import Report
    from models.enums import ReportStatus, Role
    from tests.helpers import MONAS

    kelurahan = next(r for r in catalog().regions.values() if r.level.value == "KELURAHAN")
    query = ReportQuery(
        status=[ReportStatus.SUBMITTED], category_ids=[1], region_id=kelurahan.id, agency_id=1, author_id=2,
        assignee_id=3, bbox=(-6.2, 106.8, -6.1, 106.9), near=(MONAS["lat"], MONAS["lng"], 300.0),
        created_after=datetime(2026, 1, 1, tzinfo=UTC), created_before=datetime(2026, 2, 1, tzinfo=UTC),
        overdue=True,
    )  # fmt: skip
    columns = set(Report._meta.db_fields)
    for order_column in ("vote_count", "updated_at"):
        split = split_conditions(Viewer(id=5, role=Role.CITIZEN), query, datetime.now(UTC), [], order_column)
        assert not split.text
        used = {w for c in split.plain for w in re.findall(r"[a-z_]+", c) if w in columns}
        assert used and used <= set(WALK_COLUMNS), used - set(WALK_COLUMNS)


async def test_a_circles_page_sorts_its_matches_from_the_lat_lng_index(app, client, monkeypatch):
    """A circle matches few rows, so its page sorts every match; it read each match's heap page
    for the order's key (a 300 m circle on a year: 8,562 pages, 532-600 ms after a restart).
    The matches are now ids and keys only, which the box's index carries (migration
    0017): an index-only scan of the circle's latitude cells, each read over the circle's
    longitudes only, then the page's rows by id. Pages, cursors and totals stay exact, for
    every order and for a signed-in viewer (whose visibility names the author)."""
    import re

    from tortoise import connections

    import domain.pagination as pagination
    from models.sql import fetch
    from tests.helpers import MONAS

    token, _ = await citizen(client)
    voter, _ = await citizen(client)
    near = {"lat": MONAS["lat"] + 0.001, "lng": MONAS["lng"]}
    made = [await report(client, token, location=near, description=f"Jalan berlubang {i}") for i in range(5)]
    await report(client, token, location={"lat": -6.2443, "lng": 106.8005}, description="Jalan jauh")
    await ok(client, "mutation($id: ID!) { vote(reportId: $id) { voteCount } }", {"id": made[2]["id"]}, voter)
    async with connections.get("default").acquire_connection() as raw:
        await raw.execute("VACUUM (ANALYZE) report")  # the visibility map an index-only scan needs
    monkeypatch.setattr(pagination, "WINDOWS", (1, 2))  # the window cannot fill a page
    ran = recorded_with_args(monkeypatch)
    circle = {"near": {"lat": MONAS["lat"], "lng": MONAS["lng"], "radiusMeters": 300}}
    index = await fetch("SELECT indexname FROM pg_indexes WHERE indexdef LIKE '%btree (floor((lat %, lng)%'")
    orders = {"NEWEST": "created_at", "MOST_VOTED": "vote_count", "RECENTLY_UPDATED": "updated_at"}
    for order, column in orders.items():
        rows = await fetch(f"SELECT id FROM report WHERE lat > -6.2 ORDER BY {column} DESC, id DESC")
        expected = [str(r["id"]) for r in rows]
        seen, after = [], None
        thin = f"WITH m AS MATERIALIZED (SELECT id, {column} FROM report WHERE"
        for viewer in (None, token, None):
            ran.clear()
            page = (await ok(client, FEED, {"n": 2, "o": order, "f": circle, "a": after}, viewer))["reports"]
            seen += [e["node"]["id"] for e in page["edges"]]
            after = page["pageInfo"]["endCursor"]
            assert any(sql.startswith(thin) for sql, _ in ran), ran
        assert seen == expected and page["totalCount"] == 5 and not page["pageInfo"]["hasNextPage"], order
        sql, args = next((sql, args) for sql, args in ran if sql.startswith(thin))
        text = await plan_of(sql, *args, off=("seqscan", "bitmapscan"))
        assert index and f"Index Only Scan using {index[0]['indexname']}" in text, text
        assert re.search(r"Index Cond: .*floor\(\(lat .* AND \(lng >= ", text), text


async def test_scattered_windows_start_small_and_a_rare_words_matches_are_read_by_their_keys(
    app, client, monkeypatch
):
    """A kelurahan's index by votes or update, and those orders with words (the walk cannot stay
    in the index), hold rows on pages of their own: a window is a heap page per row from disk
    after a restart (5,000 rows, 5,226 pages for a kelurahan with no SUBMITTED report of a
    category). Their first window is SCATTERED_WINDOW rows; a word whose matches are fewer
    than the rows a walk would pass to meet the page's is read by its keys along the order
    (migration 0020: every key of a rare word, instead of the walk; 'kwitang' by MOST_VOTED
    walked 47,419 rows for its 100: 2 s from disk); a common word is walked. Pages and totals
    stay exact."""
    import re

    import domain.pagination as pagination
    from models.sql import fetch

    token, _ = await citizen(client)
    voter, _ = await citizen(client)
    made = [await report(client, token, category="saluran", description=f"Jalan rusak nomor {i}") for i in range(6)]
    rare = [
        await report(client, token, category="saluran", description=f"Jalan rusak dekat kwitang {i}") for i in range(2)
    ]
    await ok(client, "mutation($id: ID!) { vote(reportId: $id) { voteCount } }", {"id": rare[0]["id"]}, voter)
    where = "query($id: ID!) { report(id: $id) { kelurahan { id } } }"
    kelurahan = (await ok(client, where, {"id": made[0]["id"]}))["report"]["kelurahan"]["id"]
    monkeypatch.setattr(pagination, "WINDOWS", (4, 8))
    monkeypatch.setattr(pagination, "SCATTERED_WINDOW", 2)
    monkeypatch.setattr(pagination, "MONTH_MATCHES", 0)  # the common word: walked, not by months
    statements = recorded(monkeypatch)
    windows = re.compile(r"ORDER BY \w+ DESC, id DESC LIMIT (\d+)\) AS w")

    kelurahan_and_category = {"regionId": kelurahan, "categoryIds": [category_id("saluran")]}
    page = (await ok(client, FEED, {"n": 3, "f": kelurahan_and_category}))["reports"]
    assert [e["node"]["id"] for e in page["edges"]] == [r["id"] for r in rare[::-1]] + [made[5]["id"]]
    # By creation a kelurahan's index carries the filters' columns (migration 0021): its full
    # first window, read from the index alone.
    assert [windows.findall(s) for s in statements if windows.search(s)] == [["4"]], statements

    for order, column in (("MOST_VOTED", "vote_count"), ("RECENTLY_UPDATED", "updated_at")):
        expected = await fetch(
            f"SELECT id FROM report WHERE description LIKE '%kwitang%' ORDER BY {column} DESC, id DESC"
        )
        statements.clear()
        page = (await ok(client, FEED, {"n": 3, "o": order, "f": {"search": "kwitang"}}))["reports"]
        assert [e["node"]["id"] for e in page["edges"]] == [str(r["id"]) for r in expected], order
        assert page["totalCount"] == 2 and not page["pageInfo"]["hasNextPage"]
        assert [w for s in statements for w in windows.findall(s)] == ["2"], statements
        whole = f"WITH m AS MATERIALIZED (SELECT id, {column} FROM report WHERE"
        assert any(s.startswith(whole) and "report_word_ranks(" in s for s in statements), statements

        statements.clear()
        page = (await ok(client, FEED, {"n": 3, "o": order, "f": {"search": "jalan"}}))["reports"]
        assert len(page["edges"]) == 3 and page["pageInfo"]["hasNextPage"] and page["totalCount"] == 8
        assert [w for s in statements for w in windows.findall(s)] == ["2", "4"], statements
        assert not any(s.startswith(whole) for s in statements), statements


async def test_a_searchs_count_starts_beside_its_page_when_asked(app, client, monkeypatch):
    """A medium word's page walks a wide window (45 ms on a year) and its capped count reads
    the word's matches (29-53 ms): one after the other they passed 100 ms (session 16). When
    totalCount is asked and the client has a search slot free, the count starts, in that slot,
    as the page walks past its first window: here the wider window waits until the count has
    begun, which it could not if they ran in turn. Without a free slot the count runs after
    the page; without totalCount asked, it does not run."""
    import asyncio

    import domain.pagination as pagination

    token, _ = await citizen(client)
    for i in range(6):
        await report(client, token, description=f"Jalan rusak nomor {i} dekat sekolah")
    await report(client, token, description="Lampu taman mati")  # the newest: another matter
    monkeypatch.setattr(pagination, "WINDOWS", (1, 8))
    monkeypatch.setattr(pagination, "MONTH_MATCHES", 0)  # the wider window, not a month's matches
    gate, key = app.state.read_gate, "ip:127.0.0.1"
    counting = asyncio.Event()
    order: list[str] = []
    held: list[int] = []
    real = pagination.fetch

    async def watched(sql: str, *args: Any, conn: Any = None) -> Any:
        if "COUNT(*) AS n FROM" in sql:  # a count's statement (not the sample's)
            order.append("count")
            held.append(gate.running(key))
            counting.set()
        if "LIMIT 8)" in sql:
            order.append("window")
            if gate.per_client > 1:  # a slot was free for the count: the page waits for it to begin
                await asyncio.wait_for(counting.wait(), 5)
        return await real(sql, *args, conn=conn)

    monkeypatch.setattr(pagination, "fetch", watched)
    before, gate.per_client = gate.per_client, 2
    try:
        page = (await ok(client, FEED, {"n": 2, "f": {"search": "jalan"}}))["reports"]
        assert (page["totalCount"], page["totalCountCapped"], len(page["edges"])) == (6, False, 2)
        assert order[0] == "window" and "count" in order and held[0] == 2, (order, held)  # page + count
        assert gate.running(key) == 0
        gate.per_client = 1  # the page holds the only slot: the count waits for the field
        order.clear()
        page = (await ok(client, FEED, {"n": 3, "f": {"search": "jalan"}}))["reports"]
        assert (page["totalCount"], len(page["edges"])) == (6, 3)
        assert order == ["window", "count"] and gate.running(key) == 0, order
        order.clear()
        edges_only = "query($f: ReportFilter) { reports(first: 4, filter: $f) { edges { node { id } } } }"
        assert len((await ok(client, edges_only, {"f": {"search": "jalan"}}))["reports"]["edges"]) == 4
        assert order == ["window"], order
        # Asked through a conditional fragment (which the regular executor answers: graphql-core's
        # selection, not the fast path's), the count starts beside the page as well.
        gate.per_client, order[:], held[:] = 2, [], []
        fragment = """query($f: ReportFilter) { reports(first: 5, filter: $f) { ...Total @include(if: true)
          edges { node { id } } } } fragment Total on ReportConnection { totalCount }"""
        assert (await ok(client, fragment, {"f": {"search": "jalan"}}))["reports"]["totalCount"] == 6
        assert order[0] == "window" and held == [2], (order, held)
        # totalCount left out by @include/@skip (fast path and regular): no count at all.
        conditional = """query($f: ReportFilter, $t: Boolean!) { reports(first: 2, filter: $f) {
          edges { node { id } } totalCount @include(if: $t) totalCountCapped @skip(if: true) } }"""
        fragment_out = """query($f: ReportFilter) { reports(first: 2, filter: $f) { edges { node { id } }
          ...Total @include(if: false) } } fragment Total on ReportConnection { totalCount }"""
        for query, word in ((conditional, "rusak"), (fragment_out, "sekolah")):
            order.clear()
            answer = (await ok(client, query, {"f": {"search": word}, "t": False}))["reports"]
            assert list(answer) == ["edges"] and order == ["window"], (answer, order)
    finally:
        gate.per_client = before


async def test_a_words_matches_are_read_month_by_month_from_the_newest(app, client, monkeypatch):
    """Along the creation order, a word whose matches the page cannot meet in its windows reads
    them by migration 0019's keys, a month at a time from the newest (then 2, 4, ... months),
    not every match of the years kept; its count too, until past the cap."""
    import domain.pagination as pagination
    from models.sql import execute

    token, _ = await citizen(client)
    ids = []
    for i in range(4):
        ids.append(int((await report(client, token, description=f"Banjir di Kwitang nomor {i}"))["id"]))
    for i in range(3):
        await report(client, token, description=f"Lampu taman mati nomor {i}")
    # The two oldest 'kwitang' reports: three months back.
    await execute("UPDATE report SET created_at = created_at - interval '92 days' WHERE id = ANY($1)", ids[:2])
    monkeypatch.setattr(pagination, "WINDOWS", (1, 2))
    statements = recorded(monkeypatch)
    monthly = "report_word_months(words, created_at) &&"
    page = (await ok(client, FEED, {"n": 1, "f": {"search": "kwitang"}}))["reports"]
    assert [e["node"]["description"] for e in page["edges"]] == ["Banjir di Kwitang nomor 3"]
    assert (page["totalCount"], page["pageInfo"]["hasNextPage"]) == (4, True)
    by_month = [s for s in statements if monthly in s]
    reads = [s for s in by_month if "ORDER BY created_at DESC" in s]
    counts = [s for s in by_month if "COUNT(*) AS n FROM" in s]
    assert len(reads) == 1, statements  # the newest month held the page
    assert len(counts) == 3, statements  # 1, 2 and 4 months: every month, 4 matches
    assert not any("WITH m AS MATERIALIZED" in s and "words @@" in s for s in statements), statements
    statements.clear()  # three of them: the newest month's two, then past a month without any
    page = (await ok(client, FEED, {"n": 3, "f": {"search": "kwitang"}}))["reports"]
    assert [e["node"]["description"][-1] for e in page["edges"]] == ["3", "2", "1"]
    assert len([s for s in statements if monthly in s and "ORDER BY created_at DESC" in s]) == 3
    after = page["pageInfo"]["endCursor"]  # from the cursor's month on: the last, alone
    statements.clear()
    rest = (await ok(client, FEED, {"n": 3, "a": after, "f": {"search": "kwitang"}}))["reports"]
    assert [e["node"]["description"][-1] for e in rest["edges"]] == ["0"]
    assert len([s for s in statements if monthly in s and "ORDER BY created_at DESC" in s]) == 1
    oldest = (await ok(client, FEED, {"n": 1, "o": "OLDEST", "f": {"search": "kwitang"}}))["reports"]
    assert [e["node"]["description"][-1] for e in oldest["edges"]] == ["0"]


async def test_a_words_first_by_votes_or_by_update_are_read_by_their_keys(app, client, monkeypatch):
    """By MOST_VOTED or RECENTLY_UPDATED, a word whose matches the page cannot meet along the
    order reads them by migration 0020's keys: the most voted bucket first (0, 1, 2-3, 4-7,
    ... votes), one at a time; the month of the last update from the newest (then 2, 4, ...
    months); from the cursor's key on for a later page; not every match of the years kept."""
    import domain.pagination as pagination
    from models.sql import execute

    token, _ = await citizen(client)
    ids = []
    for i in range(4):
        ids.append(int((await report(client, token, description=f"Banjir di Kwitang nomor {i}"))["id"]))
    others = [int((await report(client, token, description=f"Lampu taman mati {i}"))["id"]) for i in range(3)]
    # The most voted report is not a match (bucket 5: 16-31 votes); 'kwitang''s two voted
    # ones share bucket 4 (8-15).
    votes = {others[0]: 30, ids[0]: 9, ids[1]: 8}
    for report_id, n in votes.items():
        await execute("UPDATE report SET vote_count = $2 WHERE id = $1", report_id, n)
    monkeypatch.setattr(pagination, "WINDOWS", (1, 2))
    monkeypatch.setattr(pagination, "SCATTERED_WINDOW", 1)
    statements = recorded(monkeypatch)
    keyed = "report_word_ranks(words, updated_at, vote_count) &&"

    async def page(n: int, order: str, after: str | None = None) -> tuple[list[str], str, list[str]]:
        statements.clear()
        got = (await ok(client, FEED, {"n": n, "o": order, "a": after, "f": {"search": "kwitang"}}))["reports"]
        assert got["totalCount"] == 4, got
        reads = [s for s in statements if keyed in s and "WITH m AS MATERIALIZED" in s]
        assert not any("words @@" in s and "WITH m AS MATERIALIZED" in s for s in statements), statements
        return [e["node"]["description"][-1] for e in got["edges"]], got["pageInfo"]["endCursor"], reads

    top, _, reads = await page(1, "MOST_VOTED")
    assert (top, len(reads)) == (["0"], 2), reads  # buckets 5 and 4 held the page (and the next)
    top, after, reads = await page(3, "MOST_VOTED")
    # Buckets 5 to 1, then 0 (no vote: the newest first), one statement each.
    assert (top, len(reads)) == (["0", "1", "3"], 6), reads
    rest, _, reads = await page(3, "MOST_VOTED", after)
    assert (rest, len(reads)) == (["2"], 1), reads  # the cursor's bucket on: 0 alone

    # The two oldest 'kwitang' reports: three months back; the oldest then updated last.
    await execute(
        "UPDATE report SET created_at = created_at - interval '92 days', updated_at = updated_at - interval"
        " '92 days' WHERE id = ANY($1)",
        ids[:2],
    )
    await execute("UPDATE report SET updated_at = now() + interval '1 minute' WHERE id = $1", ids[0])
    top, _, reads = await page(1, "RECENTLY_UPDATED")
    assert (top, len(reads)) == (["0"], 1), reads
    top, after, reads = await page(4, "RECENTLY_UPDATED")
    assert (top, len(reads)) == (["0", "3", "2", "1"], 3), reads  # 1, 2 then 4 months
    rest, _, reads = await page(3, "RECENTLY_UPDATED", after)
    assert (rest, len(reads)) == ([], 1), reads  # the cursor's month (and before it): one step


async def test_a_page_read_by_keys_sees_one_moment_while_votes_and_updates_move(app, client, monkeypatch):
    """The keys along the vote and update orders change: a vote, a withdrawn vote or a comment
    between two of a page's steps moved a report into a bucket or month the page had read, or
    out of it into one still to come, and the page lost it or showed it twice, its total too (a
    review's reproduction). The steps see one moment: the page is the one before the change."""
    import domain.pagination as pagination
    from models.sql import execute

    token, _ = await citizen(client)
    monkeypatch.setattr(pagination, "WINDOWS", (1, 2))
    monkeypatch.setattr(pagination, "SCATTERED_WINDOW", 1)
    real = pagination.fetch
    change: list[str] = []

    async def fetch(sql: str, *args: Any, conn: Any = None) -> list[dict[str, Any]]:
        got = await real(sql, *args, conn=conn)
        if change and "report_word_ranks(" in sql and "WITH m AS MATERIALIZED" in sql:
            await execute(change.pop(), ids[0])
        return got

    monkeypatch.setattr(pagination, "fetch", fetch)
    # (votes, the change after the first step, the order, the page before it)
    cases = [
        ([8, 5, 0], "UPDATE report SET vote_count = vote_count - 1 WHERE id = $1", "MOST_VOTED", [0, 1, 2]),
        ([7, 8, 0], "UPDATE report SET vote_count = vote_count + 1 WHERE id = $1", "MOST_VOTED", [1, 0, 2]),
        ([0, 0, 0], "UPDATE report SET updated_at = now() + interval '1 minute' WHERE id = $1", "RECENTLY_UPDATED",
         [2, 1, 0]),
    ]  # fmt: skip
    ids: list[int] = []
    for tag, (votes, sql, order, before) in zip(("alfa", "bravo", "charlie"), cases, strict=True):
        ids.clear()
        for i, v in enumerate(votes):
            ids.append(int((await report(client, token, description=f"Kwitang {tag} banjir {i}"))["id"]))
            await execute("UPDATE report SET vote_count = $2 WHERE id = $1", ids[-1], v)
        if order == "RECENTLY_UPDATED":  # the first: last updated 40 days back, then now
            await execute("UPDATE report SET updated_at = updated_at - interval '40 days' WHERE id = $1", ids[0])
        change.append(sql)
        page = (await ok(client, FEED, {"n": 10, "o": order, "f": {"search": f"kwitang {tag}"}}))["reports"]
        assert not change, "the change ran between two steps"
        assert [int(e["node"]["id"]) for e in page["edges"]] == [ids[i] for i in before], (order, votes)
        assert page["totalCount"] == 3


async def test_a_prefix_left_to_the_full_text_index_keeps_the_search_off_the_month_keys(
    app, client, monkeypatch
):
    """A part with more lexemes under it than MAX_LEXEMES is asked of the full-text index as a
    prefix; the month keys cannot ask it, and the word as written alone matched it inside a word
    ('kwitang jal' found 'pejalan', a review): such a search is read without the month keys."""
    import domain.pagination as pagination
    import domain.report as report_module

    token, _ = await citizen(client)
    await report(client, token, description="Banjir di jalan raya")
    for i in range(3):
        await report(client, token, description=f"Lampu di trotoar pejalan kaki {i}")
    monkeypatch.setattr(pagination, "WINDOWS", (1, 2))
    monkeypatch.setattr(report_module, "MAX_LEXEMES", 0)  # 'jal': one lexeme, more than 0
    statements = recorded(monkeypatch)
    for order in ("NEWEST", "OLDEST", "RELEVANCE"):
        page = (await ok(client, FEED, {"n": 5, "o": order, "f": {"search": "di jal"}}))["reports"]
        assert [e["node"]["description"] for e in page["edges"]] == ["Banjir di jalan raya"], order
        assert page["totalCount"] == 1, order
    assert not any("report_word_months" in s for s in statements), statements


async def test_the_overdue_are_counted_from_an_index_of_their_own(app, client, monkeypatch, clock):
    """Migration 0022: the capped count of `overdue` reads the index of the reports with
    officers by due date alone; it had read the table from its start (2,500 heap pages on a
    year, 28-270 ms)."""
    from tortoise import connections

    token, _ = await citizen(client)
    moderator, _ = await staff(client, "MODERATOR")
    made = [await report(client, token, description=f"Sampah menumpuk di gang {i}") for i in range(3)]
    for created in made[:2]:
        await ok(client, "mutation($id: ID!) { verifyReport(id: $id) { id } }", {"id": created["id"]}, moderator)
    clock.advance(days=60)  # past every category's SLA
    ran = recorded_with_args(monkeypatch)
    page = (await ok(client, FEED, {"f": {"overdue": True}, "n": 1}))["reports"]
    assert (page["totalCount"], page["totalCountCapped"]) == (2, False)
    counts = [(sql, args) for sql, args in ran if sql.startswith("SELECT COUNT(*)") and "due_at <" in sql]
    assert len(counts) == 1, ran
    async with connections.get("default").acquire_connection() as raw:
        await raw.execute("VACUUM (ANALYZE) report")  # the visibility map an index-only scan needs
    sql, args = counts[0]
    text = await plan_of(sql, *args, off=("seqscan", "bitmapscan"))
    assert "Index Only Scan using idx_report_overdue" in text, text
