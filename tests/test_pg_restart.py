"""PostgreSQL stopped under a running Warga and started again (issue 16): requests answer
SERVICE_UNAVAILABLE with extensions.retryAfter (never INTERNAL_SERVER_ERROR), /healthz says
degraded, and Warga recovers by itself once PostgreSQL is back. The PostgreSQL is the test's
own cluster (initdb under a temporary directory, a free port), never the shared server.
(Collected only when WARGA_TEST_BACKEND=postgres; see conftest.collect_ignore.)"""

from __future__ import annotations

import asyncio
import glob
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from itertools import count
from pathlib import Path

import httpx
import pytest

from tests.conftest import IN_CI, OFFICIAL_GEOJSON, free_port, stop_process

ROOT = Path(__file__).resolve().parents[1]
SEARCH = "query($q: String) { reports(filter: {search: $q}, first: 5) { totalCount edges { node { id } } } }"
REGISTER = """mutation($h: String!) {
  register(input: {handle: $h, displayName: "Warga", password: "rahasia-sekali-123"}) { token } }"""
_words = count()


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name) or sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found if isinstance(found, str) else (found[-1] if found else None)


class PgCluster:
    """A PostgreSQL cluster of the test's own (as the postgres user when run as root: initdb
    refuses root)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "data"
        self.port = free_port()
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/warga"

    def _run(self, *cmd: str) -> None:
        if os.geteuid() == 0:
            cmd = ("runuser", "-u", "postgres", "--", *cmd)
        subprocess.run(cmd, check=True, capture_output=True, timeout=60)

    def init(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres")
        self._run(_pg_bin("initdb") or "initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(_pg_bin("pg_ctl") or "pg_ctl", "-D", str(self.data), "-o", options,
                  "-l", str(self.root / "log"), "-w", "start")  # fmt: skip

    def stop(self) -> None:
        self._run(_pg_bin("pg_ctl") or "pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")


@pytest.fixture
def cluster() -> Iterator[PgCluster]:
    if _pg_bin("initdb") is None or _pg_bin("pg_ctl") is None:
        if IN_CI:
            pytest.fail("initdb/pg_ctl are required")
        pytest.skip("initdb/pg_ctl not installed")
    root = Path(tempfile.mkdtemp(prefix="warga-pg-"))
    pg = PgCluster(root)
    try:
        pg.init()
        pg.start()
        yield pg
    finally:
        try:
            pg.stop()
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(root, ignore_errors=True)


def _serve(database_url: str) -> tuple[subprocess.Popen[bytes], int]:
    """Migrate and seed the cluster's database, then start a Warga process on it."""
    env = {**os.environ, "DATABASE_URL": database_url, "BROADCAST_URL": "memory://", "DB_POOL_MAX": "4"}
    seed = [sys.executable, "-m", "cli", "seed"] + (
        ["--regions", OFFICIAL_GEOJSON] if Path(OFFICIAL_GEOJSON).exists() else []
    )
    subprocess.run(
        [sys.executable, "-m", "cli", "migrate"], cwd=ROOT, env=env, check=True, capture_output=True
    )
    subprocess.run(seed, cwd=ROOT, env=env, check=True, capture_output=True)
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "server:create_app", "--factory", "--host", "127.0.0.1",
         "--port", str(port), "--log-level", "critical"],
        cwd=ROOT,
        env=env,
    )  # fmt: skip
    return proc, port


@pytest.fixture
async def warga(cluster: PgCluster) -> AsyncIterator[str]:
    import asyncpg

    admin = await asyncpg.connect(cluster.url.rsplit("/", 1)[0] + "/postgres")
    await admin.execute("CREATE DATABASE warga")
    await admin.close()
    proc, port = await asyncio.to_thread(_serve, cluster.url)
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient() as c:
            for _ in range(300):
                try:
                    if (await c.get(f"{url}/healthz")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert proc.poll() is None, "server process died"
                await asyncio.sleep(0.05)
        yield url
    finally:
        stop_process(proc)


async def _post(c: httpx.AsyncClient, query: str, variables: dict) -> dict:
    resp = await c.post("/graphql", json={"query": query, "variables": variables})
    assert resp.status_code in (200, 503), resp.text
    return resp.json()


async def test_postgres_stopped_then_restarted(cluster: PgCluster, warga: str) -> None:
    async with httpx.AsyncClient(base_url=warga, timeout=30) as c:
        # Distinct words: the read cache must not answer for the database.
        assert not (await _post(c, SEARCH, {"q": f"kata{next(_words)}"})).get("errors")
        assert (await c.get("/healthz")).json()["status"] == "ok"
        token = (await _post(c, REGISTER, {"h": "warga_up"}))["data"]["register"]["token"]

        await asyncio.to_thread(cluster.stop)
        for query, variables in ((SEARCH, {"q": f"kata{next(_words)}"}), (REGISTER, {"h": "warga_down"})):
            for _ in range(2):  # the pooled connections' first failure and a fresh connect's
                body = await _post(c, query, variables)
                err = body["errors"][0]
                assert err["extensions"]["code"] == "SERVICE_UNAVAILABLE", body
                assert (
                    isinstance(err["extensions"]["retryAfter"], int) and err["extensions"]["retryAfter"] > 0
                )
                assert "Traceback" not in str(body) and "asyncpg" not in str(body)
        health = await c.get("/healthz")
        assert health.status_code == 503 and health.json()["status"] == "degraded"
        # A signed-in request needs the database before GraphQL runs (its token's user): 503.
        resp = await c.post(
            "/graphql", json={"query": "{ me { id } }"}, headers={"Authorization": f"Bearer {token}"}
        )
        assert resp.status_code == 503, resp.text
        assert resp.headers["Retry-After"].isdigit()
        assert resp.json()["errors"][0]["extensions"]["code"] == "SERVICE_UNAVAILABLE"
        # Open311 answers in its spec's shape: [{code: 503, description}], with Retry-After.
        for path in ("/open311/v2/requests.json", "/open311/v2/requests/1.json"):
            resp = await c.get(path)
            assert resp.status_code == 503 and resp.json()[0]["code"] == 503, resp.text
            assert resp.headers["Retry-After"].isdigit() and "asyncpg" not in resp.text

        await asyncio.to_thread(cluster.start)
        body: dict = {}
        for _ in range(100):  # recovered without restarting Warga
            body = await _post(c, SEARCH, {"q": f"kata{next(_words)}"})
            if not body.get("errors"):
                break
            assert body["errors"][0]["extensions"]["code"] == "SERVICE_UNAVAILABLE", body
            await asyncio.sleep(0.1)
        assert not body.get("errors"), body
        assert (await c.get("/healthz")).json()["status"] == "ok"
        # Nothing half-written: the mutation refused while down was not applied; it works now.
        assert (await _post(c, REGISTER, {"h": "warga_down"}))["data"]["register"]["token"]
        me = await c.post(
            "/graphql", json={"query": "{ me { handle } }"}, headers={"Authorization": f"Bearer {token}"}
        )
        assert me.json()["data"]["me"]["handle"] == "warga_up"
