"""The feed's throughput for honest clients while attackers stall, flood and overload.

    .venv/bin/python -m bench.abuse --database-url postgres://postgres@127.0.0.1:5432/warga_bench \
        [--seconds 10] [--connections 16] [--rounds 3]

Starts one `warga serve` (the operators' command, so uvicorn runs with the guarded protocol
and its timeouts), measures the anonymous feed with wrk under each attack (and all at once),
each for --seconds, right after an unattacked run of its own, --rounds times:

* slow: 300 slowloris connections trickling header bytes, 100 trickling a body, 100
  websockets (both subprotocols) that never send connection_init, each reopened when cut;
* oversized: 4 clients posting 5 MB bodies in a loop (declared and chunked);
* cycle: 8 clients sending the 300-byte nested `report { timeline { report ...` query of
  issue 12 in a loop (refused before execution by the cost limits; from one address, so after
  REFUSALS_FREE refusals each further one waits: serving/refusals.py);
* all of the above together.

Target: honest throughput under attack above 80% of its unattacked figure. The attackers run
in this process (asyncio) and wrk in its own, all on the same cores as the server: compare
ratios, not absolute figures, between machines.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from typing import Any

from bench.common import ROOT, Server, cpu_seconds, emit, parser, running, table, wait_http, wrk

FEED = """query Feed { reports(first: 20) { edges { node {
  id description status createdAt voteCount commentCount
  category { id code name } kelurahan { id name parent { id name } } author { id handle displayName }
} } } }"""


def cycle_query(report_id: str, levels: int = 8) -> str:
    """Issue 12's 300-byte query: a report's timeline's report's timeline ... `levels` deep."""
    inner = "id"
    for _ in range(levels):
        inner = f"timeline {{ report {{ {inner} }} }}"
    return f'{{ report(id: "{report_id}") {{ {inner} }} }}'


class WargaServe(Server):
    """`warga serve` rather than bare uvicorn: the header timeout lives in its protocol."""

    def start(self) -> WargaServe:
        env = {**os.environ, "DATABASE_URL": self.database_url, "BROADCAST_URL": self.broadcast_url,
               "SECRET_KEY": os.environ.get("SECRET_KEY", "bench-secret"), "HOST": "127.0.0.1",
               "PORT": str(self.port), "LOG_FORMAT": "json", **self.extra_env}  # fmt: skip
        env.setdefault("WARGA_VAR_DIR", tempfile.mkdtemp(prefix="warga-bench-"))
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "import cli; cli.main()", "serve", "--workers", str(self.workers),
             "--log-level", "warning", "--no-access-log"],
            cwd=ROOT, env=env,
        )  # fmt: skip
        wait_http(f"{self.url}/healthz", self.proc, timeout=300)  # a busy shared machine starts slowly
        return self


class Attack:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.stats: Counter[str] = Counter()
        self.stop = asyncio.Event()

    async def _until_stopped(self, coro_factory: Any) -> None:
        while not self.stop.is_set():
            try:
                await coro_factory()
            except (OSError, asyncio.IncompleteReadError, ConnectionError):
                self.stats["reconnects"] += 1
                await asyncio.sleep(0.05)

    async def slow_headers(self) -> None:
        reader, writer = await asyncio.open_connection(self.host, self.port)
        try:
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            while not self.stop.is_set():
                writer.write(b"X-a: b\r\n")
                await writer.drain()
                self.stats["slow_header_bytes"] += 8
                try:
                    if await asyncio.wait_for(reader.read(1024), 2.0) == b"":
                        self.stats["slow_cut"] += 1
                        return
                    self.stats["slow_cut"] += 1
                    return
                except TimeoutError:
                    continue
        finally:
            writer.close()

    async def slow_body(self) -> None:
        reader, writer = await asyncio.open_connection(self.host, self.port)
        try:
            writer.write(b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 100000\r\n\r\n{")  # fmt: skip
            while not self.stop.is_set():
                writer.write(b" ")
                await writer.drain()
                try:
                    await asyncio.wait_for(reader.read(1024), 2.0)
                    self.stats["body_cut"] += 1
                    return
                except TimeoutError:
                    continue
        finally:
            writer.close()

    async def idle_websocket(self, protocol: str) -> None:
        import websockets

        async with websockets.connect(f"ws://{self.host}:{self.port}/graphql", subprotocols=[protocol]) as ws:
            with contextlib.suppress(websockets.ConnectionClosed):
                while not self.stop.is_set():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(ws.recv(), 1.0)
            self.stats["ws_cut"] += 1

    async def oversized(self, chunked: bool) -> None:
        reader, writer = await asyncio.open_connection(self.host, self.port)
        try:
            size = 5 * 1024 * 1024
            head = b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            head += b"Transfer-Encoding: chunked\r\n\r\n" if chunked else f"Content-Length: {size}\r\n\r\n".encode()
            writer.write(head)
            block = b"a" * 65536
            sent = 0
            while sent < size and not self.stop.is_set():
                writer.write((b"10000\r\n" + block + b"\r\n") if chunked else block)
                sent += len(block)
                await writer.drain()
                if reader.at_eof():
                    break
            status = await asyncio.wait_for(reader.readline(), 5)
            self.stats[f"oversized_{status[9:12].decode() or 'closed'}"] += 1
        finally:
            writer.close()

    async def cycle(self, query: str) -> None:
        import httpx

        async with httpx.AsyncClient(base_url=f"http://{self.host}:{self.port}", timeout=120) as c:
            while not self.stop.is_set():
                started = time.monotonic()
                resp = await c.post("/graphql", json={"query": query})
                body = resp.json() if resp.headers.get("content-type", "").startswith("application/") else {}
                code = (body.get("errors") or [{}])[0].get("extensions", {}).get("code", "ok")
                self.stats[f"cycle_{resp.status_code}_{code}"] += 1
                self.stats["cycle_seconds"] += round(time.monotonic() - started, 3)

    def tasks(self, kinds: set[str], cycle: str) -> list[asyncio.Task[None]]:
        out: list[Any] = []
        if "slow" in kinds:
            out += [self._until_stopped(self.slow_headers) for _ in range(300)]
            out += [self._until_stopped(self.slow_body) for _ in range(100)]
            for protocol in ("graphql-ws", "graphql-transport-ws"):
                out += [self._until_stopped(lambda p=protocol: self.idle_websocket(p)) for _ in range(50)]
        if "oversized" in kinds:
            out += [self._until_stopped(lambda c=c: self.oversized(c)) for c in (False, True, False, True)]
        if "cycle" in kinds:
            out += [self._until_stopped(lambda: self.cycle(cycle)) for _ in range(8)]
        return [asyncio.ensure_future(c) for c in out]


async def measure(server: Server, seconds: int, connections: int, kinds: set[str], cycle: str) -> dict[str, Any]:
    host, port = "127.0.0.1", server.port
    attack = Attack(host, port)
    tasks = attack.tasks(kinds, cycle)
    await asyncio.sleep(2 if kinds else 0)  # let the attack take hold first
    assert server.proc is not None
    server_cpu, own_cpu, wall = cpu_seconds(server.proc.pid), time.process_time(), time.monotonic()
    result = await asyncio.to_thread(
        wrk, server.url, "/graphql", [{"query": FEED}], seconds=seconds, connections=connections
    )
    wall = time.monotonic() - wall
    # Where the 2 cores went: the server, and the attackers (this process) on the same machine.
    result["server_cpu"] = f"{100 * (cpu_seconds(server.proc.pid) - server_cpu) / wall:.0f}%"
    result["attacker_cpu"] = f"{100 * (time.process_time() - own_cpu) / wall:.0f}%"
    attack.stop.set()
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    healthz = time.monotonic()
    with socket.create_connection((host, port), timeout=5) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        s.recv(100)
    result["healthz_ms_after"] = round((time.monotonic() - healthz) * 1000, 1)
    result["attack"] = dict(attack.stats)
    return result


async def first_report_id(url: str) -> str:
    import httpx

    async with httpx.AsyncClient(base_url=url) as c:
        body = (await c.post("/graphql", json={"query": "{ reports(first: 1) { edges { node { id } } } }"})).json()
    return body["data"]["reports"]["edges"][0]["node"]["id"]


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--seconds", type=int, default=10)
    p.add_argument("--connections", type=int, default=16)
    p.add_argument("--only", nargs="*", default=["slow", "oversized", "cycle", "all"])
    p.add_argument("--rounds", type=int, default=1, help="repeat every pair; the median ratio is the figure")
    args = p.parse_args()
    server = WargaServe(args.database_url, args.redis_url).start()
    rows = []
    with running(server):
        cycle = cycle_query(asyncio.run(first_report_id(server.url)))
        print(f"cycle query ({len(cycle)} bytes): {cycle}")
        phases = {"slow": {"slow"}, "oversized": {"oversized"}, "cycle": {"cycle"},
                  "all": {"slow", "oversized", "cycle"}}  # fmt: skip
        # Each attacked run right after an unattacked one: this machine's speed drifts by up
        # to a third within minutes (a fixed Python loop: 0.54-0.96 s), so a ratio to one
        # baseline taken minutes earlier measures the drift as much as the attack.
        for round_ in range(1, args.rounds + 1):
            for name in (n for n in args.only if n != "none"):
                base = asyncio.run(measure(server, args.seconds, args.connections, set(), cycle))
                r = asyncio.run(measure(server, args.seconds, args.connections, phases[name], cycle))
                r.update(phase=name, round=round_, unattacked_rps=base["rps"], of_unattacked=r["rps"] / base["rps"])
                rows.append(r)
                print(f"{name} (round {round_}): {r['rps']} req/s against {base['rps']} unattacked, p99"
                      f" {r['p99_ms']} ms; attack {json.dumps(r['attack'])}", flush=True)  # fmt: skip
    shown = [{**r, "of_unattacked": f"{100 * r['of_unattacked']:.0f}%"} for r in rows]
    print(table(shown, ["phase", "round", "unattacked_rps", "rps", "of_unattacked", "p99_ms", "healthz_ms_after",
                        "server_cpu", "attacker_cpu"]))  # fmt: skip
    medians = {
        name: statistics.median(r["of_unattacked"] for r in rows if r["phase"] == name)
        for name in dict.fromkeys(r["phase"] for r in rows)
    }
    print("median of unattacked: " + ", ".join(f"{n} {100 * m:.0f}%" for n, m in medians.items()))
    emit("abuse", {"seconds": args.seconds, "connections": args.connections, "rounds": args.rounds,
                   "cycle_query": cycle, "rows": rows, "median_of_unattacked": medians})  # fmt: skip


if __name__ == "__main__":
    main()
