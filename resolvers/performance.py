"""Rankings, stats and heatmap resolvers (public: the city's performance is ranked in public)."""

from __future__ import annotations

import strawberry

from domain import performance, validate
from models.enums import ReportStatus
from resolvers.convert import bbox_of, opt_id
from schema.enums import RankingLevel, RankingMetric
from schema.inputs import BBoxInput, PeriodInput
from schema.performance import (
    CategoryCount,
    DailyCount,
    HeatCell,
    RankingEntry,
    RegionCount,
    Stats,
    StatusCount,
)
from schema.places import GeoPoint


def period_of(p: PeriodInput | None) -> performance.Period:
    return performance.Period.of(p.from_ if p else None, p.to if p else None)


async def rankings(
    level: RankingLevel,
    period: PeriodInput | None = None,
    within_region_id: strawberry.ID | None = None,
    order_by: RankingMetric | None = RankingMetric.SCORE,
    first: int | None = 50,
    offset: int | None = 0,
    min_reports: int | None = None,
) -> list[RankingEntry]:
    entries = await performance.rankings(
        level.value,
        period_of(period),
        opt_id(within_region_id, "withinRegionId"),
        (order_by or RankingMetric.SCORE).value,
        50 if first is None else first,
        offset or 0,
        min_reports,
    )
    return [RankingEntry.of(e) for e in entries]


async def stats(
    region_id: strawberry.ID | None = None,
    category_ids: list[strawberry.ID] | None = None,
    period: PeriodInput | None = None,
) -> Stats:
    s = await performance.stats(
        opt_id(region_id, "regionId"), validate.parse_ids(category_ids, "categoryIds"), period_of(period)
    )
    return Stats(
        total=s.total,
        by_status=[StatusCount(status=st, count=s.by_status.get(st.value, 0)) for st in ReportStatus],
        by_category=[
            CategoryCount(category_id=c, count=n)
            for c, n in sorted(s.by_category.items(), key=lambda x: -x[1])
        ],
        by_region=[RegionCount(region_id=r, count=n, open=o, resolved=d) for r, n, o, d in s.by_region],
        daily=[DailyCount(date=d, created=c, resolved=r) for d, c, r in s.daily],
        as_of=s.as_of,
    )


async def heatmap(
    bbox: BBoxInput,
    resolution: int | None = 8,
    category_ids: list[strawberry.ID] | None = None,
    period: PeriodInput | None = None,
) -> list[HeatCell]:
    cells = await performance.heatmap(
        bbox_of(bbox, "bbox"),  # type: ignore[arg-type]
        8 if resolution is None else resolution,
        validate.parse_ids(category_ids, "categoryIds"),
        period_of(period),
    )
    return [HeatCell(cell=c, center=GeoPoint(lat=lat, lng=lng), count=n) for c, lat, lng, n in cells]
