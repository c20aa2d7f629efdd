"""Reference data held in memory: regions, agencies, categories and the point router.

It changes only through `warga seed` / `warga regions import`, so each process loads it
once at start-up; the feed then needs no query for a category, a kelurahan or its parents.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from domain.errors import BadUserInput
from domain.kelurahan import KelurahanRouter
from models import Agency, Category, KeyValue, Region
from models.enums import RegionLevel

REGION_SOURCE_KEY = "regions_source"


@dataclass
class Catalog:
    regions: dict[int, Region] = field(default_factory=dict)
    region_by_code: dict[str, Region] = field(default_factory=dict)
    children: dict[int | None, list[Region]] = field(default_factory=dict)
    agencies: dict[int, Agency] = field(default_factory=dict)
    categories: dict[int, Category] = field(default_factory=dict)
    router: KelurahanRouter | None = None
    region_source: str = "none"

    @classmethod
    async def load(cls) -> Catalog:
        cat = cls()
        for region in await Region.all().order_by("code"):
            cat.regions[region.id] = region
            cat.region_by_code[region.code] = region
            cat.children.setdefault(region.parent_id, []).append(region)  # type: ignore[attr-defined]
        for agency in await Agency.all().order_by("name"):
            cat.agencies[agency.id] = agency
        for category in await Category.all().order_by("-share_pct", "code"):
            cat.categories[category.id] = category
        kel = [
            (r.id, r.boundary)
            for r in cat.regions.values()
            if r.level == RegionLevel.KELURAHAN and r.boundary
        ]
        cat.router = KelurahanRouter(kel) if kel else None
        source = await KeyValue.get_or_none(key=REGION_SOURCE_KEY)
        cat.region_source = source.value if source else "none"
        return cat

    # ---- regions

    def region(self, region_id: int, field_name: str = "regionId") -> Region:
        """The region an input names; an unknown id is the client's mistake."""
        region = self.regions.get(region_id)
        if region is None:
            raise BadUserInput(field_name, f"No region with id {region_id}.")
        return region

    def parent(self, region: Region) -> Region | None:
        return self.regions.get(region.parent_id) if region.parent_id else None  # type: ignore[attr-defined]

    def ancestors(self, region_id: int) -> list[Region]:
        """The region itself, then its parent, up to the province."""
        chain: list[Region] = []
        region = self.regions.get(region_id)
        while region is not None:
            chain.append(region)
            region = self.parent(region)
        return chain

    def is_within(self, region_id: int, ancestor_id: int) -> bool:
        return any(r.id == ancestor_id for r in self.ancestors(region_id))

    def count(self, level: RegionLevel) -> int:
        return sum(1 for r in self.regions.values() if r.level == level)

    # ---- categories and agencies

    def category(self, category_id: int, field_name: str = "categoryId") -> Category:
        category = self.categories.get(category_id)
        if category is None:
            raise BadUserInput(field_name, f"No category with id {category_id}.")
        return category

    def agency(self, agency_id: int, field_name: str = "agencyId") -> Agency:
        agency = self.agencies.get(agency_id)
        if agency is None:
            raise BadUserInput(field_name, f"No agency with id {agency_id}.")
        return agency

    def route(self, lat: float, lng: float) -> Region | None:
        """The kelurahan whose polygon holds the point (see domain.kelurahan for the rules)."""
        if self.router is None:
            return None
        region_id = self.router.locate(lat, lng)
        return self.regions.get(region_id) if region_id is not None else None


_current = Catalog()


def catalog() -> Catalog:
    return _current


async def reload_catalog() -> Catalog:
    global _current
    _current = await Catalog.load()
    return _current
