"""Realtime: N websocket subscribers (most filtered to one kelurahan, some city-wide) on one
warga process while reports are created at E events/s; delivery latency from the event's
commit time to the client, missing and duplicate deliveries, server CPU and RSS per connection,
and the garbage collector's pauses (the longest while connecting and during the run).

    .venv/bin/python -m bench.realtime --database-url postgres://postgres@127.0.0.1:5432/warga_bench \
        [--subscribers 19500] [--citywide 100] [--rate 20] [--seconds 30] [--client-procs 4] \
        [--churn 10 --churn-pool 1000]

Clients run in their own processes (graphql-transport-ws, `reportCreated(filter)`); each
process holds at most ~5,000 sockets (these machines cap open files at 20,000 per process).
With `--churn R`, `--churn-pool` of the subscribers come and go: R of them per second close
their socket and a new connection (same filter) takes the place, so the server keeps seeing
bursts of new connections; their deliveries are not counted (they miss events while away).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import multiprocessing as mp
import os
import random
import resource
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg
import httpx
import websockets

from bench.common import OPERATOR, Server, cpu_seconds, emit, parser, rss_kb, running, table
from domain.auth import issue_token

# What a phone's live city feed shows of each new report.
SUB = """subscription($f: FeedFilter) { reportCreated(filter: $f) { id description status createdAt
  category { code name } kelurahan { name parent { name } } location { lat lng } voteCount commentCount } }"""
CREATE = "mutation($i: CreateReportInput!) { createReport(input: $i) { id createdAt kelurahan { id } } }"


def raise_nofile() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


Share = list[tuple[int, int | None, bool]]  # subscriber number, kelurahan (None: city-wide), churns


async def _client(url: str, share: Share, churn: float, ready: Any, stop: Any, out: Any) -> None:
    """One process's share of subscribers: connect them all, then record what each receives
    (and, with churn, replace `churn` churning subscribers per second)."""
    received: list[tuple[int, str, float]] = []
    sockets: dict[int, Any] = {}
    handshakes = asyncio.Semaphore(200)  # a bounded connection storm
    connected = 0
    all_in = asyncio.Event()
    replaced = 0
    failures: list[int] = []

    async def one(gid: int, region: int | None, counted: bool) -> None:
        try:
            await subscribed(gid, region, counted)
        except (OSError, websockets.WebSocketException):
            if counted:
                raise
            failures.append(gid)  # a churner could not come back: counted, not fatal

    async def subscribed(gid: int, region: int | None, counted: bool) -> None:
        nonlocal connected
        async with handshakes:
            ws = await websockets.connect(url, subprotocols=["graphql-transport-ws"], open_timeout=300,
                                          ping_interval=None, max_queue=None)  # fmt: skip
            sockets[gid] = ws
            await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
            await ws.recv()
            variables = {"f": {"regionId": str(region)}} if region is not None else {}
            await ws.send(json.dumps({"id": "1", "type": "subscribe",
                                      "payload": {"query": SUB, "variables": variables}}))  # fmt: skip
        connected += 1
        if connected == len(share):
            all_in.set()
        with contextlib.suppress(websockets.ConnectionClosed):
            async for raw in ws:
                msg = json.loads(raw)
                if counted and msg.get("type") == "next":
                    received.append((gid, msg["payload"]["data"]["reportCreated"]["id"], time.time()))

    tasks = {gid: asyncio.create_task(one(gid, region, not churns)) for gid, region, churns in share}
    await all_in.wait()
    # The client's own collector must not show in the server's figures: a full collection of
    # 5,000 sockets' state here would delay the receipt times of whatever arrives meanwhile.
    gc.collect()
    gc.freeze()
    with ready.get_lock():
        ready.value += len(share)
    churners = [(gid, region) for gid, region, churns in share if churns]

    async def churn_forever() -> None:
        """Every 1/churn s one churner leaves (its socket closed) and a new connection joins."""
        nonlocal replaced
        rng = random.Random(len(share))
        next_at = time.monotonic()
        while True:
            next_at += 1 / churn
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            gid, region = rng.choice(churners)
            with contextlib.suppress(Exception):
                await sockets[gid].close()
            tasks[gid] = asyncio.create_task(one(gid, region, False))
            replaced += 1

    churning = asyncio.create_task(churn_forever()) if churn > 0 and churners else None
    await asyncio.get_running_loop().run_in_executor(None, stop.wait)
    if churning is not None:
        churning.cancel()
    for ws in sockets.values():
        with contextlib.suppress(Exception):
            await ws.close()
    for t in tasks.values():
        t.cancel()
    out.put((received, replaced, len(failures)))


def client_process(url: str, share: Share, churn: float, ready: Any, stop: Any, out: Any) -> None:
    raise_nofile()
    asyncio.run(_client(url, share, churn, ready, stop, out))


@dataclass
class Observed:
    """What the bench sees of the server while it runs: the collector's long pauses (/healthz
    lists the last 20, so it is polled often), the machine's load average, the server's RSS."""

    pauses: dict[tuple[str, float], dict[str, Any]] = field(default_factory=dict)
    loads: list[float] = field(default_factory=list)
    rss_kb: list[int] = field(default_factory=list)

    def absorb(self, health: dict[str, Any]) -> dict[str, Any]:
        """The collector part of a /healthz answer, its long pauses noted."""
        status: dict[str, Any] = health.get("gc", {})
        for pause in status.get("long_pauses", []):
            self.pauses[(pause["kind"], pause["at"])] = pause
        return status

    def longest(self, since: float, until: float = float("inf")) -> dict[str, Any] | None:
        """The longest pause listed between two times (None: none reached the listing threshold)."""
        inside = [p for p in self.pauses.values() if since <= p["at"] <= until]
        return max(inside, key=lambda p: p["ms"]) if inside else None

    async def watch(self, server_url: str, pid: int, every: float) -> None:
        async with httpx.AsyncClient(timeout=60) as c:
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    self.absorb((await c.get(f"{server_url}/healthz", headers=OPERATOR)).json())
                self.loads.append(os.getloadavg()[0])
                self.rss_kb.append(rss_kb(pid)["VmRSS"])
                await asyncio.sleep(every)


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


async def run_load(args: Any, server: Server, token: str, pts: list[tuple[float, float, int]],
                   categories: list[str], observed: Observed) -> list[dict[str, Any]]:  # fmt: skip
    """Publish for the run (and drain), watching /healthz meanwhile."""
    assert server.proc is not None
    watcher = asyncio.create_task(observed.watch(server.url, server.proc.pid, args.watch_every))
    try:
        made = await publish(server.url, token, pts, args.rate, args.seconds, categories)
        await asyncio.sleep(args.drain)
    finally:
        watcher.cancel()
    return made


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--subscribers", type=int, default=19_500)
    p.add_argument("--citywide", type=int, default=100)
    p.add_argument("--rate", type=float, default=20, help="reports created per second")
    p.add_argument("--seconds", type=float, default=30)
    p.add_argument("--client-procs", type=int, default=4)
    p.add_argument("--drain", type=float, default=3, help="seconds to wait for late deliveries")
    p.add_argument(
        "--churn", type=float, default=0, help="subscribers leaving (and as many joining) per second"
    )
    p.add_argument("--churn-pool", type=int, default=1000, help="subscribers that churn (with --churn)")
    p.add_argument(
        "--watch-every", type=float, default=2, help="seconds between /healthz polls during the run"
    )
    p.add_argument("--server-env", action="append", default=[], metavar="NAME=VALUE",
                   help="extra environment for the server, e.g. GC_BURST_CONNECTIONS=500")  # fmt: skip
    args = p.parse_args()
    raise_nofile()
    kel, pts, user = asyncio.run(points(args.database_url))
    if not pts:
        raise SystemExit("no reports: run python -m bench.generate first")
    secret = "bench-secret"
    # Every subscriber connects from this machine's one address.
    server_env = {"SECRET_KEY": secret, "REPORTS_PER_MINUTE": "100000", "REPORTS_PER_MINUTE_PER_ADDRESS": "100000",
                  "SOCKETS_PER_ADDRESS": "1000000", "SOCKETS_PER_USER": "1000000",
                  **dict(e.split("=", 1) for e in args.server_env)}  # fmt: skip
    server = Server(args.database_url, args.redis_url, extra_env=server_env, start_timeout=600).start()
    regions: list[int | None] = [None] * args.citywide + [
        kel[i % len(kel)] for i in range(args.subscribers - args.citywide)
    ]
    pool = min(args.churn_pool, args.subscribers - args.citywide) if args.churn > 0 else 0
    churns = [i >= args.subscribers - pool for i in range(args.subscribers)]  # the last `pool` (filtered)
    ctx = mp.get_context("spawn")
    ready, stop, out = ctx.Value("i", 0), ctx.Event(), ctx.Queue()
    numbered = [(i, region, churns[i]) for i, region in enumerate(regions)]
    shares = [numbered[i :: args.client_procs] for i in range(args.client_procs)]
    url = server.url.replace("http", "ws") + "/graphql"
    with running(server):
        pid = server.proc.pid  # type: ignore[union-attr]
        httpx.get(f"{server.url}/healthz", headers=OPERATOR, timeout=60)
        rss0 = rss_kb(pid)["VmRSS"]
        procs = [ctx.Process(target=client_process, args=(url, share, args.churn / args.client_procs, ready, stop, out))
                 for share in shares]  # fmt: skip
        t_connect = time.monotonic()
        connect_from = time.time()
        for proc in procs:
            proc.start()
        observed = Observed()
        last_said = 0.0
        while True:
            try:  # a server busy accepting thousands of sockets answers slowly
                health = httpx.get(f"{server.url}/healthz", headers=OPERATOR, timeout=60).json()
            except httpx.HTTPError:
                continue
            observed.absorb(health)
            subs = health["broadcast"]["subscribers"]
            if time.monotonic() - last_said > 10:
                last_said = time.monotonic()
                print(f"connecting: {subs} of {args.subscribers}", file=sys.stderr, flush=True)
            if subs >= args.subscribers:
                break
            if time.monotonic() - t_connect > 600:
                raise SystemExit(f"only {subs} subscribers after 10 minutes")
            time.sleep(0.5)
        connect_s = time.monotonic() - t_connect
        time.sleep(args.drain)  # the connection burst settles (and is frozen) before the run
        rss1 = rss_kb(pid)["VmRSS"]
        gc_before = observed.absorb(httpx.get(f"{server.url}/healthz", headers=OPERATOR, timeout=60).json())
        categories = [
            str(c["id"])
            for c in httpx.post(f"{server.url}/graphql", json={"query": "{ categories { id } }"}).json()[
                "data"
            ]["categories"]
        ]
        cpu0 = cpu_seconds(pid)
        run_from = time.time()
        print(f"connected in {connect_s:.0f} s; running {args.seconds:.0f} s", file=sys.stderr, flush=True)
        made = asyncio.run(run_load(args, server, issue_token(user, secret, 1), pts, categories, observed))
        cpu = cpu_seconds(pid) - cpu0
        gc_after = observed.absorb(httpx.get(f"{server.url}/healthz", headers=OPERATOR, timeout=60).json())
        rss2 = rss_kb(pid)["VmRSS"]
        stop.set()
        received: list[tuple[int, str, float]] = []
        replaced = churn_failed = 0
        for _ in procs:
            got, n, failed = out.get()
            received += got
            replaced += n
            churn_failed += failed
        for proc in procs:
            proc.join(30)
    by_report = {m["id"]: m for m in made}
    expected = 0
    per_kel: dict[int, int] = {}
    citywide = 0
    for r, churning in zip(regions, churns, strict=True):
        if churning:
            continue
        if r is None:
            citywide += 1
        else:
            per_kel[r] = per_kel.get(r, 0) + 1
    for m in made:
        expected += citywide + per_kel.get(m["kelurahan"], 0)
    seen_deliveries: set[tuple[int, str]] = set()
    dupes = 0
    latencies = []
    for gid, rid, at in received:
        key = (gid, rid)
        if key in seen_deliveries:
            dupes += 1
            continue
        seen_deliveries.add(key)
        if rid in by_report:
            latencies.append(at - by_report[rid]["at"])
    latencies.sort()
    delivered = len(latencies)
    connecting = observed.longest(connect_from, run_from)
    during = observed.longest(run_from)
    loads = observed.loads
    row = {
        "subscribers": args.subscribers, "citywide": args.citywide, "churn_per_s": args.churn,
        "churn_pool": pool, "replaced": replaced, "churn_failed": churn_failed, "events": len(made),
        "events_per_s": args.rate, "seconds": args.seconds, "expected": expected, "delivered": delivered,
        "missing": expected - delivered, "duplicates": dupes,
        "p50_ms": round(latencies[len(latencies) // 2] * 1000, 1) if latencies else None,
        "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 1) if latencies else None,
        "max_ms": round(latencies[-1] * 1000, 1) if latencies else None,
        "connect_s": round(connect_s, 1), "server_cpu_pct": round(100 * cpu / (args.seconds + args.drain), 1),
        "rss_per_conn_kb": round((rss1 - rss0) / args.subscribers, 1),
        "rss_mb_run_start": round(rss1 / 1024, 1), "rss_mb_run_end": round(rss2 / 1024, 1),
        "rss_mb_run_max": round(max([rss2, *observed.rss_kb]) / 1024, 1),
        # The longest collector pause (automatic collection, freeze or thaw) while connecting and
        # during the run; "<N" when none reached the server's listing threshold.
        "gc_max_connecting": _pause(connecting, gc_before), "gc_max_run": _pause(during, gc_after),
        "freezes_run": _count(gc_after, gc_before, "freezes"), "thaws_run": _count(gc_after, gc_before, "thaws"),
        "gen2_run": _count(gc_after, gc_before, "gen2"), "frozen_end": gc_after.get("frozen"),
        "load_avg_max": round(max(loads), 2) if loads else None,
        "load_avg_mean": round(sum(loads) / len(loads), 2) if loads else None,
    }  # fmt: skip
    print(table([row], list(row)))
    emit("realtime", {"args": vars(args), "result": row, "long_pauses": sorted(observed.pauses.values(), key=lambda p: p["at"]),
                      "targets": {"p99_ms": 100, "missing": 0, "gc_max_run_ms": 500}})  # fmt: skip


def _pause(found: dict[str, Any] | None, status: dict[str, Any]) -> str:
    if found is not None:
        return f"{found['ms']} ({found['kind']})"
    if "long_pauses" in status:
        return "<50"
    # A server from before the freeze policy: only its worst full collection so far.
    return f"<={status.get('gen2', {}).get('max_ms')}"


def _count(after: dict[str, Any], before: dict[str, Any], key: str) -> int | None:
    a, b = after.get(key), before.get(key)
    if not isinstance(a, dict) or not isinstance(b, dict):
        return None
    name = "count" if "count" in a else "collections"
    return a[name] - b[name]


if __name__ == "__main__":
    main()
