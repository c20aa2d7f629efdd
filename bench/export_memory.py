"""CSV export in bounded memory: streams /exports/reports.csv for a period holding at least
--rows reports and prints the server's peak RSS before and after, with rows/s.

    .venv/bin/python -m bench.export_memory --database-url postgres://postgres@127.0.0.1:5432/warga_bench \
        [--rows 100000]
"""

from __future__ import annotations

import asyncio
import os
import time
from datetime import timedelta

import asyncpg
import httpx

from bench.common import Server, emit, parser, rss_kb, running, table
from domain.auth import issue_token


async def period_with(database_url: str, rows: int) -> tuple[str, str, int, int]:
    """The most recent days that together hold at least `rows` reports, and a partner's id."""
    conn = await asyncpg.connect(database_url)
    try:
        last = await conn.fetchval("SELECT max(created_at) FROM report")
        cutoff = await conn.fetchval(
            "SELECT created_at FROM report ORDER BY created_at DESC OFFSET $1 LIMIT 1", rows)  # fmt: skip
        cutoff = cutoff or await conn.fetchval("SELECT min(created_at) FROM report")
        start = (cutoff + timedelta(hours=7)).date()
        end = (last + timedelta(hours=7)).date()
        partner = await conn.fetchval(
            "SELECT id FROM app_user WHERE role IN ('AGENCY_PARTNER', 'ADMIN') LIMIT 1"
        )
        return start.isoformat(), end.isoformat(), partner, await conn.fetchval("SELECT count(*) FROM report")
    finally:
        await conn.close()


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--rows", type=int, default=100_000)
    args = p.parse_args()
    secret = os.environ.get("SECRET_KEY", "bench-secret")
    start, end, partner, total = asyncio.run(period_with(args.database_url, args.rows))
    if partner is None:
        raise SystemExit("no AGENCY_PARTNER or ADMIN user: run python -m bench.generate first")
    server = Server(args.database_url, args.redis_url, extra_env={"SECRET_KEY": secret}).start()
    with running(server):
        pid = server.proc.pid  # type: ignore[union-attr]
        httpx.get(f"{server.url}/healthz")
        before = rss_kb(pid)
        token = issue_token(partner, secret, 1)
        lines = size = 0
        peak_during = before["VmRSS"]
        t = time.perf_counter()
        with httpx.stream("GET", f"{server.url}/exports/reports.csv?from={start}&to={end}",
                          headers={"Authorization": f"Bearer {token}"}, timeout=600) as resp:  # fmt: skip
            resp.raise_for_status()
            for chunk in resp.iter_lines():
                lines += 1
                size += len(chunk) + 1
                if lines % 5000 == 0:
                    peak_during = max(peak_during, rss_kb(pid)["VmRSS"])
        elapsed = time.perf_counter() - t
        after = rss_kb(pid)
    row = {"period": f"{start}..{end}", "rows": lines - 1, "mb": round(size / 1e6, 1),
           "seconds": round(elapsed, 1), "rows_per_s": int((lines - 1) / elapsed),
           "rss_before_mb": round(before["VmRSS"] / 1024, 1),
           "rss_max_during_mb": round(max(peak_during, after["VmRSS"]) / 1024, 1),
           "rss_growth_mb": round((max(peak_during, after["VmRSS"]) - before["VmRSS"]) / 1024, 1),
           "process_peak_mb": round(after["VmHWM"] / 1024, 1)}  # fmt: skip
    print(table([row], list(row)))
    emit("export_memory", {"reports_in_db": total, "result": row})


if __name__ == "__main__":
    main()
