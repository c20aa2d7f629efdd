"""Statements whose speed or safety rests on how PostgreSQL plans or runs them (PostgreSQL
only): checked here, so an upgrade that changes it fails a test instead of a deployment."""

from __future__ import annotations

import json

from tortoise import connections

from domain.rollups import merged
from subscriptions.log import _read_sql


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
                    plan = json.loads(await raw.fetchval(f"EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE log_read({values})"))
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


async def test_rollup_snapshots_start_no_parallel_workers(app) -> None:
    """A ranking reads a few thousand rollup rows; the planner gave such a read two parallel
    workers, whose start took 19 of its 21 ms (bench/README.md, rankings). The snapshot turns
    them off for its own transaction only."""
    from models.sql import fetch, snapshot

    async with snapshot() as conn:
        inside = await fetch("SHOW max_parallel_workers_per_gather", conn=conn)
    assert inside[0]["max_parallel_workers_per_gather"] == "0"
    outside = await fetch("SHOW max_parallel_workers_per_gather")
    assert outside[0]["max_parallel_workers_per_gather"] != "0"
