"""What the benchmarks share: the machine record, starting and stopping servers, wrk, and
the table + JSON each script prints."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/warga_bench"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def machine() -> dict[str, Any]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_kb = 0
    with contextlib.suppress(OSError, ValueError):
        mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    versions = {}
    for pkg in (
        "strawberry-graphql",
        "starlette",
        "uvicorn",
        "tortoise-orm",
        "asyncpg",
        "graphql-core",
        "redis",
        "broadcaster",
    ):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[pkg] = metadata.version(pkg)
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "versions": versions,
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


# The benches' servers show /healthz's counters (subscribers, the collector) to this token.
OPERATOR_TOKEN = "bench-operator"
OPERATOR = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}


@dataclass
class Server:
    """A `warga` server process (uvicorn) against the given database and broadcast."""

    database_url: str
    broadcast_url: str = DEFAULT_REDIS
    workers: int = 1
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    start_timeout: float = 60  # seconds to answer /healthz (a loaded machine needs more)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Server:
        env = {**os.environ, "DATABASE_URL": self.database_url, "BROADCAST_URL": self.broadcast_url,
               "SECRET_KEY": os.environ.get("SECRET_KEY", "bench-secret"), "METRICS_TOKEN": OPERATOR_TOKEN,
               **self.extra_env}  # fmt: skip
        env.setdefault("WARGA_VAR_DIR", tempfile.mkdtemp(prefix="warga-bench-"))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "server:create_app", "--factory", "--host", "127.0.0.1",
             "--port", str(self.port), "--workers", str(self.workers), "--log-level", "warning",
             "--no-access-log"],
            cwd=ROOT, env=env,
        )  # fmt: skip
        try:
            wait_http(f"{self.url}/healthz", self.proc, self.start_timeout)
        except BaseException:
            self.stop()  # never leave a server behind
            raise
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def wait_http(url: str, proc: subprocess.Popen[bytes] | None = None, timeout: float = 60) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process for {url} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status < 500:
                    return
        except Exception:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up in {timeout} s")


WRK_SCRIPT = r"""
local bodies = {}
for line in io.lines(os.getenv("WRK_BODIES")) do bodies[#bodies + 1] = line end
local token = os.getenv("WRK_TOKEN")
local i = 0
request = function()
  i = i % #bodies + 1
  local headers = {["Content-Type"] = "application/json"}
  if token and token ~= "" then headers["Authorization"] = "Bearer " .. token end
  return wrk.format("POST", os.getenv("WRK_PATH"), headers, bodies[i])
end
-- response() runs in each thread's Lua state and done() in the main one: the threads' counts
-- are read back through setup()'s handles (a local here would always read 0 in done()).
local threads = {}
setup = function(thread) table.insert(threads, thread) end
non2xx = 0
response = function(status, headers, body)
  if status ~= 200 or string.find(body, '"errors"', 1, true) then non2xx = non2xx + 1 end
end
done = function(summary, latency, requests)
  local bad = 0
  for _, t in ipairs(threads) do bad = bad + (t:get("non2xx") or 0) end
  io.write(string.format(
    'WRKJSON {"requests": %d, "duration_us": %d, "errors": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "bad": %d}\n',
    summary.requests, summary.duration,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.status + summary.errors.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), bad))
end
"""


def wrk(url: str, path: str, bodies: Sequence[dict[str, Any]], *, seconds: int, connections: int,
        token: str | None = None, threads: int = 1) -> dict[str, float]:  # fmt: skip
    """Run wrk (its own process) with POST bodies taken in turn; requests/s and latencies in ms.
    Responses with GraphQL errors count as bad (the script then fails loudly)."""
    exe = shutil.which("wrk")
    if exe is None:
        raise SystemExit("wrk is required: apt-get install wrk")
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "post.lua"
        script.write_text(WRK_SCRIPT)
        body_file = Path(tmp) / "bodies.txt"
        body_file.write_text("\n".join(json.dumps(b) for b in bodies) + "\n")
        env = {**os.environ, "WRK_BODIES": str(body_file), "WRK_PATH": path, "WRK_TOKEN": token or ""}
        out = subprocess.run(
            [exe, "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s", "--timeout", "30s", "--latency", "-s", str(script),
             url],
            env=env, capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
    match = re.search(r"WRKJSON (\{.*\})", out)
    if not match:
        raise RuntimeError(f"no result from wrk:\n{out}")
    r = json.loads(match.group(1))
    if r["bad"] or r["errors"]:
        raise RuntimeError(
            f"{r['bad']} bad responses and {r['errors']} socket errors for {path}: {bodies[0]}"
        )
    return {
        "rps": round(r["requests"] / (r["duration_us"] / 1e6), 1),
        "p50_ms": round(r["p50_us"] / 1000, 2),
        "p90_ms": round(r["p90_us"] / 1000, 2),
        "p99_ms": round(r["p99_us"] / 1000, 2),
        "requests": r["requests"],
    }


def table(rows: list[dict[str, Any]], columns: Sequence[str]) -> str:
    widths = [max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in columns]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    for r in rows:
        lines.append("  ".join(str(r.get(c, "")).ljust(w) for c, w in zip(columns, widths, strict=True)))
    return "\n".join(lines)


def emit(name: str, record: dict[str, Any]) -> None:
    """The JSON record of a run, on one line, and appended to bench/results/<name>.jsonl."""
    line = json.dumps({"bench": name, "machine": machine(), **record}, default=str)
    print("RESULT " + line)
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    with (out / f"{name}.jsonl").open("a") as fh:
        fh.write(line + "\n")


def rss_kb(pid: int) -> dict[str, int]:
    """Current and peak resident memory of a process (kB), from /proc."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0])
    return values


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def cpu_census(groups: dict[str, set[int]]) -> dict[str, float]:
    """CPU seconds used so far by each group of processes (by pid; a pid's children count with
    it), PostgreSQL's backends by name, and the whole machine: two censuses subtracted tell who
    took the cores during a run on a machine whose load generator, receiver and database share
    them with the server."""
    ticks = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    used: dict[int, float] = {}
    names: dict[int, str] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            text = stat.read_text()
            head, tail = text.rsplit(")", 1)
            fields = tail.split()
            pid = int(stat.parent.name)
            names[pid] = head.split("(", 1)[1]
            parents[pid] = int(fields[1])
            used[pid] = (int(fields[11]) + int(fields[12])) / ticks

    def owner(pid: int) -> str | None:
        seen = 0
        while pid > 1 and seen < 64:
            for name, pids in groups.items():
                if pid in pids:
                    return name
            pid, seen = parents.get(pid, 1), seen + 1
        return None

    out: dict[str, float] = {name: 0.0 for name in [*groups, "postgres"]}
    for pid, seconds in used.items():
        name = owner(pid) or ("postgres" if names[pid] == "postgres" else None)
        if name is not None:
            out[name] += seconds
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    total = sum(int(x) for x in fields[:8]) / ticks
    out["machine_busy"] = total - (int(fields[3]) + int(fields[4])) / ticks
    return out


@contextlib.contextmanager
def running(*servers: Server) -> Iterator[None]:
    try:
        yield
    finally:
        for s in servers:
            s.stop()


def parser(doc: str | None) -> argparse.ArgumentParser:
    """The options every service benchmark takes: where PostgreSQL and Redis are."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--database-url", default=DEFAULT_DB, help="PostgreSQL with generated data")
    p.add_argument("--redis-url", default=DEFAULT_REDIS)
    return p
