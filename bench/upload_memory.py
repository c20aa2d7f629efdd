"""Server memory under concurrent photo uploads (issue 12: twelve uploads of a 112 KB
6300x6300 PNG took a server from 1.2 to 3.5 GB, never released).

    .venv/bin/python -m bench.upload_memory [--uploads 12] [--side 6300] [--side 4800]

Starts `warga serve` on a fresh SQLite database (the embedded default: no services needed),
registers one user per upload, then for each --side sends --uploads concurrent uploads of a
greyscale-noise-free RGB PNG of that side, and prints the server's RSS before, its peak
(VmHWM) and its RSS 3 s after the last answer, with the answers' codes. 6300 is the issue's
picture (refused from its header by MAX_IMAGE_PIXELS); 4800 (23 MP) is decoded in full.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter

import httpx
from PIL import Image

from bench.common import ROOT, emit, free_port, rss_kb, wait_http

UPLOAD = "mutation($f: Upload!) { uploadMedia(file: $f) { id width height } }"
REGISTER = """mutation($h: String!) { register(input: {handle: $h, displayName: "B", password: "rahasia-123"}) {
  token } }"""


def png(side: int) -> bytes:
    img = Image.new("RGB", (side, side), (120, 160, 200))
    buf = io.BytesIO()
    img.save(buf, "PNG", optimize=True)
    return buf.getvalue()


async def run(url: str, pid: int, n: int, sides: list[int]) -> list[dict]:
    rows = []
    async with httpx.AsyncClient(base_url=url, timeout=300) as c:
        tokens = []
        for i in range(n):
            body = (await c.post("/graphql", json={"query": REGISTER, "variables": {"h": f"bench{i}_{time.time_ns() % 10**6}"}})).json()
            tokens.append(body["data"]["register"]["token"])
        for side in sides:
            data = png(side)
            before = rss_kb(pid)["VmRSS"]

            async def one(token: str, data: bytes = data) -> str:
                ops = json.dumps({"query": UPLOAD, "variables": {"f": None}})
                resp = await c.post("/graphql", data={"operations": ops, "map": json.dumps({"0": ["variables.f"]})},
                                    files={"0": ("p.png", data, "image/png")}, headers={"Authorization": f"Bearer {token}"})  # fmt: skip
                body = resp.json()
                return body["errors"][0]["extensions"]["code"] if body.get("errors") else "ok"

            started = time.monotonic()
            codes = Counter(await asyncio.gather(*(one(t) for t in tokens)))
            took = time.monotonic() - started
            await asyncio.sleep(3)
            mem = rss_kb(pid)
            row = {"side": side, "file_kb": len(data) // 1024, "uploads": n, "answers": dict(codes),
                   "seconds": round(took, 1), "rss_before_mb": before // 1024, "peak_mb": mem["VmHWM"] // 1024,
                   "rss_after_mb": mem["VmRSS"] // 1024}  # fmt: skip
            print(row, flush=True)
            rows.append(row)
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--uploads", type=int, default=12)
    p.add_argument("--side", type=int, action="append", help="default: 6300 and 4800")
    args = p.parse_args()
    var = tempfile.mkdtemp(prefix="warga-bench-uploads-")
    port = free_port()
    env = {**os.environ, "WARGA_VAR_DIR": var, "DATABASE_URL": f"sqlite://{var}/w.sqlite3", "BROADCAST_URL": "memory://",
           "SECRET_KEY": "bench", "PORT": str(port), "HOST": "127.0.0.1", "REGISTER_PER_HOUR_PER_ADDRESS": "1000",
           "UPLOADS_IN_FLIGHT_PER_USER": "2"}  # fmt: skip
    subprocess.run([sys.executable, "-c", "import cli; cli.main()", "migrate"], cwd=ROOT, env=env, check=True,
                   capture_output=True)  # fmt: skip
    subprocess.run([sys.executable, "-c", "import cli; cli.main()", "seed"], cwd=ROOT, env=env, check=True,
                   capture_output=True)  # fmt: skip
    proc = subprocess.Popen([sys.executable, "-c", "import cli; cli.main()", "serve", "--log-level", "warning"],
                            cwd=ROOT, env=env)  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/healthz", proc)
        rows = asyncio.run(run(url, proc.pid, args.uploads, args.side or [6300, 4800]))
    finally:
        proc.terminate()
        proc.wait(15)
    emit("upload_memory", {"rows": rows})


if __name__ == "__main__":
    main()
