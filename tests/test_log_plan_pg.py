"""The event log's reads stay one index range in PostgreSQL's generic plans (PostgreSQL only).

asyncpg prepares each statement; after five runs PostgreSQL may plan it once for any
arguments. `tx > $1 OR (tx = $1 AND id > $2)` then became an index walk from the log's
start, filtered row by row: 44 ms per read at 110,000 events, growing with the log, and the
hub reads the log after every commit (bench/README.md, ingest). A row comparison is a range
of the (tx, id) index whatever the arguments."""

from __future__ import annotations

import json

from tortoise import connections

from subscriptions.log import _read_sql


async def test_the_log_read_is_an_index_range_in_a_generic_plan(app) -> None:
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
