"""Ingest: sustained createReport mutations per second over HTTP (wrk, its own process), each
with its own clientRequestId, from many users at points inside the city.

    .venv/bin/python -m bench.ingest --database-url postgres://postgres@127.0.0.1:5432/warga_bench \
        [--seconds 20] [--connections 32] [--workers 1]
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path

import asyncpg

from bench.common import Server, cpu_seconds, emit, parser, running, table
from domain.auth import issue_token

SCRIPT = r"""
local tokens, points, categories = {}, {}, {}
for line in io.lines(os.getenv("ING_TOKENS")) do tokens[#tokens + 1] = line end
for line in io.lines(os.getenv("ING_POINTS")) do points[#points + 1] = line end
for line in io.lines(os.getenv("ING_CATEGORIES")) do categories[#categories + 1] = line end
local n = 0
local tag = os.getenv("ING_TAG")  -- unique per run: wrk's math.random is never seeded
request = function()
  n = n + 1
  local p = points[(n % #points) + 1]
  local body = '{"query":"mutation($i: CreateReportInput!) { createReport(input: $i) { id status } }",' ..
    '"variables":{"i":{"clientRequestId":"ing-' .. tag .. '-' .. n .. '","categoryId":"' ..
    categories[(n % #categories) + 1] .. '","description":"Laporan uji beban nomor ' .. n .. '",' ..
    '"location":{' .. p .. '}}}}'
  -- Each user writes from an address of their own, as a city's phones do (the server trusts
  -- 127.0.0.1's X-Forwarded-For: uvicorn's default), so per-address limits apply as in life.
  local u = (n % #tokens) + 1
  return wrk.format("POST", "/graphql", {["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. tokens[u],
    ["X-Forwarded-For"] = string.format("10.%d.%d.%d", math.floor(u / 65536) % 256, math.floor(u / 256) % 256, u % 256)}, body)
end
-- Counted per thread, read back in done() (which runs in the main Lua state).
local threads = {}
setup = function(thread) table.insert(threads, thread) end
bad = 0
response = function(status, headers, body)
  if status ~= 200 or string.find(body, '"errors"', 1, true) then bad = bad + 1 end
end
done = function(summary, latency, requests)
  local failed = 0
  for _, t in ipairs(threads) do failed = failed + (t:get("bad") or 0) end
  io.write(string.format('INGJSON %d %d %d %d %d %d\n', summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), failed,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
"""


async def inputs(
    database_url: str, users: int
) -> tuple[list[int], list[tuple[float, float]], list[int], int]:
    conn = await asyncpg.connect(database_url)
    try:
        user_ids = [r["id"] for r in await conn.fetch(
            "SELECT id FROM app_user WHERE role = 'CITIZEN' ORDER BY id LIMIT $1", users)]  # fmt: skip
        points = [(r["lat"], r["lng"]) for r in await conn.fetch(
            "SELECT lat, lng FROM report ORDER BY id DESC LIMIT 2000")]  # fmt: skip
        categories = [r["id"] for r in await conn.fetch("SELECT id FROM category ORDER BY id")]
        before = await conn.fetchval("SELECT count(*) FROM report")
        return user_ids, points, categories, before
    finally:
        await conn.close()


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--seconds", type=int, default=20)
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--users", type=int, default=2000)
    args = p.parse_args()
    secret = os.environ.get("SECRET_KEY", "bench-secret")
    user_ids, points, categories, before = asyncio.run(inputs(args.database_url, args.users))
    if not user_ids or not points:
        raise SystemExit("no users or reports: run python -m bench.generate first")
    rng = random.Random(1)
    rng.shuffle(points)
    server = Server(args.database_url, args.redis_url, workers=args.workers,
                    extra_env={"SECRET_KEY": secret}).start()  # fmt: skip
    with running(server), tempfile.TemporaryDirectory() as tmp:
        files = {
            "ING_TOKENS": "\n".join(issue_token(u, secret, 24) for u in user_ids),
            "ING_POINTS": "\n".join(f'"lat":{lat:.6f},"lng":{lng:.6f}' for lat, lng in points),
            "ING_CATEGORIES": "\n".join(str(c) for c in categories),
        }
        env = {**os.environ, "ING_TAG": secrets.token_hex(6)}
        for key, text in files.items():
            path = Path(tmp) / key
            path.write_text(text + "\n")
            env[key] = str(path)
        script = Path(tmp) / "ingest.lua"
        script.write_text(SCRIPT)
        cpu0 = cpu_seconds(server.proc.pid)  # type: ignore[union-attr]
        out = subprocess.run(
            [shutil.which("wrk") or "wrk", "-t1", f"-c{args.connections}", f"-d{args.seconds}s", "-s", str(script),
             server.url], env=env, capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        cpu = cpu_seconds(server.proc.pid) - cpu0  # type: ignore[union-attr]
    m = re.search(r"INGJSON (\d+) (\d+) (\d+) (\d+) (\d+) (\d+)", out)
    if not m:
        raise SystemExit(f"no result from wrk:\n{out}")
    requests, duration_us, p50, p99, bad, sock = map(int, m.groups())
    after = asyncio.run(inputs(args.database_url, 1))[3]
    row = {"workers": args.workers, "connections": args.connections, "created": after - before,
           "requests": requests, "bad": bad, "socket_errors": sock,
           "per_s": round((after - before) / (duration_us / 1e6), 1),
           "p50_ms": round(p50 / 1000, 2), "p99_ms": round(p99 / 1000, 2),
           "server_cpu_s": round(cpu, 1)}  # fmt: skip
    print(table([row], list(row)))
    emit("ingest", {"reports_before": before, "seconds": args.seconds, "result": row, "target_per_s": 500})


if __name__ == "__main__":
    main()
