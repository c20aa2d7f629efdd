"""GraphQL types of government performance: rankings, stats, heatmap cells."""

from __future__ import annotations

import datetime as dt

import strawberry

from domain.catalog import catalog
from domain.performance import Entry
from models.enums import ReportStatus
from schema.context import Info
from schema.enums import RankingLevel
from schema.places import Agency, Category, GeoPoint, Region, agency_of, region_of
from schema.types import User, user_of


@strawberry.type
class RankingEntry:
    rank: int | None = strawberry.field(
        description="null when belowMinimum: listed after the ranked units, not ranked"
    )
    below_minimum: bool = strawberry.field(
        description="fewer than minReports reports received in the period"
    )
    level: RankingLevel
    unit_id: strawberry.ID = strawberry.field(description="the id of the Region, Agency or User ranked")
    unit_name: str
    region: Region | None
    agency: Agency | None
    reports_received: int
    reports_responded: int
    reports_resolved: int
    response_rate: float
    resolution_rate: float
    sla_compliance_rate: float = strawberry.field(description="0..1, resolved within dueAt")
    median_response_minutes: float | None
    median_resolution_minutes: float | None
    average_rating: float | None
    score: float = strawberry.field(description="0..100, formula documented in the README")
    response_rate_low: float = strawberry.field(description="95% Wilson interval of responseRate")
    response_rate_high: float
    sla_compliance_rate_low: float = strawberry.field(description="95% Wilson interval of slaComplianceRate")
    sla_compliance_rate_high: float
    as_of: dt.datetime = strawberry.field(description="when these figures were computed")
    e: strawberry.Private[Entry]

    @classmethod
    def of(cls, e: Entry) -> RankingEntry:
        regional = e.level in ("KELURAHAN", "KECAMATAN", "KOTA")
        return cls(
            rank=e.rank, below_minimum=e.below_minimum, level=RankingLevel(e.level),
            unit_id=strawberry.ID(str(e.unit_id)),
            unit_name=e.unit_name, region=region_of(e.unit_id) if regional else None,
            agency=agency_of(e.unit_id) if e.level == "DINAS" else None,
            reports_received=e.received, reports_responded=e.responded, reports_resolved=e.resolved,
            response_rate=e.response_rate, resolution_rate=e.resolution_rate, sla_compliance_rate=e.sla_rate,
            median_response_minutes=e.median_response, median_resolution_minutes=e.median_resolution,
            average_rating=e.average_rating, score=e.score,
            response_rate_low=e.response_interval[0], response_rate_high=e.response_interval[1],
            sla_compliance_rate_low=e.sla_interval[0], sla_compliance_rate_high=e.sla_interval[1],
            as_of=e.as_of, e=e,
        )  # fmt: skip

    @strawberry.field
    async def staff(self, info: Info) -> User | None:
        return await user_of(info, self.e.unit_id) if self.e.level == "STAFF" else None


@strawberry.type
class StatusCount:
    status: ReportStatus
    count: int


@strawberry.type
class CategoryCount:
    category_id: strawberry.Private[int]
    count: int

    @strawberry.field
    def category(self) -> Category:
        return Category.of(catalog().categories[self.category_id])


@strawberry.type
class RegionCount:
    region_id: strawberry.Private[int]
    count: int
    open: int
    resolved: int

    @strawberry.field
    def region(self) -> Region:
        return Region.of(catalog().regions[self.region_id])


@strawberry.type
class DailyCount:
    date: dt.date
    created: int
    resolved: int


@strawberry.type
class Stats:
    total: int
    by_status: list[StatusCount]
    by_category: list[CategoryCount]
    by_region: list[RegionCount] = strawberry.field(
        description="the children of the filtered region (KOTA level when none)"
    )
    daily: list[DailyCount]
    as_of: dt.datetime = strawberry.field(description="when these figures were computed")


@strawberry.type
class HeatCell:
    cell: str = strawberry.field(description="H3 cell index")
    center: GeoPoint
    count: int
