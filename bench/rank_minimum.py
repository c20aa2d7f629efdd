"""How many reports a unit gets per period, per ranking level, in generated data: the basis of
the default `minReports` (domain.performance.MIN_REPORTS, README "Who is ranked").

    .venv/bin/python -m bench.rank_minimum --database-url postgres://.../warga_bench

For windows of 1, 7 and 30 Jakarta days ending two days before the data's last day (the last
days still have unverified reports), it prints the percentiles of reports received per unit
(perf_daily: verified, non-duplicate reports, as the ranking counts them) and the default the
rule derives: half the 5th percentile, rounded down to a multiple of 10, kept in [10, 100].
"""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg

from bench.common import emit, parser, table

WINDOWS = (1, 7, 30)  # the shortest period of each bucket: < 7 days, 7..29 days, >= 30 days
LEVELS = ("KELURAHAN", "KECAMATAN", "KOTA", "DINAS", "STAFF")
FLOOR, CAP = 10, 100

SQL = """
WITH last AS (SELECT max(day) - 2 AS day FROM perf_daily),
w AS (
  SELECT p.level, p.unit_id, SUM(p.received) AS received
  FROM perf_daily p, last WHERE p.day > last.day - $1::int AND p.day <= last.day
  GROUP BY p.level, p.unit_id
)
SELECT level, count(*) AS units,
  percentile_disc(0.05) WITHIN GROUP (ORDER BY received) AS p5,
  percentile_disc(0.25) WITHIN GROUP (ORDER BY received) AS p25,
  percentile_disc(0.5) WITHIN GROUP (ORDER BY received) AS p50,
  percentile_disc(0.95) WITHIN GROUP (ORDER BY received) AS p95,
  min(received) AS min, max(received) AS max
FROM w GROUP BY level
"""


def derive(p5: int) -> int:
    return max(FLOOR, min(CAP, (p5 // 2) // 10 * 10))


async def measure(url: str) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(url)
    try:
        span = await conn.fetchrow("SELECT min(day) AS first, max(day) AS last FROM perf_daily")
        rows = []
        for days in WINDOWS:
            for r in await conn.fetch(SQL, days):
                rows.append({"window_days": days, **dict(r), "default": derive(int(r["p5"]))})
        rows.sort(key=lambda r: (LEVELS.index(r["level"]), r["window_days"]))
        print(f"perf_daily from {span['first']} to {span['last']}")
        return rows
    finally:
        await conn.close()


def main() -> None:
    args = parser(__doc__).parse_args()
    rows = asyncio.run(measure(args.database_url))
    print(table(rows, ["level", "window_days", "units", "min", "p5", "p25", "p50", "p95", "max", "default"]))
    defaults = {lv: tuple(r["default"] for r in rows if r["level"] == lv) for lv in LEVELS}
    print("MIN_REPORTS =", defaults)
    emit("rank_minimum", {"rows": rows, "defaults": defaults})


if __name__ == "__main__":
    main()
