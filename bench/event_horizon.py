"""The event log's read horizon, measured for the options of issue 14 on a scratch database:
what each costs writers (commits/s) and how late a reader sees a committed event, with and
without an unrelated write transaction left open on ANOTHER database of the same server.

    .venv/bin/python -m bench.event_horizon --database-url postgres://postgres@127.0.0.1:5432/scratch

(the database is created if missing, and its table `horizon_event` dropped at the end; the
foreign transaction runs in the server's `postgres` database.) Options:

- xmin: tx = pg_current_xact_id(), readers stop below pg_snapshot_xmin (cluster-wide): what
  Warga did before.
- commit_lock: each writer takes one exclusive advisory lock just before COMMIT and only then
  inserts its event rows, so event ids are handed out in commit order and any snapshot sees a
  prefix of them; readers need no horizon.
- own_horizon: each writer takes a shared advisory lock as its transaction's first statement;
  readers stop below the oldest in-flight transaction of their snapshot that is not known to
  be foreign (running, without that lock: pg_locks), so foreign transactions are ignored.
- logical: the event table read through logical decoding (test_decoding; commit order by
  construction); needs wal_level = logical, so only measured where the server has it.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

import asyncpg

from bench.common import emit, table
from subscriptions.log import _HORIZON, WRITER_LOCK

K = WRITER_LOCK  # the lock and the horizon are Warga's own (subscriptions/log.py)
HORIZON = _HORIZON
READ = {
    "xmin": "SELECT tx, id FROM horizon_event WHERE (tx > $1::bigint OR (tx = $1::bigint AND id > $2::bigint))"
    " AND tx < pg_snapshot_xmin(pg_current_snapshot())::text::bigint ORDER BY tx, id LIMIT 500",
    "commit_lock": "SELECT 0::bigint AS tx, id FROM horizon_event WHERE id > $2::bigint AND $1::bigint >= 0 ORDER BY id LIMIT 500",
    "own_horizon": "SELECT tx, id FROM horizon_event WHERE (tx > $1::bigint OR (tx = $1::bigint AND id > $2::bigint))"
    f" AND tx < {HORIZON} ORDER BY tx, id LIMIT 500",
}


async def _writer(pool: asyncpg.Pool, option: str, until: float, committed: dict[int, float], counts: list[int]) -> None:
    while time.monotonic() < until:
        async with pool.acquire() as conn, conn.transaction():
            if option == "own_horizon":
                await conn.execute(f"SELECT pg_advisory_xact_lock_shared({K})")
            await conn.execute("INSERT INTO horizon_work (payload) VALUES ('x')")  # the change itself
            if option == "commit_lock":
                await conn.execute(f"SELECT pg_advisory_xact_lock({K})")
            row_id = await conn.fetchval(
                "INSERT INTO horizon_event (tx) VALUES (pg_current_xact_id()::text::bigint) RETURNING id"
            )
        committed[row_id] = time.monotonic()
        counts[0] += 1


async def _reader(conn: asyncpg.Connection, option: str, until: float, seen: dict[int, float]) -> None:
    pos = (0, 0)
    while time.monotonic() < until:
        if option == "logical":
            rows = await conn.fetch("SELECT data FROM pg_logical_slot_get_changes('horizon_slot', NULL, NULL)")
            now = time.monotonic()
            for r in rows:
                data = r["data"]
                if data.startswith("table public.horizon_event: INSERT:"):
                    seen.setdefault(int(data.split("id[bigint]:")[1].split()[0]), now)
        else:
            rows = await conn.fetch(READ[option], *pos)
            now = time.monotonic()
            for r in rows:
                seen.setdefault(r["id"], now)
            if rows:
                pos = (rows[-1]["tx"], rows[-1]["id"])
        await asyncio.sleep(0.005)


async def run(url: str, option: str, foreign: bool, seconds: float, writers: int) -> dict[str, Any]:
    admin = await asyncpg.connect(url)
    await admin.execute("DROP TABLE IF EXISTS horizon_event; DROP TABLE IF EXISTS horizon_work")
    await admin.execute("CREATE TABLE horizon_work (id bigserial PRIMARY KEY, payload text)")
    await admin.execute(
        "CREATE TABLE horizon_event (id bigserial PRIMARY KEY, tx bigint NOT NULL);"
        " CREATE INDEX ON horizon_event (tx, id)"
    )
    if option == "logical":
        await admin.execute("SELECT pg_create_logical_replication_slot('horizon_slot', 'test_decoding')")
    other = None
    if foreign:  # an unrelated write transaction on another database, left open
        other = await asyncpg.connect(url.rsplit("/", 1)[0] + "/postgres")
        await other.execute("BEGIN")
        await other.fetchval("SELECT pg_current_xact_id()")
    pool = await asyncpg.create_pool(url, min_size=writers, max_size=writers)
    reader = await asyncpg.connect(url)
    committed: dict[int, float] = {}
    seen: dict[int, float] = {}
    counts = [0]
    until = time.monotonic() + seconds
    try:
        await asyncio.gather(
            _reader(reader, option, until + 1.0, seen),
            *(_writer(pool, option, until, committed, counts) for _ in range(writers)),
        )
    finally:
        if other is not None:
            await other.execute("ROLLBACK")
            await other.close()
        await pool.close()
        await reader.close()
        if option == "logical":
            await admin.execute("SELECT pg_drop_replication_slot('horizon_slot')")
        await admin.execute("DROP TABLE horizon_event; DROP TABLE horizon_work")
        await admin.close()
    lags = sorted((seen[i] - t) * 1000 for i, t in committed.items() if i in seen)
    missing = sum(1 for i in committed if i not in seen)
    pct = statistics.quantiles(lags, n=100) if len(lags) >= 2 else [float("nan")] * 99
    return {
        "option": option,
        "foreign_tx": "yes" if foreign else "no",
        "commits_per_s": round(counts[0] / seconds),
        "lag_p50_ms": round(pct[49], 1),
        "lag_p99_ms": round(pct[98], 1),
        "lag_max_ms": round(lags[-1], 1) if lags else None,
        "not_seen_within_run": missing,
    }


async def main_async(args: argparse.Namespace) -> list[dict[str, Any]]:
    base, name = args.database_url.rsplit("/", 1)
    admin = await asyncpg.connect(base + "/postgres")
    if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
        await admin.execute(f'CREATE DATABASE "{name}"')
    logical = await admin.fetchval("SHOW wal_level") == "logical"
    await admin.close()
    options = ["xmin", "commit_lock", "own_horizon"] + (["logical"] if logical else [])
    rows = []
    for option in options:
        for foreign in (False, True):
            rows.append(await run(args.database_url, option, foreign, args.seconds, args.writers))
            print(rows[-1], flush=True)
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--database-url", required=True)
    p.add_argument("--seconds", type=float, default=8.0)
    p.add_argument("--writers", type=int, default=16)
    args = p.parse_args()
    rows = asyncio.run(main_async(args))
    print(table(rows, list(rows[0])))
    emit("event_horizon", {"rows": rows, "seconds": args.seconds, "writers": args.writers})


if __name__ == "__main__":
    main()
