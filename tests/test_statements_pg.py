"""Statements whose speed or safety rests on how PostgreSQL plans or runs them (PostgreSQL
only): checked here, so an upgrade that changes it fails a test instead of a deployment."""

from __future__ import annotations

import contextlib
import json
import math
from datetime import UTC, datetime
from typing import Any
from unittest import mock

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tortoise import connections

import domain.report
from domain.report import (
    SPAN_SQL,
    ReportQuery,
    box_condition,
    creation_span,
    prefix_bound,
    search_reports,
    word_parts,
)
from domain.rollups import merged
from models.sql import arg
from subscriptions.log import _read_sql
from tests.helpers import citizen, ok, plan_of, report, staff
from tests.test_search import FEED


async def test_the_log_read_is_an_index_range_in_a_generic_plan(app) -> None:
    """asyncpg prepares each statement; after five runs PostgreSQL may plan it once for any
    arguments. `tx > $1 OR (tx = $1 AND id > $2)` then became an index walk from the log's
    start, filtered row by row: 44 ms per read at 110,000 events, growing with the log, and
    the hub reads the log after every commit (bench/README.md, ingest). A row comparison is
    a range of the (tx, id) index whatever the arguments."""
    conn = connections.get("default")
    async with conn.acquire_connection() as raw:
        await raw.execute(
            "INSERT INTO event (tx, kind, report_id, created_at)"
            " SELECT n / 3, 'CREATED', NULL, now() FROM generate_series(1, 30000) AS n"
        )
        await raw.execute("ANALYZE event")
        await raw.execute("SET plan_cache_mode = force_generic_plan")
        try:
            for bounded, types, values in (
                (False, "bigint, bigint, int", "9000, 1, 500"),
                (True, "bigint, bigint, bigint, bigint, int", "9000, 1, 9500, 1, 500"),
            ):
                await raw.execute(f"PREPARE log_read({types}) AS {_read_sql(bounded, conn)}")
                try:
                    plan = json.loads(
                        await raw.fetchval(f"EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE log_read({values})")
                    )
                finally:
                    await raw.execute("DEALLOCATE log_read")
                nodes, scans = [plan[0]["Plan"]], []
                while nodes:
                    node = nodes.pop()
                    nodes.extend(node.get("Plans", []))
                    if node.get("Relation Name") == "event":
                        scans.append(node)
                assert scans, plan
                for scan in scans:
                    assert "ROW(tx, id) > ROW($1, $2)" in scan.get("Index Cond", ""), scan
                    assert scan.get("Rows Removed by Filter", 0) == 0, scan
        finally:
            await raw.execute("RESET plan_cache_mode")


async def _prepared_runs(pool: Any) -> dict[tuple[int, str], int]:
    """How often each statement prepared on each of the pool's connections has run."""
    async with contextlib.AsyncExitStack() as stack:
        raws = [await stack.enter_async_context(pool.acquire()) for _ in range(pool.get_max_size())]
        return {
            (row["pid"], row["statement"]): row["runs"]
            for raw in raws
            for row in await raw.fetch(
                "SELECT pg_backend_pid() AS pid, statement, generic_plans + custom_plans AS runs"
                " FROM pg_prepared_statements"
            )
        }


async def test_a_count_of_plain_filters_is_planned_for_its_values_every_time(
    app, client, monkeypatch, clock
) -> None:
    """A statement from asyncpg's cache runs on a plan PostgreSQL may make once for no values
    (after five runs on a connection): a count of overdue reports then read 50,000 pages where
    a plan for its values reads 53 (its partial index, migration 0022, which a plan for no
    values cannot use). A capped count of plain filters is prepared for each run: it runs
    twice on no pooled connection, however many requests (one more than the pool has
    connections) count it."""
    import domain.pagination as pagination

    token, _ = await citizen(client)
    moderator, _ = await staff(client, "MODERATOR")
    for i in range(3):
        made = await report(client, token, description=f"Sampah menumpuk di gang {i}")
        await ok(client, "mutation($id: ID!) { verifyReport(id: $id) { id } }", {"id": made["id"]}, moderator)
    clock.advance(days=60)  # past every category's SLA
    monkeypatch.setattr(pagination, "WINDOWS", (2, 4))  # the page from a window, the count apart
    pool = connections.get("default")._pool
    assert pool is not None
    before = await _prepared_runs(pool)
    for i in range(pool.get_max_size() + 1):
        query = f"{FEED} # {i}"  # a new document each time: past the read cache
        page = (await ok(client, query, {"f": {"overdue": True}, "n": 1}))["reports"]
        assert (page["totalCount"], page["totalCountCapped"]) == (3, False)
    after = await _prepared_runs(pool)
    counts = [key for key in after if key[1].startswith("SELECT COUNT(*)") and "due_at <" in key[1]]
    assert all(after[key] - before.get(key, 0) <= 1 for key in counts), {k: after[k] for k in counts}


async def test_merged_statements_run_in_the_order_given(app) -> None:
    """domain.rollups.merged: the rollups' upserts take their rows' locks in one order in every
    statement (else two writers can deadlock), and the inserts a main query reads run first."""
    conn = connections.get("default")
    async with conn.acquire_connection() as raw:
        await raw.execute("CREATE TEMP TABLE merged_order (id serial, tag text)")
        try:
            steps = [f"INSERT INTO merged_order (tag) VALUES ('{tag}')" for tag in "abcd"]
            await raw.execute(merged(steps))
            first = "f AS (INSERT INTO merged_order (tag) VALUES ('first') RETURNING id)"
            await raw.execute(merged(steps[:2], "SELECT id FROM f", first))
            tags = await raw.fetchval("SELECT string_agg(tag, ',' ORDER BY id) FROM merged_order")
        finally:
            await raw.execute("DROP TABLE merged_order")
    assert tags == "a,b,c,d,first,a,b"


async def test_pooled_sessions_start_no_parallel_workers_nor_jit(app) -> None:
    """Every statement here is short and bounded. A search's blind (generic) plan, which
    PostgreSQL may use for a statement prepared five times, got two parallel workers and JIT
    compilation: 30-70 ms to find no row that the plain plan finds in 0.2 ms; a ranking's two
    workers took 19 of its 21 ms (bench/README.md). Every pooled session has both off, and
    the service's `work_mem` (a medium word's bitmap exact, not lossy) and
    `effective_io_concurrency` (a bitmap's pages asked of the disk ahead), in a snapshot, under a
    read budget or not, and after RESET ALL (startup parameters are what it resets to)."""
    from domain.pagination import ReadBudget
    from models.sql import budgeted, fetch, snapshot

    show = (
        "SELECT current_setting('jit') AS jit, current_setting('max_parallel_workers_per_gather') AS workers,"
        " current_setting('work_mem') AS memory, current_setting('effective_io_concurrency') AS ahead"
    )
    off = {"jit": "off", "workers": "0", "memory": "16MB", "ahead": "64"}
    async with snapshot() as conn:
        assert (await fetch(show, conn=conn))[0] == off
    async with budgeted(ReadBudget()) as conn:
        assert (await fetch(show, conn=conn))[0] == off
    assert (await fetch(show))[0] == off
    async with connections.get("default").acquire_connection() as raw:
        await raw.execute("SET jit = on; SET work_mem = '1MB'; RESET ALL")
        assert {k: v for k, v in (await raw.fetchrow(show)).items() if k != "ahead"} == {
            k: v for k, v in off.items() if k != "ahead"
        }  # effective_io_concurrency is set after connecting: tests/test_pool_pg.py


async def test_a_setting_the_server_refuses_keeps_its_own_and_the_pool_serves(app) -> None:
    """`effective_io_concurrency` is refused, any value but 0, by a PostgreSQL that cannot ask
    the kernel to read ahead (macOS, Windows); as a startup parameter it would refuse every
    connection. Set after connecting, a refused value (here one out of range, refused the
    same way) leaves the session's, and the other settings stand."""
    from models.pool import set_optional

    pool = connections.get("default")
    async with pool.acquire_connection() as raw:
        before = await raw.fetchval("SHOW effective_io_concurrency")
        await set_optional(raw, {"effective_io_concurrency": "100000", "work_mem": "2MB"})
        assert await raw.fetchval("SHOW effective_io_concurrency") == before
        assert await raw.fetchval("SHOW work_mem") == "2MB"
        with pytest.raises(asyncpg.InvalidParameterValueError):
            await raw.execute("SET effective_io_concurrency = 100000")
        await raw.execute("RESET ALL")


# Report text as citizens type it: ASCII letters, digits, punctuation and spaces, and some
# letters beyond ASCII.
_TEXT = st.text(
    alphabet=st.sampled_from(" \t\n.,-_/:;!?'\"()@#%&*+=<>[]{}|\\~`^$0123456789abzXYZéñÜ"), max_size=60
)


class _RolledBack(Exception):
    """Raised to leave a transaction without keeping what it wrote."""


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(description=_TEXT, address=_TEXT)
async def test_a_search_word_is_cut_as_the_stored_words_are(client, description: str, address: str) -> None:
    """domain.report.word_parts (the search's Python form) cuts a text into the very lexemes
    of the stored `words` column (migration 0011's SQL form), so every part of a report's
    text, searched, finds the report through the index."""
    conn = connections.get("default")
    async with conn.acquire_connection() as raw:
        if await raw.fetchval("SELECT min(id) FROM report") is None:
            await report(client, (await citizen(client))[0])
        report_id = await raw.fetchval("SELECT min(id) FROM report")
    expected = set(word_parts(description)) | set(word_parts(address))
    async with conn.acquire_connection() as raw:
        try:
            async with raw.transaction():
                lexemes = await raw.fetchval(
                    "UPDATE report SET description = $1, address = $2 WHERE id = $3"
                    " RETURNING ARRAY(SELECT lexeme FROM unnest(words))",
                    description,
                    address,
                    report_id,
                )
                assert set(lexemes) == expected
                for part in expected:
                    query = f"'{part}':*"
                    found = await raw.fetchval(
                        "SELECT count(*) FROM report WHERE words @@ CAST($1 AS tsquery)", query
                    )
                    assert found >= 1, part
                raise _RolledBack
        except _RolledBack:
            pass


async def test_an_authors_or_assignees_count_reads_their_index_alone(app) -> None:
    """Migration 0013: the (author_id, created_at) and (assignee_id, created_at) indexes carry
    the status (and for authors the anonymous flag), so the capped count of a busy author's
    or assignee's visible reports is an index-only scan (a heap page per report before: a
    signed-in citizen's own reports 137-284 ms on a year, now 6-9). Both ways of the
    migration keep the indexes' names and keys, which Tortoise's migration state knows."""
    import importlib
    from types import SimpleNamespace

    from tortoise.transactions import in_transaction

    from models.sql import fetch

    covering = importlib.import_module("models.migrations.0013_author_assignee_covering")
    listed = (
        "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'report'"
        " AND (indexdef LIKE '%btree (author_id, created_at)%' OR indexdef LIKE '%btree (assignee_id, created_at)%')"
        " ORDER BY indexname"
    )
    before = await fetch(listed)
    assert [r["indexdef"].split(" USING ")[1] for r in before] == [
        "btree (assignee_id, created_at) INCLUDE (status)",
        "btree (author_id, created_at) INCLUDE (status, anonymous)",
    ]
    for column, visible in (
        ("author_id", "status <> 'REJECTED' AND anonymous = false"),
        ("assignee_id", "status <> 'REJECTED'"),
    ):
        text = await plan_of(
            f"SELECT COUNT(*) FROM (SELECT 1 FROM report WHERE {visible} AND {column} = 1"
            " ORDER BY created_at DESC LIMIT 10001) AS c",
            off=("seqscan", "bitmapscan"),
        )
        assert "Index Only Scan" in text, text
    async with in_transaction() as conn:
        await covering.backward(None, SimpleNamespace(client=conn))
    try:
        plain = [r["indexdef"].split(" USING ")[1] for r in await fetch(listed)]
        assert plain == ["btree (assignee_id, created_at)", "btree (author_id, created_at)"]
    finally:
        async with in_transaction() as conn:
            await covering.forward(None, SimpleNamespace(client=conn))
    assert [(r["indexname"], r["indexdef"]) for r in await fetch(listed)] == [
        (r["indexname"], r["indexdef"]) for r in before
    ]


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(at=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)))
async def test_a_creation_span_is_the_same_in_python_and_in_sql(app, at: datetime) -> None:
    """domain.report.creation_span (which spans a page reads) and SPAN_SQL (what migration
    0014's index holds, as a page asks it) place every creation time in the same span."""
    from models.sql import fetch

    rows = await fetch(f"SELECT {SPAN_SQL} AS k FROM (SELECT CAST($1 AS timestamptz) AS created_at) AS r", at)
    assert rows[0]["k"] == creation_span(at)


# Latitudes around Jakarta, often exactly on a cell's edge or one step beside it.
_EDGE = st.integers(-700, -500).map(lambda c: c / 100)
_LAT = st.one_of(
    st.floats(-7.0, -5.0),
    _EDGE,
    _EDGE.map(lambda x: math.nextafter(x, -math.inf)),
    _EDGE.map(lambda x: math.nextafter(x, math.inf)),
)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(lat=_LAT, edges=st.tuples(_LAT, _LAT), inside=st.booleans())
async def test_a_boxs_latitude_cells_hold_every_latitude_inside_it(app, lat, edges, inside) -> None:
    """domain.report.box_condition names the box's latitude cells (Python's floor) for
    migration 0017's index (PostgreSQL's floor(lat * 100)): a point is in the box by that
    condition exactly when its latitude lies between the box's, on every edge."""
    from models.sql import fetch

    south, north = sorted((lat, edges[0]) if inside else edges)
    args: list[Any] = []
    condition = box_condition(south, 106.0, north, 107.0, args)
    point = f"SELECT CAST({arg(args, lat)} AS float8) AS lat, CAST(106.5 AS float8) AS lng"
    rows = await fetch(f"SELECT ({condition}) AS found FROM ({point}) AS r", *args)
    assert rows[0]["found"] == (south <= lat <= north)
    assert "floor(lat * 100) IN (" in condition or math.floor(north * 100) - math.floor(south * 100) >= 64


# Reports written by every path that writes report text: an INSERT of several rows (the
# statement trigger's transition table), an UPDATE of the text (the row trigger).
_COPIED = (
    "SELECT string_agg(quote_ident(column_name), ', ' ORDER BY ordinal_position)"
    " FROM information_schema.columns WHERE table_name = 'report'"
    " AND column_name NOT IN ('id', 'words', 'description', 'address', 'client_request_id')"
)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(texts=st.lists(st.tuples(_TEXT, _TEXT), min_size=1, max_size=3), changed=_TEXT)
async def test_the_vocabulary_holds_every_lexeme_of_every_report(client, texts, changed) -> None:
    """Migration 0015's triggers keep every lexeme of report.words in search_word in the
    transaction that writes the report, so a prefix looked up there (domain.report's range,
    `prefix_bound`, the Python form of PostgreSQL's byte order) finds every lexeme the
    full-text index's own prefix match would."""
    conn = connections.get("default")
    async with conn.acquire_connection() as raw:
        if await raw.fetchval("SELECT min(id) FROM report") is None:
            await report(client, (await citizen(client))[0])
        source = await raw.fetchval("SELECT min(id) FROM report")
        columns = await raw.fetchval(_COPIED)
        try:
            async with raw.transaction():
                rows = " UNION ALL ".join(
                    f"SELECT {columns}, ${2 * i + 2}, ${2 * i + 3}, md5(random()::text) FROM report WHERE id = $1"
                    for i in range(len(texts))
                )
                made = await raw.fetch(
                    f"INSERT INTO report ({columns}, description, address, client_request_id) {rows}"
                    " RETURNING id",
                    source,
                    *[t for pair in texts for t in pair],
                )
                await raw.execute("UPDATE report SET description = $1 WHERE id = $2", changed, made[0]["id"])
                missing = await raw.fetch(
                    "SELECT w FROM report r, unnest(tsvector_to_array(r.words)) AS w"
                    " WHERE NOT EXISTS (SELECT 1 FROM search_word s WHERE s.word = w)"
                )
                assert missing == []
                parts = {p for d, a in texts for p in word_parts(d) + word_parts(a)} | set(word_parts(changed))
                for part in parts:
                    bound = prefix_bound(part)
                    if bound is None:
                        continue
                    under = await raw.fetchval(
                        "SELECT array_agg(word ORDER BY word) FROM search_word"
                        " WHERE word >= $1 COLLATE \"C\" AND word < $2 COLLATE \"C\"",
                        part,
                        bound,
                    )
                    everything = await raw.fetch("SELECT word FROM search_word")
                    assert sorted(under or []) == sorted(
                        r["word"] for r in everything if r["word"].startswith(part)
                    ), part
                    by_prefix = await raw.fetch(
                        "SELECT id FROM report WHERE words @@ CAST($1 AS tsquery) ORDER BY id", f"'{part}':*"
                    )
                    quoted = " | ".join("'" + w.replace("'", "''") + "'" for w in under or [])
                    by_lexemes = await raw.fetch(
                        "SELECT id FROM report WHERE words @@ CAST($1 AS tsquery) ORDER BY id", quoted
                    ) if quoted else []
                    assert by_prefix == by_lexemes, part
                raise _RolledBack
        except _RolledBack:
            pass


async def test_a_prefix_is_asked_of_the_index_as_the_lexemes_under_it(client, monkeypatch) -> None:
    """A search part of 3 letters or more is looked up in the vocabulary first, and the
    full-text index asked for the lexemes under it, exactly (streamed and skipped through),
    not for the prefix (every posting list under it gathered into a bitmap first): the same
    reports. A part no report's word begins with is asked as written, and finds none at once;
    a part with more than MAX_LEXEMES lexemes under it stays a prefix."""
    import domain.pagination as pagination

    token, _ = await citizen(client)
    for text in ("Gorong-gorong mampet", "Gorongan air bocor", "Jalan berlubang"):
        await report(client, token, description=text)
    asked: list[str] = []
    real = pagination.fetch

    async def recording(sql: str, *args: Any, conn: Any = None) -> list[dict[str, Any]]:
        asked.extend(a for a in args if isinstance(a, str) and a.startswith(("'", "(")))
        return await real(sql, *args, conn=conn)

    monkeypatch.setattr(pagination, "fetch", recording)
    for search, query, found in (
        ("goro", "('gorong' | 'gorongan')", 2),
        ("gorongan bocor", "'gorongan'", 1),
        ("jalanan", "'jalanan'", 0),
    ):
        asked.clear()
        assert (await ok(client, FEED, {"f": {"search": search}}))["reports"]["totalCount"] == found, search
        assert query in asked and not any(":*" in a for a in asked), (search, asked)
    monkeypatch.setattr(domain.report, "MAX_LEXEMES", 1)
    asked.clear()
    assert (await ok(client, FEED, {"f": {"search": "Goro"}}))["reports"]["totalCount"] == 2
    assert "'goro':*" in asked, asked


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    search=st.one_of(
        st.lists(st.sampled_from(["go", "gor", "GORO", "gorong", "gorongan", "Gorong-gor", "jl.kwi", "kwitang",
                                  "lub", "lubang", "jal", "jalan", "ban", "banjir", "air", "bocorx", "é"]),
                 max_size=4).map(" ".join),
        st.text(alphabet=st.sampled_from(" gorGORnabjlkwi-.é'"), max_size=24),
    )
)  # fmt: skip
async def test_a_search_by_lexemes_finds_what_the_prefixes_find(client, search: str) -> None:
    """Any search, several words and parts among them: the page and the count are the same
    with the prefixes replaced by the vocabulary's lexemes (the default) as with the prefixes
    themselves."""
    conn = connections.get("default")
    async with conn.acquire_connection() as raw:
        seeded = await raw.fetchval("SELECT count(*) FROM report WHERE description LIKE 'Gorong%'")
    if not seeded:
        token, _ = await citizen(client)
        for text in ("Gorong-gorong mampet di Jl.Kwitang", "Gorongan air bocor", "Jalan berlubang",
                     "Lubang jalan besar", "Banjir gorong"):  # fmt: skip
            await report(client, token, description=text)
    now = datetime.now(UTC)
    query = ReportQuery(search=search)

    async def nothing(words: list[str]) -> dict[str, list[str]]:
        return {}

    by_lexemes = await search_reports(None, query, "NEWEST", 50, None, now)
    with mock.patch.object(domain.report, "lexemes_under", nothing):
        by_prefixes = await search_reports(None, query, "NEWEST", 50, None, now)
    assert [r.id for r in by_lexemes.rows] == [r.id for r in by_prefixes.rows]
    assert await by_lexemes.counted() == await by_prefixes.counted()


async def test_the_walked_indexes_migrations_go_both_ways(app) -> None:
    """Migrations 0016 and 0017 (0013's rebuild with other columns, then the latitude cells):
    backward, 0017 brings back the (lat, lng) index as 0016 left it (the visibility's columns)
    under the name 0001 gave it, and 0016 the (vote_count, id), (updated_at, id) and (lat,
    lng) indexes without INCLUDEd columns, each under its name; forward brings back exactly
    what the migrator made."""
    import importlib
    from types import SimpleNamespace

    from tortoise.transactions import in_transaction

    from models.sql import fetch

    walked, cells = (
        importlib.import_module(f"models.migrations.{name}") for name in ("0016_order_walk_covering", "0017_lat_cells")
    )
    listed = "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'report' ORDER BY indexname"

    def of(rows: list[dict], key: str) -> list[str]:
        return [r["indexdef"] for r in rows if f"btree ({key})" in r["indexdef"]]

    before = await fetch(listed)
    cell = of(before, "floor((lat * (100)::double precision)), lng")
    assert not of(before, "lat, lng") and len(cell) == 1, before
    assert cell[0].endswith("INCLUDE (lat, status, author_id, id, created_at, vote_count, updated_at)"), cell
    try:
        async with in_transaction() as conn:
            await cells.backward(None, SimpleNamespace(client=conn))
        after_0016 = await fetch(listed)
        circle = of(after_0016, "lat, lng")
        assert len(circle) == 1 and circle[0].startswith(f"CREATE INDEX {cells.NAME_0001} ON"), circle
        assert circle[0].endswith("INCLUDE (status, author_id)"), circle
        async with in_transaction() as conn:
            await walked.backward(None, SimpleNamespace(client=conn))
        plain = await fetch(listed)
        assert [r["indexname"] for r in plain] == [r["indexname"] for r in after_0016]
        walked_keys = ("vote_count, id", "updated_at, id", "lat, lng")
        assert all(len(of(plain, k)) == 1 and "INCLUDE" not in of(plain, k)[0] for k in walked_keys), plain
    finally:
        async with in_transaction() as conn:
            await walked.forward(None, SimpleNamespace(client=conn))
            await cells.forward(None, SimpleNamespace(client=conn))
    assert await fetch(listed) == before
