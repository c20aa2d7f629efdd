"""Rollups: what each report contributes to the per-day aggregates behind rankings, stats,
the heatmap and exact report counts, moved in the same transaction as every change of the
report, so they are never stale and never drift. `rebuild` recomputes them from the reports
with the same rules."""

from __future__ import annotations

import dataclasses
import functools
import math
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

import h3
import numpy as np
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from models import Report
from models.enums import DONE_STATUSES, ReportStatus
from models.sql import arg, execute, fetch, in_list, is_postgres

JAKARTA = timezone(timedelta(hours=7), "Asia/Jakarta")
HEAT_RESOLUTION = 9
# Duration histograms: bucket b holds seconds s with ln(1+s) in [b, b+1) * ln(1.04); the
# bucket's representative value is within 2 % of every duration in it.
RATIO = 1.04
_LOG_RATIO = math.log(RATIO)
RESPONSE, RESOLUTION = "R", "S"


def jakarta_day(at: datetime) -> date:
    return at.astimezone(JAKARTA).date()


def bucket(seconds: float) -> int:
    return int(math.log1p(max(seconds, 0.0)) / _LOG_RATIO)


def bucket_minutes(b: int) -> float:
    """The representative of a bucket: the geometric middle of its (1 + s) bounds."""
    return (math.exp((b + 0.5) * _LOG_RATIO) - 1.0) / 60.0


@dataclass(frozen=True)
class Facts:
    """The fields of a report the rollups depend on."""

    created_at: datetime
    status: ReportStatus
    category_id: int
    agency_id: int | None
    kelurahan_id: int
    kecamatan_id: int
    kota_id: int
    assignee_id: int | None
    lat: float
    lng: float
    verified_at: datetime | None
    first_response_at: datetime | None
    resolved_at: datetime | None
    due_at: datetime | None
    rating: int | None

    @classmethod
    def of(cls, r: Report | dict[str, Any]) -> Facts:
        get = r.get if isinstance(r, dict) else lambda k: getattr(r, k)
        values = {f.name: get(f.name) for f in dataclasses.fields(cls)}
        values["status"] = ReportStatus(values["status"])
        for key in ("created_at", "verified_at", "first_response_at", "resolved_at", "due_at"):
            if isinstance(values[key], str):
                values[key] = datetime.fromisoformat(values[key])
        return cls(**values)

    def changed(self, status: ReportStatus, changes: dict[str, Any]) -> Facts:
        names = {f.name for f in dataclasses.fields(self)}
        return dataclasses.replace(self, status=status, **{k: v for k, v in changes.items() if k in names})


Key = tuple[Any, ...]
Vector = tuple[int, ...]


# status_span's counters, one per status (a report counts once, in its current status).
STATUS_COLUMNS = tuple(s.value.lower() for s in ReportStatus)
STATUS_COLUMN = dict(zip(ReportStatus, STATUS_COLUMNS, strict=True))
_STATUS_INDEX = {s: i for i, s in enumerate(ReportStatus)}


def contributions(f: Facts) -> dict[Key, Vector]:
    """Every rollup cell this report state adds to, and by how much. A "tally" cell is stored
    nowhere itself: tiered() turns it into the status_span cells of its kelurahan, kecamatan
    and kota (day, month, year)."""
    out: dict[Key, Vector] = {}
    day = jakarta_day(f.created_at)
    out[("status", day, f.kelurahan_id, f.kecamatan_id, f.kota_id, f.category_id, f.status.value)] = (1,)
    tally = [0] * len(STATUS_COLUMNS)
    tally[_STATUS_INDEX[f.status]] = 1
    tally_key = ("tally", day, f.kelurahan_id, f.kecamatan_id, f.kota_id, f.category_id, f.agency_id or 0)
    out[tally_key] = tuple(tally)
    if f.resolved_at is not None:
        out[
            ("resolved", jakarta_day(f.resolved_at), f.kelurahan_id, f.kecamatan_id, f.kota_id, f.category_id)
        ] = (1,)
    if f.status not in (ReportStatus.REJECTED, ReportStatus.DUPLICATE):
        out[("heat", day, h3.latlng_to_cell(f.lat, f.lng, HEAT_RESOLUTION), f.category_id)] = (1,)
    if f.verified_at is None or f.status == ReportStatus.DUPLICATE:
        return out
    responded = f.first_response_at is not None
    resolved = f.status in DONE_STATUSES
    sla_met = resolved and f.resolved_at is not None and f.due_at is not None and f.resolved_at <= f.due_at
    vector = (1, int(responded), int(resolved), int(sla_met), f.rating or 0, int(f.rating is not None))
    units = [("KELURAHAN", f.kelurahan_id), ("KECAMATAN", f.kecamatan_id), ("KOTA", f.kota_id)]
    if f.agency_id is not None:
        units.append(("DINAS", f.agency_id))
    if f.assignee_id is not None:
        units.append(("STAFF", f.assignee_id))
    for level, unit in units:
        out[("perf", day, level, unit)] = vector
        if responded:
            b = bucket((f.first_response_at - f.verified_at).total_seconds())  # type: ignore[operator]
            out[("hist", day, level, unit, RESPONSE, b)] = (1,)
        if resolved and f.resolved_at is not None:
            b = bucket((f.resolved_at - f.verified_at).total_seconds())
            out[("hist", day, level, unit, RESOLUTION, b)] = (1,)
    return out


def delta(before: Facts | None, after: Facts | None) -> dict[Key, Vector]:
    out: dict[Key, list[int]] = {}
    for sign, facts in ((-1, before), (1, after)):
        if facts is None:
            continue
        for key, vec in contributions(facts).items():
            acc = out.setdefault(key, [0] * len(vec))
            for i, v in enumerate(vec):
                acc[i] += sign * v
    return {k: tuple(v) for k, v in out.items() if any(v)}


# ---------------------------------------------------------------- writing

TABLES: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    # kind: (table, key columns, counter columns)
    "perf": (
        "perf_daily",
        ("day", "level", "unit_id"),
        ("received", "responded", "resolved", "sla_met", "rating_sum", "rating_count"),
    ),
    "hist": ("perf_hist", ("day", "level", "unit_id", "metric", "bucket"), ("n",)),
    "status": (
        "status_daily",
        ("day", "kelurahan_id", "kecamatan_id", "kota_id", "category_id", "status"),
        ("n",),
    ),
    "resolved": ("resolved_daily", ("day", "kelurahan_id", "kecamatan_id", "kota_id", "category_id"), ("n",)),
    "heat": ("heat_daily", ("day", "cell", "category_id"), ("n",)),
}
CONFLICT = {
    "perf": ("level", "unit_id", "day"),
    "hist": ("level", "unit_id", "metric", "day", "bucket"),
    "status": ("day", "kelurahan_id", "category_id", "status"),
    "resolved": ("day", "kelurahan_id", "category_id"),
    "heat": ("day", "cell", "category_id"),
}

# ---------------------------------------------------------------- spans

DAILY_KINDS = tuple(TABLES)  # the daily tables; the spans are perf_span's rows
SPANS = ("D", "M", "Y")
"""perf_span: the performance counters and both duration histograms of a unit over a Jakarta
day (D), calendar month (M) or calendar year (Y) of report creation, `day` its first day. Any
period is a few spans added and subtracted (`cover`): at most about 40 whatever its length (a
year is typically 13), so a ranking's cost does not grow with its period."""
SPAN_COUNTERS = TABLES["perf"][2]
SPAN_KEYS = ("level", "unit_id", "span", "day")
SpanKey = tuple[str, int, str, date]  # level, unit, span, first day
STATUS_SPAN = (
    "status_span",
    ("day", "level", "unit_id", "span", "category_id", "agency_id"),
    STATUS_COLUMNS,
)
"""status_span: reports by current status (one counter each) per kelurahan, kecamatan and kota
(`level`, `unit_id`), category and agency (0: none), over a Jakarta day, month or year of
creation (`span`, `day` its first day). What an exact `totalCount` and `stats` read
(domain.counts): any period is a few spans (`cover`), so a year of a unit is about 150 rows
(9 spans x 18 categories). No city-wide cells: every report would lock the same row per category until
its transaction ends; the city is its kota."""
STATUS_SPAN_CONFLICT = ("level", "unit_id", "span", "day", "category_id", "agency_id")
COUNT_LEVELS = ("KELURAHAN", "KECAMATAN", "KOTA")  # the order of a tally's region ids
ROLLUP_TABLES = (*(table for table, _, _ in TABLES.values()), "perf_span", "status_span")


@dataclass
class SpanDelta:
    counters: list[int]
    hists: dict[str, dict[int, int]]  # metric -> bucket -> n


def span_start(span: str, day: date) -> date:
    return day if span == "D" else day.replace(day=1) if span == "M" else day.replace(month=1, day=1)


def tiered(cells: dict[Key, Vector]) -> dict[Key, Vector]:
    """Cells plus the span cells they move: ("span", first day, level, unit, span) -> counters,
    ("span_hist", first day, level, unit, span, metric, bucket) -> (n,) and, in place of the
    tallies, ("status_span", first day, level, unit, span, category, agency) -> counters."""
    out = {k: v for k, v in cells.items() if k[0] != "tally"}

    def add(tier: Key, vec: Vector) -> None:
        acc = out.get(tier)
        out[tier] = vec if acc is None else tuple(a + b for a, b in zip(acc, vec, strict=True))

    for key, vec in cells.items():
        if key[0] == "tally":
            _, day, *units, category, agency = key
            for level, unit in zip(COUNT_LEVELS, units, strict=True):
                for span in SPANS:
                    add(("status_span", span_start(span, day), level, unit, span, category, agency), vec)
            continue
        if key[0] not in ("perf", "hist"):
            continue
        kind = "span" if key[0] == "perf" else "span_hist"
        for span in SPANS:
            add((kind, span_start(span, key[1]), key[2], key[3], span, *key[4:]), vec)
    return {k: v for k, v in out.items() if any(v)}


def span_rows(cells: dict[Key, Vector]) -> dict[SpanKey, SpanDelta]:
    """The span cells grouped into perf_span rows."""
    out: dict[SpanKey, SpanDelta] = {}
    for key, vec in cells.items():
        if key[0] not in ("span", "span_hist"):
            continue
        skey = (key[2], key[3], key[4], key[1])
        acc = out.get(skey)
        if acc is None:
            acc = out[skey] = SpanDelta([0] * len(SPAN_COUNTERS), {RESPONSE: {}, RESOLUTION: {}})
        if key[0] == "span":
            acc.counters = [a + b for a, b in zip(acc.counters, vec, strict=True)]
        else:
            hist = acc.hists[key[5]]
            hist[key[6]] = hist.get(key[6], 0) + vec[0]
    return out


# A histogram as stored: the first bucket, then the counts from it on, big-endian int32 (the
# PostgreSQL function warga_hist_add, migration 0007, adds two such values in place).
_I32 = np.dtype(">i4")


def hist_blob(counts: dict[int, int]) -> bytes | None:
    nonzero = {b: n for b, n in counts.items() if n}
    if not nonzero:
        return None
    lo = min(nonzero)
    values = np.zeros(max(nonzero) - lo + 1, _I32)
    for b, n in nonzero.items():
        values[b - lo] = n
    return int(lo).to_bytes(4, "big", signed=True) + values.tobytes()


def hist_array(blob: bytes | None) -> tuple[int, np.ndarray]:
    """(first bucket, counts) of a stored histogram."""
    if not blob or len(blob) <= 4:
        return 0, np.zeros(0, _I32)
    return int.from_bytes(blob[:4], "big", signed=True), np.frombuffer(blob, _I32, offset=4)


def hist_counts(blob: bytes | None) -> dict[int, int]:
    lo, values = hist_array(blob)
    return {lo + i: int(n) for i, n in enumerate(values.tolist()) if n}


def hist_add(a: bytes | None, b: bytes | None) -> bytes | None:
    counts = hist_counts(a)
    for bucket, n in hist_counts(b).items():
        counts[bucket] = counts.get(bucket, 0) + n
    return hist_blob(counts)


def _days(first: date, last: date, sign: int) -> list[tuple[str, date, int]]:
    return [("D", first + timedelta(days=i), sign) for i in range((last - first).days + 1)]


def _month_end(day: date) -> date:
    return month(day.replace(day=28) + timedelta(days=4)) - timedelta(days=1)


def _within_month(first: date, last: date, sign: int) -> list[tuple[str, date, int]]:
    start, end = month(first), _month_end(first)
    if first == start and last == end:
        return [("M", start, sign)]
    outside = [("M", start, sign), *_days(start, first - timedelta(days=1), -sign)]
    outside += _days(last + timedelta(days=1), end, -sign)
    return min(_days(first, last, sign), outside, key=len)


def _months(first: date, last: date, sign: int) -> list[tuple[str, date, int]]:
    out: list[tuple[str, date, int]] = []
    while first <= last:
        end = min(_month_end(first), last)
        out += _within_month(first, end, sign)
        first = end + timedelta(days=1)
    return out


def _within_year(first: date, last: date, sign: int) -> list[tuple[str, date, int]]:
    start, end = date(first.year, 1, 1), date(first.year, 12, 31)
    if first == start and last == end:
        return [("Y", start, sign)]
    outside = [("Y", start, sign)]
    if first > start:
        outside += _months(start, first - timedelta(days=1), -sign)
    if last < end:
        outside += _months(last + timedelta(days=1), end, -sign)
    return min(_months(first, last, sign), outside, key=len)


def cover(first: date, last: date) -> dict[tuple[str, date], int]:
    """[first, last] as spans with weights: the days of each span times its weight, summed, are
    the period's days once each. Per year, and per month inside it, the fewer of "the parts
    inside" and "the whole minus the parts outside"."""
    out: dict[tuple[str, date], int] = defaultdict(int)
    while first <= last:
        end = min(date(first.year, 12, 31), last)
        for span, day, sign in _within_year(first, end, 1):
            out[(span, day)] += sign
        first = end + timedelta(days=1)
    return {k: w for k, w in out.items() if w}


def month(day: date) -> date:
    return day.replace(day=1)


def span_slots(weights: dict[tuple[str, date], int], args: list[Any]) -> str:
    """SQL picking the span rows of a cover."""
    by_span: dict[str, list[date]] = defaultdict(list)
    for span, day in weights:
        by_span[span].append(day)
    parts = [
        f"(span = {arg(args, span)} AND {in_list('day', days, args)})"
        for span, days in sorted(by_span.items())
    ]
    return "(" + (" OR ".join(parts) or "1 = 0") + ")"


def span_weight(weights: dict[tuple[str, date], int], args: list[Any]) -> str:
    """SQL for a span row's weight in a cover (1 for most)."""
    others: dict[int, dict[tuple[str, date], int]] = defaultdict(dict)
    for k, w in weights.items():
        if w != 1:
            others[w][k] = w
    if not others:
        return "1"
    cases = " ".join(f"WHEN {span_slots(ks, args)} THEN {w}" for w, ks in sorted(others.items()))
    return f"(CASE {cases} ELSE 1 END)"


def span_arms(weights: dict[tuple[str, date], int], args: list[Any]) -> list[tuple[int, str]]:
    """A cover as (weight, SQL picking its span rows), one per span and weight: each condition
    is one range of a (..., span, day) index per unit, where an OR of them is read as a filter
    over every row of the unit (all its history)."""
    groups: dict[tuple[int, str], list[date]] = defaultdict(list)
    for (span, day), w in sorted(weights.items()):
        groups[(w, span)].append(day)
    return [(w, f"span = {arg(args, s)} AND {in_list('day', days, args)}") for (w, s), days in groups.items()]


def span_fill(postgres: bool) -> list[str]:
    """SQL that (re)derives perf_span from the daily tables (bulk loads; PostgreSQL)."""
    assert postgres, "SQLite databases are filled by rebuild()"
    out = ["DELETE FROM perf_span"]
    counters = ", ".join(SPAN_COUNTERS)
    sums = ", ".join(f"SUM({c}) AS {c}" for c in SPAN_COUNTERS)
    picked = ", ".join(f"c.{c}" for c in SPAN_COUNTERS)
    for span, first in (("D", "day"), ("M", "CAST(date_trunc('month', day) AS DATE)"),
                        ("Y", "CAST(date_trunc('year', day) AS DATE)")):  # fmt: skip
        out.append(
            f"""INSERT INTO perf_span (level, unit_id, span, day, {counters}, response, resolution)
WITH c AS (SELECT level, unit_id, {first} AS day, {sums} FROM perf_daily GROUP BY 1, 2, 3),
h AS (SELECT level, unit_id, {first} AS day, metric, bucket::int AS bucket, SUM(n)::int AS n FROM perf_hist
      GROUP BY 1, 2, 3, 4, 5 HAVING SUM(n) <> 0),
g AS (SELECT h.*, bucket - coalesce(lag(bucket) OVER w, bucket - 1) - 1 AS gap FROM h
      WINDOW w AS (PARTITION BY level, unit_id, day, metric ORDER BY bucket)),
b AS (SELECT level, unit_id, day, metric, int4send(min(bucket))
             || string_agg(decode(repeat('00', 4 * gap), 'hex') || int4send(n), ''::bytea
                           ORDER BY bucket) AS blob
      FROM g GROUP BY 1, 2, 3, 4)
SELECT c.level, c.unit_id, '{span}', c.day, {picked}, rb.blob, sb.blob FROM c
LEFT JOIN b rb
  ON rb.level = c.level AND rb.unit_id = c.unit_id AND rb.day = c.day AND rb.metric = '{RESPONSE}'
LEFT JOIN b sb
  ON sb.level = c.level AND sb.unit_id = c.unit_id AND sb.day = c.day AND sb.metric = '{RESOLUTION}'"""
        )
    return out


def status_span_fill(postgres: bool) -> list[str]:
    """SQL that (re)derives status_span from status_daily (bulk loads; PostgreSQL). status_daily
    has no agency: a report's is its category's (domain.dinas), as in every bulk load."""
    assert postgres, "SQLite databases are filled by rebuild()"
    table, _, counters = STATUS_SPAN
    pivot = ", ".join(
        f"SUM(CASE WHEN s.status = '{status.value}' THEN s.n ELSE 0 END) AS {column}"
        for status, column in zip(ReportStatus, counters, strict=True)
    )
    sums = ", ".join(f"SUM({c})" for c in counters)
    firsts = {
        "D": "day",
        "M": "CAST(date_trunc('month', day) AS DATE)",
        "Y": "CAST(date_trunc('year', day) AS DATE)",
    }
    parts = [
        f"SELECT '{level}', {column}, '{span}', {first}, category_id, agency_id, {sums} FROM t"
        f" GROUP BY {column}, {first}, category_id, agency_id"
        for level, column in zip(COUNT_LEVELS, ("kelurahan_id", "kecamatan_id", "kota_id"), strict=True)
        for span, first in firsts.items()
    ]
    return [
        f"DELETE FROM {table}",
        f"INSERT INTO {table} (level, unit_id, span, day, category_id, agency_id, {', '.join(counters)})"
        f" WITH t AS MATERIALIZED (SELECT s.day, s.kelurahan_id, s.kecamatan_id, s.kota_id, s.category_id,"
        f" COALESCE(c.agency_id, 0) AS agency_id, {pivot} FROM status_daily s"
        " LEFT JOIN category c ON c.id = s.category_id GROUP BY 1, 2, 3, 4, 5, 6 HAVING SUM(s.n) <> 0) "
        + " UNION ALL ".join(parts),
    ]


def _placeholders(start: int, rows: int, width: int) -> str:
    """`($start+1, ...), (...)`: `rows` rows of `width` positional arguments."""
    return ", ".join(
        "(" + ", ".join(f"${start + row * width + i + 1}" for i in range(width)) + ")" for row in range(rows)
    )


@functools.lru_cache(maxsize=4096)
def _upsert_sql(
    spec: tuple[str, tuple[str, ...], tuple[str, ...]], conflict: tuple[str, ...], rows: int, start: int
) -> str:
    """The text of an upsert of `rows` rows whose arguments begin after `start`: the same few
    shapes come back with every change (a report's creation writes the same tables' rows each
    time), so each is written once."""
    table, keys, counters = spec
    columns = (*keys, *counters)
    updates = ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in counters)
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES {_placeholders(start, rows, len(columns))}"
        f" ON CONFLICT ({', '.join(conflict)}) DO UPDATE SET {updates}"
    )


def _upsert(
    spec: tuple[str, tuple[str, ...], tuple[str, ...]],
    conflict: tuple[str, ...],
    rows: list[tuple[Key, Vector]],
    args: list[Any],
) -> str:
    """One table's cells as one upsert; rows sorted so concurrent writers lock in the same order."""
    start = len(args)
    for key, vec in rows:
        args.extend(key[1:])
        args.extend(vec)
    return _upsert_sql(spec, conflict, len(rows), start)


@functools.lru_cache(maxsize=4096)
def _span_upsert_sql(rows: int, start: int, merge_stored: bool) -> str:
    """The text of perf_span's upsert (see _upsert_sql)."""
    merge = "excluded.{0}" if merge_stored else "warga_hist_add(perf_span.{0}, excluded.{0})"
    columns = (*SPAN_KEYS, *SPAN_COUNTERS, "response", "resolution")
    updates = [f"{c} = perf_span.{c} + excluded.{c}" for c in SPAN_COUNTERS]
    updates += [f"{c} = {merge.format(c)}" for c in ("response", "resolution")]
    return (
        f"INSERT INTO perf_span ({', '.join(columns)}) VALUES {_placeholders(start, rows, len(columns))}"
        f" ON CONFLICT ({', '.join(SPAN_KEYS)}) DO UPDATE SET {', '.join(updates)}"
    )


def _span_upsert(rows: dict[SpanKey, SpanDelta], args: list[Any], stored: dict[SpanKey, Any] | None) -> str:
    """The spans' upsert: counters added; histograms added by warga_hist_add on PostgreSQL
    (`stored` None), and on SQLite merged here with the stored ones (`stored`, read by
    _stored_hists in this same transaction: one writer at a time)."""
    keys = sorted(rows, key=lambda k: (k[0], k[1], k[2], str(k[3])))  # the same lock order everywhere
    blobs = {k: (hist_blob(rows[k].hists[RESPONSE]), hist_blob(rows[k].hists[RESOLUTION])) for k in keys}
    for key, (response, resolution) in (stored or {}).items():
        if key in blobs:
            blobs[key] = (hist_add(response, blobs[key][0]), hist_add(resolution, blobs[key][1]))
    start = len(args)
    for k in keys:
        args.extend(k)
        args.extend(rows[k].counters)
        args.extend(blobs[k])
    return _span_upsert_sql(len(keys), start, stored is not None)


async def _stored_hists(conn: BaseDBAsyncClient, keys: list[SpanKey]) -> dict[SpanKey, Any]:
    """SQLite: the stored histograms of these spans (it has no warga_hist_add to merge them)."""
    args: list[Any] = []
    where = " OR ".join(
        f"(level = {arg(args, k[0])} AND unit_id = {arg(args, k[1])}"
        f" AND span = {arg(args, k[2])} AND day = {arg(args, k[3])})"
        for k in keys
    )
    stored = {}
    sql = f"SELECT level, unit_id, span, day, response, resolution FROM perf_span WHERE {where}"
    for row in await fetch(sql, *args, conn=conn):
        day = row["day"] if isinstance(row["day"], date) else date.fromisoformat(row["day"])
        stored[(row["level"], row["unit_id"], row["span"], day)] = (row["response"], row["resolution"])
    return stored


CHUNK = 200  # cells per upsert
# PostgreSQL: upserts are merged into one statement while their arguments stay below this (one
# chunk adds at most CHUNK x 40 more; the protocol's limit is 32,767).
MERGED_ARGS = 20_000


def _chunks(cells: dict[Key, Vector]) -> Iterator[tuple[str, Any]]:
    """The cells in the order every writer takes their rows' locks: table by table, each
    table's rows sorted, CHUNK at a time; ("table", (spec, conflict, rows)) or ("spans", rows)."""
    by_kind: dict[str, list[tuple[Key, Vector]]] = defaultdict(list)
    for key, vec in cells.items():
        by_kind[key[0]].append((key, vec))
    specs = {kind: (TABLES[kind], CONFLICT[kind]) for kind in TABLES}
    specs["status_span"] = (STATUS_SPAN, STATUS_SPAN_CONFLICT)
    for kind, (spec, conflict) in specs.items():
        rows = sorted(by_kind.get(kind, []), key=lambda kv: tuple(map(str, kv[0])))
        for start in range(0, len(rows), CHUNK):
            yield "table", (spec, conflict, rows[start : start + CHUNK])
    spans = span_rows(cells)
    keys = list(spans)
    for start in range(0, len(keys), CHUNK):
        yield "spans", {k: spans[k] for k in keys[start : start + CHUNK]}


def upserts(cells: dict[Key, Vector], args: list[Any]) -> Iterator[str]:
    """PostgreSQL: the cells' upserts in that order, their arguments appended to `args`, to be
    run as data-modifying WITHs of one statement (here, or in a caller's own)."""
    for what, chunk in _chunks(cells):
        yield _upsert(*chunk, args) if what == "table" else _span_upsert(chunk, args, None)


async def write(conn: BaseDBAsyncClient, cells: dict[Key, Vector]) -> None:
    """Add the cells to their tables: on PostgreSQL in one statement (or one per MERGED_ARGS
    arguments); on SQLite, in process, one per table."""
    if not is_postgres(conn):
        for what, chunk in _chunks(cells):
            args: list[Any] = []
            if what == "table":
                sql = _upsert(*chunk, args)
            else:
                sql = _span_upsert(chunk, args, await _stored_hists(conn, list(chunk)))
            await execute(sql, *args, conn=conn)
        return
    group: list[str] = []
    args = []
    for upsert in upserts(cells, args):
        group.append(upsert)
        if len(args) > MERGED_ARGS:
            await execute(merged(group), *args, conn=conn)
            group.clear()
            args.clear()
    if group:
        await execute(merged(group), *args, conn=conn)


def merged(statements: list[str], then: str = "SELECT 1", before: str = "") -> str:
    """Statements as data-modifying WITHs of one, run in the given order (the order of their
    locks): PostgreSQL runs the WITHs its main query (`then`) does not read after that query,
    each to its end, the last written first (tests/test_statements_pg.py), so they are written
    in reverse. `before`: WITHs of the caller's, which `then` reads (they run first)."""
    if len(statements) == 1 and then == "SELECT 1" and not before:
        return statements[0]
    written = [f"w{i} AS ({sql})" for i, sql in reversed(list(enumerate(statements)))]
    return f"WITH {', '.join([before, *written] if before else written)} {then}"


def changes(before: Facts | None, after: Facts | None) -> dict[Key, Vector]:
    """The cells a report's change moves, and by how much."""
    return tiered(delta(before, after))


async def move(conn: BaseDBAsyncClient, before: Facts | None, after: Facts | None) -> None:
    """Called by every change of a report, inside its transaction."""
    cells = changes(before, after)
    if cells:
        await write(conn, cells)


# ---------------------------------------------------------------- rebuilding

FACT_COLUMNS = ", ".join(f.name for f in dataclasses.fields(Facts))


async def recompute(conn: BaseDBAsyncClient | None = None, batch: int = 20_000) -> dict[Key, Vector]:
    """All rollup cells from scratch, streaming the reports in id order."""
    totals: dict[Key, list[int]] = {}
    last = 0
    while True:
        rows = await fetch(
            f"SELECT id, {FACT_COLUMNS} FROM report WHERE id > $1 ORDER BY id LIMIT $2",
            last,
            batch,
            conn=conn,
        )
        if not rows:
            break
        for row in rows:
            for key, vec in contributions(Facts.of(row)).items():
                acc = totals.setdefault(key, [0] * len(vec))
                for i, v in enumerate(vec):
                    acc[i] += v
        last = rows[-1]["id"]
    return tiered({k: tuple(v) for k, v in totals.items()})


async def rebuild() -> int:
    """Replace every rollup with a fresh computation, in one transaction that keeps writers
    out meanwhile (PostgreSQL: SHARE lock on reports; SQLite: the single writer lock)."""
    async with in_transaction() as conn:
        if is_postgres(conn):
            await execute("LOCK TABLE report IN SHARE MODE", conn=conn)
        cells = await recompute(conn)
        for table in ROLLUP_TABLES:
            await execute(f"DELETE FROM {table}", conn=conn)
        await write(conn, cells)
    return len(cells)


async def snapshot(conn: BaseDBAsyncClient | None = None) -> dict[Key, Vector]:
    """The non-zero cells as stored (for comparing incremental against rebuilt)."""
    out: dict[Key, Vector] = {}
    for kind, (table, keys, counters) in TABLES.items():
        for row in await fetch(f"SELECT {', '.join((*keys, *counters))} FROM {table}", conn=conn):
            vec = tuple(int(row[c]) for c in counters)
            if any(vec):
                day = row["day"]
                key = (
                    kind,
                    day if isinstance(day, date) else date.fromisoformat(day),
                    *(row[k] for k in keys[1:]),
                )
                out[key] = vec
    table, keys, counters = STATUS_SPAN
    for row in await fetch(f"SELECT {', '.join((*keys, *counters))} FROM {table}", conn=conn):
        vec = tuple(int(row[c]) for c in counters)
        if any(vec):
            day = row["day"] if isinstance(row["day"], date) else date.fromisoformat(row["day"])
            out[("status_span", day, *(row[k] for k in keys[1:]))] = vec
    spans = f"SELECT {', '.join((*SPAN_KEYS, *SPAN_COUNTERS))}, response, resolution FROM perf_span"
    for row in await fetch(spans, conn=conn):
        day = row["day"] if isinstance(row["day"], date) else date.fromisoformat(row["day"])
        head = (day, row["level"], row["unit_id"], row["span"])
        vec = tuple(int(row[c]) for c in SPAN_COUNTERS)
        if any(vec):
            out[("span", *head)] = vec
        for metric, column in ((RESPONSE, "response"), (RESOLUTION, "resolution")):
            for bucket, n in hist_counts(row[column]).items():
                out[("span_hist", *head, metric, bucket)] = (n,)
    return out
