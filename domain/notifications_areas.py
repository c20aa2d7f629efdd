"""Matching a report to the area alerts that cover it, in memory: region alerts by the report's
place in the region tree (its kelurahan, kecamatan, kota and province: four dictionary
lookups), circles by a grid of about 1 km cells (each circle is filed under every cell its
bounding box touches) and then an exact distance test. No scan of all alerts per report.

Each process keeps one index; a version in key_value, changed in the transaction of every alert
created or deleted, tells it when to reload (read once per VERIFIED change)."""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass, field

from tortoise.backends.base.client import BaseDBAsyncClient

from domain.catalog import catalog
from models.sql import execute, fetch

VERSION_KEY = "notify.area_alerts_version"
CELL_DEGREES = 0.01  # about 1.1 km
EARTH_RADIUS_M = 6_371_008.8


@dataclass(frozen=True, slots=True)
class Alert:
    id: int
    user_id: int
    region_id: int | None
    lat: float | None
    lng: float | None
    radius_m: int | None
    categories: frozenset[int] | None  # None: every category

    def wants(self, category_id: int) -> bool:
        return self.categories is None or category_id in self.categories


def distance_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Haversine distance in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def _cell(lat: float, lng: float) -> tuple[int, int]:
    return math.floor(lat / CELL_DEGREES), math.floor(lng / CELL_DEGREES)


def categories_of(text: str) -> frozenset[int] | None:
    ids = frozenset(int(x) for x in text.split(",") if x)
    return ids or None


@dataclass
class AreaIndex:
    version: str = ""
    by_region: dict[int, list[Alert]] = field(default_factory=dict)
    by_cell: dict[tuple[int, int], list[Alert]] = field(default_factory=dict)
    size: int = 0

    def add(self, alert: Alert) -> None:
        self.size += 1
        if alert.region_id is not None:
            self.by_region.setdefault(alert.region_id, []).append(alert)
            return
        assert alert.lat is not None and alert.lng is not None and alert.radius_m is not None
        dlat = alert.radius_m / 111_320
        dlng = alert.radius_m / (111_320 * max(math.cos(math.radians(alert.lat)), 1e-6))
        south, west = _cell(alert.lat - dlat, alert.lng - dlng)
        north, east = _cell(alert.lat + dlat, alert.lng + dlng)
        for i in range(south, north + 1):
            for j in range(west, east + 1):
                self.by_cell.setdefault((i, j), []).append(alert)

    def match(
        self, lat: float, lng: float, kelurahan_id: int, category_id: int
    ) -> list[tuple[Alert, int | None]]:
        """The alerts covering a report, each with the region it matched by (None: a circle)."""
        found: list[tuple[Alert, int | None]] = []
        for region in catalog().ancestors(kelurahan_id):
            found += [(a, region.id) for a in self.by_region.get(region.id, ()) if a.wants(category_id)]
        for a in self.by_cell.get(_cell(lat, lng), ()):
            if a.wants(category_id) and distance_m(lat, lng, a.lat, a.lng) <= a.radius_m:  # type: ignore[arg-type]
                found.append((a, None))
        return found


_index = AreaIndex(version="never loaded")


async def _version(conn: BaseDBAsyncClient) -> str:
    rows = await fetch("SELECT value FROM key_value WHERE key = $1", VERSION_KEY, conn=conn)
    return str(rows[0]["value"]) if rows else ""


async def current(conn: BaseDBAsyncClient) -> AreaIndex:
    """This process's index, reloaded when another transaction changed the alerts."""
    global _index
    version = await _version(conn)
    if version != _index.version:
        index = AreaIndex(version=version)
        rows = await fetch(
            "SELECT id, user_id, region_id, lat, lng, radius_m, category_ids FROM area_alert", conn=conn
        )
        for r in rows:
            index.add(Alert(r["id"], r["user_id"], r["region_id"], r["lat"], r["lng"], r["radius_m"],
                            categories_of(r["category_ids"] or "")))  # fmt: skip
        _index = index
    return _index


async def changed(conn: BaseDBAsyncClient) -> None:
    """A new version (random, so it never repeats an old one, whatever happened to the row) in
    the transaction that creates or deletes an alert."""
    await execute(
        "INSERT INTO key_value (key, value) VALUES ($1, $2)"
        " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        VERSION_KEY,
        secrets.token_hex(8),
        conn=conn,
    )
