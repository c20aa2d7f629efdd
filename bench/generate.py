"""Fill a PostgreSQL database with a realistic Jakarta for benchmarks, deterministically.

    .venv/bin/python -m bench.generate --database-url postgres://postgres@127.0.0.1:5432/DB \\
        [--days 30] [--rate 40000] [--users 500000] [--seed 1] [--regions FILE|builtin] \\
        [--now 2026-11-28T00:00:00Z] [--rollups fast|exact] [--verify]

Stop the service first: the load holds exclusive locks on the tables it fills. The same seed,
arguments and --now give the same rows (the run prints its --now so it can be repeated); only
password_hash differs, argon2 salting each run's one hash. Every login's password is
BENCH_PASSWORD; citizens are u0000001.. (handle number = id), staff have descriptive handles
(lurah.<kode>, camat.<kode>, walikota.<kode>, petugas.<dinas>.<n>, moderator<nn>, admin<n>,
mitra<n>).

How, and why this way:

* Schema, regions, agencies and categories come from the project itself (cli.migrate,
  domain.seed.import_regions / load_reference), so the data matches what `warga seed` builds.
* Users, reports, timelines, comments and votes are generated one Jakarta day at a time with
  numpy (bench/reports.py; the next day in a thread while the current one streams in) and
  loaded with binary COPY FREEZE (bench/pgcopy.py) in one transaction that also TRUNCATEs the
  tables: frozen, all-visible rows need no VACUUM and no hint-bit writes when the benchmark
  first reads them, and a failed run leaves the old data in place.
* Secondary indexes, unique constraints and foreign keys of the loaded tables are dropped for
  the load and re-created afterwards (re-adding the foreign keys validates every reference;
  re-adding the unique constraints validates uniqueness). Their definitions are kept in the
  key_value table until restored, so an interrupted run is repaired by the next one.
* Rollups are computed in the same pass, in a worker process (bench/rollup_worker.py): by
  default with numpy, cross-checked every day against domain.rollups.contributions on a sample
  of the day's reports (the run stops on any difference); --rollups exact calls
  contributions(Facts(...)) for every report (15 more CPU minutes a year). --verify then
  compares the stored rollups with domain.rollups.recompute() and checks the invariants below.

Distributions (constants in bench/reports.py):

* Volume: exactly --rate reports per Jakarta day over the --days whole days before --now's
  (Jakarta) day, which is left to the benchmark; the hour of day follows a curve with a morning
  and an evening peak (3.3 % of a day's reports between 00:00 and 05:00, 6.8 % in the busiest
  hour).
* Where: kelurahan chosen with weight sqrt(area) (between "uniform per kelurahan", which
  overloads the tiny islands of Kepulauan Seribu, and "uniform per km2", which starves the
  dense centre); a uniform point of the polygon (area-weighted triangles of its triangulation),
  rounded to 6 decimals and routed like the service routes (KelurahanRouter for the rare
  points on an overlap or edge); kecamatan and kota from the region tree.
* What: category by share_pct of data/categories.csv; the dinas is the category's.
* Who: reporters skewed (top 1 % of citizens write ~12 % of reports), 5 % anonymous.
* Paths: moderation after lognormal(median 40 min); 5 % rejected, 3 % duplicate at once, 1 %
  of the verified duplicate later (of an earlier report of the same kelurahan and category when
  the day has one); 85 % of verified assigned (kelurahan officer 55 %, kecamatan 15 %, dinas
  30 %); 88 % of verified answered (so ~80 % of all reports) after lognormal(median
  0.25 x SLA clipped to 30 min..4 h, sigma 1.1): 15 % by an official comment first, 25 %
  resolved at once, the rest started; resolution after lognormal(median 0.4 x SLA, sigma 0.9)
  from the start (about a fifth miss the SLA); 70 % of resolved rated by the reporter within
  a week (ratings lower when the SLA was missed; 1-2 reopens), 3 % reopened without a rating,
  the rest auto-closed AUTO_CLOSE_DAYS later (plus up to the 10-minute sweep); 70 % of reopened
  worked again. Moves later than --now have not happened, so the last days hold SUBMITTED,
  VERIFIED and IN_PROGRESS reports.
* Comments ~0.3 per report (negative binomial): officers' (official) ones after their first
  response, the reporter's and other citizens'; 1 % of citizens' comments deleted. Votes ~1 per
  report (negative binomial, heavy tail), unique per user, none on rejected reports. Votes do
  not touch updatedAt, comments do (as domain/engagement.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import resource
import sys
from collections import deque
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from time import perf_counter

import asyncpg
import numpy as np

from bench import rollup_worker
from bench.city import City, People
from bench.pgcopy import stream
from bench.reports import JAKARTA_OFFSET, STATUSES, US, Chunk, DayGenerator, day_start_us
from domain import rollups as domain_rollups
from domain.report import VOCABULARY_FILL
from domain.rollups import Key

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_REGIONS = ROOT.parent / "shared" / "data" / "jakarta" / "kelurahan.geojson"
BENCH_PASSWORD = "warga-bench-2026"
DDL_KEY = "bench.detached_ddl"
DATA_TABLES = ("report", "status_change", "comment", "vote")
ROLLUP_TABLES = ("perf_daily", "perf_hist", "status_daily", "resolved_daily", "heat_daily")
LOADED = ("app_user", *DATA_TABLES, *ROLLUP_TABLES)
SPANS = ("perf_span", "status_span")  # derived from the daily rollups once they are loaded
# The notification tables reference users and reports, so they are emptied with them.
NOTIFYING = ("notification", "follow", "area_alert", "push_subscription", "notify_settings")
EMPTIED = (*NOTIFYING, "event", "media", "api_key", *LOADED, *SPANS, "search_word")


def log(message: str) -> None:
    """Progress goes to stdout unbuffered, so a long run can be followed through a pipe."""
    print(message, flush=True)


# ---------------------------------------------------------------- schema and reference data


async def create_database(url: str) -> None:
    """The target database, created when it does not exist yet."""
    base, _, name = url.rpartition("/")
    name = name.split("?", 1)[0]
    admin = await asyncpg.connect(f"{base}/postgres")
    try:
        if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()


async def prepare_schema(url: str, regions: str | None) -> str:
    """Migrations and reference data through the project's own code paths."""
    await create_database(url)
    os.environ["DATABASE_URL"] = url
    # Settings() reads SECRET_KEY eagerly; the generator issues no tokens, so a fixed value
    # keeps it from writing ./var/secret_key wherever it is started.
    os.environ.setdefault("SECRET_KEY", "bench-generator-issues-no-tokens")
    import config

    config.reset_settings()
    import cli
    from domain.seed import import_regions, load_reference

    await cli.migrate()

    async def seed() -> str:
        """Regions and reference data, idempotent (upserts by code)."""
        source, counts = await import_regions(regions)
        n_agencies, n_categories = await load_reference()
        levels = ", ".join(f"{n} {level.lower()}" for level, n in counts.items())
        return f"{source} ({levels}); {n_agencies} agencies, {n_categories} categories"

    return await cli._with_orm(seed)


async def detach_ddl(conn: asyncpg.Connection) -> list[dict[str, str]]:
    """Drop the loaded tables' secondary indexes, unique constraints and foreign keys,
    remembering their definitions (also in key_value, in case the run dies)."""
    saved = await conn.fetchval("SELECT value FROM key_value WHERE key = $1", DDL_KEY)
    ddl: list[dict[str, str]] = json.loads(saved) if saved else []
    known = {d["name"] for d in ddl}
    constraints = await conn.fetch(
        """SELECT k.conname AS name, t.relname AS tbl, k.contype::text AS kind, pg_get_constraintdef(k.oid) AS def
           FROM pg_constraint k JOIN pg_class t ON t.oid = k.conrelid
           JOIN pg_namespace s ON s.oid = t.relnamespace
           WHERE s.nspname = current_schema() AND t.relname = ANY($1::text[]) AND k.contype IN ('u', 'f')
           ORDER BY k.contype, k.conname""",
        list(LOADED),
    )
    indexes = await conn.fetch(
        """SELECT c.relname AS name, t.relname AS tbl, pg_get_indexdef(i.indexrelid) AS def
           FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid
           JOIN pg_namespace s ON s.oid = t.relnamespace
           WHERE s.nspname = current_schema() AND t.relname = ANY($1::text[]) AND NOT i.indisprimary
             AND NOT EXISTS (SELECT 1 FROM pg_constraint k
                             WHERE k.conindid = i.indexrelid AND k.contype IN ('p', 'u', 'x'))
           ORDER BY c.relname""",
        list(LOADED),
    )
    fresh = [
        {
            "name": r["name"],
            "table": r["tbl"],
            "drop": f'ALTER TABLE "{r["tbl"]}" DROP CONSTRAINT "{r["name"]}"',
            "create": f'ALTER TABLE "{r["tbl"]}" ADD CONSTRAINT "{r["name"]}" {r["def"]}',
            "kind": "foreign key" if r["kind"] == "f" else "unique",
        }
        for r in constraints
    ] + [
        {
            "name": r["name"],
            "table": r["tbl"],
            "drop": f'DROP INDEX "{r["name"]}"',
            "create": r["def"],
            "kind": "index",
        }
        for r in indexes
    ]
    ddl += [d for d in fresh if d["name"] not in known]
    await conn.execute(
        "INSERT INTO key_value (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        DDL_KEY,
        json.dumps(ddl),
    )
    for d in fresh:  # foreign keys first: they may lean on a unique index
        await conn.execute(d["drop"])
    return ddl


async def restore_ddl(conn: asyncpg.Connection, ddl: list[dict[str, str]]) -> dict[str, float]:
    """Indexes and unique constraints first (sorted builds), then the foreign keys, whose
    validation is one anti-join per key instead of a trigger call per row."""
    await conn.execute("SET maintenance_work_mem = '1GB'")
    await conn.execute("SET work_mem = '256MB'")
    await conn.execute("SET max_parallel_maintenance_workers = 2")
    timings: dict[str, float] = {}
    slowest: list[tuple[float, str]] = []
    order = {"index": 0, "unique": 0, "foreign key": 1}
    for d in sorted(ddl, key=lambda d: order[d["kind"]]):
        started = perf_counter()
        exists = await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM pg_class WHERE relname = $1)"
            " OR EXISTS (SELECT 1 FROM pg_constraint WHERE conname = $1)",
            d["name"],
        )
        if not exists:
            await conn.execute(d["create"])
        seconds = perf_counter() - started
        timings[d["kind"]] = timings.get(d["kind"], 0.0) + seconds
        slowest.append((seconds, d["name"]))
    await conn.execute("DELETE FROM key_value WHERE key = $1", DDL_KEY)
    top = ", ".join(f"{name} {seconds:.1f} s" for seconds, name in sorted(slowest, reverse=True)[:5])
    log(f"slowest DDL: {top}")
    return timings


# ---------------------------------------------------------------- loading


async def copy(conn: asyncpg.Connection, table: str, columns: list[str], data: memoryview | bytes) -> None:
    """COPY FREEZE: legal because every loaded table was truncated in this transaction."""
    await conn.copy_to_table(
        table, source=stream(memoryview(data)), columns=columns, format="binary", freeze=True
    )


def parse_now(value: str | None) -> datetime:
    """The generation clock: an explicit --now makes the run repeatable."""
    if not value:
        return datetime.now(UTC).replace(microsecond=0)
    at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def produce(
    generator: DayGenerator, day: date
) -> tuple[Chunk, dict[str, tuple[list[str], int, memoryview]], float]:
    """One day and its COPY payloads (runs in the producer thread)."""
    started = perf_counter()
    chunk = generator.day(day)
    payloads = {
        t: (chunk.tables[t].columns, chunk.tables[t].rows, chunk.tables[t].payload()) for t in DATA_TABLES
    }
    return chunk, payloads, perf_counter() - started


class Rollups:
    """Days' rollups computed in a process pool while the generator goes on; written in day
    order, so a "resolved" cell is complete (and written) once its day has been handed in."""

    def __init__(self, conn: asyncpg.Connection, workers: int, exact: bool, check_every: int) -> None:
        self.conn = conn
        self.workers = workers
        self.exact = exact
        self.check_every = check_every
        self.pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
        self.pending: deque[tuple[date, asyncio.Future]] = deque()
        self.resolved: dict[date, dict[Key, int]] = {}
        self.rows = dict.fromkeys(ROLLUP_TABLES, 0)
        self.busy = 0.0
        self.checked = 0

    async def submit(self, day: date, facts: dict[str, np.ndarray]) -> None:
        """Hand a day to the pool; write finished days so at most `workers` are in flight."""
        loop = asyncio.get_running_loop()
        work = loop.run_in_executor(self.pool, rollup_worker.day_rollups, facts, self.exact, self.check_every)
        self.pending.append((day, work))
        await self.drain(self.workers)

    async def drain(self, keep: int = 0) -> None:
        """Write finished days, oldest first, until at most `keep` are pending."""
        while len(self.pending) > keep:
            day, future = self.pending.popleft()
            payloads, partial, busy, checked = await future
            self.busy += busy
            self.checked += checked
            for table, columns, rows, data in payloads:
                await copy(self.conn, table, columns, data)
                self.rows[table] += rows
            for key, vec in partial.items():
                cells = self.resolved.setdefault(key[1], {})
                cells[key] = cells.get(key, 0) + vec[0]
            await self._write_resolved(up_to=day)

    async def finish(self) -> None:
        """Everything written, including the "resolved" cells of days after the last one."""
        await self.drain()
        await self._write_resolved(up_to=None)
        self.pool.shutdown()

    async def _write_resolved(self, up_to: date | None) -> None:
        """Write the resolution days no later day can add to (all of them when up_to is None)."""
        for day in sorted(d for d in self.resolved if up_to is None or d <= up_to):
            cells = self.resolved.pop(day)
            written = rollup_worker.payload_of_cells("resolved", ((k, (n,)) for k, n in cells.items()))
            if written is not None:
                table, columns, rows, data = written
                await copy(self.conn, table, columns, data)
                self.rows[table] += rows


async def load(args: argparse.Namespace) -> None:
    """The whole run: schema, generation and COPY in one transaction, DDL, ANALYZE, summary."""
    started = perf_counter()
    timings: dict[str, float] = {}
    regions = None if args.regions == "builtin" else args.regions
    source = await prepare_schema(args.database_url, regions)
    timings["schema + reference data"] = perf_counter() - started
    log(f"regions: {source}")

    now = parse_now(args.now)
    now_us = int(now.timestamp()) * US + now.microsecond
    today = (now + timedelta(microseconds=JAKARTA_OFFSET)).date()
    days = [today - timedelta(days=args.days - d) for d in range(args.days)]
    log(f"--now {now.isoformat().replace('+00:00', 'Z')}: {args.days} Jakarta days {days[0]} .. {days[-1]}")

    conn = await asyncpg.connect(args.database_url)
    city = await City.load(conn)
    rng = np.random.default_rng(args.seed)
    people = People.build(city, args.users, rng)
    from config import get_settings
    from domain.auth import hash_password

    password_hash = hash_password(BENCH_PASSWORD)
    generator = DayGenerator(city, people, rng, now_us, args.rate, get_settings().auto_close_days)

    mark = perf_counter()
    ddl = await detach_ddl(conn)
    timings["drop indexes/constraints"] = perf_counter() - mark

    rows = dict.fromkeys(("app_user", *DATA_TABLES), 0)
    status_counts = np.zeros(len(STATUSES), dtype=np.int64)
    answered = 0
    tx = conn.transaction()
    rollups: Rollups | None = None
    producer = ThreadPoolExecutor(max_workers=1)
    try:
        rollups = Rollups(conn, args.rollup_workers, args.rollups == "exact", args.check_every)
        await conn.execute("SET synchronous_commit = off")
        await tx.start()
        # Truncated in this transaction, so COPY FREEZE may store the rows frozen and all-visible.
        await conn.execute(f"TRUNCATE {', '.join(EMPTIED)} RESTART IDENTITY")
        # The search vocabulary's trigger would read every COPY again: filled once at the end.
        await conn.execute("ALTER TABLE report DISABLE TRIGGER report_words_inserted")
        mark = perf_counter()
        gen_seconds = copy_seconds = wait_seconds = 0.0
        # Day d+1 is generated in a thread while day d streams into the server (numpy releases
        # the GIL for most of the work), so generating and storing overlap.
        loop = asyncio.get_running_loop()
        upcoming = loop.run_in_executor(producer, produce, generator, days[0])
        for i, day in enumerate(days, 1):
            g0 = perf_counter()
            chunk, payloads, seconds = await upcoming
            wait_seconds += perf_counter() - g0
            gen_seconds += seconds
            if i < len(days):
                upcoming = loop.run_in_executor(producer, produce, generator, days[i])
            c0 = perf_counter()
            for table, (columns, n, data) in payloads.items():
                if n:
                    await copy(conn, table, columns, data)
                rows[table] += n
            copy_seconds += perf_counter() - c0
            await rollups.submit(day, chunk.facts)
            status_counts += chunk.status_counts
            answered += chunk.answered
            if i == len(days) or i % max(1, len(days) // 10) == 0:
                log(f"  day {i}/{len(days)} {day}: {rows['report']:,} reports, {perf_counter() - mark:.0f} s")
        producer.shutdown()
        g0 = perf_counter()
        await rollups.finish()
        timings["generate + COPY (rollups in parallel)"] = perf_counter() - mark
        timings["  generating reports + payloads (thread, overlapped)"] = gen_seconds
        timings["  COPY report, status_change, comment, vote"] = copy_seconds
        timings["  waiting for the generator thread"] = wait_seconds
        timings["  waiting for the last rollups"] = perf_counter() - g0
        timings[f"  rollups, {args.rollups} ({args.rollup_workers} worker process(es), CPU, overlapped)"] = (
            rollups.busy
        )
        g0 = perf_counter()
        users = people.rows(rng, password_hash, day_start_us(days[0]))
        await copy(conn, "app_user", users.columns, users.payload())
        rows["app_user"] = users.rows
        await conn.execute("ALTER TABLE report ENABLE TRIGGER report_words_inserted")
        await tx.commit()
        timings["users: generate + COPY, commit"] = perf_counter() - g0
    except BaseException:
        # Leave the database as it was: old rows (the TRUNCATE rolls back too), indexes back.
        producer.shutdown(cancel_futures=True)
        if rollups is not None:
            rollups.pool.shutdown(cancel_futures=True)
        if conn.is_in_transaction():
            await tx.rollback()
        await restore_ddl(conn, ddl)
        raise
    rows.update(rollups.rows)
    checked = rollups.checked

    mark = perf_counter()
    for table in (*LOADED, "event", "media", "api_key"):
        await conn.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), coalesce(max(id), 0) + 1, false) FROM {table}"
        )
    restored = await restore_ddl(conn, ddl)
    for kind, seconds in restored.items():
        timings[f"re-create {kind} ({sum(d['kind'] == kind for d in ddl)})"] = seconds
    timings["sequences + DDL"] = perf_counter() - mark
    mark = perf_counter()
    async with conn.transaction():
        for statement in domain_rollups.span_fill(postgres=True):
            await conn.execute(statement)
    rows["perf_span"] = await conn.fetchval("SELECT count(*) FROM perf_span")
    timings["perf_span (days, months, years from the daily rollups)"] = perf_counter() - mark
    mark = perf_counter()
    async with conn.transaction():
        for statement in domain_rollups.status_span_fill(postgres=True):
            await conn.execute(statement)
    rows["status_span"] = await conn.fetchval("SELECT count(*) FROM status_span")
    timings["status_span (days, months, years from status_daily)"] = perf_counter() - mark
    mark = perf_counter()
    await conn.execute(VOCABULARY_FILL)
    rows["search_word"] = await conn.fetchval("SELECT count(*) FROM search_word")
    timings["search_word (every lexeme of the reports' words)"] = perf_counter() - mark
    mark = perf_counter()
    await conn.execute(f"ANALYZE {', '.join((*LOADED, *SPANS, 'search_word', 'region', 'category', 'agency'))}")
    timings["analyze"] = perf_counter() - mark
    total = perf_counter() - started

    log("\nrows:")
    for table, n in rows.items():
        log(f"  {table:<15} {n:>12,}")
    n_reports = rows["report"]
    mix = ", ".join(
        f"{s} {c / max(n_reports, 1):.1%}" for s, c in zip(STATUSES, status_counts.tolist(), strict=True)
    )
    log(f"status mix: {mix}")
    log(f"answered (firstResponseAt set): {answered / max(n_reports, 1):.1%}")
    if args.rollups == "fast" and args.check_every > 0:
        log(f"fast rollups equal contributions() on the {checked:,} reports cross-checked")
    log("seconds:")
    for phase, seconds in timings.items():
        log(f"  {phase:<56} {seconds:8.1f}")
    log(f"  {'total':<56} {total:8.1f}")
    all_rows = sum(rows.values())
    log(f"throughput: {n_reports / total:,.0f} reports/s, {all_rows / total:,.0f} rows/s overall")
    self_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    child_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    log(f"peak RSS: generator {self_rss:.0f} MiB, largest rollup worker {child_rss:.0f} MiB")
    log(f"logins: any handle, password {BENCH_PASSWORD!r} (e.g. u0000001, {people.staff[0].handle})")

    if args.verify:
        ok = await verify(conn, now)
        await conn.close()
        if not ok:
            sys.exit(1)
    else:
        await conn.close()


# ---------------------------------------------------------------- verification

CHECKS: dict[str, str] = {
    "vote_count = votes": """
        SELECT count(*) FROM report r LEFT JOIN (SELECT report_id, count(*) AS n FROM vote GROUP BY 1) v
        ON v.report_id = r.id WHERE r.vote_count <> coalesce(v.n, 0)""",
    "comment_count = live comments": """
        SELECT count(*) FROM report r LEFT JOIN (SELECT report_id, count(*) AS n FROM comment
        WHERE deleted_at IS NULL GROUP BY 1) c ON c.report_id = r.id WHERE r.comment_count <> coalesce(c.n, 0)""",
    "authors are citizens": """
        SELECT count(*) FROM report r JOIN app_user u ON u.id = r.author_id WHERE u.role <> 'CITIZEN'""",
    "region tree and dinas": """
        SELECT count(*) FROM report r JOIN region k ON k.id = r.kelurahan_id JOIN region c ON c.id = r.kecamatan_id
        JOIN category g ON g.id = r.category_id
        WHERE k.level <> 'KELURAHAN' OR k.parent_id <> r.kecamatan_id OR c.parent_id <> r.kota_id
           OR r.agency_id IS DISTINCT FROM g.agency_id""",
    "timeline chains (from = previous to)": """
        SELECT count(*) FROM (SELECT from_status, to_status, lag(to_status) OVER w AS prev, row_number() OVER w AS k
                              FROM status_change WINDOW w AS (PARTITION BY report_id ORDER BY id)) s
        WHERE (k = 1 AND (from_status IS NOT NULL OR to_status <> 'SUBMITTED'))
           OR (k > 1 AND from_status IS DISTINCT FROM prev)""",
    "timeline in time order": """
        SELECT count(*) FROM (SELECT created_at, lag(created_at) OVER (PARTITION BY report_id ORDER BY id) AS prev
                              FROM status_change) s WHERE created_at < prev""",
    "status, createdAt, updatedAt match the timeline": """
        WITH first AS (SELECT DISTINCT ON (report_id) report_id, created_at, actor_id FROM status_change
                       ORDER BY report_id, id),
             last AS (SELECT DISTINCT ON (report_id) report_id, to_status, created_at FROM status_change
                      ORDER BY report_id, id DESC),
             com AS (SELECT report_id, max(created_at) AS at FROM comment GROUP BY 1)
        SELECT count(*) FROM report r LEFT JOIN first f ON f.report_id = r.id LEFT JOIN last l ON l.report_id = r.id
        LEFT JOIN com c ON c.report_id = r.id
        WHERE f.created_at IS DISTINCT FROM r.created_at OR f.actor_id IS DISTINCT FROM r.author_id
           OR l.to_status IS DISTINCT FROM r.status
           OR r.updated_at <> greatest(l.created_at, c.at)""",
    "verifiedAt and dueAt": """
        SELECT count(*) FROM report r JOIN category g ON g.id = r.category_id
        LEFT JOIN status_change s ON s.report_id = r.id AND s.from_status = 'SUBMITTED' AND s.to_status = 'VERIFIED'
        WHERE r.verified_at IS DISTINCT FROM s.created_at
           OR r.due_at IS DISTINCT FROM r.verified_at + g.sla_hours * interval '1 hour'""",
    "resolvedAt and closedAt": """
        WITH res AS (SELECT report_id, max(created_at) AS at FROM status_change WHERE to_status = 'RESOLVED' GROUP BY 1),
             clo AS (SELECT report_id, max(created_at) AS at FROM status_change WHERE to_status = 'CLOSED' GROUP BY 1)
        SELECT count(*) FROM report r LEFT JOIN res ON res.report_id = r.id LEFT JOIN clo ON clo.report_id = r.id
        WHERE r.resolved_at IS DISTINCT FROM CASE WHEN r.status IN ('RESOLVED', 'CLOSED') THEN res.at END
           OR r.closed_at IS DISTINCT FROM CASE WHEN r.status = 'CLOSED' THEN clo.at END""",
    "firstResponseAt = first officer move or official comment": """
        WITH mv AS (SELECT report_id, min(created_at) AS at FROM status_change
                    WHERE to_status IN ('IN_PROGRESS', 'RESOLVED') GROUP BY 1),
             oc AS (SELECT c.report_id, min(c.created_at) AS at FROM comment c JOIN report r ON r.id = c.report_id
                    WHERE c.is_official AND c.created_at >= r.verified_at GROUP BY 1)
        SELECT count(*) FROM report r LEFT JOIN mv ON mv.report_id = r.id LEFT JOIN oc ON oc.report_id = r.id
        WHERE r.first_response_at IS DISTINCT FROM least(mv.at, oc.at)""",
    "ratings and duplicates": """
        SELECT count(*) FROM report r LEFT JOIN report d ON d.id = r.duplicate_of_id
        WHERE r.rating NOT BETWEEN 1 AND 5 OR (r.status = 'DUPLICATE') <> (r.duplicate_of_id IS NOT NULL)
           OR d.id >= r.id OR d.status IN ('DUPLICATE', 'REJECTED')""",
    "assignees and official commenters are unit officers": """
        SELECT (SELECT count(*) FROM report r JOIN app_user a ON a.id = r.assignee_id
                WHERE a.role <> 'OFFICER' OR NOT (a.agency_id IS NOT DISTINCT FROM r.agency_id
                      OR a.region_id IN (r.kelurahan_id, r.kecamatan_id, r.kota_id)))
             + (SELECT count(*) FROM comment c JOIN report r ON r.id = c.report_id JOIN app_user a ON a.id = c.author_id
                WHERE c.is_official <> (a.role = 'OFFICER' AND (a.agency_id IS NOT DISTINCT FROM r.agency_id
                      OR a.region_id IN (r.kelurahan_id, r.kecamatan_id, r.kota_id))))""",
    "moves made by who may make them": """
        SELECT count(*) FROM status_change s JOIN report r ON r.id = s.report_id
        LEFT JOIN app_user a ON a.id = s.actor_id
        WHERE CASE
          WHEN s.from_status IS NULL THEN s.actor_id IS DISTINCT FROM r.author_id
          WHEN s.from_status = s.to_status THEN coalesce(a.role, '') NOT IN ('MODERATOR', 'ADMIN', 'OFFICER')
          WHEN s.to_status IN ('VERIFIED', 'REJECTED', 'DUPLICATE') THEN coalesce(a.role, '') NOT IN ('MODERATOR', 'ADMIN')
          WHEN s.to_status IN ('IN_PROGRESS', 'RESOLVED') THEN a.role IS DISTINCT FROM 'OFFICER'
          ELSE s.actor_id IS NOT NULL AND s.actor_id <> r.author_id END""",
    "nothing after --now": """
        SELECT (SELECT count(*) FROM report WHERE greatest(created_at, updated_at, closed_at, resolved_at) > $1)
             + (SELECT count(*) FROM status_change WHERE created_at > $1)
             + (SELECT count(*) FROM comment WHERE created_at > $1) + (SELECT count(*) FROM vote WHERE created_at > $1)""",
}


async def verify(conn: asyncpg.Connection, now: datetime) -> bool:
    """Rollups stored == rollups recomputed by the project, plus the invariants above."""
    import cli
    from domain import rollups

    log("\nverify:")
    started = perf_counter()

    async def compare() -> tuple[dict, dict]:
        """Stored cells and cells rebuilt from the reports, by domain.rollups itself."""
        return await rollups.snapshot(), await rollups.recompute()

    stored, fresh = await cli._with_orm(compare)
    differing = [k for k in stored.keys() | fresh.keys() if stored.get(k) != fresh.get(k)]
    ok = not differing
    log(
        f"  rollups: recompute() == snapshot(): {ok} ({len(stored):,} stored cells, {len(fresh):,} recomputed,"
        f" {len(differing)} differing) in {perf_counter() - started:.1f} s"
    )
    for key in sorted(differing, key=str)[:10]:
        log(f"    {key}: stored {stored.get(key)} recomputed {fresh.get(key)}")
    for name, sql in CHECKS.items():
        args = (now,) if "$1" in sql else ()
        bad = await conn.fetchval(sql, *args)
        ok &= bad == 0
        log(f"  {name}: {'ok' if bad == 0 else f'{bad} violations'}")
    for table in (*LOADED, "event"):
        last, called = await conn.fetchrow(
            f"SELECT last_value, is_called FROM {await conn.fetchval('SELECT pg_get_serial_sequence($1, $2)', table, 'id')}"
        )
        top = await conn.fetchval(f"SELECT coalesce(max(id), 0) FROM {table}")
        if last + int(called) <= top:
            ok = False
            log(f"  sequence of {table}: next {last + int(called)} <= max id {top}")
    log(f"  verification {'passed' if ok else 'FAILED'}")
    return ok


# ---------------------------------------------------------------- command line


def build_parser() -> argparse.ArgumentParser:
    """Command-line options (see the module docstring)."""
    p = argparse.ArgumentParser(prog="python -m bench.generate", description=__doc__.split("\n", 1)[0])
    p.add_argument(
        "--database-url", required=True, help="postgres://user@host:port/db (never warga or warga_test)"
    )
    p.add_argument("--days", type=int, default=30, help="Jakarta days of history before --now's day")
    p.add_argument("--rate", type=int, default=40_000, help="reports per day")
    p.add_argument("--users", type=int, default=500_000, help="accounts, staff included")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument(
        "--regions",
        default=str(DEFAULT_REGIONS) if DEFAULT_REGIONS.exists() else "builtin",
        help="kelurahan GeoJSON, or 'builtin' (default: ../shared/data/jakarta/kelurahan.geojson if present)",
    )
    p.add_argument("--now", help="the generation clock, ISO 8601 (default: now); repeat it to repeat a run")
    p.add_argument(
        "--rollups",
        choices=("fast", "exact"),
        default="fast",
        help="fast: numpy, cross-checked against contributions() on a sample; exact: contributions() per report",
    )
    p.add_argument(
        "--check-every", type=int, default=100, help="fast rollups: cross-check one report in N (0: never)"
    )
    p.add_argument(
        "--rollup-workers",
        type=int,
        default=1,
        help="processes computing rollups (exact: use one per core)",
    )
    p.add_argument(
        "--verify",
        action="store_true",
        help="check rollups and invariants afterwards; rebuilds every rollup cell in Python, so keep --days small (2 days: 10 s; 90 days: 13 min, 7.5 GB)",
    )
    return p


def main(argv: list[str] | None = None) -> None:
    """Entry point; refuses the service's own databases, which a run would wipe."""
    args = build_parser().parse_args(argv)
    if args.days < 1 or args.rate < 1:
        sys.exit("--days and --rate must be positive")
    database = args.database_url.rsplit("/", 1)[-1].split("?", 1)[0]
    if database in ("warga", "warga_test"):
        sys.exit(f"refusing to overwrite the database {database!r}")
    asyncio.run(load(args))


if __name__ == "__main__":
    main()
