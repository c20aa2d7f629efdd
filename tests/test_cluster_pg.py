"""PostgreSQL + Redis only: commits out of order, two server processes, a Redis restart.
(Collected only when WARGA_TEST_BACKEND=postgres; see conftest.collect_ignore.)"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port, hub_idle, stop_process
from tests.helpers import CREATE_REPORT, MONAS, OPERATOR, OPERATOR_TOKEN, category_id, citizen, ok, staff
from tests.ws import LEGACY_WS, TRANSPORT_WS, GraphQLWebSocket

ROOT = Path(__file__).resolve().parents[1]
EVENTS = """subscription($after: String) { reportEvents(after: $after) {
  cursor kind report { id description } } }"""


async def test_commits_out_of_order_are_never_skipped(app, client, live_url):
    """T1 writes an event first but commits last; a reader polling in between must neither
    deliver T2's event before T1's nor lose T1's for good (an id-ordered reader would)."""
    from tortoise.transactions import in_transaction

    from domain.tx import now
    from models.enums import EventKind
    from subscriptions import log

    token, _ = await citizen(client)
    created = (
        await ok(
            client,
            CREATE_REPORT,
            {
                "input": {
                    "clientRequestId": "ooo",
                    "categoryId": category_id("sampah"),
                    "description": "Sampah di depan pasar",
                    "location": MONAS,
                }
            },
            token,
        )
    )["createReport"]
    rid = int(created["id"])
    await hub_idle(app)
    start = await log.head()

    url = f"ws://{live_url}/graphql"
    async with GraphQLWebSocket(url, TRANSPORT_WS) as ws:
        await ws.subscribe(EVENTS, {"after": start.encode()})
        first_written = asyncio.Event()
        release = asyncio.Event()
        ids: dict[str, int] = {}

        async def slow_writer() -> None:
            async with in_transaction() as conn:
                ids["t1"] = await log.append(conn, EventKind.VOTES_CHANGED, rid, None, None, now())
                first_written.set()
                await release.wait()

        t1 = asyncio.create_task(slow_writer())
        await first_written.wait()
        async with in_transaction() as conn:
            ids["t2"] = await log.append(conn, EventKind.COMMENT_ADDED, rid, None, None, now())
        assert ids["t1"] < ids["t2"]
        # T2 committed, T1 still in flight: nothing may be read past T1's horizon yet.
        assert await log.read_after(start) == []
        await ws.nothing_more(0.6)
        release.set()
        await t1
        events = await log.read_after(start)
        assert [e.position.id for e in events] == [ids["t1"], ids["t2"]]
        got = [d["reportEvents"] for _, d in await ws.take(2)]
        assert [g["kind"] for g in got] == ["VOTES_CHANGED", "COMMENT_ADDED"]
        await ws.nothing_more()


# ---------------------------------------------------------------- real processes


class RedisServer:
    """A redis-server of the test's own on a spare port, to stop and start at will."""

    def __init__(self) -> None:
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        exe = shutil.which("redis-server")
        assert exe, "redis-server is required (.ci/services installs it)"
        self.proc = subprocess.Popen(
            [exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        import socket

        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


class ServerProcess:
    def __init__(self, redis_port: int, extra_env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        env = {
            **os.environ,
            "BROADCAST_URL": f"redis://127.0.0.1:{redis_port}/0",
            "PORT": str(self.port),
            "METRICS_TOKEN": OPERATOR_TOKEN,  # /healthz's counters (tests/test_notifications_cluster_pg.py)
            **(extra_env or {}),
        }
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "server:create_app",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=env,
        )
        self.url = f"http://127.0.0.1:{self.port}"

    async def ready(self) -> None:
        """Up to 30 s: a process's start took over 15 s on a loaded 2-core machine (session 17)."""
        async with httpx.AsyncClient() as c:
            for _ in range(600):
                try:
                    if (await c.get(f"{self.url}/healthz")).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                assert self.proc.poll() is None, "server process died"
                await asyncio.sleep(0.05)
        raise RuntimeError("server did not start")

    async def health(self) -> dict:
        async with httpx.AsyncClient() as c:
            return (await c.get(f"{self.url}/healthz", headers=OPERATOR)).json()

    def stop(self) -> None:
        stop_process(self.proc)


@pytest.fixture
async def cluster(app) -> AsyncIterator[tuple[RedisServer, ServerProcess, ServerProcess]]:
    redis = RedisServer()
    redis.start()
    a, b = ServerProcess(redis.port), ServerProcess(redis.port)
    try:
        await asyncio.gather(a.ready(), b.ready())
        yield redis, a, b
    finally:
        a.stop()
        b.stop()
        redis.stop()


async def _post(base: str, token: str, i: int) -> str:
    async with httpx.AsyncClient(base_url=base) as c:
        body = {
            "query": CREATE_REPORT,
            "variables": {
                "input": {
                    "clientRequestId": f"cluster-{i}",
                    "categoryId": category_id("sampah"),
                    "description": f"Laporan nomor {i} dari klaster",
                    "location": MONAS,
                }
            },
        }
        resp = await c.post("/graphql", json=body, headers={"Authorization": f"Bearer {token}"})
        data = resp.json()
        assert not data.get("errors"), data
        return data["data"]["createReport"]["id"]


async def _head_cursor(app) -> str:
    from subscriptions import log

    await hub_idle(app)
    return (await log.head()).encode()


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_subscriber_on_one_process_sees_mutations_on_the_other(app, client, cluster, protocol):
    _, a, b = cluster
    token, _ = await citizen(client)
    after = await _head_cursor(app)
    async with GraphQLWebSocket(f"ws://127.0.0.1:{a.port}/graphql", protocol) as ws:
        await ws.subscribe(EVENTS, {"after": after})
        ids = []
        for i in range(6):
            started = time.monotonic()
            ids.append(await _post(b.url, token, i))
            _, data = await ws.next(timeout=5)
            # Well under the hub's 2 s safety poll: the announcement crossed processes.
            assert time.monotonic() - started < 1.5
            assert data["reportEvents"]["report"]["id"] == ids[-1]
        await ws.nothing_more()
    health = await a.health()
    assert health["broadcast"]["backend"] == "redis" and health["broadcast"]["connected"] is True


async def test_redis_restart_loses_no_event(app, client, cluster):
    redis, a, b = cluster
    token, _ = await citizen(client)
    moderator, _ = await staff(client, "MODERATOR")
    assert moderator
    after = await _head_cursor(app)
    async with GraphQLWebSocket(f"ws://127.0.0.1:{a.port}/graphql", TRANSPORT_WS) as ws:
        await ws.subscribe(EVENTS, {"after": after})
        expected = []
        n = 0
        for phase in ("before", "during", "after"):
            if phase == "during":
                redis.stop()
            if phase == "after":
                redis.start()
                for server in (a, b):
                    await _until_connected(server)
            for server in (a, b, a, b):
                expected.append(await _post(server.url, token, n))
                n += 1
        got = [d["reportEvents"] for _, d in await ws.take(len(expected), timeout=10)]
        assert [g["report"]["id"] for g in got] == expected
        assert len({g["cursor"] for g in got}) == len(expected)
        await ws.nothing_more()
    for server in (a, b):
        state = (await server.health())["broadcast"]
        assert state["connected"] is True and state["reconnects"] >= 1, state


async def _until_connected(server: ServerProcess) -> None:
    for _ in range(200):
        state = (await server.health())["broadcast"]
        if state["connected"] and state["reconnects"] >= 1:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{server.url} did not reconnect to Redis")


# ---------------------------------------------------------------- foreign transactions


async def test_foreign_write_transactions_do_not_hold_events_back(app, client, live_url):
    """Two write transactions Warga knows nothing of stay open for 30 s: one on ANOTHER
    database of the same server, one on Warga's own database (a session idle in a transaction,
    outside Warga's code). Meanwhile Warga publishes: every event arrives within 1 s of its
    commit, in commit order, none skipped, none twice."""
    import asyncpg

    from tests.conftest import PG_URL

    token, _ = await citizen(client)
    after = await _head_cursor(app)
    server, name = PG_URL.rsplit("/", 1)
    other_db = f"{name}_foreign"
    admin = await asyncpg.connect(f"{server}/postgres")
    await admin.execute(f'DROP DATABASE IF EXISTS "{other_db}" WITH (FORCE)')
    await admin.execute(f'CREATE DATABASE "{other_db}"')
    elsewhere = await asyncpg.connect(f"{server}/{other_db}")
    own = await asyncpg.connect(PG_URL)
    try:
        await elsewhere.execute("CREATE TABLE bulk (n int)")
        await own.execute("CREATE TABLE IF NOT EXISTS foreign_probe (n int)")
        held = []
        for conn, table in ((elsewhere, "bulk"), (own, "foreign_probe")):
            await conn.execute("BEGIN")
            await conn.execute(f"INSERT INTO {table} VALUES (1)")
            held.append(int(await conn.fetchval("SELECT pg_current_xact_id()::text::bigint")))
        async with GraphQLWebSocket(f"ws://{live_url}/graphql", TRANSPORT_WS) as ws:
            await ws.subscribe(EVENTS, {"after": after})
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 30
            expected: list[str] = []
            lags: list[float] = []
            n = 0
            while loop.time() < deadline:
                report_id = await _post_inprocess(client, token, n)
                committed = loop.time()
                expected.append(report_id)
                _, data = await ws.next(timeout=2)
                lags.append(loop.time() - committed)
                assert data["reportEvents"]["report"]["id"] == report_id, (n, data)
                n += 1
                await asyncio.sleep(0.25)
            await ws.nothing_more()
        assert len(expected) >= 60 and max(lags) < 1.0, (len(expected), max(lags))
        # Both were still open all along, and the cluster-wide horizon would have held back
        # every one of these events.
        for conn in (elsewhere, own):
            assert await conn.fetchval("SELECT pg_current_xact_id_if_assigned() IS NOT NULL")
        xmin = int(await own.fetchval("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint"))
        assert xmin <= min(held)
        behind = await own.fetchval("SELECT count(*) FROM event WHERE tx >= $1", xmin)
        assert behind >= len(expected)
    finally:
        for conn in (elsewhere, own):
            await conn.close()
        await admin.execute(f'DROP DATABASE IF EXISTS "{other_db}" WITH (FORCE)')
        await admin.close()


async def _post_inprocess(client, token: str, i: int) -> str:
    body = {
        "query": CREATE_REPORT,
        "variables": {
            "input": {
                "clientRequestId": f"foreign-{i}",
                "categoryId": category_id("sampah"),
                "description": f"Laporan nomor {i} saat transaksi asing terbuka",
                "location": MONAS,
            }
        },
    }
    resp = await client.post("/graphql", json=body, headers={"Authorization": f"Bearer {token}"})
    data = resp.json()
    assert not data.get("errors"), data
    return data["data"]["createReport"]["id"]


# ---------------------------------------------------------------- limits across processes


@pytest.fixture
async def limited_cluster(app) -> AsyncIterator[tuple[ServerProcess, ServerProcess]]:
    redis = RedisServer()
    redis.start()
    env = {"REGISTER_PER_HOUR_PER_ADDRESS": "4", "LOGINS_PER_MINUTE_PER_ADDRESS": "1000"}
    a, b = ServerProcess(redis.port, env), ServerProcess(redis.port, env)
    try:
        await asyncio.gather(a.ready(), b.ready())
        yield a, b
    finally:
        a.stop()
        b.stop()
        redis.stop()


async def _gql(base: str, query: str, variables: dict | None = None) -> dict:
    async with httpx.AsyncClient(base_url=base) as c:
        return (await c.post("/graphql", json={"query": query, "variables": variables or {}})).json()


async def test_rate_limits_hold_across_two_processes_sharing_redis(app, limited_cluster):
    a, b = limited_cluster
    register = """mutation($h: String!) { register(input: {handle: $h, displayName: "X",
      password: "rahasia-123"}) { token } }"""
    for server, handle in ((a, "klaster1"), (b, "klaster2"), (a, "klaster3")):
        assert not (await _gql(server.url, register, {"h": handle})).get("errors")
    # One left between both processes: two aliased registrations on B are refused whole.
    two = """mutation { x: register(input: {handle: "klaster4", displayName: "X", password: "rahasia-123"}) { token }
      y: register(input: {handle: "klaster5", displayName: "X", password: "rahasia-123"}) { token } }"""
    body = await _gql(b.url, two)
    assert body["data"] is None and [e["extensions"]["code"] for e in body["errors"]] == ["RATE_LIMITED"] * 2
    assert not (await _gql(b.url, register, {"h": "klaster4"})).get("errors")
    body = await _gql(a.url, register, {"h": "klaster6"})
    assert body["errors"][0]["extensions"]["code"] == "RATE_LIMITED"

    # Password guesses: five free failures spread over both processes, the sixth starts a
    # backoff that the other process enforces at once.
    login = """mutation($p: String!) { login(input: {login: "klaster1", password: $p}) { token } }"""
    for i in range(6):
        body = await _gql((a, b)[i % 2].url, login, {"p": "salah-salah"})
        assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED", i
    body = await _gql(b.url, login, {"p": "rahasia-123"})
    assert body["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
    assert body["errors"][0]["extensions"]["retryAfter"] >= 1
