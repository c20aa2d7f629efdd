"""Realtime: N websocket subscribers (most filtered to one kelurahan, some city-wide) on one
warga process while reports are created at E events/s; delivery latency from the event's
commit time to the client, missing and duplicate deliveries, server CPU and RSS per connection.

    .venv/bin/python -m bench.realtime --database-url postgres://postgres@127.0.0.1:5432/warga_bench \
        [--subscribers 19500] [--citywide 100] [--rate 20] [--seconds 30] [--client-procs 4]

Clients run in their own processes (graphql-transport-ws, `reportCreated(filter)`); each
process holds at most ~5,000 sockets (these machines cap open files at 20,000 per process).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing as mp
import random
import resource
import time
from datetime import datetime
from typing import Any

import asyncpg
import httpx
import websockets

from bench.common import Server, cpu_seconds, emit, parser, rss_kb, running, table
from domain.auth import issue_token

# What a phone's live city feed shows of each new report.
SUB = """subscription($f: FeedFilter) { reportCreated(filter: $f) { id description status createdAt
  category { code name } kelurahan { name parent { name } } location { lat lng } voteCount commentCount } }"""
CREATE = "mutation($i: CreateReportInput!) { createReport(input: $i) { id createdAt kelurahan { id } } }"


def raise_nofile() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def _client(url: str, share: list[tuple[int, int | None]], ready: Any, stop: Any, out: Any) -> None:
    """One process's share of subscribers: connect them all, then record what each receives."""
    received: list[tuple[int, str, float]] = []
    sockets: list[Any] = []
    handshakes = asyncio.Semaphore(200)  # a bounded connection storm
    connected = 0
    all_in = asyncio.Event()

    async def one(gid: int, region: int | None) -> None:
        nonlocal connected
        async with handshakes:
            ws = await websockets.connect(url, subprotocols=["graphql-transport-ws"], open_timeout=300,
                                          ping_interval=None, max_queue=None)  # fmt: skip
            sockets.append(ws)
            await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
            await ws.recv()
            variables = {"f": {"regionId": str(region)}} if region is not None else {}
            await ws.send(json.dumps({"id": "1", "type": "subscribe",
                                      "payload": {"query": SUB, "variables": variables}}))  # fmt: skip
        connected += 1
        if connected == len(share):
            all_in.set()
        async for raw in ws:
            msg = json.loads(raw)
            if msg.get("type") == "next":
                received.append((gid, msg["payload"]["data"]["reportCreated"]["id"], time.time()))

    tasks = [asyncio.create_task(one(gid, region)) for gid, region in share]
    await all_in.wait()
    with ready.get_lock():
        ready.value += len(share)
    await asyncio.get_running_loop().run_in_executor(None, stop.wait)
    for ws in sockets:
        with contextlib.suppress(Exception):
            await ws.close()
    for t in tasks:
        t.cancel()
    out.put(received)


def client_process(url: str, share: list[tuple[int, int | None]], ready: Any, stop: Any, out: Any) -> None:
    raise_nofile()
    asyncio.run(_client(url, share, ready, stop, out))


async def points(database_url: str) -> tuple[list[int], list[tuple[float, float, int]], int]:
    conn = await asyncpg.connect(database_url)
    try:
        kel = [
            r["id"] for r in await conn.fetch("SELECT id FROM region WHERE level = 'KELURAHAN' ORDER BY code")
        ]
        pts = [(r["lat"], r["lng"], r["kelurahan_id"]) for r in await conn.fetch(
            "SELECT lat, lng, kelurahan_id FROM report ORDER BY id DESC LIMIT 5000")]  # fmt: skip
        user = await conn.fetchval("SELECT id FROM app_user WHERE role = 'CITIZEN' ORDER BY id LIMIT 1")
        return kel, pts, user
    finally:
        await conn.close()


async def publish(url: str, token: str, pts: list[tuple[float, float, int]], rate: float,
                  seconds: float, categories: list[str]) -> list[dict[str, Any]]:  # fmt: skip
    """Create reports at a steady rate; each result: id, kelurahan, server createdAt."""
    made: list[dict[str, Any]] = []
    rng = random.Random(7)
    async with httpx.AsyncClient(
        base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=120
    ) as c:
        start = time.monotonic()
        n = int(rate * seconds)

        async def one(i: int) -> None:
            lat, lng, _ = rng.choice(pts)
            body = {"query": CREATE, "variables": {"i": {
                "clientRequestId": f"rt-{start}-{i}", "categoryId": rng.choice(categories),
                "description": f"Laporan realtime nomor {i}", "location": {"lat": lat, "lng": lng}}}}  # fmt: skip
            data = (await c.post("/graphql", json=body)).json()
            if data.get("errors"):
                raise RuntimeError(data["errors"])
            r = data["data"]["createReport"]
            made.append({"id": r["id"], "kelurahan": int(r["kelurahan"]["id"]),
                         "at": datetime.fromisoformat(r["createdAt"]).timestamp()})  # fmt: skip

        pending = []
        for i in range(n):
            await asyncio.sleep(max(0.0, start + i / rate - time.monotonic()))
            pending.append(asyncio.create_task(one(i)))
        await asyncio.gather(*pending)
    return made


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--subscribers", type=int, default=19_500)
    p.add_argument("--citywide", type=int, default=100)
    p.add_argument("--rate", type=float, default=20)
    p.add_argument("--seconds", type=float, default=30)
    p.add_argument("--client-procs", type=int, default=4)
    p.add_argument("--drain", type=float, default=3, help="seconds to wait for late deliveries")
    args = p.parse_args()
    raise_nofile()
    kel, pts, user = asyncio.run(points(args.database_url))
    if not pts:
        raise SystemExit("no reports: run python -m bench.generate first")
    secret = "bench-secret"
    server = Server(args.database_url, args.redis_url,
                    extra_env={"SECRET_KEY": secret, "REPORTS_PER_MINUTE": "100000"}).start()  # fmt: skip
    regions: list[int | None] = [None] * args.citywide + [
        kel[i % len(kel)] for i in range(args.subscribers - args.citywide)
    ]
    ctx = mp.get_context("spawn")
    ready, stop, out = ctx.Value("i", 0), ctx.Event(), ctx.Queue()
    numbered = list(enumerate(regions))
    shares = [numbered[i :: args.client_procs] for i in range(args.client_procs)]
    url = server.url.replace("http", "ws") + "/graphql"
    with running(server):
        pid = server.proc.pid  # type: ignore[union-attr]
        httpx.get(f"{server.url}/healthz", timeout=60)
        rss0 = rss_kb(pid)["VmRSS"]
        procs = [ctx.Process(target=client_process, args=(url, share, ready, stop, out)) for share in shares]
        t_connect = time.monotonic()
        for proc in procs:
            proc.start()
        while True:
            try:  # a server busy accepting thousands of sockets answers slowly
                subs = httpx.get(f"{server.url}/healthz", timeout=60).json()["broadcast"]["subscribers"]
            except httpx.HTTPError:
                continue
            if subs >= args.subscribers:
                break
            if time.monotonic() - t_connect > 600:
                raise SystemExit(f"only {subs} subscribers after 10 minutes")
            time.sleep(0.5)
        connect_s = time.monotonic() - t_connect
        rss1 = rss_kb(pid)["VmRSS"]
        categories = [
            str(c["id"])
            for c in httpx.post(f"{server.url}/graphql", json={"query": "{ categories { id } }"}).json()[
                "data"
            ]["categories"]
        ]
        cpu0 = cpu_seconds(pid)
        made = asyncio.run(
            publish(server.url, issue_token(user, secret, 1), pts, args.rate, args.seconds, categories)
        )
        time.sleep(args.drain)
        cpu = cpu_seconds(pid) - cpu0
        gc_pauses = httpx.get(f"{server.url}/healthz", timeout=60).json()["gc"]
        rss2 = rss_kb(pid)["VmRSS"]
        stop.set()
        received: list[tuple[int, str, float]] = []
        for _ in procs:
            received += out.get()
        for proc in procs:
            proc.join(30)
    by_report = {m["id"]: m for m in made}
    expected = 0
    per_kel: dict[int, int] = {}
    for r in regions:
        if r is not None:
            per_kel[r] = per_kel.get(r, 0) + 1
    for m in made:
        expected += args.citywide + per_kel.get(m["kelurahan"], 0)
    seen: set[tuple[int, str]] = set()
    dupes = 0
    latencies = []
    for gid, rid, at in received:
        key = (gid, rid)
        if key in seen:
            dupes += 1
            continue
        seen.add(key)
        if rid in by_report:
            latencies.append(at - by_report[rid]["at"])
    latencies.sort()
    delivered = len(latencies)
    row = {
        "subscribers": args.subscribers, "citywide": args.citywide, "events": len(made),
        "events_per_s": args.rate, "expected": expected, "delivered": delivered,
        "missing": expected - delivered, "duplicates": dupes,
        "p50_ms": round(latencies[len(latencies) // 2] * 1000, 1) if latencies else None,
        "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 1) if latencies else None,
        "connect_s": round(connect_s, 1), "server_cpu_pct": round(100 * cpu / (args.seconds + args.drain), 1),
        "rss_per_conn_kb": round((rss1 - rss0) / args.subscribers, 1), "rss_mb": round(rss2 / 1024, 1),
        "gc_full_max_ms": gc_pauses["gen2"]["max_ms"], "gc_full_n": gc_pauses["gen2"]["collections"],
    }  # fmt: skip
    print(table([row], list(row)))
    emit("realtime", {"result": row, "targets": {"p99_ms": 500, "missing": 0}})


if __name__ == "__main__":
    main()
