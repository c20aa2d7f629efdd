"""The GraphQL types of the reference data: regions, agencies and categories, built once per
catalog (they change only with it), and GeoPoint. Apart from schema/types.py so that the
notification types (schema/notifications.py), which show them, need not import the types that
show notification settings (User)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import strawberry
from strawberry.scalars import JSON

from domain.catalog import Catalog, catalog
from models import Agency as AgencyRow
from models import Category as CategoryRow
from models import Region as RegionRow
from models.enums import RegionLevel

RegionLevelEnum = strawberry.enum(RegionLevel, name="RegionLevel")

T = TypeVar("T")
_memo: dict[tuple[str, int], Any] = {}
_memo_of: list[Catalog] = []


def _cached(kind: str, key: int, build: Callable[[], T]) -> T:
    """Reference data changes only with the catalog: build its GraphQL objects once per catalog."""
    current = catalog()
    if not _memo_of or _memo_of[0] is not current:
        _memo.clear()
        _memo_of[:] = [current]
    found = _memo.get((kind, key))
    if found is None:
        found = _memo[(kind, key)] = build()
    return found


def graphql_id(value: int) -> strawberry.ID:
    return strawberry.ID(str(value))


@strawberry.type
class GeoPoint:
    lat: float
    lng: float


@strawberry.type
class Region:
    id: strawberry.ID
    code: str
    name: str
    level: RegionLevel
    centroid: GeoPoint
    boundary: JSON | None = strawberry.field(description="GeoJSON geometry (lng/lat)")
    row: strawberry.Private[RegionRow]

    @classmethod
    def of(cls, row: RegionRow) -> Region:
        return _cached("region", row.id, lambda: cls(
            id=graphql_id(row.id), code=row.code, name=row.name, level=RegionLevel(row.level),
            centroid=GeoPoint(lat=row.lat, lng=row.lng), boundary=row.boundary, row=row,
        ))  # fmt: skip

    @strawberry.field
    def parent(self) -> Region | None:
        parent = catalog().parent(self.row)
        return Region.of(parent) if parent else None

    @strawberry.field
    def children(self) -> list[Region]:
        return [Region.of(r) for r in catalog().children.get(self.row.id, [])]


def region_of(region_id: int | None) -> Region | None:
    row = catalog().regions.get(region_id) if region_id is not None else None
    return Region.of(row) if row else None


@strawberry.type
class Agency:
    id: strawberry.ID
    code: str
    name: str
    agency_id: strawberry.Private[int]

    @classmethod
    def of(cls, row: AgencyRow) -> Agency:
        return _cached("agency", row.id, lambda: cls(id=graphql_id(row.id), code=row.code, name=row.name,
                                                     agency_id=row.id))  # fmt: skip

    @strawberry.field
    def categories(self) -> list[Category]:
        return [Category.of(c) for c in catalog().categories.values()
                if c.agency_id == self.agency_id]  # type: ignore[attr-defined]  # fmt: skip


def agency_of(agency_id: int | None) -> Agency | None:
    row = catalog().agencies.get(agency_id) if agency_id is not None else None
    return Agency.of(row) if row else None


@strawberry.type
class Category:
    id: strawberry.ID
    code: str
    name: str
    name_en: str
    agency: Agency | None
    sla_hours: int

    @classmethod
    def of(cls, row: CategoryRow) -> Category:
        return _cached("category", row.id, lambda: cls(
            id=graphql_id(row.id), code=row.code, name=row.name, name_en=row.name_en,
            agency=agency_of(row.agency_id), sla_hours=row.sla_hours,  # type: ignore[attr-defined]
        ))  # fmt: skip
