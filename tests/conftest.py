"""Test harness: the real app, over HTTP (httpx ASGI transport) and real sockets, on SQLite +
memory:// or on PostgreSQL + Redis (WARGA_TEST_BACKEND=postgres)."""

from __future__ import annotations

import asyncio
import atexit
import faulthandler
import logging
import os
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from hypothesis import Phase
from hypothesis import settings as hypothesis_settings

BACKEND = os.environ.get("WARGA_TEST_BACKEND", "sqlite")
IN_CI = os.environ.get("CI") == "true"
SHARED = Path(__file__).resolve().parents[2] / "shared"
OFFICIAL_GEOJSON = os.environ.get("REGIONS_GEOJSON") or str(SHARED / "data/jakarta/kelurahan.geojson")
PG_URL = os.environ.get("TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/warga_test")
OFFICIAL_EXISTS = Path(OFFICIAL_GEOJSON).exists()
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

# HYPOTHESIS_PROFILE=no-shrink: report a failing example without minimising it (a quick answer
# while trying a change; the default profile shrinks).
hypothesis_settings.register_profile("no-shrink", phases=[Phase.explicit, Phase.reuse, Phase.generate])
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

# Two processes, a Redis of its own and out-of-order commits need PostgreSQL + Redis.
# The embedded default (its own SQLite file) runs in the SQLite pass only.
collect_ignore = (
    ["test_embedded_cli.py"]
    if BACKEND == "postgres"
    else [
        "test_cluster_pg.py", "test_notifications_cluster_pg.py", "test_pg_restart.py", "test_read_budget_pg.py",
        "test_pool_pg.py", "test_statements_pg.py", "test_ratelimit_redis_pg.py", "test_pages_differential_pg.py",
    ]
)

def _dump_tasks(signum: int, frame: object) -> None:
    """`kill -USR1 <pytest pid>`: where every thread and asyncio task of a stuck run waits,
    written to /tmp/warga-test-tasks-<pid>.txt (pytest captures stderr; a hang otherwise shows
    only an idle event loop)."""
    with open(f"/tmp/warga-test-tasks-{os.getpid()}.txt", "w") as out:
        faulthandler.dump_traceback(file=out, all_threads=True)
        out.flush()
        try:
            tasks = asyncio.all_tasks()
        except RuntimeError:  # no running loop in this thread
            return
        for task in tasks:
            print(f"--- {task!r}", file=out)
            task.print_stack(limit=40, file=out)


signal.signal(signal.SIGUSR1, _dump_tasks)

# pytest-timeout (pyproject: `timeout`) ends a test that hangs, its fixtures' teardown included,
# and the whole run with it (the thread method: a hang in asyncio cannot be interrupted), after
# printing every thread's stack. The event loop's thread then shows only its idle select, so
# WATCHDOG_LEAD seconds earlier every asyncio task's stack is printed too.
WATCHDOG_LEAD = 20.0
_SESSION_LOOP: list[asyncio.AbstractEventLoop] = []  # set by clean_tables, the first async fixture


def _print_tasks(loop: asyncio.AbstractEventLoop, config: pytest.Config, nodeid: str) -> None:
    capman = config.pluginmanager.getplugin("capturemanager")
    if capman is not None:
        capman.suspend_global_capture(in_=True)
    try:
        import sys

        print(f"\n+++ {nodeid} is about to time out; its asyncio tasks:", file=sys.stderr)
        for task in asyncio.all_tasks(loop):
            print(f"--- {task!r}", file=sys.stderr)
            task.print_stack(limit=40, file=sys.stderr)
    finally:
        if capman is not None:
            capman.resume_global_capture()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    import threading

    limit = float(item.config.getini("timeout") or 0)
    timer = None
    if limit > WATCHDOG_LEAD:
        def bark() -> None:
            for loop in _SESSION_LOOP:
                if loop.is_running():
                    loop.call_soon_threadsafe(_print_tasks, loop, item.config, item.nodeid)

        timer = threading.Timer(limit - WATCHDOG_LEAD, bark)
        timer.daemon = True
        timer.start()
    try:
        yield
    finally:
        if timer is not None:
            timer.cancel()

_tmp = Path(tempfile.mkdtemp(prefix="warga-test-"))
atexit.register(shutil.rmtree, _tmp, True)
os.environ["WARGA_VAR_DIR"] = str(_tmp / "var")
os.environ["MEDIA_ROOT"] = str(_tmp / "media")
os.environ["SECRET_KEY"] = "test-secret"
os.environ["WARGA_ARGON2"] = "fast"
os.environ["REPORTS_PER_MINUTE"] = "100000"
os.environ["UPLOADS_PER_MINUTE"] = "100000"
os.environ["COMMENTS_PER_MINUTE"] = "100000"
os.environ["WRITES_PER_MINUTE"] = "100000"
# The suite registers, logs in and posts from one address; tests of the limits set their own.
os.environ["REPORTS_PER_MINUTE_PER_ADDRESS"] = "100000"
os.environ["REGISTER_PER_HOUR_PER_ADDRESS"] = "100000"
os.environ["LOGINS_PER_MINUTE_PER_ADDRESS"] = "100000"
os.environ["REFUSALS_FREE"] = "100000"  # the fuzz and the limits' tests send thousands
os.environ["SOCKETS_PER_ADDRESS"] = "100000"  # bursts of sockets (tests/test_collector.py)
os.environ["SOCKETS_PER_USER"] = "100000"
# Notifications (tests/test_notifications.py): push endpoints on the local receivers, e-mail to a
# local SMTP server on a port reserved here (it runs only while a test needs it), a short lease.
os.environ["PUSH_ENDPOINT_HOSTS"] = "http://127.0.0.1:*"
with socket.socket() as _s:
    _s.bind(("127.0.0.1", 0))
    SMTP_PORT = _s.getsockname()[1]
os.environ["SMTP_URL"] = f"smtp://127.0.0.1:{SMTP_PORT}"
os.environ["NOTIFY_LEASE_SECONDS"] = "3"
os.environ["NOTIFY_POLL_SECONDS"] = "5"
os.environ["PUBLIC_URL"] = "http://testserver"
if BACKEND == "postgres":
    os.environ["DATABASE_URL"] = PG_URL
    os.environ["BROADCAST_URL"] = REDIS_URL
else:
    os.environ["DATABASE_URL"] = f"sqlite://{_tmp / 'test.sqlite3'}"
    os.environ["BROADCAST_URL"] = "memory://"


def official_geojson() -> str:
    """The official polygons from shared/; in CI their absence fails the run."""
    if not Path(OFFICIAL_GEOJSON).exists():
        if IN_CI:
            pytest.fail(f"official kelurahan file missing: {OFFICIAL_GEOJSON}")
        pytest.skip("official kelurahan GeoJSON not available")
    return OFFICIAL_GEOJSON


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


async def _prepare_database() -> None:
    from config import reset_settings

    reset_settings()
    if BACKEND == "postgres":
        import asyncpg

        if not _reachable("127.0.0.1", 5432) or not _reachable("127.0.0.1", 6379):
            msg = "PostgreSQL or Redis is not reachable on 127.0.0.1"
            if IN_CI:
                pytest.fail(msg)
            pytest.skip(msg)
        admin = await asyncpg.connect(PG_URL.rsplit("/", 1)[0] + "/postgres")
        name = PG_URL.rsplit("/", 1)[1]
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
        await admin.close()
    from cli import _with_orm, migrate
    from domain.seed import import_regions, load_reference

    await migrate()
    geojson = OFFICIAL_GEOJSON if OFFICIAL_EXISTS else None
    if geojson is None and IN_CI:
        pytest.fail(f"official kelurahan file missing: {OFFICIAL_GEOJSON}")

    async def seed() -> None:
        await import_regions(geojson)
        await load_reference()

    await _with_orm(seed)


class ManualClock:
    """A monotonic clock moved by hand: the collector's policy in tests (tests/test_collector.py)
    freezes and thaws when a test says time has passed, never on its own."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(scope="session")
async def app() -> AsyncIterator[object]:
    await _prepare_database()
    from config import Settings
    from server import create_app
    from subscriptions.heap import Collector, FreezePolicy

    policy = FreezePolicy(clock=ManualClock(), settle=2.0, burst=8, thaw_every=3600.0)
    defaults = Settings()
    collector = Collector(policy, young=defaults.gc_young_threshold, old=defaults.gc_old_limit)
    application = create_app(collector=collector)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: object) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


MUTABLE_TABLES = [
    "notification",
    "follow",
    "area_alert",
    "push_subscription",
    "notify_settings",
    "event",
    "media",
    "vote",
    "comment",
    "status_change",
    "report",
    "api_key",
    "app_user",
]  # and every rollup table (domain.rollups.ROLLUP_TABLES)


async def wipe() -> None:
    """No users, reports or rollups; regions and categories stay."""
    from tortoise import connections

    from domain.rollups import ROLLUP_TABLES

    tables = [*MUTABLE_TABLES, *ROLLUP_TABLES]
    conn = connections.get("default")
    if BACKEND == "postgres":
        await conn.execute_script(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
    else:
        await conn.execute_script("UPDATE report SET duplicate_of_id = NULL")
        for table in tables:
            await conn.execute_script(f"DELETE FROM {table}")
    # The area alerts' version (domain/notifications_areas.py): moved, so every index reloads.
    await conn.execute_script("DELETE FROM key_value WHERE key LIKE 'notify.%'")
    from schema import schema

    if schema.cache is not None:
        schema.cache.clear()  # rows were deleted behind the event log's back


@pytest.fixture(autouse=True)
async def clean_tables(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """Each test starts from a clean slate, but for modules marked `shared_data`, whose
    module-scoped fixture builds one data set for all its tests."""
    if not _SESSION_LOOP:
        _SESSION_LOOP.append(asyncio.get_running_loop())
    if "app" not in request.fixturenames and "client" not in request.fixturenames:
        yield
        return
    app = request.getfixturevalue("app")
    from schema import schema

    await schema.settle()  # mutations a previous test's cancelled requests left running
    if request.node.get_closest_marker("shared_data") is None:
        await wipe()
        await app.state.limiter.clear()
    yield


@pytest.fixture(autouse=True)
def fast_path_info_complete() -> Iterator[None]:
    """A resolver reading an Info attribute the compiled fast path does not provide (schema/fast.py
    FastInfo) fails the test in which it happened: the request would silently fall back to the
    regular executor, slower, forever."""
    import sys

    schema_module = sys.modules.get("schema")
    fast = getattr(getattr(schema_module, "schema", None), "fast", None)
    before = dict(fast.info_misses) if fast is not None else {}
    yield
    if fast is None:
        schema_module = sys.modules.get("schema")  # imported during the test
        fast = getattr(getattr(schema_module, "schema", None), "fast", None)
        if fast is None:
            return
    read = {name: n - before.get(name, 0) for name, n in fast.info_misses.items() if n > before.get(name, 0)}
    if read:
        pytest.fail(f"resolvers read Info attributes the fast path does not provide: {read}; add them"
                    " to schema.fast.FastInfo or read them from info.context")  # fmt: skip


BACKGROUND_TASKS = ("warga-hub", "warga-notifications", "warga-close-stale", "warga-metrics")


class QueryCounter(logging.Handler):
    """Counts the SQL statements Tortoise sends (it logs each one on tortoise.db_client)."""

    VERBS = ("SELECT", "INSERT", "UPDATE", "DELETE", "WITH", "BEGIN", "COMMIT")

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.statements: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            task = asyncio.current_task()
        except RuntimeError:
            task = None
        if task is not None and task.get_name().startswith(BACKGROUND_TASKS):
            return  # a process's background work (the hub's log reads, the outbox sender's polls)
        sql = str(record.args[0]) if record.args else str(record.msg)
        if sql.lstrip().upper().startswith(self.VERBS):
            self.statements.append(sql)


@pytest.fixture
def sql_counter() -> Iterator[QueryCounter]:
    logger = logging.getLogger("tortoise.db_client")
    counter = QueryCounter()
    old_level = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(counter)
    try:
        yield counter
    finally:
        logger.removeHandler(counter)
        logger.setLevel(old_level)


__all__ = ["asyncio"]


class Clock:
    """The domain clock, frozen for a test and moved by hand."""

    def __init__(self, start: object = None) -> None:
        from datetime import UTC, datetime

        from domain.tx import set_clock

        self.at = start or datetime.now(UTC).replace(microsecond=0)
        set_clock(self.at)

    def advance(self, **delta: float) -> object:
        from datetime import timedelta

        from domain.tx import set_clock

        self.at = self.at + timedelta(**delta)
        set_clock(self.at)
        return self.at


@pytest.fixture
def clock() -> Iterator[Clock]:
    from domain.tx import set_clock

    c = Clock()
    try:
        yield c
    finally:
        set_clock(None)


def stop_process(proc: subprocess.Popen, wait: float = 10) -> None:
    """Stop a server process the tests started: politely, then for good."""
    proc.terminate()
    try:
        proc.wait(wait)
    except subprocess.TimeoutExpired:
        proc.kill()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@asynccontextmanager
async def served(app: object, **options: object) -> AsyncIterator[tuple[str, int]]:
    """An ASGI app served by uvicorn on a real socket of this process, for one block. Bounded at
    both ends: a server that cannot start raises instead of being waited for, and one whose
    connections or tasks do not end is cancelled after a grace period, then left (a hung test
    server must fail its test, not stall the suite)."""
    import uvicorn

    port = free_port()
    options = {"log_level": "warning", "timeout_graceful_shutdown": 5, **options}
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", **options))  # type: ignore[arg-type]
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()  # uvicorn could not bind (it raises SystemExit)
            raise RuntimeError("uvicorn stopped before it started")
        await asyncio.sleep(0.01)
    try:
        yield "127.0.0.1", port
    finally:
        server.should_exit = True
        _, pending = await asyncio.wait([task], timeout=15)
        if pending:
            server.force_exit = True
            task.cancel()
            await asyncio.wait([task], timeout=5)
            raise AssertionError("the test server did not shut down within 15 s")


@pytest.fixture(scope="session")
async def live_url(app: object) -> AsyncIterator[str]:
    """The same app served by uvicorn on a real socket (its lifespan already runs)."""
    async with served(app) as (host, port):
        yield f"{host}:{port}"


async def wait_until(predicate: object, timeout: float = 5.0) -> None:
    """Poll a condition (e.g. the hub has N subscribers) instead of sleeping blindly."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():  # type: ignore[operator]
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


async def hub_idle(app: object) -> None:
    """Wait until the hub has read the whole log, so its background reads do not interleave
    with statements a test is counting."""
    from subscriptions import log

    hub = app.state.hub  # type: ignore[attr-defined]
    target = await log.head()
    await wait_until(lambda: hub.position >= target)
