"""Notifications under ingest: wrk posts createReport as fast as one warga process takes them
while moderators verify followed reports (each verification notifies the reporter, the
report's followers and every area alert covering it), with 10,000 area alerts and 50,000
follows loaded and every listener's device pointing at a local Web Push receiver (in this
process, decrypting each push with http-ece, as a browser would). Prints ingest per second, the
notifications' rate, the queue depth sampled every second, and commit-to-receiver latency.

    .venv/bin/python -m bench.notify --database-url postgres://postgres@127.0.0.1:5432/warga_bench \
        [--seconds 30] [--workers 1] [--verify-rate 5] [--alerts 10000] [--follows 50000] [--batch-seconds 0]

Needs a generated database (python -m bench.generate) with SUBMITTED reports to verify. It adds
users' devices, alerts and follows (removed again at the end) and the reports wrk creates.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import random
import re
import secrets
import shutil
import statistics
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import http_ece
import httpx
import uvicorn
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bench.common import Server, cpu_census, cpu_seconds, emit, free_port, parser, running, table
from bench.ingest import SCRIPT, inputs
from domain.auth import issue_token

KEYS = 64  # key pairs shared round-robin by the bench's devices (any key is as costly to use)
TAG = "bench-notify"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Receiver:
    """Decrypts every push and records, per notification id, when it arrived."""

    def __init__(self) -> None:
        self.keys = [(ec.generate_private_key(ec.SECP256R1()), os.urandom(16)) for _ in range(KEYS)]
        self.arrived: dict[int, float] = {}
        self.pushes = 0
        self.errors = 0
        self.port = free_port()

    def subscription(self, user_id: int) -> tuple[str, str, str]:
        key, auth = self.keys[user_id % KEYS]
        point = key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        return f"http://127.0.0.1:{self.port}/push/{user_id}", b64(point), b64(auth)

    async def push(self, request: Request) -> Response:
        body = await request.body()
        key, auth = self.keys[int(request.path_params["user"]) % KEYS]
        try:
            payload = json.loads(http_ece.decrypt(body, private_key=key, auth_secret=auth, version="aes128gcm"))
        except Exception:
            self.errors += 1
            return Response(status_code=400)
        now = time.time()
        self.pushes += 1
        for i in str(payload["id"]).split(","):
            self.arrived.setdefault(int(i), now)
        return Response(status_code=201)

    async def serve(self) -> uvicorn.Server:
        app = Starlette(routes=[Route("/push/{user}", self.push, methods=["POST"])])
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                               lifespan="off", access_log=False))  # fmt: skip
        asyncio.get_running_loop().create_task(server.serve())
        while not server.started:
            await asyncio.sleep(0.01)
        return server


async def setup(conn: asyncpg.Connection, receiver: Receiver, args: Any) -> list[int]:
    """Devices and alerts of the listeners (follows come once the reports to follow exist)."""
    rng = random.Random(7)
    await cleanup(conn)
    users = [r["id"] for r in await conn.fetch(
        "SELECT id FROM app_user WHERE role = 'CITIZEN' ORDER BY id DESC LIMIT $1", args.listeners)]  # fmt: skip
    now = datetime.now(UTC)
    await conn.copy_records_to_table(
        "push_subscription", columns=["user_id", "endpoint", "p256dh", "auth", "created_at"],
        records=[(u, *receiver.subscription(u), now) for u in users],
    )  # fmt: skip
    kel = [r["id"] for r in await conn.fetch("SELECT id FROM region WHERE level = 'KELURAHAN'")]
    kec = [r["id"] for r in await conn.fetch("SELECT id FROM region WHERE level = 'KECAMATAN'")]
    spots = [(r["lat"], r["lng"]) for r in await conn.fetch("SELECT lat, lng FROM report ORDER BY random() LIMIT 5000")]
    alerts = []
    for i in range(args.alerts):
        owner = users[i % len(users)]
        roll = rng.random()
        if roll < 0.70:
            lat, lng = rng.choice(spots)
            alerts.append((owner, None, lat, lng, rng.randint(300, 2000), "", now))
        elif roll < 0.95:
            alerts.append((owner, rng.choice(kel), None, None, None, "", now))
        else:
            alerts.append((owner, rng.choice(kec), None, None, None, "", now))
    await conn.copy_records_to_table(
        "area_alert", columns=["user_id", "region_id", "lat", "lng", "radius_m", "category_ids", "created_at"],
        records=alerts,
    )  # fmt: skip
    await conn.execute("INSERT INTO key_value (key, value) VALUES ('notify.area_alerts_version', $1)"
                       " ON CONFLICT (key) DO UPDATE SET value = excluded.value", secrets.token_hex(8))  # fmt: skip
    return users


async def follows(conn: asyncpg.Connection, targets: list[int], users: list[int], n: int) -> None:
    rng = random.Random(8)
    chosen: set[tuple[int, int]] = set()
    while len(chosen) < n:
        chosen.add((rng.choice(targets), rng.choice(users)))
    now = datetime.now(UTC)
    await conn.copy_records_to_table("follow", columns=["report_id", "user_id", "created_at"],
                                     records=[(r, u, now) for r, u in chosen])  # fmt: skip


async def make_targets(url: str, tokens: list[str], points: list[tuple[float, float]], categories: list[int],
                       n: int) -> list[int]:  # fmt: skip
    """The SUBMITTED reports the moderators will verify, created through the API."""
    query = "mutation($i: CreateReportInput!) { createReport(input: $i) { id } }"
    tag = secrets.token_hex(4)
    ids: list[int] = []
    limit = asyncio.Semaphore(16)

    async def one(c: httpx.AsyncClient, i: int) -> None:
        lat, lng = points[i % len(points)]
        body = {"query": query, "variables": {"i": {
            "clientRequestId": f"notify-{tag}-{i}", "categoryId": str(categories[i % len(categories)]),
            "description": f"Laporan untuk diverifikasi nomor {i}", "location": {"lat": lat, "lng": lng}}}}  # fmt: skip
        u = i % len(tokens)  # each user from an address of their own, as in bench.ingest
        headers = {"Authorization": f"Bearer {tokens[u]}", "X-Forwarded-For": f"10.{u >> 16 & 255}.{u >> 8 & 255}.{u & 255}"}
        async with limit:
            r = await c.post("/graphql", json=body, headers=headers)
        body = r.json()
        if not body.get("data"):
            raise RuntimeError(f"createReport refused: {body.get('errors')}")
        ids.append(int(body["data"]["createReport"]["id"]))

    async with httpx.AsyncClient(base_url=url, timeout=60) as c:
        await asyncio.gather(*(one(c, i) for i in range(n)))
    return sorted(ids)


async def cleanup(conn: asyncpg.Connection) -> None:
    for table_name in ("follow", "area_alert", "push_subscription", "notification", "notify_settings"):
        await conn.execute(f"TRUNCATE {table_name}")


async def verifier(url: str, token: str, targets: list[int], rate: float, stop: asyncio.Event) -> int:
    """Moderators verifying, `rate` a second, spread evenly."""
    done = 0
    query = "mutation($id: ID!) { verifyReport(id: $id) { id } }"
    async with httpx.AsyncClient(base_url=url, timeout=30) as c:
        start = time.monotonic()
        for rid in targets:
            if stop.is_set():
                break
            await asyncio.sleep(max(0.0, start + done / rate - time.monotonic()))
            r = await c.post("/graphql", json={"query": query, "variables": {"id": str(rid)}},
                             headers={"Authorization": f"Bearer {token}"})  # fmt: skip
            if r.status_code == 200 and not r.json().get("errors"):
                done += 1
    return done


async def run(args: Any) -> None:
    secret = os.environ.get("SECRET_KEY", "bench-secret")
    conn = await asyncpg.connect(args.database_url)
    receiver = Receiver()
    http = await receiver.serve()
    listeners = await setup(conn, receiver, args)
    moderator = await conn.fetchval("SELECT id FROM app_user WHERE role = 'MODERATOR' ORDER BY id LIMIT 1")
    user_ids, points, categories, _ = await inputs(args.database_url, 2000)
    # The moderator verifies --verify-rate a second, past a person's budget of writes.
    env = {"SECRET_KEY": secret, "PUSH_ENDPOINT_HOSTS": "http://127.0.0.1:*", "WRITES_PER_MINUTE": "1000000",
           "NOTIFY_BATCH_SECONDS": str(args.batch_seconds), "NOTIFY_POLL_SECONDS": "1"}  # fmt: skip
    server = Server(args.database_url, args.redis_url, extra_env=env, workers=args.workers).start()
    depth: list[int] = []
    stop = asyncio.Event()
    try:
        with running(server), tempfile.TemporaryDirectory() as tmp:
            tokens = [issue_token(u, secret, 24) for u in user_ids]
            n_targets = max(2000, int(args.verify_rate * args.seconds * 1.5))
            targets = await make_targets(server.url, tokens, points, categories, n_targets)
            await follows(conn, targets, listeners, args.follows)
            await conn.execute("TRUNCATE notification")
            before = await conn.fetchval("SELECT count(*) FROM report")
            files = {
                "ING_TOKENS": "\n".join(tokens),
                "ING_POINTS": "\n".join(f'"lat":{lat:.6f},"lng":{lng:.6f}' for lat, lng in points),
                "ING_CATEGORIES": "\n".join(str(c) for c in categories),
            }
            wrk_env = {**os.environ, "ING_TAG": secrets.token_hex(6)}
            for key, text in files.items():
                (Path(tmp) / key).write_text(text + "\n")
                wrk_env[key] = str(Path(tmp) / key)
            (Path(tmp) / "ingest.lua").write_text(SCRIPT)

            async def sample() -> None:
                while not stop.is_set():
                    depth.append(await conn.fetchval("SELECT count(*) FROM notification WHERE state = 'pending'"))
                    await asyncio.sleep(1)

            cpu0 = cpu_seconds(server.proc.pid)  # type: ignore[union-attr]
            groups = {"server": {server.proc.pid}, "bench": {os.getpid()}}  # type: ignore[union-attr]
            census0 = cpu_census(groups)
            t0 = time.time()
            sampler = asyncio.create_task(sample())
            verifying = asyncio.create_task(
                verifier(server.url, issue_token(moderator, secret, 24), targets, args.verify_rate, stop))
            wrk = await asyncio.create_subprocess_exec(
                shutil.which("wrk") or "wrk", "-t1", f"-c{args.connections}", f"-d{args.seconds}s", "-s",
                str(Path(tmp) / "ingest.lua"), server.url, env=wrk_env, stdout=subprocess.PIPE)  # fmt: skip
            out = (await wrk.communicate())[0].decode()
            stop.set()
            verified = await verifying
            cpu = cpu_seconds(server.proc.pid) - cpu0  # type: ignore[union-attr]
            elapsed = time.time() - t0
            census = {k: v - census0.get(k, 0.0) for k, v in cpu_census(groups).items()}
            # Drain: the queue must empty soon after the load stops (it is bounded, not growing).
            drain_start = time.time()
            while await conn.fetchval("SELECT count(*) FROM notification WHERE state = 'pending'") and \
                    time.time() - drain_start < 120:  # fmt: skip
                await asyncio.sleep(0.5)
            drain = time.time() - drain_start
            sampler.cancel()
    finally:
        stop.set()
        http.should_exit = True
    m = re.search(r"INGJSON (\d+) (\d+) (\d+) (\d+) (\d+) (\d+)", out)
    if not m:
        raise SystemExit(f"no result from wrk:\n{out}")
    _, duration_us, p50, p99, bad, sock = map(int, m.groups())
    created = await conn.fetchval("SELECT count(*) FROM report") - before
    rows = await conn.fetch("SELECT id, created_at, state FROM notification")
    latencies = sorted(receiver.arrived[r["id"]] - r["created_at"].timestamp() for r in rows
                       if r["id"] in receiver.arrived)  # fmt: skip
    states: dict[str, int] = {}
    for r in rows:
        states[r["state"]] = states.get(r["state"], 0) + 1
    missing = sum(1 for r in rows if r["state"] == "sent" and r["id"] not in receiver.arrived)
    await cleanup(conn)
    await conn.close()

    def pct(q: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000, 1) if latencies else 0.0

    row = {
        "ingest_per_s": round(created / (duration_us / 1e6), 1), "ingest_p99_ms": round(p99 / 1000, 1),
        "bad": bad + sock, "verified": verified, "notifications": len(rows),
        "notified_per_s": round(len(rows) / elapsed, 1), "pushes": receiver.pushes,
        "depth_max": max(depth or [0]), "depth_median": int(statistics.median(depth or [0])),
        "drain_s": round(drain, 1), "latency_p50_ms": pct(0.5), "latency_p99_ms": pct(0.99),
        "server_cpu_s": round(cpu, 1), "states": states, "sent_not_received": missing,
        "decrypt_errors": receiver.errors,
    }  # fmt: skip
    # Who took the two cores: the server (every process), this process (the receiver decrypting
    # every push, the moderators), PostgreSQL, and the rest (wrk, which has exited, and others).
    cores = {f"{k}_cores": round(v / elapsed, 2) for k, v in census.items()}
    cores["other_cores"] = round((census["machine_busy"] - census["server"] - census["bench"]
                                  - census["postgres"]) / elapsed, 2)  # fmt: skip
    print(table([{k: v for k, v in row.items() if k != "states"}], [k for k in row if k != "states"]))
    print("queue depth per second:", depth)
    print("cores used:", cores)
    emit("notify", {"seconds": args.seconds, "alerts": args.alerts, "follows": args.follows,
                    "verify_rate": args.verify_rate, "batch_seconds": args.batch_seconds, "result": row, "cores": cores,
                    "p50_ms_wrk": round(p50 / 1000, 1)})  # fmt: skip


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--seconds", type=int, default=30)
    p.add_argument("--workers", type=int, default=1, help="server processes (the sender runs in each)")
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--verify-rate", type=float, default=5.0, help="verifications a second (each notifies ~80)")
    p.add_argument("--alerts", type=int, default=10_000)
    p.add_argument("--follows", type=int, default=50_000)
    p.add_argument("--listeners", type=int, default=20_000, help="users owning the alerts, follows and devices")
    p.add_argument("--batch-seconds", type=float, default=0.0,
                   help="NOTIFY_BATCH_SECONDS (0: every notification is its own push, the most work)")
    args = p.parse_args()
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
