"""Queries over HTTP under load (wrk in its own process), with the framework ceiling, the
database floor and PostGraphile as the peer, all in the same run.

    .venv/bin/python -m bench.queries --database-url postgres://postgres@127.0.0.1:5432/warga_bench \
        [--seconds 10] [--connections 32] [--no-peer]

The database must hold generated data (`python -m bench.generate`). Starts one warga process
(uvicorn, PostgreSQL + Redis) and one PostGraphile 4.14 process (bench/postgraphile, `npm ci`
there first), then measures each query for --seconds with wrk -t1 -c<connections>.
"""

from __future__ import annotations

import asyncio
import json
import random
import shutil
import subprocess
import threading
import time
import urllib.request
from datetime import timedelta
from typing import Any

import asyncpg

from bench.common import (
    ROOT,
    Server,
    emit,
    free_port,
    parser,
    running,
    table,
    wrk,
)

FEED = """query Feed { reports(first: 20) { edges { node {
  id description status createdAt voteCount commentCount
  category { id code name } kelurahan { id name parent { id name } } author { id handle displayName }
} } } }"""
PEER_FEED = """query Feed { allReports(first: 20, orderBy: [CREATED_AT_DESC, ID_DESC]) { nodes {
  id description status createdAt voteCount commentCount
  categoryByCategoryId { id code name } regionByKelurahanId { id name regionByParentId { id name } }
  appUserByAuthorId { id handle displayName }
} } }"""
DETAIL = """query Detail($id: ID!) { report(id: $id) {
  id description status createdAt verifiedAt dueAt resolvedAt voteCount commentCount rating
  category { name } kelurahan { name parent { name parent { name } } } agency { name } author { handle }
  assignee { displayName } media { url thumbnailUrl }
  comments(first: 20) { totalCount edges { node { id body isOfficial createdAt author { handle } } } }
  timeline { from to note createdAt actor { displayName } media { url } }
} }"""
RANKINGS = """query R($level: RankingLevel!, $period: PeriodInput) { rankings(level: $level, period: $period, first: 50) {
  rank unitName reportsReceived responseRate resolutionRate slaComplianceRate
  medianResponseMinutes medianResolutionMinutes averageRating score } }"""
STATS = """query S($region: ID, $period: PeriodInput) { stats(regionId: $region, period: $period) {
  total byStatus { status count } byCategory { category { code } count }
  byRegion { region { name } count open resolved } daily { date created resolved } } }"""
HEATMAP = """query H($bbox: BBoxInput!, $period: PeriodInput) { heatmap(bbox: $bbox, resolution: 8, period: $period) {
  cell center { lat lng } count } }"""


async def floor(database_url: str, seconds: float, connections: int) -> dict[str, float]:
    """The feed's SQL (rows + their authors) through raw asyncpg, `connections` at a time."""
    pool = await asyncpg.create_pool(database_url, min_size=connections, max_size=connections)
    rows_sql = (
        "SELECT id, description, status, created_at, vote_count, comment_count, category_id, kelurahan_id,"
        " author_id, anonymous FROM report WHERE status <> 'REJECTED' ORDER BY created_at DESC, id DESC LIMIT 21"
    )
    users_sql = "SELECT id, handle, display_name FROM app_user WHERE id = ANY($1::int[])"
    done = 0
    latencies: list[float] = []
    deadline = time.monotonic() + seconds

    async def worker() -> None:
        nonlocal done
        while time.monotonic() < deadline:
            t = time.perf_counter()
            async with pool.acquire() as conn:
                rows = await conn.fetch(rows_sql)
                await conn.fetch(users_sql, list({r["author_id"] for r in rows}))
            latencies.append(time.perf_counter() - t)
            done += 1

    started = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(connections)))
    elapsed = time.monotonic() - started
    await pool.close()
    latencies.sort()
    return {"rps": round(done / elapsed, 1), "p50_ms": round(latencies[len(latencies) // 2] * 1000, 2),
            "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 2), "requests": done}  # fmt: skip


async def facts(database_url: str) -> dict[str, Any]:
    conn = await asyncpg.connect(database_url)
    try:
        n = await conn.fetchval("SELECT count(*) FROM report")
        users = await conn.fetchval("SELECT count(*) FROM app_user")
        last = await conn.fetchval("SELECT max(created_at) FROM report")
        first = await conn.fetchval("SELECT min(created_at) FROM report")
        ids = [r["id"] for r in await conn.fetch(
            "SELECT id FROM report WHERE comment_count > 0 AND status <> 'REJECTED' ORDER BY random() LIMIT 500")]  # fmt: skip
        kota = await conn.fetchrow(
            "SELECT id, name FROM region WHERE level = 'KOTA' AND code = '31.74'"
        ) or await conn.fetchrow("SELECT id, name FROM region WHERE level = 'KOTA' ORDER BY code LIMIT 1")
        bbox = await conn.fetchrow(
            "SELECT min(lat) s, min(lng) w, max(lat) n, max(lng) e FROM report WHERE kota_id = $1 AND id > "
            "(SELECT max(id) - 20000 FROM report)", kota["id"])  # fmt: skip
        points = [(r["lat"], r["lng"]) for r in await conn.fetch(
            "SELECT lat, lng FROM report ORDER BY id DESC LIMIT 500")]  # fmt: skip
        categories = [r["id"] for r in await conn.fetch("SELECT id FROM category ORDER BY id")]
        return {"reports": n, "users": users, "first": first, "last": last, "detail_ids": ids,
                "kota": dict(kota), "bbox": dict(bbox), "points": points, "categories": categories}  # fmt: skip
    finally:
        await conn.close()


def start_peer(database_url: str) -> tuple[subprocess.Popen[bytes], str]:
    exe = ROOT / "bench/postgraphile/node_modules/.bin/postgraphile"
    if not exe.exists():
        raise SystemExit("PostGraphile is not installed: (cd bench/postgraphile && npm ci)")
    port = free_port()
    proc = subprocess.Popen(
        [shutil.which("node") or "node", str(exe), "-c", database_url, "--host", "127.0.0.1", "--port", str(port),
         "--disable-query-log", "--disable-default-mutations", "--schema", "public"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            req = urllib.request.Request(f"{url}/graphql", data=json.dumps({"query": "{__typename}"}).encode(),
                                         headers={"Content-Type": "application/json"})  # fmt: skip
            with urllib.request.urlopen(req, timeout=2):
                return proc, url
        except Exception:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("PostGraphile did not start")


def first_request(url: str, body: dict[str, Any], token: str | None) -> float:
    """One request alone before the load: what the first reader waits (nothing cached yet)."""
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    req = urllib.request.Request(f"{url}/graphql", data=json.dumps(body).encode(), headers=headers)
    started = time.perf_counter()
    with urllib.request.urlopen(req, timeout=120) as resp:
        if json.loads(resp.read()).get("errors"):
            raise RuntimeError(f"errors for {body}")
    return round((time.perf_counter() - started) * 1000, 1)


def register(url: str) -> str:
    handle = f"bench{random.randint(0, 10**9)}"
    body = {"query": "mutation($i: RegisterInput!) { register(input: $i) { token } }",
            "variables": {"i": {"handle": handle, "displayName": "Bench", "password": "bench-password"}}}  # fmt: skip
    req = urllib.request.Request(f"{url}/graphql", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})  # fmt: skip
    with urllib.request.urlopen(req) as resp:
        return json.loads(resp.read())["data"]["register"]["token"]


class Writer(threading.Thread):
    """The city going on meanwhile: createReport at `rate` per second, so cached reads are
    invalidated as they would be in production (40,000 reports a day is 0.46 per second)."""

    def __init__(self, url: str, token: str, points: list[tuple[float, float]], categories: list[int],
                 rate: float) -> None:  # fmt: skip
        super().__init__(daemon=True)
        self.url, self.token, self.points, self.categories, self.rate = url, token, points, categories, rate
        self.stop = threading.Event()
        self.written = 0

    def run(self) -> None:
        rng = random.Random(3)
        tag = random.randint(0, 10**9)
        while not self.stop.wait(1 / self.rate):
            lat, lng = rng.choice(self.points)
            body = {"query": "mutation($i: CreateReportInput!) { createReport(input: $i) { id } }",
                    "variables": {"i": {"clientRequestId": f"q-{tag}-{self.written}", "description":
                                        "Laporan selama uji baca", "location": {"lat": lat, "lng": lng},
                                        "categoryId": str(rng.choice(self.categories))}}}  # fmt: skip
            req = urllib.request.Request(f"{self.url}/graphql", data=json.dumps(body).encode(), headers={
                "Content-Type": "application/json", "Authorization": f"Bearer {self.token}"})  # fmt: skip
            with urllib.request.urlopen(req, timeout=30) as resp:
                if json.loads(resp.read()).get("errors"):
                    raise RuntimeError("createReport failed during the read benchmark")
            self.written += 1


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--seconds", type=int, default=10)
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--no-peer", action="store_true")
    p.add_argument("--only", help="comma-separated scenario names")
    p.add_argument("--periods", default="90,365", help="ranking periods in days, comma-separated")
    p.add_argument("--writes", type=float, default=0.5,
                   help="createReport per second during the run (0.5: the city's average; 0: none)")  # fmt: skip
    args = p.parse_args()
    data = asyncio.run(facts(args.database_url))
    if not data["reports"]:
        raise SystemExit("no reports: run python -m bench.generate first")
    last_day = (data["last"] + timedelta(hours=7)).date()

    def period(days: int) -> dict[str, str]:
        return {"from": (last_day - timedelta(days=days - 1)).isoformat(), "to": last_day.isoformat()}

    bbox = {"south": data["bbox"]["s"], "west": data["bbox"]["w"], "north": data["bbox"]["n"],
            "east": data["bbox"]["e"]}  # fmt: skip
    scenarios: list[tuple[str, list[dict[str, Any]]]] = [
        ("typename (ceiling)", [{"query": "{ __typename }"}]),
        ("feed", [{"query": FEED}]),
        ("feed (signed in)", [{"query": FEED}]),
        ("feed (cache off)", [{"query": FEED}]),
        ("report detail", [{"query": DETAIL, "variables": {"id": str(i)}} for i in data["detail_ids"]]),
    ]
    for days in (int(d) for d in args.periods.split(",")):
        for level in ("STAFF", "KELURAHAN", "KECAMATAN", "KOTA", "DINAS"):
            scenarios.append((f"rankings {level} {days}d",
                              [{"query": RANKINGS, "variables": {"level": level, "period": period(days)}}]))  # fmt: skip
    scenarios.append((f"stats kota {data['kota']['name']} 30d",
                      [{"query": STATS, "variables": {"region": str(data["kota"]["id"]), "period": period(30)}}]))  # fmt: skip
    scenarios.append(
        ("heatmap kota 30d", [{"query": HEATMAP, "variables": {"bbox": bbox, "period": period(30)}}])
    )
    if args.only:
        wanted = args.only.split(",")
        scenarios = [s for s in scenarios if any(s[0].startswith(w) for w in wanted)]

    env = {"REPORTS_PER_MINUTE": "100000"}
    server = Server(args.database_url, args.redis_url, extra_env=env).start()
    # The same feed computed on every request: a second process with the read cache off (and
    # with it the shared report renderings, schema/renderings.py).
    uncached = None
    if any(name == "feed (cache off)" for name, _ in scenarios):
        uncached = Server(args.database_url, args.redis_url, extra_env={**env, "WARGA_RESPONSE_CACHE": "0"}).start()
    peer = None
    rows: list[dict[str, Any]] = []
    writer = None
    with running(*(s for s in (server, uncached) if s is not None)):
        token = register(server.url)
        if args.writes > 0:
            writer = Writer(server.url, register(server.url), data["points"], data["categories"], args.writes)
            writer.start()
        for name, bodies in scenarios:
            url = uncached.url if name == "feed (cache off)" and uncached is not None else server.url
            # The previous scenario's last requests (up to 32, each up to ~250 ms for a report's
            # detail) are still being answered when wrk stops: a first request sent at once
            # waited behind them (STAFF 90d "first" 72 ms after the detail, 29-39 ms alone).
            time.sleep(1.0)
            first_ms = first_request(url, bodies[0], token if "signed in" in name else None)
            r = wrk(f"{url}/graphql", "/graphql", bodies, seconds=args.seconds,
                    connections=args.connections, token=token if "signed in" in name else None)  # fmt: skip
            rows.append({"scenario": name, "first_ms": first_ms, **r})
            print(f"  {name}: first {first_ms} ms, then {r['rps']} req/s, p50 {r['p50_ms']} ms,"
                  f" p99 {r['p99_ms']} ms", flush=True)  # fmt: skip
        if writer is not None:
            writer.stop.set()
            writer.join(30)
    fl = asyncio.run(floor(args.database_url, args.seconds, args.connections))
    rows.append({"scenario": "feed SQL via asyncpg (floor)", **fl})
    if not args.no_peer:
        peer, peer_url = start_peer(args.database_url)
        try:
            r = wrk(f"{peer_url}/graphql", "/graphql", [{"query": PEER_FEED}], seconds=args.seconds,
                    connections=args.connections)  # fmt: skip
            rows.append({"scenario": "feed on PostGraphile 4.14.1 (peer)", **r})
        finally:
            peer.terminate()
    by = {r["scenario"]: r for r in rows}
    ratios = {}
    peer_feed = by.get("feed on PostGraphile 4.14.1 (peer)")
    for name in ("feed", "feed (signed in)", "feed (cache off)"):
        if name in by and peer_feed is not None:
            ratios[f"{name} / PostGraphile"] = round(by[name]["rps"] / peer_feed["rps"], 2)
    if "feed" in by:
        feed = by["feed"]["rps"]
        if "typename (ceiling)" in by:
            ratios["feed / ceiling"] = round(feed / by["typename (ceiling)"]["rps"], 2)
        ratios["feed / SQL floor"] = round(feed / by["feed SQL via asyncpg (floor)"]["rps"], 2)
    print(f"\n{data['reports']:,} reports, {data['users']:,} users, {data['first']:%Y-%m-%d} .. "
          f"{data['last']:%Y-%m-%d}; wrk -t1 -c{args.connections} -d{args.seconds}s, one warga process;"
          f" {writer.written if writer else 0} reports created meanwhile ({args.writes}/s)\n")  # fmt: skip
    print(table(rows, ["scenario", "first_ms", "rps", "p50_ms", "p90_ms", "p99_ms", "requests"]))
    for k, v in ratios.items():
        print(f"{k}: {v}x")
    emit("queries", {"data": {k: data[k] for k in ("reports", "users", "first", "last")},
                     "connections": args.connections, "seconds": args.seconds, "writes_per_s": args.writes,
                     "written": writer.written if writer else 0, "results": rows, "ratios": ratios})  # fmt: skip


if __name__ == "__main__":
    main()
