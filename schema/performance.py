"""GraphQL types of government performance: rankings, stats, heatmap cells."""

from __future__ import annotations

import datetime as dt

import strawberry

from domain.catalog import catalog
from domain.performance import Entry
from models.enums import ReportStatus
from schema.context import Info
from schema.enums import RankingLevel
from schema.types import Agency, Category, GeoPoint, Region, User, agency_of, region_of, user_of


@strawberry.type
class RankingEntry:
    e: strawberry.Private[Entry]

    @strawberry.field
    def rank(self) -> int:
        return self.e.rank

    @strawberry.field
    def level(self) -> RankingLevel:
        return RankingLevel(self.e.level)

    @strawberry.field(description="the id of the Region, Agency or User ranked")
    def unit_id(self) -> strawberry.ID:
        return strawberry.ID(str(self.e.unit_id))

    @strawberry.field
    def unit_name(self) -> str:
        return self.e.unit_name

    @strawberry.field
    def region(self) -> Region | None:
        return region_of(self.e.unit_id) if self.e.level in ("KELURAHAN", "KECAMATAN", "KOTA") else None

    @strawberry.field
    def agency(self) -> Agency | None:
        return agency_of(self.e.unit_id) if self.e.level == "DINAS" else None

    @strawberry.field
    async def staff(self, info: Info) -> User | None:
        return await user_of(info, self.e.unit_id) if self.e.level == "STAFF" else None

    @strawberry.field
    def reports_received(self) -> int:
        return self.e.received

    @strawberry.field
    def reports_responded(self) -> int:
        return self.e.responded

    @strawberry.field
    def reports_resolved(self) -> int:
        return self.e.resolved

    @strawberry.field
    def response_rate(self) -> float:
        return self.e.response_rate

    @strawberry.field
    def resolution_rate(self) -> float:
        return self.e.resolution_rate

    @strawberry.field(description="0..1, resolved within dueAt")
    def sla_compliance_rate(self) -> float:
        return self.e.sla_rate

    @strawberry.field
    def median_response_minutes(self) -> float | None:
        return self.e.median_response

    @strawberry.field
    def median_resolution_minutes(self) -> float | None:
        return self.e.median_resolution

    @strawberry.field
    def average_rating(self) -> float | None:
        return self.e.average_rating

    @strawberry.field(description="0..100, formula documented in the README")
    def score(self) -> float:
        return self.e.score


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


@strawberry.type
class HeatCell:
    cell: str = strawberry.field(description="H3 cell index")
    center: GeoPoint
    count: int
