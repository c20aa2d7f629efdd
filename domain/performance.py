"""Government performance, computed from the rollups: the ranking definitions (README
"How the ranking score is computed"), stats and the heatmap."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from fractions import Fraction
from typing import Any

import h3
import numpy as np
from tortoise.backends.base.client import BaseDBAsyncClient

from domain import validate
from domain.catalog import catalog
from domain.errors import BadUserInput
from domain.flips import flips_at
from domain.rollups import (
    JAKARTA,
    RESOLUTION,
    RESPONSE,
    SPAN_COUNTERS,
    STATUS_COLUMN,
    bucket_minutes,
    cover,
    hist_array,
    jakarta_day,
    span_arms,
)
from domain.tx import now
from domain.visibility import PUBLIC_STATUSES
from models import Region, User
from models.enums import DONE_STATUSES, OPEN_STATUSES, RegionLevel, Role
from models.sql import arg, fetch, in_list, snapshot

DEFAULT_DAYS = 90  # Qlue's quarterly rankings
MAX_DAYS = 3661

# ---------------------------------------------------------------- periods


@dataclass(frozen=True)
class Period:
    start: date
    end: date  # inclusive

    @classmethod
    def of(cls, start: date | None, end: date | None, default_days: int = DEFAULT_DAYS) -> Period:
        """The days from `start` to `end`; without `end`, up to today; without `start`, the
        `default_days` up to `end` (the CSV export's one date alone was ignored before)."""
        validate.in_calendar(start, "period.from")
        validate.in_calendar(end, "period.to")
        if end is None:
            end = jakarta_day(now())
            midnight = datetime.combine(end + timedelta(days=1), time(), JAKARTA)
            flips_at(midnight)  # "the last 90 days" moves on then
        if start is None:
            start = end - timedelta(days=default_days - 1)
        if start > end:
            raise BadUserInput("period", "`period.from` must not be after `period.to`.")
        if (end - start).days >= MAX_DAYS:
            raise BadUserInput("period", f"A period is at most {MAX_DAYS} days.")
        return cls(start, end)

    def days(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range((self.end - self.start).days + 1)]


# ---------------------------------------------------------------- rankings


# The minimum number of reports a unit needs in the period to be ranked, when the client
# passes none (README "Who is ranked"): per level, for periods shorter than 7 days, 7 to 29
# days, and 30 days or more. Derived from the distribution of reports per unit per period in
# the bench data (bench/rank_minimum.py): half the 5th percentile, rounded down to a multiple
# of 10, kept between 10 (below it a rate's 95% interval is about +-25 points wide) and 100
# (+-8 points: more reports do not make a figure much surer).
MIN_REPORTS: dict[str, tuple[int, int, int]] = {
    "KELURAHAN": (30, 100, 100),
    "KECAMATAN": (100, 100, 100),
    "KOTA": (100, 100, 100),
    "DINAS": (50, 100, 100),
    "STAFF": (10, 60, 100),
}


def default_min_reports(level: str, period: Period) -> int:
    days = (period.end - period.start).days + 1
    short, week, month_or_more = MIN_REPORTS[level]
    return short if days < 7 else week if days < 30 else month_or_more


Z95 = 1.959963984540054  # the standard normal's 97.5th percentile


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a proportion (Wilson 1927; Newcombe 1998, method 3): unlike
    p +- z*se it stays inside [0, 1] and is honest for small n and rates near 0 or 1."""
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    z2n = z * z / n
    centre = (p + z2n / 2) / (1 + z2n)
    half = z / (1 + z2n) * math.sqrt(p * (1 - p) / n + z2n / (4 * n))
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return low, high


@dataclass
class Entry:
    level: str
    unit_id: int
    unit_name: str
    received: int = 0
    responded: int = 0
    resolved: int = 0
    sla_met: int = 0
    rating_sum: int = 0
    rating_count: int = 0
    median_response: float | None = None
    median_resolution: float | None = None
    rank: int | None = None
    below_minimum: bool = False
    as_of: datetime | None = None  # the figures include every change committed before it

    # Exact values: what orders the entries, so mathematically equal figures tie (13/13 and
    # 20/20 are both exactly 1) and the tie rules decide; the floats served are these, rounded.
    @property
    def exact_response_rate(self) -> Fraction:
        return Fraction(self.responded, self.received)

    @property
    def exact_resolution_rate(self) -> Fraction:
        return Fraction(self.resolved, self.received)

    @property
    def exact_sla_rate(self) -> Fraction:
        return Fraction(self.sla_met, self.received)

    @property
    def exact_average_rating(self) -> Fraction | None:
        return Fraction(self.rating_sum, self.rating_count) if self.rating_count else None

    @property
    def exact_score(self) -> Fraction:
        """100 x (0.35 response + 0.35 SLA + 0.15 resolution + 0.15 r), r = (rating - 1) / 4,
        or 0.5 without ratings."""
        # The same sum over one common denominator (400 x received x ratings): one Fraction
        # built from integers instead of a dozen Fraction operations per unit, which were half
        # of a STAFF ranking's first answer (a few hundred units sorted by it).
        n, c = self.received, self.rating_count
        rates = 140 * (self.responded + self.sla_met) + 60 * self.resolved
        if c:
            return Fraction(100 * (rates * c + 15 * n * (self.rating_sum - c)), 400 * n * c)
        return Fraction(100 * (rates + 30 * n), 400 * n)

    @property
    def response_rate(self) -> float:
        return float(self.exact_response_rate)

    @property
    def resolution_rate(self) -> float:
        return float(self.exact_resolution_rate)

    @property
    def sla_rate(self) -> float:
        return float(self.exact_sla_rate)

    @property
    def average_rating(self) -> float | None:
        rating = self.exact_average_rating
        return float(rating) if rating is not None else None

    @property
    def score(self) -> float:
        return float(self.exact_score)

    @property
    def response_interval(self) -> tuple[float, float]:
        return wilson(self.responded, self.received)

    @property
    def sla_interval(self) -> tuple[float, float]:
        return wilson(self.sla_met, self.received)


def median(hist: np.ndarray) -> float | None:
    """The median of a duration histogram (counts by bucket), in minutes (within 2 % of the
    exact one): the representatives of the middle one or two buckets, averaged."""
    total = int(hist.sum())
    if total == 0:
        return None
    cumulative = np.cumsum(hist)
    lo_rank, hi_rank = (total - 1) // 2, total // 2  # 0-based ranks of the middle one or two
    lo, hi = np.searchsorted(cumulative, [lo_rank, hi_rank], side="right")
    return (bucket_minutes(int(lo)) + bucket_minutes(int(hi))) / 2


def _minutes(value: float | None) -> Fraction | None:
    """Medians compared to the nanominute: equal histograms give equal medians anyway."""
    return None if value is None else Fraction(round(value * 1e9), 10**9)


# Each metric: how to read it from an entry (exactly), and whether higher is better.
METRICS: dict[str, tuple[Any, bool]] = {
    "SCORE": (lambda e: e.exact_score, True),
    "RESPONSE_RATE": (lambda e: e.exact_response_rate, True),
    "RESOLUTION_RATE": (lambda e: e.exact_resolution_rate, True),
    "SLA_COMPLIANCE": (lambda e: e.exact_sla_rate, True),
    "MEDIAN_RESPONSE_TIME": (lambda e: _minutes(e.median_response), False),
    "MEDIAN_RESOLUTION_TIME": (lambda e: _minutes(e.median_resolution), False),
    "AVERAGE_RATING": (lambda e: e.exact_average_rating, True),
    "REPORTS_RECEIVED": (lambda e: e.received, True),
}


def sort_key(metric: str) -> Any:
    """Best first; missing values (null medians or ratings) last; ties by reportsReceived
    descending, then unit name."""
    read, higher_better = METRICS[metric]

    def key(e: Entry) -> tuple[Any, ...]:
        value = read(e)
        if value is None:
            return (1, 0, 0, -e.received, e.unit_name, e.unit_id)
        value = -value if higher_better else value
        # The float first: rounding keeps the order (a < b gives float(a) <= float(b)), so the
        # exact value is compared only when the floats are equal (Fraction comparisons were
        # most of the sort of a few hundred units).
        return (0, float(value), value, -e.received, e.unit_name, e.unit_id)

    return key


REGION_LEVELS = {"KELURAHAN", "KECAMATAN", "KOTA"}


async def _unit_names(level: str, unit_ids: set[int], conn: Any) -> dict[int, str]:
    cat = catalog()
    if level in REGION_LEVELS:
        return {i: cat.regions[i].name for i in unit_ids if i in cat.regions}
    if level == "DINAS":
        return {i: cat.agencies[i].name for i in unit_ids if i in cat.agencies}
    if not unit_ids:
        return {}
    args: list[Any] = []
    users = await fetch(
        f"SELECT id, display_name FROM app_user WHERE {in_list('id', sorted(unit_ids), args)}",
        *args,
        conn=conn,
    )
    return {u["id"]: u["display_name"] for u in users}


async def _units_within(level: str, region_id: int) -> set[int] | None:
    """Units inside a region, or None for no restriction."""
    cat = catalog()
    region = cat.region(region_id, "withinRegionId")
    if level in REGION_LEVELS:
        return {r.id for r in cat.regions.values() if r.level == level and cat.is_within(r.id, region.id)}
    if level == "DINAS":
        if region.level == RegionLevel.PROVINSI:
            return None
        raise BadUserInput("withinRegionId", "A dinas serves the whole city; rank DINAS city-wide.")
    officers = await User.filter(role=Role.OFFICER, region_id__not_isnull=True).values("id", "region_id")
    return {o["id"] for o in officers if cat.is_within(o["region_id"], region.id)}


async def rankings(
    level: str,
    period: Period,
    within_region_id: int | None,
    metric: str,
    first: int,
    offset: int,
    min_reports: int | None = None,
) -> list[Entry]:
    """The page [offset, offset + first) of: the units with at least `min_reports` reports in
    the period, ranked 1..n, then the others (rank None, below_minimum) in the same order."""
    if min_reports is None:
        min_reports = default_min_reports(level, period)
    if min_reports < 0:
        raise BadUserInput("minReports", "`minReports` must not be negative (0 ranks every unit).")
    if not 0 <= first <= 500:
        raise BadUserInput("first", "`first` must be between 0 and 500.")
    if offset < 0:
        raise BadUserInput("offset", "`offset` must not be negative.")
    as_of = now()
    allowed = await _units_within(level, within_region_id) if within_region_id is not None else None
    weights = cover(period.start, period.end)
    async with snapshot() as conn:
        args: list[Any] = [level]
        # One index range per span and weight (span_arms): an OR of them was read as a filter
        # over every row of every unit of the level (all its history) on a first answer.
        columns = ", ".join(SPAN_COUNTERS)
        arms = (
            " UNION ALL ".join(
                f"SELECT unit_id, {w} AS w, {columns} FROM perf_span WHERE level = $1 AND {picked}"
                for w, picked in span_arms(weights, args)
            )
            or f"SELECT unit_id, 1 AS w, {columns} FROM perf_span WHERE 1 = 0"
        )
        sums = ", ".join(f"SUM(w * {c}) AS {c}" for c in SPAN_COUNTERS)
        rows = await fetch(f"SELECT unit_id, {sums} FROM ({arms}) AS s GROUP BY unit_id", *args, conn=conn)
        rows = [r for r in rows if int(r["received"]) > 0 and (allowed is None or r["unit_id"] in allowed)]
        names = await _unit_names(level, {r["unit_id"] for r in rows}, conn)
        entries = {
            r["unit_id"]: Entry(
                level=level,
                unit_id=r["unit_id"],
                unit_name=names.get(r["unit_id"], str(r["unit_id"])),
                received=int(r["received"]),
                responded=int(r["responded"]),
                resolved=int(r["resolved"]),
                sla_met=int(r["sla_met"]),
                rating_sum=int(r["rating_sum"]),
                rating_count=int(r["rating_count"]),
                as_of=as_of,
            )
            for r in rows
        }
        by_median = metric in ("MEDIAN_RESPONSE_TIME", "MEDIAN_RESOLUTION_TIME")
        if by_median:  # every unit's median decides the order
            await _medians(level, weights, entries, conn)
        key = sort_key(metric)
        ranked = sorted((e for e in entries.values() if e.received >= min_reports), key=key)
        below = sorted((e for e in entries.values() if e.received < min_reports), key=key)
        for i, entry in enumerate(ranked, start=1):
            entry.rank = i
        for entry in below:
            entry.below_minimum = True
        page = (ranked + below)[offset : offset + first]
        if not by_median:  # the histograms are the heavy part: read them for this page only
            await _medians(level, weights, {e.unit_id: e for e in page}, conn)
    return page


async def _medians(
    level: str, weights: dict[tuple[str, date], int], entries: dict[int, Entry], conn: BaseDBAsyncClient
) -> None:
    """Each unit's histograms over the period: its spans' weighted sum, then the middle ranks."""
    if not entries:
        return
    args: list[Any] = [level]
    units = "" if len(entries) > 200 else " AND " + in_list("unit_id", list(entries), args)
    arms = " UNION ALL ".join(
        f"SELECT unit_id, span, day, response, resolution FROM perf_span WHERE level = $1{units} AND {picked}"
        for _, picked in span_arms(weights, args)
    )
    rows = await fetch(arms, *args, conn=conn) if arms else []
    parts: dict[tuple[int, str], list[tuple[int, int, np.ndarray]]] = defaultdict(list)
    for r in rows:
        if r["unit_id"] not in entries:
            continue
        day = r["day"] if isinstance(r["day"], date) else date.fromisoformat(r["day"])
        weight = weights.get((r["span"], day), 0)
        for metric, column in ((RESPONSE, "response"), (RESOLUTION, "resolution")):
            if r[column]:
                lo, counts = hist_array(r[column])
                parts[(r["unit_id"], metric)].append((weight, lo, counts))
    for unit_id, entry in entries.items():
        entry.median_response = median(_summed(parts.get((unit_id, RESPONSE), [])))
        entry.median_resolution = median(_summed(parts.get((unit_id, RESOLUTION), [])))


def _summed(parts: list[tuple[int, int, np.ndarray]]) -> np.ndarray:
    if not parts:
        return np.zeros(0, np.int64)
    total = np.zeros(max(lo + len(c) for _, lo, c in parts), np.int64)
    for weight, lo, counts in parts:
        total[lo : lo + len(counts)] += weight * counts.astype(np.int64)
    return total


# ---------------------------------------------------------------- stats and heatmap


@dataclass
class Stats:
    total: int
    by_status: dict[str, int]
    by_category: dict[int, int]
    by_region: list[tuple[int, int, int, int]]  # region id, count, open, resolved
    daily: list[tuple[date, int, int]]  # day, created, resolved
    as_of: datetime  # the figures include every change committed before it


def _region_clause(region_id: int | None, args: list[Any]) -> str:
    """SQL restricting the daily rollup rows to a region (the province: the whole city)."""
    if region_id is None:
        return ""
    region = catalog().region(region_id, "regionId")
    column = {
        RegionLevel.KOTA: "kota_id",
        RegionLevel.KECAMATAN: "kecamatan_id",
        RegionLevel.KELURAHAN: "kelurahan_id",
    }.get(RegionLevel(region.level))
    return f" AND {column} = {arg(args, region.id)}" if column else ""


def _category_clause(category_ids: list[int] | None, args: list[Any]) -> str:
    if not category_ids:
        return ""
    for cid in category_ids:
        catalog().category(cid, "categoryIds")
    return " AND " + in_list("category_id", category_ids, args)


def _stat_units(region_id: int | None) -> tuple[tuple[str, list[int]], tuple[str, list[Region]] | None]:
    """The status_span rows of a region (level, unit ids) and of its children (level, regions;
    None for a kelurahan). The city and a province are their kota."""
    cat = catalog()
    kota = [r for r in cat.regions.values() if r.level == RegionLevel.KOTA]
    region = cat.region(region_id, "regionId") if region_id is not None else None
    if region is None or region.level == RegionLevel.PROVINSI:
        kids = kota if region is None else cat.children.get(region.id, [])
        return ("KOTA", [r.id for r in kota]), ("KOTA", kids)
    own = (str(region.level), [region.id])
    child = {RegionLevel.KOTA: "KECAMATAN", RegionLevel.KECAMATAN: "KELURAHAN"}.get(RegionLevel(region.level))
    return own, (child, cat.children.get(region.id, [])) if child else None


def _day(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


async def stats(region_id: int | None, category_ids: list[int] | None, period: Period) -> Stats:
    """Public figures, the same for every viewer (a rejected report is counted for nobody), from
    status_span: the period's cover per child unit and category, and its days for the series."""
    as_of = now()
    (own_level, own_ids), children = _stat_units(region_id)
    _category_clause(category_ids, [])  # an unknown id is the client's mistake, whatever the region
    level, ids = own_level, own_ids
    if children is not None and children[1]:
        level, ids = children[0], [k.id for k in children[1]]
    public = [(s, column) for s, column in STATUS_COLUMN.items() if s in PUBLIC_STATUSES]
    args: list[Any] = []
    where = f"level = {arg(args, level)} AND {in_list('unit_id', ids, args)}"
    where += _category_clause(category_ids, args)
    arms = " UNION ALL ".join(  # one per span and weight (domain.rollups.span_arms)
        f"SELECT unit_id, category_id, {', '.join(f'{w} * {c} AS {c}' for _, c in public)} FROM status_span"
        f" WHERE {where} AND {rows}"
        for w, rows in span_arms(cover(period.start, period.end), args)
    )
    sums = ", ".join(f"SUM({column}) AS {column}" for _, column in public)
    rows = await fetch(
        f"SELECT unit_id, category_id, {sums} FROM ({arms}) AS arms GROUP BY unit_id, category_id", *args
    )
    by_status: dict[str, int] = defaultdict(int)
    by_category: dict[int, int] = defaultdict(int)
    by_child: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0])
    for r in rows:
        for status, column in public:
            n = int(r[column])
            if not n:
                continue
            by_status[status.value] += n
            by_category[r["category_id"]] += n
            acc = by_child[r["unit_id"]]
            acc[0] += n
            acc[1] += n if status in OPEN_STATUSES else 0
            acc[2] += n if status in DONE_STATUSES else 0
    args = [period.start, period.end, own_level]
    where = f"level = $3 AND {in_list('unit_id', own_ids, args)} AND span = 'D' AND day >= $1 AND day <= $2"
    where += _category_clause(category_ids, args)
    shown = " + ".join(column for _, column in public)
    created_rows = await fetch(
        f"SELECT day, SUM({shown}) AS n FROM status_span WHERE {where} GROUP BY day", *args
    )
    created = {_day(r["day"]): int(r["n"]) for r in created_rows}
    args = [period.start, period.end]
    where = f"day >= $1 AND day <= $2{_region_clause(region_id, args)}{_category_clause(category_ids, args)}"
    resolved_rows = await fetch(
        f"SELECT day, SUM(n) AS n FROM resolved_daily WHERE {where} GROUP BY day", *args
    )
    resolved = {_day(r["day"]): int(r["n"]) for r in resolved_rows}
    by_region = []
    if children is not None:
        by_region = [(k.id, *by_child.get(k.id, [0, 0, 0])) for k in children[1]]
        by_region.sort(key=lambda c: (-c[1], catalog().regions[c[0]].name))
    return Stats(
        total=sum(by_status.values()),
        by_status=dict(by_status),
        by_category=dict(by_category),
        by_region=by_region,  # type: ignore[arg-type]
        daily=[(d, created.get(d, 0), resolved.get(d, 0)) for d in period.days()],
        as_of=as_of,
    )


MAX_HEAT_RESOLUTION = 9


async def heatmap(
    bbox: tuple[float, float, float, float], resolution: int, category_ids: list[int] | None, period: Period
) -> list[tuple[str, float, float, int]]:
    """(cell, lat, lng, count) per H3 cell whose centre lies in the bbox."""
    if not 0 <= resolution <= MAX_HEAT_RESOLUTION:
        raise BadUserInput("resolution", f"`resolution` must be between 0 and {MAX_HEAT_RESOLUTION}.")
    args: list[Any] = [period.start, period.end]
    where = "day >= $1 AND day <= $2" + _category_clause(category_ids, args)
    rows = await fetch(f"SELECT cell, SUM(n) AS n FROM heat_daily WHERE {where} GROUP BY cell", *args)
    counts: dict[str, int] = defaultdict(int)
    for r in rows:
        n = int(r["n"])
        if n:
            cell = r["cell"]
            if resolution < MAX_HEAT_RESOLUTION:
                cell = h3.cell_to_parent(cell, resolution)
            counts[cell] += n
    south, west, north, east = bbox
    out = []
    for cell, n in counts.items():
        lat, lng = h3.cell_to_latlng(cell)
        if south <= lat <= north and west <= lng <= east:
            out.append((cell, lat, lng, n))
    out.sort(key=lambda c: (-c[3], c[0]))
    return out
