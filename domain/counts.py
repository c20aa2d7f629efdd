"""Exact report counts from the status rollup (status_span, domain/rollups.py) instead of
counting rows: a filter by status, region, category, agency and a creation period of whole
Jakarta days is a sum over a few span rows per unit (a year of a kota: about 150 rows, the
city: its six kota), kept exact by the write path that moves the rollups in each change's
transaction."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from domain.catalog import catalog
from domain.pagination import ReadBudget
from domain.rollups import JAKARTA, STATUS_COLUMN, STATUS_SPAN, cover, span_arms
from models.enums import RegionLevel, ReportStatus
from models.sql import arg, budgeted, fetch, in_list

TABLE = STATUS_SPAN[0]


@dataclass(frozen=True)
class Tally:
    """A filter the rollup answers: the statuses counted (the viewer's visibility applied),
    optional categories, agency and region, and the creation days [first, last] (None: open)."""

    statuses: frozenset[ReportStatus]
    category_ids: tuple[int, ...] | None = None
    agency_id: int | None = None
    region_id: int | None = None
    first: date | None = None
    last: date | None = None


def jakarta_midnight(at: datetime) -> date | None:
    """The Jakarta day starting at `at`, or None if `at` is not a Jakarta midnight (or has no
    time zone, or none can be told near the ends of the calendar)."""
    if at.tzinfo is None or at.utcoffset() is None:
        return None
    try:
        local = at.astimezone(JAKARTA)
    except (OverflowError, ValueError):
        return None
    return local.date() if local.time() == time() else None


def whole_days(after: datetime | None, before: datetime | None) -> tuple[date | None, date | None] | None:
    """`created_at >= after AND created_at < before` as inclusive Jakarta days, or None when a
    bound falls inside a day (the rollup cannot split a day) or in the calendar's first or
    last year (whose spans' arithmetic would leave the calendar)."""
    first = last = None
    if after is not None:
        first = jakarta_midnight(after)
        if first is None:
            return None
    if before is not None:
        day = jakarta_midnight(before)
        if day is None or day == date.min:
            return None
        last = day - timedelta(days=1)
    if any(d is not None and not 1 < d.year < 9999 for d in (first, last)):
        return None
    return first, last


def units(region_id: int | None) -> tuple[str, list[int]]:
    """The status_span level and units whose rows hold exactly a region's reports (the city:
    its kota; a province: its kota)."""
    cat = catalog()
    if region_id is None:
        return "KOTA", sorted(r.id for r in cat.regions.values() if r.level == RegionLevel.KOTA)
    region = cat.region(region_id, "filter.regionId")
    if region.level == RegionLevel.PROVINSI:
        return "KOTA", sorted(r.id for r in cat.children.get(region.id, []))
    return str(region.level), [region.id]


def period(first: date | None, last: date | None, args: list[Any]) -> list[tuple[int, str]]:
    """The span rows of [first, last] as (weight, SQL condition) pairs: a cover of the partial
    first and last years (days and months added and subtracted) and the whole years between
    them, or before/after them when a bound is open, as one range of year rows."""
    if first is not None and last is not None and first.year == last.year:
        return span_arms(cover(first, last), args)
    weights = {}
    years = [f"span = {arg(args, 'Y')}"]
    if first is not None:
        weights.update(cover(first, date(first.year, 12, 31)))
        years.append(f"day > {arg(args, date(first.year, 1, 1))}")
    if last is not None:
        weights.update(cover(date(last.year, 1, 1), last))
        years.append(f"day < {arg(args, date(last.year, 1, 1))}")
    return [*span_arms(weights, args), (1, " AND ".join(years))]


async def count(
    tally: Tally,
    budget: ReadBudget,
    extra: Callable[[list[Any]], str] | None = None,
) -> tuple[int, bool]:
    """(total, capped) of the reports the tally describes, exact, in one statement. `extra`
    adds the matching rows a rollup cannot tell apart (a signed-in viewer's own REJECTED
    reports): a WHERE clause on `report`, counted up to the budget's cap."""
    if tally.first is not None and tally.last is not None and tally.first > tally.last:
        return 0, False
    args: list[Any] = []
    level, ids = units(tally.region_id)
    where = [f"level = {arg(args, level)}", in_list("unit_id", ids, args) if ids else "1 = 0"]
    if tally.category_ids:
        where.append(in_list("category_id", list(tally.category_ids), args))
    if tally.agency_id is not None:
        where.append(f"agency_id = {arg(args, tally.agency_id)}")
    counted = " + ".join(STATUS_COLUMN[s] for s in ReportStatus if s in tally.statuses) or "0"
    common = " AND ".join(where)
    # One aggregate per span and weight (see span_arms), added up.
    arms = " UNION ALL ".join(
        f"SELECT {weight} * SUM({counted}) AS n FROM {TABLE} WHERE {common} AND {rows}"
        for weight, rows in period(tally.first, tally.last, args)
    )
    total = f"SELECT COALESCE(SUM(n), 0) FROM ({arms}) AS arms"
    cap = budget.count_cap
    own = "0"
    if extra is not None:
        own = f"(SELECT COUNT(*) FROM (SELECT 1 FROM report WHERE {extra(args)} LIMIT {cap + 1}) AS o)"
    async with budgeted(budget) as conn:
        row = (await fetch(f"SELECT ({total}) AS n, {own} AS own", *args, conn=conn))[0]
    if int(row["own"]) > cap:
        return cap, True
    return int(row["n"]) + int(row["own"]), False
